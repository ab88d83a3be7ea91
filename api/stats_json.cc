#include "api/stats_json.h"

#include <set>

#include "api/json.h"
#include "api/time_util.h"

namespace arca::api {
namespace {

using runtime::SandboxStats;

constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

// The memory.stat keys dockerd reports on cgroup v1 (containerd's v1 metrics).
const std::set<std::string>& v1MemoryKeys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k;
    for (const char* base :
         {"cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
          "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file",
          "active_file", "unevictable"}) {
      k.insert(base);
      k.insert(std::string("total_") + base);
    }
    k.insert("hierarchical_memory_limit");
    k.insert("hierarchical_memsw_limit");
    return k;
  }();
  return keys;
}

void u64(JsonWriter& j, const char* key, uint64_t v) {
  j.Key(key);
  j.Uint64(v);
}

void u64IfSet(JsonWriter& j, const char* key, uint64_t v) {
  if (v != 0) u64(j, key, v);
}

void cpuStats(JsonWriter& j, const char* key, const SandboxStats* s) {
  const bool have = s != nullptr && s->running;
  j.Key(key);
  j.StartObject();
  j.Key("cpu_usage");
  j.StartObject();
  u64(j, "total_usage", have ? s->cpu_total_ns : 0);
  if (have && !s->cpu_percpu_ns.empty()) {
    j.Key("percpu_usage");
    j.StartArray();
    for (uint64_t v : s->cpu_percpu_ns) j.Uint64(v);
    j.EndArray();
  }
  u64(j, "usage_in_kernelmode", have ? s->cpu_system_ns : 0);
  u64(j, "usage_in_usermode", have ? s->cpu_user_ns : 0);
  j.EndObject();
  if (have) {
    u64IfSet(j, "system_cpu_usage", s->system_cpu_ns);
    u64IfSet(j, "online_cpus", s->online_cpus);
  }
  j.Key("throttling_data");
  j.StartObject();
  u64(j, "periods", have ? s->throttling_periods : 0);
  u64(j, "throttled_periods", have ? s->throttled_periods : 0);
  u64(j, "throttled_time", have ? s->throttled_time_ns : 0);
  j.EndObject();
  j.EndObject();
}

void blkioList(JsonWriter& j, const char* key, const std::vector<runtime::BlkioEntry>* list) {
  j.Key(key);
  if (list == nullptr) {
    j.Null();
    return;
  }
  j.StartArray();
  for (const auto& e : *list) {
    j.StartObject();
    u64(j, "major", e.major);
    u64(j, "minor", e.minor);
    jstr(j, "op", e.op);
    u64(j, "value", e.value);
    j.EndObject();
  }
  j.EndArray();
}

void blkioStats(JsonWriter& j, const SandboxStats& s) {
  static const std::vector<runtime::BlkioEntry> kEmpty;
  // dockerd: v1 fills every list (empty ones as []), v2 only the first two.
  const bool run = s.running;
  const auto* other = run && s.cgroup_version == 1 ? &kEmpty : nullptr;
  j.Key("blkio_stats");
  j.StartObject();
  blkioList(j, "io_service_bytes_recursive", run ? &s.io_service_bytes : nullptr);
  blkioList(j, "io_serviced_recursive", run ? &s.io_serviced : nullptr);
  for (const char* k : {"io_queue_recursive", "io_service_time_recursive",
                        "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive",
                        "sectors_recursive"}) {
    blkioList(j, k, other);
  }
  j.EndObject();
}

void memoryStats(JsonWriter& j, const SandboxStats& s) {
  j.Key("memory_stats");
  j.StartObject();
  if (s.running) {
    u64IfSet(j, "usage", s.memory_usage);
    u64IfSet(j, "max_usage", s.memory_max_usage);
    if (!s.memory_stat.empty()) {
      j.Key("stats");
      j.StartObject();
      for (const auto& [k, v] : s.memory_stat) {
        if (s.cgroup_version == 1 && v1MemoryKeys().count(k) == 0) continue;
        u64(j, k.c_str(), v);
      }
      j.EndObject();
    }
    u64IfSet(j, "failcnt", s.memory_failcnt);
    // Without a limit of its own the container is bounded by the machine.
    uint64_t limit = s.memory_limit;
    if (s.machine_memory > 0 && (limit == 0 || limit > s.machine_memory)) limit = s.machine_memory;
    u64IfSet(j, "limit", limit);
  }
  j.EndObject();
}

void networks(JsonWriter& j, const SandboxStats& s) {
  bool any = false;
  for (const auto& n : s.networks) {
    if (n.name == "lo") continue;  // dockerd reports the container's endpoints only
    if (!any) {
      j.Key("networks");
      j.StartObject();
      any = true;
    }
    j.Key(n.name.c_str());
    j.StartObject();
    u64(j, "rx_bytes", n.rx_bytes);
    u64(j, "rx_packets", n.rx_packets);
    u64(j, "rx_errors", n.rx_errors);
    u64(j, "rx_dropped", n.rx_dropped);
    u64(j, "tx_bytes", n.tx_bytes);
    u64(j, "tx_packets", n.tx_packets);
    u64(j, "tx_errors", n.tx_errors);
    u64(j, "tx_dropped", n.tx_dropped);
    j.EndObject();
  }
  if (any) j.EndObject();
}

}  // namespace

std::string statsJson(const SandboxStats& cur, const SandboxStats* prev, const std::string& name,
                      const std::string& id) {
  if (prev != nullptr && !prev->running) prev = nullptr;
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstr(j, "read", cur.running ? rfc3339(cur.read_ns) : kZeroTime);
  jstr(j, "preread", cur.running && prev ? rfc3339(prev->read_ns) : kZeroTime);
  j.Key("pids_stats");
  j.StartObject();
  if (cur.running) {
    u64IfSet(j, "current", cur.pids_current);
    u64IfSet(j, "limit", cur.pids_limit);
  }
  j.EndObject();
  blkioStats(j, cur);
  j.Key("num_procs");
  j.Uint(0);
  j.Key("storage_stats");
  j.StartObject();
  j.EndObject();
  cpuStats(j, "cpu_stats", &cur);
  cpuStats(j, "precpu_stats", cur.running ? prev : nullptr);
  memoryStats(j, cur);
  jstr(j, "name", name);
  jstr(j, "id", id);
  if (cur.running) networks(j, cur);
  j.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace arca::api
