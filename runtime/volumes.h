// The local volume driver's files (issue #6): a volume's data lives in
// <volumes>/<name>/_data (Docker's Mountpoint); its options (`-o type=tmpfs`,
// `-o type=none -o o=bind -o device=/path`) are mounted on that directory
// while containers use it. The volumes themselves (names, labels, who uses
// them) are State; this is only their effect on disk. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/status.h"
#include "reducers/state.pb.h"
#include "runtime/sandbox_driver.h"

namespace arca::runtime {

class LocalVolumes {
 public:
  explicit LocalVolumes(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  // <root>/<name>/_data
  std::string dataPath(const std::string& name) const;
  // Creates the data directory (idempotent).
  Status create(const std::string& name);
  // Ready for a container: the data directory exists and the driver options'
  // filesystem is mounted on it (unless it already is). Docker's texts on
  // failure ("error while mounting volume ...").
  Status mount(const std::string& name, const std::map<std::string, std::string>& options);
  // Unmounts the options' filesystem (no other running container uses it).
  // Nothing to do without options.
  Status unmount(const std::string& name);
  // Unmounts and removes everything of the volume.
  Status remove(const std::string& name);
  // Bytes of the regular files in the volume (their sizes, as dockerd's
  // directory.Size; -1 when unreadable).
  int64_t size(const std::string& name) const;

 private:
  std::string root_;
  std::mutex mu_;  // mount/unmount of one volume at a time
};

// Docker's copy-up: when the directory `dest` (a volume's data) is empty,
// fills it with the content of `path` inside the root filesystem at `rootfs`
// (resolved in that root: symlinks never lead out), keeping modes, owners,
// times and symlinks, and gives `dest` the owner and mode of `path`. Nothing
// happens when `dest` has entries or `path` does not exist / is no directory.
Status copyUpIfEmpty(const std::string& rootfs, const std::string& path, const std::string& dest);

// A container's mounts (State) in host terms, volumes as their data
// directories, in the container's order.
std::vector<SandboxMount> sandboxMounts(const v1::State& s, const v1::Container& c,
                                        const LocalVolumes& volumes);

// Before a start: each volume's directory ready (driver options mounted),
// missing -v bind sources created, missing --mount bind sources refused with
// dockerd's text.
Status prepareMounts(const v1::State& s, const v1::Container& c, LocalVolumes& volumes);

// At container create (dockerd's time for it): every volume of `c` without
// nocopy that is empty gets the image's content at its destination
// (copyUpIfEmpty), read through the driver's view of the new container's root.
Status populateVolumes(SandboxDriver& driver, const v1::Container& c,
                       const std::vector<std::string>& lower_dirs, LocalVolumes& volumes);

}  // namespace arca::runtime
