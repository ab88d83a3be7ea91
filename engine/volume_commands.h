// Volume commands and their deciders (issue #6): the local driver's volumes
// on the event log. Pure: the data directories are the API layer's effect.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::engine {

struct CreateVolume {
  std::string name;    // "" -> a generated 64-hex name (anonymous when `anonymous`)
  std::string driver;  // "" / "local"
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options;  // local driver: type, device, o
  bool anonymous = false;
};

// NotFound: "get <name>: no such volume".
StatusOr<const v1::Volume*> findVolume(const v1::State& s, const std::string& name);

// Docker's local driver rules: name, driver, option keys; an existing name
// with the same driver is no error (nothing is recorded, *name is set).
Status decideCreateVolume(const v1::State& s, const CreateVolume& cmd, IdSource& ids,
                          std::vector<v1::Event>* out, std::string* name);
// Conflict while a container uses it ("volume is in use - [ids]"); `force`
// makes a missing volume no error.
Status decideRemoveVolume(const v1::State& s, const std::string& name, bool force,
                          std::vector<v1::Event>* out);

// Containers (any state) that use volume `name`, by id, sorted.
std::vector<std::string> volumeUsers(const v1::State& s, const std::string& name);

// A new container's mounts, resolved (issue #6): `explicit_mounts` (-v,
// --mount, --tmpfs, in that order), then `volumes_from` ("name[:ro|rw]":
// the other container's volumes and binds), then `config_volumes` (the
// image's VOLUMEs and Config.Volumes) as anonymous volumes, each only where no
// earlier mount has the destination. Anonymous volumes get names; volumes that
// do not exist are created (VolumeCreated appended to *out, before the
// container's events).
Status planContainerMounts(const v1::State& s,
                           const google::protobuf::RepeatedPtrField<v1::MountPoint>& explicit_mounts,
                           const google::protobuf::RepeatedPtrField<std::string>& volumes_from,
                           const google::protobuf::RepeatedPtrField<std::string>& config_volumes,
                           IdSource& ids, std::vector<v1::Event>* out,
                           google::protobuf::RepeatedPtrField<v1::MountPoint>* mounts);

// The anonymous volumes of container `id` that go with it (rm -v, --rm): no
// other container uses them.
std::vector<std::string> anonymousVolumesOf(const v1::State& s, const std::string& id);

// Volumes no container uses: anonymous ones, or all with `all` (API >= 1.42),
// passing `keep` false; never those with driver options (as dockerd).
std::vector<std::string> pruneableVolumes(const v1::State& s, bool all,
                                          const std::function<bool(const v1::Volume&)>& keep);

}  // namespace arca::engine
