// The OCI and Docker media types Arca reads and writes (one list for the
// store, the registry client, pull/push and save).
#pragma once

namespace arca::media {

inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerGzipLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";

inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kOciGzipLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kOciZstdLayer = "application/vnd.oci.image.layer.v1.tar+zstd";

}  // namespace arca::media
