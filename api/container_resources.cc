#include "api/container_resources.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "api/json.h"
#include "runtime/capabilities.h"

namespace arca::api {
namespace {

constexpr int64_t kMinMemory = 6 * 1024 * 1024;  // Docker's linuxMinMemory

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::optional<std::string> readLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// A cpuset list ("0-2,4") as a set; nullopt when malformed.
std::optional<std::set<int>> parseCpuset(const std::string& s) {
  std::set<int> out;
  if (s.empty()) return out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t dash = part.find('-');
    auto num = [](const std::string& t) -> std::optional<int> {
      if (t.empty() || t.size() > 6 || !std::all_of(t.begin(), t.end(), ::isdigit)) {
        return std::nullopt;
      }
      return std::stoi(t);
    };
    if (dash == std::string::npos) {
      auto n = num(part);
      if (!n) return std::nullopt;
      out.insert(*n);
    } else {
      auto a = num(part.substr(0, dash));
      auto b = num(part.substr(dash + 1));
      if (!a || !b || *b < *a) return std::nullopt;
      for (int i = *a; i <= *b; ++i) out.insert(i);
    }
  }
  return out;
}

Status checkCpuset(const std::string& requested, const std::string& available, const char* what,
                   const char* noun) {
  if (requested.empty()) return Status::Ok();
  auto req = parseCpuset(requested);
  if (!req) {
    return InvalidArgument("Invalid value " + requested + " for cpuset " + what +
                           ": invalid format: " + requested);
  }
  auto have = parseCpuset(available).value_or(std::set<int>{});
  for (int c : *req) {
    if (!have.count(c)) {
      return InvalidArgument(std::string("Requested ") + noun + " are not available - requested " +
                             requested + ", available: " + available);
    }
  }
  return Status::Ok();
}

// The resource fields shared by create and update bodies.
Status parseResourceFields(const rapidjson::Value& o, v1::HostConfig* hc, bool* te) {
  if (auto v = getInt(o, "Memory", te)) hc->set_memory(*v);
  if (auto v = getInt(o, "MemorySwap", te)) hc->set_memory_swap(*v);
  if (auto v = getInt(o, "MemoryReservation", te)) hc->set_memory_reservation(*v);
  if (auto v = getInt(o, "MemorySwappiness", te)) {
    if (*v != -1) hc->set_memory_swappiness(*v);  // -1: unset (moby's fixMemorySwappiness)
  }
  if (auto v = getInt(o, "NanoCpus", te)) hc->set_nano_cpus(*v);
  if (auto v = getInt(o, "NanoCPUs", te)) hc->set_nano_cpus(*v);
  if (auto v = getInt(o, "CpuShares", te)) hc->set_cpu_shares(*v);
  if (auto v = getInt(o, "CpuQuota", te)) hc->set_cpu_quota(*v);
  if (auto v = getInt(o, "CpuPeriod", te)) hc->set_cpu_period(*v);
  if (auto v = getString(o, "CpusetCpus", te)) hc->set_cpuset_cpus(*v);
  if (auto v = getString(o, "CpusetMems", te)) hc->set_cpuset_mems(*v);
  if (auto v = getInt(o, "PidsLimit", te)) hc->set_pids_limit(*v);  // see normalizations below
  if (auto v = getInt(o, "BlkioWeight", te)) {
    if (*v < 0 || *v > 65535) return InvalidArgument("invalid BlkioWeight: out of range");
    hc->set_blkio_weight(static_cast<int32_t>(*v));
  }
  return Status::Ok();
}

// Resource fields Arca does not implement: refused when given a non-default value.
Status refuseUnsupportedResources(const rapidjson::Value& o, const char* prefix) {
  static const char* kRefused[] = {
      "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
      "BlkioDeviceWriteIOps", "CpuRealtimePeriod", "CpuRealtimeRuntime", "DeviceCgroupRules",
      "DeviceRequests", "KernelMemory", "KernelMemoryTCP", "CpuCount", "CpuPercent",
      "IOMaximumIOps", "IOMaximumBandwidth", "OomScoreAdj"};
  for (const char* k : kRefused) {
    auto it = o.FindMember(k);
    if (it != o.MemberEnd() && nonDefault(it->value)) {
      return InvalidArgument(std::string(prefix) + k +
                             " is not supported yet by arca (see docs/LIMITATIONS.md)");
    }
  }
  return Status::Ok();
}

bool validIp(std::string ip) {
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

// The docker CLI's sysctl rule (opts.ValidateSysctl): only namespaced ones.
// net.* needs the container's own network namespace, which every Arca
// container has (network mode "none").
bool allowedSysctl(const std::string& k) {
  static const std::set<std::string> exact = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
                                              "kernel.sem",    "kernel.shmall", "kernel.shmmax",
                                              "kernel.shmmni", "kernel.shm_rmid_forced"};
  return exact.count(k) || k.rfind("net.", 0) == 0 || k.rfind("fs.mqueue.", 0) == 0;
}

bool knownUlimit(const std::string& n) {
  static const std::set<std::string> names = {"as",     "core",   "cpu",    "data",   "fsize",
                                              "locks",  "memlock", "msgqueue", "nice", "nofile",
                                              "nproc",  "rss",    "rtprio", "rttime", "sigpending",
                                              "stack"};
  return names.count(n) > 0;
}

Status validateSecurityOpt(const std::string& opt) {
  if (opt == "no-new-privileges") return Status::Ok();
  std::string k, v;
  size_t eq = opt.find('=');
  if (eq == std::string::npos) eq = opt.find(':');  // deprecated "key:value"
  if (eq == std::string::npos) {
    if (opt == "disable" || opt == "writable-cgroups") {
      return InvalidArgument("security option \"" + opt +
                             "\" is not supported yet by arca (see docs/LIMITATIONS.md)");
    }
    return InvalidArgument("invalid --security-opt 1: " + quoted(opt));
  }
  k = opt.substr(0, eq);
  v = opt.substr(eq + 1);
  if (k == "no-new-privileges") {
    static const std::set<std::string> bools = {"1", "t", "T", "TRUE", "true", "True",
                                                "0", "f", "F", "FALSE", "false", "False"};
    if (!bools.count(v)) return InvalidArgument("invalid --security-opt 2: " + quoted(opt));
    return Status::Ok();
  }
  // Arca applies no seccomp profile, AppArmor profile or SELinux label yet:
  // asking for none of them is honoured as is.
  if ((k == "seccomp" && v == "unconfined") || (k == "apparmor" && v == "unconfined") ||
      (k == "label" && v == "disable")) {
    return Status::Ok();
  }
  if (k == "seccomp" || k == "apparmor" || k == "label" || k == "writable-cgroups") {
    return InvalidArgument("security option \"" + (k == "seccomp" && (v.size() > 40 || v.rfind("{", 0) == 0)
                                                        ? k + "=<profile>"
                                                        : opt) +
                           "\" is not supported yet by arca: only no-new-privileges, "
                           "seccomp=unconfined, apparmor=unconfined and label=disable "
                           "(see docs/LIMITATIONS.md)");
  }
  return InvalidArgument("invalid --security-opt 2: " + quoted(opt));
}

// Docker's resource checks shared by create and update.
Status verifyResources(v1::HostConfig* hc, const HostFacts& f, bool update,
                       std::vector<std::string>* warnings) {
  if (hc->memory() != 0 && hc->memory() < kMinMemory) {
    return InvalidArgument("Minimum memory limit allowed is 6MB");
  }
  if (hc->memory() > 0 && hc->memory_swap() != -1 && !f.swap_limit) {
    warnings->push_back(
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
        "Memory limited without swap.");
    hc->set_memory_swap(-1);
  }
  if (hc->memory() > 0 && hc->memory_swap() > 0 && hc->memory_swap() < hc->memory()) {
    return InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage");
  }
  if (hc->memory() == 0 && hc->memory_swap() > 0 && !update) {
    return InvalidArgument(
        "You should always set the Memory limit when using Memoryswap limit, see usage");
  }
  if (hc->has_memory_swappiness() &&
      (hc->memory_swappiness() < 0 || hc->memory_swappiness() > 100)) {
    return InvalidArgument("Invalid value: " + std::to_string(hc->memory_swappiness()) +
                           ", valid memory swappiness range is 0-100");
  }
  if (hc->memory_reservation() > 0 && hc->memory_reservation() < kMinMemory) {
    return InvalidArgument("Minimum memory reservation allowed is 6MB");
  }
  if (hc->memory() > 0 && hc->memory_reservation() > 0 &&
      hc->memory() < hc->memory_reservation()) {
    return InvalidArgument(
        "Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  if (hc->has_oom_kill_disable() && hc->oom_kill_disable() && hc->memory() == 0) {
    warnings->push_back(
        "OOM killer is disabled for the container, but no memory limit is set, this can result "
        "in the system running out of resources.");
  }
  if (hc->nano_cpus() > 0 && hc->cpu_period() > 0) {
    return InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  }
  if (hc->nano_cpus() > 0 && hc->cpu_quota() > 0) {
    return InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  }
  if (hc->nano_cpus() != 0 &&
      (hc->nano_cpus() < 0 || hc->nano_cpus() > int64_t{f.ncpus} * 1000000000)) {
    std::string n = std::to_string(f.ncpus);
    return InvalidArgument("Range of CPUs is from 0.01 to " + n + ".00, as there are only " + n +
                           " CPUs available");
  }
  if (hc->cpu_shares() < 0) {
    return InvalidArgument("invalid CPU shares (" + std::to_string(hc->cpu_shares()) +
                           "): value must be a positive integer");
  }
  if (hc->cpu_period() != 0 && (hc->cpu_period() < 1000 || hc->cpu_period() > 1000000)) {
    return InvalidArgument(
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  }
  if (hc->cpu_quota() > 0 && hc->cpu_quota() < 1000) {
    return InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)");
  }
  ARCA_RETURN_IF_ERROR(checkCpuset(hc->cpuset_cpus(), f.cpus, "cpus", "CPUs"));
  ARCA_RETURN_IF_ERROR(checkCpuset(hc->cpuset_mems(), f.mems, "mems", "memory nodes"));
  if (hc->blkio_weight() > 0 && !f.blkio_weight) {
    warnings->push_back(
        "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight "
        "discarded.");
    hc->set_blkio_weight(0);
  }
  if (hc->blkio_weight() > 0 && (hc->blkio_weight() < 10 || hc->blkio_weight() > 1000)) {
    return InvalidArgument("Range of blkio weight is from 10 to 1000");
  }
  return Status::Ok();
}

Status validateRestartPolicy(const v1::RestartPolicy& p) {
  const std::string& n = p.name();
  int32_t max = p.maximum_retry_count();
  if (n == "always" || n == "unless-stopped" || n == "no") {
    if (max != 0) {
      std::string msg =
          "invalid restart policy: maximum retry count can only be used with 'on-failure'";
      if (max < 0) msg += " and cannot be negative";
      return InvalidArgument(msg);
    }
    return Status::Ok();
  }
  if (n == "on-failure") {
    if (max < 0) {
      return InvalidArgument("invalid restart policy: maximum retry count cannot be negative");
    }
    return Status::Ok();
  }
  if (n.empty()) return Status::Ok();
  return InvalidArgument("invalid restart policy: unknown policy '" + n +
                         "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
}

}  // namespace

HostFacts HostFacts::detect() {
  static const HostFacts facts = [] {
    HostFacts f;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    f.ncpus = n > 0 ? static_cast<int>(n) : 1;
    f.cpus = readLine("/sys/fs/cgroup/cpuset/cpuset.cpus")
                 .value_or("0-" + std::to_string(f.ncpus - 1));
    if (f.ncpus == 1 && f.cpus == "0-0") f.cpus = "0";
    f.mems = readLine("/sys/fs/cgroup/cpuset/cpuset.mems").value_or("0");
    f.swap_limit = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0 ||
                   access("/sys/fs/cgroup/memory.swap.max", F_OK) == 0;
    f.blkio_weight = access("/sys/fs/cgroup/blkio/blkio.weight", F_OK) == 0;
    f.capabilities = runtime::currentCapabilities();
    return f;
  }();
  return facts;
}

Status parseHostResources(const rapidjson::Value& H, v1::HostConfig* hc) {
  bool te = false;
  ARCA_RETURN_IF_ERROR(parseResourceFields(H, hc, &te));
  ARCA_RETURN_IF_ERROR(refuseUnsupportedResources(H, "HostConfig."));
  if (auto v = getBool(H, "Privileged", &te)) hc->set_privileged(*v);
  if (auto v = getBool(H, "Init", &te)) hc->set_init(*v);
  if (auto v = getBool(H, "OomKillDisable", &te)) hc->set_oom_kill_disable(*v);
  if (auto v = getInt(H, "ShmSize", &te)) hc->set_shm_size(*v);
  if (auto v = getStrings(H, "CapAdd", &te)) {
    for (auto& s : *v) hc->add_cap_add(s);
  }
  if (auto v = getStrings(H, "CapDrop", &te)) {
    for (auto& s : *v) hc->add_cap_drop(s);
  }
  if (auto v = getStrings(H, "SecurityOpt", &te)) {
    for (auto& s : *v) hc->add_security_opt(s);
  }
  if (auto v = getStringMap(H, "Sysctls", &te)) {
    for (auto& [k, val] : *v) (*hc->mutable_sysctls())[k] = val;
  }
  for (const char* k : {"ExtraHosts", "Dns", "DnsOptions", "DnsSearch", "GroupAdd"}) {
    auto v = getStrings(H, k, &te);
    if (!v) continue;
    auto* dst = std::string(k) == "ExtraHosts"   ? hc->mutable_extra_hosts()
                : std::string(k) == "Dns"        ? hc->mutable_dns()
                : std::string(k) == "DnsOptions" ? hc->mutable_dns_options()
                : std::string(k) == "DnsSearch"  ? hc->mutable_dns_search()
                                                 : hc->mutable_group_add();
    for (auto& s : *v) dst->Add(std::move(s));
  }
  auto ul = H.FindMember("Ulimits");
  if (ul != H.MemberEnd() && !ul->value.IsNull()) {
    if (!ul->value.IsArray()) return InvalidArgument("invalid type for HostConfig.Ulimits");
    for (const auto& u : ul->value.GetArray()) {
      auto* x = hc->add_ulimits();
      x->set_name(getString(u, "Name", &te).value_or(""));
      x->set_soft(getInt(u, "Soft", &te).value_or(0));
      x->set_hard(getInt(u, "Hard", &te).value_or(0));
    }
  }
  auto dev = H.FindMember("Devices");
  if (dev != H.MemberEnd() && !dev->value.IsNull()) {
    if (!dev->value.IsArray()) return InvalidArgument("invalid type for HostConfig.Devices");
    for (const auto& d : dev->value.GetArray()) {
      auto* x = hc->add_devices();
      x->set_path_on_host(getString(d, "PathOnHost", &te).value_or(""));
      x->set_path_in_container(getString(d, "PathInContainer", &te).value_or(""));
      x->set_cgroup_permissions(getString(d, "CgroupPermissions", &te).value_or(""));
    }
  }
  // --security-opt systempaths=unconfined reaches the API as empty arrays.
  for (const char* k : {"MaskedPaths", "ReadonlyPaths"}) {
    auto it = H.FindMember(k);
    if (it != H.MemberEnd() && !it->value.IsNull()) {
      return InvalidArgument(std::string("HostConfig.") + k +
                             " (--security-opt systempaths=unconfined) is not supported yet by "
                             "arca (see docs/LIMITATIONS.md)");
    }
  }
  if (auto v = getString(H, "CgroupParent", &te); v && !v->empty()) {
    return InvalidArgument(
        "HostConfig.CgroupParent is not supported yet by arca: containers live under the "
        "\"arca\" cgroup (see docs/LIMITATIONS.md)");
  }
  if (te) return InvalidArgument("invalid type in HostConfig resources");
  return Status::Ok();
}

Status validateHostResources(v1::HostConfig* hc, const HostFacts& f,
                             std::vector<std::string>* warnings) {
  ARCA_RETURN_IF_ERROR(verifyResources(hc, f, false, warnings));
  // As dockerd's API: a PidsLimit of 0 or below at create means no limit (null).
  if (hc->has_pids_limit() && hc->pids_limit() <= 0) hc->clear_pids_limit();
  if (hc->shm_size() < 0) return InvalidArgument("SHM size can not be less than 0");
  // Capabilities: normalized as Docker stores them.
  auto add = runtime::normalizeCapabilities({hc->cap_add().begin(), hc->cap_add().end()},
                                            f.capabilities);
  if (!add.ok()) return InvalidArgument("invalid CapAdd: " + add.status().message());
  auto drop = runtime::normalizeCapabilities({hc->cap_drop().begin(), hc->cap_drop().end()},
                                             f.capabilities);
  if (!drop.ok()) return InvalidArgument("invalid CapDrop: " + drop.status().message());
  hc->clear_cap_add();
  for (auto& c : *add) hc->add_cap_add(c);
  hc->clear_cap_drop();
  for (auto& c : *drop) hc->add_cap_drop(c);
  for (const auto& o : hc->security_opt()) ARCA_RETURN_IF_ERROR(validateSecurityOpt(o));
  for (const auto& [k, v] : hc->sysctls()) {
    if (!allowedSysctl(k)) return InvalidArgument("sysctl '" + k + "=" + v + "' is not allowed");
  }
  for (const auto& u : hc->ulimits()) {
    if (!knownUlimit(u.name())) return InvalidArgument("invalid ulimit type: " + u.name());
    if (u.soft() > u.hard()) {
      return InvalidArgument("ulimit soft limit must be less than or equal to hard limit: " +
                             std::to_string(u.soft()) + " > " + std::to_string(u.hard()));
    }
  }
  for (const auto& h : hc->extra_hosts()) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgument("bad format for add-host: " + quoted(h));
    }
    std::string ip = h.substr(colon + 1);
    if (ip == "host-gateway") {
      return InvalidArgument(
          "add-host with host-gateway is not supported yet by arca (networking lands with "
          "issue #5)");
    }
    if (!validIp(ip)) return InvalidArgument("invalid IP address in add-host: " + quoted(ip));
  }
  for (const auto& d : hc->dns()) {
    if (!validIp(d)) return InvalidArgument(d + " is not an ip address");
  }
  for (auto& d : *hc->mutable_devices()) {
    if (d.path_on_host().empty() || d.path_on_host().front() != '/') {
      return InvalidArgument(d.path_on_host() + " is not an absolute path");
    }
    if (d.path_in_container().empty()) d.set_path_in_container(d.path_on_host());
    if (d.path_in_container().front() != '/') {
      return InvalidArgument(d.path_in_container() + " is not an absolute path");
    }
    if (d.cgroup_permissions().empty()) d.set_cgroup_permissions("rwm");
    const std::string& m = d.cgroup_permissions();
    if (m.size() > 3 || m.find_first_not_of("rwm") != std::string::npos) {
      return InvalidArgument("invalid device mode: " + m);
    }
  }
  // Docker's defaults (adaptContainerSettings).
  if (hc->memory() > 0 && hc->memory_swap() == 0) hc->set_memory_swap(hc->memory() * 2);
  if (hc->shm_size() == 0) hc->set_shm_size(64 << 20);
  if (!hc->has_oom_kill_disable()) hc->set_oom_kill_disable(false);
  return Status::Ok();
}

