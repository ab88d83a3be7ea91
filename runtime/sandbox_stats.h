// What a sandbox reports for `docker stats` and `docker top` (issue #4):
// raw counters as the sandbox's agent read them; api/stats_json.h shapes
// Docker's JSON from two of them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace arca::runtime {

struct BlkioEntry {
  uint64_t major = 0;
  uint64_t minor = 0;
  std::string op;  // "Read", "Write", "Sync", "Async", "Discard", "Total" (v2: "read"/"write")
  uint64_t value = 0;
};

struct NetworkCounters {
  std::string name;  // interface inside the container
  uint64_t rx_bytes = 0, rx_packets = 0, rx_errors = 0, rx_dropped = 0;
  uint64_t tx_bytes = 0, tx_packets = 0, tx_errors = 0, tx_dropped = 0;
};

struct SandboxStats {
  bool running = false;  // false: no counters (the container is not running)
  int64_t read_ns = 0;
  int cgroup_version = 1;
  uint64_t cpu_total_ns = 0;
  std::vector<uint64_t> cpu_percpu_ns;  // v1 only
  uint64_t cpu_user_ns = 0;
  uint64_t cpu_system_ns = 0;
  uint64_t throttling_periods = 0;
  uint64_t throttled_periods = 0;
  uint64_t throttled_time_ns = 0;
  uint64_t system_cpu_ns = 0;
  uint32_t online_cpus = 0;
  uint64_t memory_usage = 0;
  uint64_t memory_max_usage = 0;
  uint64_t memory_limit = 0;  // the cgroup's (huge when unlimited)
  uint64_t memory_failcnt = 0;
  std::map<std::string, uint64_t> memory_stat;
  uint64_t machine_memory = 0;
  uint64_t pids_current = 0;
  uint64_t pids_limit = 0;  // 0: unlimited
  std::vector<BlkioEntry> io_service_bytes;
  std::vector<BlkioEntry> io_serviced;
  std::vector<NetworkCounters> networks;
};

// `ps` output limited to the container's processes (Docker's ContainerTopOKBody).
struct ProcessList {
  std::vector<std::string> titles;
  std::vector<std::vector<std::string>> processes;
};

}  // namespace arca::runtime
