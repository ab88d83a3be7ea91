// The local volume driver's files (issue #6): a volume's data lives in
// <volumes>/<name>/_data (Docker's Mountpoint); its options (`-o type=tmpfs`,
// `-o type=none -o o=bind -o device=/path`) are mounted on that directory
// while containers use it. The volumes themselves (names, labels, who uses
// them) are State; this is only their effect on disk. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/status.h"
#include "reducers/state.pb.h"
#include "runtime/sandbox_driver.h"

namespace arca::runtime {

class LocalVolumes {
 public:
  // `root` is created and made canonical (mount checks compare real paths);
  // leftovers of interrupted removals in it are deleted.
  explicit LocalVolumes(std::string root);
  const std::string& root() const { return root_; }
  // <root>/<name>/_data
  std::string dataPath(const std::string& name) const;
  // Creates the data directory of the volume created at `generation` (its
  // CreatedAt, ns: unique per name over time), idempotent. A directory left by
  // an earlier volume of the same name whose removal has not happened yet is
  // set aside first: a new volume always starts empty.
  Status create(const std::string& name, int64_t generation);
  // `user` (a container id) is about to use the volume: create(), then the
  // driver options' filesystem mounted on the data directory unless it
  // already is. Docker's texts on failure ("error while mounting volume ...").
  Status acquire(const std::string& name, int64_t generation,
                 const std::map<std::string, std::string>& options, const std::string& user);
  // `user` is done with it; the last one out unmounts the options' filesystem.
  void release(const std::string& name, const std::string& user);
  // Unmounts and removes everything of the volume created at `generation`
  // (a newer volume of the same name keeps its directory). The directory is
  // renamed aside first, so a re-create never sees a half-removed one, and
  // nothing mounted under it is ever entered.
  Status remove(const std::string& name, int64_t generation);
  // Bytes of the regular files in the volume (their sizes, as dockerd's
  // directory.Size; -1 when unreadable).
  int64_t size(const std::string& name) const;

 private:
  Status createLocked(const std::string& name, int64_t generation);
  Status trashLocked(const std::string& name);
  Status mountLocked(const std::string& name, const std::map<std::string, std::string>& options);
  Status unmountLocked(const std::string& name);

  std::string root_;
  std::mutex mu_;
  std::map<std::string, std::set<std::string>> users_;  // option volumes: who holds them
  uint64_t trash_seq_ = 0;
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

// Before a start: each volume's directory ready (driver options mounted and
// held for `c`), missing -v bind sources created, missing --mount bind
// sources refused with dockerd's text.
Status prepareMounts(const v1::State& s, const v1::Container& c, LocalVolumes& volumes);
// After `c` ran (or failed to start): its holds on volumes go.
void releaseMounts(const v1::Container& c, LocalVolumes& volumes);

// At container create (dockerd's time for it): every volume of `c` without
// nocopy that is empty gets the image's content at its destination
// (copyUpIfEmpty), read through the driver's view of the new container's root.
// `s` gives the volumes' driver options: a volume with options is mounted for
// the copy (an o=bind device gets the content, as dockerd).
Status populateVolumes(SandboxDriver& driver, const v1::State& s, const v1::Container& c,
                       const std::vector<std::string>& lower_dirs, LocalVolumes& volumes);

}  // namespace arca::runtime
