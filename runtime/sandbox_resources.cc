#include "runtime/sandbox_resources.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "eventlog/events.pb.h"

namespace arca::runtime {

SandboxResources sandboxResources(const v1::HostConfig& h) {
  SandboxResources r;
  r.memory = h.memory();
  r.memory_swap = h.memory_swap();
  r.memory_reservation = h.memory_reservation();
  if (h.has_memory_swappiness()) r.memory_swappiness = h.memory_swappiness();
  if (h.has_oom_kill_disable()) r.oom_kill_disable = h.oom_kill_disable();
  r.nano_cpus = h.nano_cpus();
  r.cpu_shares = h.cpu_shares();
  r.cpu_quota = h.cpu_quota();
  r.cpu_period = h.cpu_period();
  r.cpuset_cpus = h.cpuset_cpus();
  r.cpuset_mems = h.cpuset_mems();
  if (h.has_pids_limit()) r.pids_limit = h.pids_limit();
  r.blkio_weight = h.blkio_weight();
  return r;
}

SandboxSecurity sandboxSecurity(const v1::HostConfig& h) {
  SandboxSecurity s;
  s.privileged = h.privileged();
  s.cap_add.assign(h.cap_add().begin(), h.cap_add().end());
  s.cap_drop.assign(h.cap_drop().begin(), h.cap_drop().end());
  for (const auto& o : h.security_opt()) {
    // Validated at create: only these forms reach the log.
    if (o == "no-new-privileges") {
      s.no_new_privileges = true;
      continue;
    }
    size_t sep = o.find_first_of("=:");
    if (sep == std::string::npos || o.compare(0, sep, "no-new-privileges") != 0) continue;
    std::string v = o.substr(sep + 1);  // Go's strconv.ParseBool; the last one wins
    s.no_new_privileges = v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" ||
                          v == "True";
  }
  s.init = h.init();
  if (h.shm_size() > 0) s.shm_size = h.shm_size();
  for (const auto& [k, v] : h.sysctls()) s.sysctls[k] = v;
  for (const auto& u : h.ulimits()) s.ulimits.push_back({u.name(), u.soft(), u.hard()});
  for (const auto& d : h.devices()) {
    s.devices.push_back({d.path_on_host(), d.path_in_container(),
                         d.cgroup_permissions().empty() ? "rwm" : d.cgroup_permissions()});
  }
  s.group_add.assign(h.group_add().begin(), h.group_add().end());
  s.extra_hosts.assign(h.extra_hosts().begin(), h.extra_hosts().end());
  s.dns.assign(h.dns().begin(), h.dns().end());
  s.dns_options.assign(h.dns_options().begin(), h.dns_options().end());
  s.dns_search.assign(h.dns_search().begin(), h.dns_search().end());
  return s;
}

std::string ociLinuxResourcesJson(const SandboxResources& r) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  if (r.memory > 0 || r.memory_reservation > 0 || r.memory_swap != 0 || r.memory_swappiness ||
      r.oom_kill_disable) {
    w.Key("memory");
    w.StartObject();
    if (r.memory > 0) {
      w.Key("limit");
      w.Int64(r.memory);
    }
    if (r.memory_reservation > 0) {
      w.Key("reservation");
      w.Int64(r.memory_reservation);
    }
    if (r.memory_swap > 0 || (r.memory_swap == -1 && r.memory > 0)) {
      w.Key("swap");
      w.Int64(r.memory_swap);
    }
    if (r.memory_swappiness) {
      w.Key("swappiness");
      w.Uint64(static_cast<uint64_t>(*r.memory_swappiness));
    }
    if (r.oom_kill_disable) {
      w.Key("disableOOMKiller");
      w.Bool(*r.oom_kill_disable);
    }
    w.EndObject();
  }
  int64_t period = r.cpu_period;
  int64_t quota = r.cpu_quota;
  if (r.nano_cpus > 0) {
    constexpr int64_t kPeriod = 100000;  // 100 ms, as Docker
    if (period == 0) period = kPeriod;
    if (quota == 0) quota = r.nano_cpus * kPeriod / 1000000000;
  }
  if (r.cpu_shares > 0 || period != 0 || quota != 0 || !r.cpuset_cpus.empty() ||
      !r.cpuset_mems.empty()) {
    w.Key("cpu");
    w.StartObject();
    if (r.cpu_shares > 0) {
      w.Key("shares");
      w.Uint64(static_cast<uint64_t>(r.cpu_shares));
    }
    if (quota != 0) {
      w.Key("quota");
      w.Int64(quota);
    }
    if (period != 0) {
      w.Key("period");
      w.Uint64(static_cast<uint64_t>(period));
    }
    if (!r.cpuset_cpus.empty()) {
      w.Key("cpus");
      w.String(r.cpuset_cpus.c_str());
    }
    if (!r.cpuset_mems.empty()) {
      w.Key("mems");
      w.String(r.cpuset_mems.c_str());
    }
    w.EndObject();
  }
  if (r.pids_limit) {
    w.Key("pids");
    w.StartObject();
    w.Key("limit");
    w.Int64(*r.pids_limit > 0 ? *r.pids_limit : -1);
    w.EndObject();
  }
  if (r.blkio_weight > 0) {
    w.Key("blockIO");
    w.StartObject();
    w.Key("weight");
    w.Uint(static_cast<unsigned>(r.blkio_weight));
    w.EndObject();
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace arca::runtime