StatusOr<ResourcesUpdate> parseResourcesUpdate(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError() || !d.IsObject()) {
    return InvalidArgument("invalid JSON body for container update");
  }
  ResourcesUpdate u;
  bool te = false;
  ARCA_RETURN_IF_ERROR(parseResourceFields(d, &u.given, &te));
  ARCA_RETURN_IF_ERROR(refuseUnsupportedResources(d, ""));
  // Resources Docker accepts in the body but never changes on update: refuse
  // rather than ignore.
  for (const char* k : {"Ulimits", "Devices", "OomKillDisable", "MemorySwappiness",
                        "CgroupParent"}) {
    auto it = d.FindMember(k);
    if (it == d.MemberEnd() || !nonDefault(it->value)) continue;
    if (std::string(k) == "MemorySwappiness" && it->value.IsInt64() &&
        it->value.GetInt64() == -1) {
      continue;
    }
    return InvalidArgument(std::string(k) + " cannot be changed by docker update");
  }
  auto rp = d.FindMember("RestartPolicy");
  if (rp != d.MemberEnd() && rp->value.IsObject()) {
    std::string name = getString(rp->value, "Name", &te).value_or("");
    int64_t max = getInt(rp->value, "MaximumRetryCount", &te).value_or(0);
    if (!name.empty()) {
      u.restart_policy_set = true;
      u.given.mutable_restart_policy()->set_name(name);
      u.given.mutable_restart_policy()->set_maximum_retry_count(static_cast<int32_t>(max));
    }
  }
  if (te) return InvalidArgument("invalid type in container update body");
  return u;
}

