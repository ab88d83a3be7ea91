// The resource limits and security options of a sandbox (docker create's
// HostConfig resources and security fields), driver-neutral: the executor
// fills them from the container's HostConfig, a driver turns them into its
// own configuration (the namespace driver: the OCI config; a VM driver the
// same OCI config inside the guest). Plain data: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace arca::v1 {
class HostConfig;
}

namespace arca::runtime {

// Docker's default /dev/shm size (64 MiB).
inline constexpr int64_t kDefaultShmSize = 64 << 20;

// cgroup limits: the ones `docker update` may change live.
struct SandboxResources {
  int64_t memory = 0;              // bytes, 0 = unlimited
  int64_t memory_swap = 0;         // memory + swap; -1 unlimited, 0 unset
  int64_t memory_reservation = 0;  // soft limit
  std::optional<int64_t> memory_swappiness;
  std::optional<bool> oom_kill_disable;
  int64_t nano_cpus = 0;  // 1e9 = one CPU (CFS period 100 ms)
  int64_t cpu_shares = 0;
  int64_t cpu_quota = 0;
  int64_t cpu_period = 0;
  std::string cpuset_cpus;
  std::string cpuset_mems;
  std::optional<int64_t> pids_limit;  // <= 0: unlimited
  int32_t blkio_weight = 0;
};

struct SandboxUlimit {
  std::string name;  // "nofile"
  int64_t soft = 0;
  int64_t hard = 0;
};

struct SandboxDevice {
  std::string path_on_host;
  std::string path_in_container;
  std::string permissions = "rwm";
};

// Everything else of HostConfig that shapes the sandbox.
struct SandboxSecurity {
  bool privileged = false;
  std::vector<std::string> cap_add;  // normalized ("CAP_X" or "ALL")
  std::vector<std::string> cap_drop;
  bool no_new_privileges = false;
  bool init = false;  // docker-init (tini) as PID 1
  int64_t shm_size = kDefaultShmSize;
  std::map<std::string, std::string> sysctls;
  std::vector<SandboxUlimit> ulimits;
  std::vector<SandboxDevice> devices;
  std::vector<std::string> group_add;  // names (resolved in the container) or gids
  std::vector<std::string> extra_hosts;  // "name:ip"
  std::vector<std::string> dns;
  std::vector<std::string> dns_options;
  std::vector<std::string> dns_search;
};

SandboxResources sandboxResources(const v1::HostConfig& h);
SandboxSecurity sandboxSecurity(const v1::HostConfig& h);

// The OCI runtime-spec LinuxResources object (memory, cpu, pids, blockIO;
// no device rules) as compact JSON: what config.json's linux.resources holds
// besides devices, and what `runc update --resources -` reads. Docker's
// mapping: NanoCpus -> period 100000 and quota; PidsLimit <= 0 -> -1.
std::string ociLinuxResourcesJson(const SandboxResources& r);

}  // namespace arca::runtime
