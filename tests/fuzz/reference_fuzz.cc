// libFuzzer target: image reference parsing on arbitrary strings.
// Checks that it never crashes and that what it accepts round-trips:
// full() parses back to the same reference, and so does familiar() where
// Docker's grammar allows.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/image/reference.h"

using arca::image::familiarString;
using arca::image::looksLikeIdPrefix;
using arca::image::parseNormalizedNamed;
using arca::image::parseReference;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto r = parseReference(s);
  if (r.ok()) {
    auto full = parseReference(r->full());
    if (!full.ok() || full->full() != r->full()) __builtin_trap();
    // familiar() parses back, except (as in Docker) for a docker.io repository
    // whose first path component looks like a domain: "docker.io/a.b/c".
    std::string fam_name = r->familiarName();
    std::string first = fam_name.substr(0, fam_name.find('/'));
    bool ambiguous = fam_name.find('/') != std::string::npos &&
                     (first.find_first_of(".:") != std::string::npos || first == "localhost");
    auto fam = parseReference(r->familiar());
    if (!ambiguous && (!fam.ok() || fam->full() != r->full())) __builtin_trap();
    if (familiarString(r->full()) != r->familiar()) __builtin_trap();
    auto n = parseNormalizedNamed(s);
    if (!n.ok() || n->full() != r->full()) __builtin_trap();
  } else if (parseNormalizedNamed(s).ok()) {
    __builtin_trap();
  }
  (void)familiarString(s);
  (void)looksLikeIdPrefix(s);
  return 0;
}
