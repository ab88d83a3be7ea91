// libFuzzer: registry manifests and indexes, platform strings, platform
// selection (runtime/registry/manifest.cc). Never crashes, and what it
// accepts holds together:
//   - every accepted descriptor has a sha256 digest and a size >= 0;
//   - an image has at most 1000 layers, an index no config or layers;
//   - a parsed platform prints and parses back to itself;
//   - selectPlatform only returns an entry of the index with the wanted
//     os/architecture, never an attestation.
// The first byte picks the Content-Type passed along, the rest is the body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/registry/manifest.h"

namespace {

using arca::registry::Descriptor;
using arca::registry::normalizePlatform;
using arca::registry::ParsedManifest;
using arca::registry::parseManifest;
using arca::registry::parsePlatform;
using arca::registry::Platform;
using arca::registry::platformString;
using arca::registry::selectPlatform;

void checkDescriptor(const Descriptor& d) {
  if (d.digest.size() != 71 || d.digest.rfind("sha256:", 0) != 0) __builtin_trap();
  if (d.size < 0) __builtin_trap();
}

void checkSelected(const ParsedManifest& m, const Platform& want) {
  auto d = selectPlatform(m, want);
  if (!d.ok()) return;
  Platform got = normalizePlatform(d->platform);
  Platform w = normalizePlatform(want);
  if (!d->has_platform || got.os != w.os || got.architecture != w.architecture) __builtin_trap();
  if (got.os == "unknown" || d->annotations.count("vnd.docker.reference.type")) __builtin_trap();
  bool found = false;
  for (const auto& e : m.manifests) found = found || e.digest == d->digest;
  if (!found) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kTypes[] = {
      "",
      arca::registry::kDockerManifest,
      arca::registry::kDockerManifestList,
      arca::registry::kOciManifest,
      arca::registry::kOciIndex,
      "application/json; charset=utf-8",
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
  };
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view ct;
  if (!in.empty()) {
    ct = kTypes[static_cast<uint8_t>(in[0]) % (sizeof(kTypes) / sizeof(kTypes[0]))];
    in.remove_prefix(1);
  }

  auto m = parseManifest(in, ct);
  if (m.ok()) {
    if (m->kind == ParsedManifest::Kind::kImage) {
      checkDescriptor(m->config);
      if (m->layers.size() > 1000 || !m->manifests.empty()) __builtin_trap();
      for (const auto& l : m->layers) checkDescriptor(l);
    } else {
      if (!m->layers.empty() || !m->config.digest.empty()) __builtin_trap();
      for (const auto& e : m->manifests) checkDescriptor(e);
      for (const char* p : {"", "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7"}) {
        checkSelected(*m, *parsePlatform(p));
      }
      for (const auto& e : m->manifests) {
        if (e.has_platform) checkSelected(*m, e.platform);
      }
    }
  }

  // The whole input as a platform string.
  std::string_view ps(reinterpret_cast<const char*>(data), size);
  auto p = parsePlatform(ps);
  if (p.ok()) {
    auto again = parsePlatform(platformString(*p));
    if (!again.ok() || !(*again == *p)) __builtin_trap();
    if (p->os != "linux") __builtin_trap();
  }
  return 0;
}
