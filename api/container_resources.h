// HostConfig's resource limits and security options: parsing (create and
// update bodies), Docker's validation and defaults (moby's
// verifyPlatformContainerResources / adaptContainerSettings behaviour, with
// its messages), and the merge `docker update` performs.
// Parsing and validation are pure; HostFacts::detect() reads the host.
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "engine/status.h"
#include "eventlog/events.pb.h"

namespace arca::api {

// What validation needs to know about the host (Docker's sysinfo).
struct HostFacts {
  int ncpus = 1;
  std::string cpus = "0";  // cpuset of the root cgroup ("0-1")
  std::string mems = "0";
  bool swap_limit = true;     // memory.memsw.* present
  bool blkio_weight = false;  // blkio.weight present
  std::vector<std::string> capabilities;  // this process's effective set
  static HostFacts detect();              // reads /sys and /proc (cached)
};

// Reads the resource and security fields of a create body's HostConfig into
// `hc` (types and shapes only). Fields Arca does not implement yet with a
// non-default value answer InvalidArgument naming them.
Status parseHostResources(const rapidjson::Value& hostconfig, v1::HostConfig* hc);

// Docker's create-time checks and defaults (MemorySwap = 2 x Memory, ShmSize
// 64 MiB, OomKillDisable false, normalized capabilities). Appends Docker's
// warnings (e.g. discarded BlkioWeight). InvalidArgument with Docker's text.
Status validateHostResources(v1::HostConfig* hc, const HostFacts& facts,
                             std::vector<std::string>* warnings);

// A POST /containers/{id}/update body: the Resources fields (zero = keep) and
// RestartPolicy (empty name = keep), as given.
struct ResourcesUpdate {
  v1::HostConfig given;
  bool restart_policy_set = false;
};
StatusOr<ResourcesUpdate> parseResourcesUpdate(const std::string& body);
// The update-time checks of the given values (InvalidArgument, Docker's text).
Status validateResourcesUpdate(ResourcesUpdate* u, const HostFacts& facts,
                               std::vector<std::string>* warnings);
// moby's Container.UpdateContainer: merges `u` into `current` (Conflict with
// Docker's text when the result would be inconsistent).
Status mergeResourcesUpdate(const ResourcesUpdate& u, v1::HostConfig* current);

}  // namespace arca::api