Status validateResourcesUpdate(ResourcesUpdate* u, const HostFacts& f,
                               std::vector<std::string>* warnings) {
  ARCA_RETURN_IF_ERROR(verifyResources(&u->given, f, true, warnings));
  // As dockerd's API: 0 or below on update means "unlimited", recorded as 0.
  if (u->given.has_pids_limit() && u->given.pids_limit() < 0) u->given.set_pids_limit(0);
  if (u->restart_policy_set) ARCA_RETURN_IF_ERROR(validateRestartPolicy(u->given.restart_policy()));
  return Status::Ok();
}

Status mergeResourcesUpdate(const ResourcesUpdate& u, v1::HostConfig* c) {
  const v1::HostConfig& g = u.given;
  if (g.nano_cpus() > 0 && c->cpu_period() > 0) {
    return Conflict(
        "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  }
  if (g.nano_cpus() > 0 && c->cpu_quota() > 0) {
    return Conflict(
        "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
  }
  if (g.cpu_period() > 0 && c->nano_cpus() > 0) {
    return Conflict(
        "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  }
  if (g.cpu_quota() > 0 && c->nano_cpus() > 0) {
    return Conflict(
        "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  }
  if (g.blkio_weight() != 0) c->set_blkio_weight(g.blkio_weight());
  if (g.cpu_shares() != 0) c->set_cpu_shares(g.cpu_shares());
  if (g.nano_cpus() != 0) c->set_nano_cpus(g.nano_cpus());
  if (g.cpu_period() != 0) c->set_cpu_period(g.cpu_period());
  if (g.cpu_quota() != 0) c->set_cpu_quota(g.cpu_quota());
  if (!g.cpuset_cpus().empty()) c->set_cpuset_cpus(g.cpuset_cpus());
  if (!g.cpuset_mems().empty()) c->set_cpuset_mems(g.cpuset_mems());
  if (g.memory() != 0) {
    if (g.memory() > c->memory_swap() && g.memory_swap() == 0) {
      return Conflict(
          "Memory limit should be smaller than already set memoryswap limit, update the "
          "memoryswap at the same time");
    }
    c->set_memory(g.memory());
  }
  if (g.memory_swap() != 0) c->set_memory_swap(g.memory_swap());
  if (g.memory_reservation() != 0) c->set_memory_reservation(g.memory_reservation());
  if (g.has_pids_limit()) c->set_pids_limit(g.pids_limit());
  if (u.restart_policy_set) {
    if (c->auto_remove() && g.restart_policy().name() != "no") {
      return Conflict(
          "Restart policy cannot be updated because AutoRemove is enabled for the container");
    }
    *c->mutable_restart_policy() = g.restart_policy();
  }
  return Status::Ok();
}

}  // namespace arca::api
