// Image manifests and indexes as served by a registry (pure; fuzzed).
//
// Docker schema 2 (manifest and manifest list) and OCI (manifest and index)
// share one shape: a manifest names a config blob and layer blobs, an index
// names manifests per platform. Schema 1 is refused, as current Docker does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "runtime/image/media_types.h"

namespace arca::registry {

using media::kDockerManifest;
using media::kDockerManifestList;
using media::kOciIndex;
using media::kOciManifest;

struct Platform {
  std::string os, architecture, variant;
  bool operator==(const Platform&) const = default;
};

// "linux/arm64", "linux/arm/v7", "arm64" (os defaults to linux), "" -> the
// host's (linux/amd64 on x86-64, linux/arm64 with variant v8 on aarch64).
// Normalizes like containerd: aarch64->arm64, x86_64/x86-64->amd64,
// armhf->arm/v7, arm (no variant)->arm/v7, arm64/8->arm64/v8. Components
// must match [A-Za-z0-9_-]+. Only linux is accepted as the os.
// InvalidArgument with containerd's/Docker's wording otherwise.
StatusOr<Platform> parsePlatform(std::string_view s);

// "linux/arm64", "linux/arm64/v8", "linux/arm/v7": os/arch[/variant].
std::string platformString(const Platform& p);

// The platform with containerd's normalization applied (lowercase, arch
// aliases, default arm variant). Used for matching.
Platform normalizePlatform(Platform p);

struct Descriptor {
  std::string media_type, digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  Platform platform;  // as written in the index (not normalized)
  bool has_platform = false;
  std::map<std::string, std::string> annotations;
};

struct ParsedManifest {
  enum class Kind { kImage, kIndex } kind = Kind::kImage;
  std::string media_type;             // from the body's mediaType or, if absent, the Content-Type
  Descriptor config;                  // kImage
  std::vector<Descriptor> layers;     // kImage, bottom first
  std::vector<Descriptor> manifests;  // kIndex
};

// Parses a manifest or index body. content_type is the HTTP Content-Type
// (used when the body has no mediaType; parameters are ignored). Refuses
// (InvalidArgument): schema 1, schemaVersion != 2, invalid digests (only
// sha256:<64 lowercase hex>), negative sizes, unsupported layer media types,
// foreign / non-distributable layers, a config that is not an object, more
// than 1000 layers, and a mediaType that contradicts the body's shape.
StatusOr<ParsedManifest> parseManifest(std::string_view body, std::string_view content_type);

// The entry of an index for `want`: same os and architecture, same variant
// after normalization (arm64 with no variant matches v8). Attestation
// entries (os "unknown", or a vnd.docker.reference.type annotation) are never
// chosen. NotFound with Docker's text: "no matching manifest for linux/arm64
// in the manifest list entries".
StatusOr<Descriptor> selectPlatform(const ParsedManifest& index, const Platform& want);

}  // namespace arca::registry
