#include "runtime/image/digest.h"

#include <cstdlib>

namespace arca::image {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation or init failing for SHA-256 means OpenSSL itself is unusable.
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) std::abort();
}

void Sha256::update(const void* data, size_t len) {
  if (len > 0) EVP_DigestUpdate(ctx_.get(), data, len);
}

std::string Sha256::hexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_.get(), md, &n);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hexDigest();
}

bool isSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

StatusOr<std::string> sha256HexOf(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.substr(0, kPrefix.size()) != kPrefix || !isSha256Hex(digest.substr(kPrefix.size()))) {
    return InvalidArgument("invalid digest \"" + std::string(digest.substr(0, 100)) +
                           "\": only sha256 digests are supported");
  }
  return std::string(digest.substr(kPrefix.size()));
}

std::string chainId(const std::string& parent_chain, const std::string& diff_id) {
  if (parent_chain.empty()) return diff_id;
  return "sha256:" + sha256Hex(parent_chain + " " + diff_id);
}

}  // namespace arca::image
