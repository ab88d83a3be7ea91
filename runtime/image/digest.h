// SHA-256 helpers for the image store (internal to runtime/image/).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace arca::image {

// Incremental SHA-256 (OpenSSL EVP). Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  // Lowercase hex of the digest; the hasher must not be updated afterwards.
  std::string hexDigest();

 private:
  struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx_;
};

std::string sha256Hex(std::string_view data);

// True for exactly 64 lowercase hex characters.
bool isSha256Hex(std::string_view s);

// "sha256:<64 hex>" -> "<64 hex>"; InvalidArgument for anything else.
StatusOr<std::string> sha256HexOf(std::string_view digest);

// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
// Both in and out are "sha256:<hex>".
std::string chainId(const std::string& parent_chain, const std::string& diff_id);

}  // namespace arca::image
