// libFuzzer: registry authentication input — WWW-Authenticate challenges
// (runtime/registry/auth_challenge.cc) and the X-Registry-Auth header /
// POST /auth body (decodeAuthHeader, parseAuthJson in client.cc).
// Never crashes; schemes are non-empty lowercase tokens and parameter
// names lowercase.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/registry/auth_challenge.h"
#include "runtime/registry/client.h"

namespace {

bool isLowerToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
    if (c == ' ' || c == '\t' || c == ',' || c == '"' || c == '=') return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const auto& c : arca::registry::parseChallenges(in)) {
    if (!isLowerToken(c.scheme)) __builtin_trap();
    for (const auto& [k, v] : c.params) {
      if (!isLowerToken(k)) __builtin_trap();
      if (v.size() > size) __builtin_trap();
    }
  }
  auto a = arca::registry::decodeAuthHeader(in);
  if (a.ok() && a->username.size() + a->password.size() > size) __builtin_trap();
  (void)arca::registry::parseAuthJson(in);
  return 0;
}
