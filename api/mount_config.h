// Mount requests of POST /containers/create (issue #6 groundwork): HostConfig
// Binds ("-v"), Mounts ("--mount"), Tmpfs ("--tmpfs") and VolumesFrom, parsed
// into one sandbox-neutral description with dockerd's validation texts. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "engine/status.h"
#include "eventlog/events.pb.h"

namespace arca::api {

struct MountRequest {
  enum class Type { kVolume, kBind, kTmpfs } type = Type::kVolume;
  std::string source;  // volume name ("" = anonymous) or absolute host path
  std::string target;  // absolute path in the container, cleaned
  bool readonly = false;
  // volume
  bool nocopy = false;
  std::map<std::string, std::string> volume_labels;
  std::string volume_driver;  // "" / "local"
  std::map<std::string, std::string> driver_opts;
  // bind
  std::string propagation;          // "" = rprivate
  bool create_source = false;       // -v creates a missing bind source; --mount does not
  bool non_recursive = false;       // bind-recursive=disabled
  bool readonly_non_recursive = false;  // bind-recursive=writable (ReadOnlyNonRecursive)
  // tmpfs
  int64_t tmpfs_size = 0;  // bytes; 0 = unlimited (half of RAM, as the kernel)
  uint32_t tmpfs_mode = 0;  // 0 = 1777
  std::vector<std::string> tmpfs_options;  // --tmpfs's other options, validated
  bool from_binds = false;  // came from -v (its inspect "Mode" text is kept)
  bool from_tmpfs = false;  // came from --tmpfs (Docker's noexec,nosuid,nodev defaults)
  std::string mode_text;    // the -v mode field as given ("ro,z")
};

// Docker's local volume name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (2+ characters).
bool validVolumeName(const std::string& name);

// Lexically cleaned absolute path ("/a/./b//c/.." -> "/a/b"); "" when `p` is
// not absolute.
std::string cleanAbsolutePath(const std::string& p);

// One -v / Binds entry: "name:/dst[:mode]", "/host:/dst[:mode]", "/dst".
StatusOr<MountRequest> parseBind(const std::string& spec);
// One --mount / Mounts object.
StatusOr<MountRequest> parseMountObject(const rapidjson::Value& m);
// One --tmpfs / Tmpfs entry: target and "size=1m,mode=1777,noexec,...".
StatusOr<MountRequest> parseTmpfs(const std::string& target, const std::string& options);
// "64m", "1g", "1024" (bytes), as docker's units.RAMInBytes.
StatusOr<int64_t> parseByteSize(const std::string& s);

// All of a create body's HostConfig mounts, in dockerd's order (Binds, then
// Mounts, then Tmpfs), with "Duplicate mount point" checked across them.
StatusOr<std::vector<MountRequest>> parseHostConfigMounts(const rapidjson::Value& host_config);

// The event log's form of a parsed mount (sandbox-neutral).
v1::MountPoint toMountPoint(const MountRequest& m);

// HostConfig's Binds, Mounts, Tmpfs and VolumesFrom into *hc: the mounts
// (parseHostConfigMounts) and the fields as given (for inspect). Not pure: a
// --mount bind source must exist now (dockerd's "bind source path does not
// exist").
Status parseContainerMounts(const rapidjson::Value& host_config, v1::HostConfig* hc);

}  // namespace arca::api
