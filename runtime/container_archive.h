// A container's files as `docker cp`, `docker export`, `docker diff` and
// `docker commit` see them, computed on the host from a mounted root
// filesystem (a RootDir) or from the container's overlay layers.
//
// Every path inside the container is resolved in the root only (openat2
// RESOLVE_IN_ROOT, symlinks evaluated in scope): ".." and symlinks pointing
// out of the container never reach the host. Trees are walked with
// descriptors (openat O_NOFOLLOW), never by host path, so a symlink inside the
// container is archived as a symlink and never followed.
//
// Stateless functions; safe from any thread. Blocking (file I/O).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "runtime/image/image_store.h"
#include "runtime/namespace/container_fs.h"

namespace arca::runtime {

// Go's os.FileMode for a stat(2) st_mode: permission bits plus ModeDir,
// ModeSymlink, ModeDevice, ModeCharDevice, ModeNamedPipe, ModeSocket,
// ModeSetuid, ModeSetgid, ModeSticky (what Docker's path stat carries).
uint32_t goFileMode(uint32_t st_mode);

// Docker's ContainerPathStat (the X-Docker-Container-Path-Stat header).
struct PathStat {
  std::string name;         // filepath.Base of the path asked for
  int64_t size = 0;
  uint32_t mode = 0;        // Go os.FileMode bits
  int64_t mtime_ns = 0;
  std::string link_target;  // symlinks: the target fully resolved in the container
};

// moby's PreserveTrailingDotOrSeparator(filepath.Join("/", path), path): the
// clean absolute form of `path`, keeping a trailing "/" or "/." the user gave.
std::string containerAbsPath(const std::string& path);
// Go's filepath.Base ("/" for "/", "a" for "/x/a/").
std::string pathBase(const std::string& path);

// moby's FollowSymlinkInScope(path, "/") inside `root`: every symlink
// (absolute or relative, the last component too) evaluated in the container,
// ".." never above its root, missing components kept as written. Returns a
// clean absolute container path. InvalidArgument after 255 links.
StatusOr<std::string> followSymlinkInScope(const RootDir& root, const std::string& path);

// lstat of `abs` (containerAbsPath form; a trailing "/" follows a final
// symlink, as lstat(2) does) in the container. NotFound when it does not
// exist; Internal "lstat /a/b: not a directory" for other failures.
StatusOr<PathStat> statPath(const RootDir& root, const std::string& abs);

// `docker cp c:abs -`: a tar of `abs` named pathBase(abs) (a directory with
// its subtree; a symlink as itself unless `abs` ends in "/"). Streams to `out`
// (Canceled once it returns false).
Status archivePath(const RootDir& root, const std::string& abs, const image::WriteFn& out);

// `docker export`: every entry below the root, names relative ("bin/",
// "etc/passwd"), sorted as Go's filepath.Walk would.
Status exportRoot(const RootDir& root, const image::WriteFn& out);

// `docker cp - c:path` target: `path` with every symlink followed (the last
// one too) in the container. NotFound when it does not exist,
// InvalidArgument "extraction point is not a directory" when it is not one.
// Returns the resolved container path.
StatusOr<std::string> resolveExtractDir(const RootDir& root, const std::string& path);

// The entry `rel` ("etc/hosts") as a stack of overlay layers (top-most
// first) shows it: lstat of the top-most layer holding it, false when none
// does or that one holds a whiteout. Never follows a symlink of a layer.
bool lstatInLayers(const std::vector<std::string>& layers, const std::string& rel,
                   struct stat* st);

// Runs `fn` on a thread of its own whose root directory is `rootfs`
// (unshare(CLONE_FS) + chroot, as moby's RunInFS): every path `fn` uses,
// symlinks included, resolves inside the container even if the container
// changes its files meanwhile. Blocks until `fn` returns.
Status runInRoot(const std::string& rootfs, const std::function<Status()>& fn);

// One `docker diff` line.
struct Change {
  enum Kind { kModified = 0, kAdded = 1, kDeleted = 2 };
  std::string path;
  Kind kind = kModified;
};

// Docker's overlay changes of a writable layer `upper` over `lowers` (image
// layers, top-most first): a whiteout (0/0 char device) or an opaque
// directory is a deletion; an entry also found in a lower layer is a
// modification (a directory equal in size, mode and mtime is not listed);
// anything else is an addition; the parent of an addition or deletion is
// listed as modified. In filepath.Walk order (names sorted per directory).
StatusOr<std::vector<Change>> layerChanges(const std::string& upper,
                                           const std::vector<std::string>& lowers);

// `docker commit`: the writable layer `upper` as a layer tar, overlay
// whiteouts converted to ".wh.<name>" files and opaque directories to
// "<dir>/.wh..wh..opq". `*entries` receives the number of entries written
// (0: an empty layer).
Status layerDiffTar(const std::string& upper, const image::WriteFn& out, int64_t* entries);

}  // namespace arca::runtime
