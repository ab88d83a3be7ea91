// Looking into a container's root filesystem from the host, the way the
// container will see it: every path is resolved with openat2(RESOLVE_IN_ROOT),
// so absolute symlinks and ".." in an image never lead out to the host.
// Stateless functions, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::runtime {

// rm -rf that never leaves the file system of `path` and never enters a
// mount (another device, or the root of a bind mount of the same one): a mount
// that failed to go away must not take what it shows with it. Ok when `path`
// does not exist.
Status removeTree(const std::string& path);

// True when `path` is the root of a mount (statx STATX_ATTR_MOUNT_ROOT; a bind
// of a directory of the same file system included). Not following a final
// symlink.
bool isMountRoot(const std::string& path);

// Docker's default $PATH for Linux containers.
inline constexpr char kDefaultPathEnv[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// An O_PATH descriptor of a root directory; closes on destruction.
class RootDir {
 public:
  static StatusOr<RootDir> open(const std::string& path);
  RootDir(RootDir&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RootDir& operator=(RootDir&& o) noexcept;
  RootDir(const RootDir&) = delete;
  RootDir& operator=(const RootDir&) = delete;
  ~RootDir();
  int fd() const { return fd_; }

  // Contents of `path` inside the root; nullopt if it does not exist or is
  // not a readable regular file.
  std::optional<std::string> readFile(const std::string& path) const;
  // openat2(RESOLVE_IN_ROOT) of `path` inside the root: a new descriptor
  // (the caller closes it), or -1 with errno set.
  int openAt(const std::string& path, int flags) const;

 private:
  explicit RootDir(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// What Go's exec.LookPath does inside the container for a bare command name:
// the first `dir/file` in `path_env` that is not a directory and has an
// execute bit. Relative $PATH entries are taken relative to `cwd`. Errors
// carry Docker's text: exec: "nope": executable file not found in $PATH
StatusOr<std::string> lookPath(const RootDir& root, const std::string& file,
                               const std::string& path_env, const std::string& cwd);

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string home = "/";
};

// libcontainer's GetExecUser: `spec` is "", "user", "uid", "user:group" or
// "uid:gid"; passwd/group are the files' contents (nullopt when missing).
// Errors use Docker's text ("unable to find user nope: no matching entries in
// passwd file").
StatusOr<ResolvedUser> resolveUser(std::string_view spec, const std::optional<std::string>& passwd,
                                   const std::optional<std::string>& group);

// Docker's --group-add: each entry a group name or gid looked up in the
// container's group file; an unknown number is used as is, an unknown name is
// an error ("Unable to find group x: no matching entries in group file").
StatusOr<std::vector<uint32_t>> resolveAdditionalGroups(const std::vector<std::string>& groups,
                                                        const std::optional<std::string>& group);

}  // namespace arca::runtime
