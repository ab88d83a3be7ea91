#include "api/host_config_json.h"

#include "runtime/sandbox_resources.h"

namespace arca::api {
namespace {

void jint64OrNull(JsonWriter& j, const char* key, bool has, int64_t v) {
  j.Key(key);
  if (has) {
    j.Int64(v);
  } else {
    j.Null();
  }
}

void emptyArray(JsonWriter& j, const char* key) {
  j.Key(key);
  j.StartArray();
  j.EndArray();
}

}  // namespace

std::string warningsJson(const std::vector<std::string>& warnings) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  for (const auto& s : warnings) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

void writeHostConfig(JsonWriter& j, const v1::HostConfig& h) {
  j.StartObject();
  jstrArray(j, "Binds", h.binds(), true);  // issue #6: as given
  jstr(j, "ContainerIDFile", "");
  j.Key("LogConfig");
  j.StartObject();
  jstr(j, "Type", h.log_type().empty() ? "json-file" : h.log_type());
  jstrMap(j, "Config", h.log_config());
  j.EndObject();
  jstr(j, "NetworkMode", h.network_mode());
  j.Key("PortBindings"); j.StartObject(); j.EndObject();
  j.Key("RestartPolicy");
  j.StartObject();
  jstr(j, "Name", h.restart_policy().name().empty() ? "no" : h.restart_policy().name());
  j.Key("MaximumRetryCount"); j.Int(h.restart_policy().maximum_retry_count());
  j.EndObject();
  j.Key("AutoRemove"); j.Bool(h.auto_remove());
  jstr(j, "VolumeDriver", "");
  jstrArray(j, "VolumesFrom", h.volumes_from(), true);
  j.Key("ConsoleSize");
  j.StartArray();
  j.Int(h.console_size_size() > 0 ? h.console_size(0) : 0);
  j.Int(h.console_size_size() > 1 ? h.console_size(1) : 0);
  j.EndArray();
  jstrArray(j, "CapAdd", h.cap_add(), true);
  jstrArray(j, "CapDrop", h.cap_drop(), true);
  jstr(j, "CgroupnsMode", "host");
  jstrArray(j, "Dns", h.dns());
  jstrArray(j, "DnsOptions", h.dns_options());
  jstrArray(j, "DnsSearch", h.dns_search());
  jstrArray(j, "ExtraHosts", h.extra_hosts(), true);
  jstrArray(j, "GroupAdd", h.group_add(), true);
  jstr(j, "IpcMode", "private");
  jstr(j, "Cgroup", "");
  j.Key("Links"); j.Null();
  j.Key("OomScoreAdj"); j.Int(0);
  jstr(j, "PidMode", "");
  j.Key("Privileged"); j.Bool(h.privileged());
  j.Key("PublishAllPorts"); j.Bool(false);
  j.Key("ReadonlyRootfs"); j.Bool(h.readonly_rootfs());
  jstrArray(j, "SecurityOpt", h.security_opt(), true);
  jstr(j, "UTSMode", "");
  jstr(j, "UsernsMode", "");
  j.Key("ShmSize"); j.Int64(h.shm_size() > 0 ? h.shm_size() : runtime::kDefaultShmSize);
  if (h.sysctls_size() > 0) jstrMap(j, "Sysctls", h.sysctls());  // omitempty in Docker
  jstr(j, "Runtime", h.runtime().empty() ? "runc" : h.runtime());
  jstr(j, "Isolation", "");
  j.Key("CpuShares"); j.Int64(h.cpu_shares());
  j.Key("Memory"); j.Int64(h.memory());
  j.Key("NanoCpus"); j.Int64(h.nano_cpus());
  jstr(j, "CgroupParent", "");
  j.Key("BlkioWeight"); j.Int(h.blkio_weight());
  emptyArray(j, "BlkioWeightDevice");
  emptyArray(j, "BlkioDeviceReadBps");
  emptyArray(j, "BlkioDeviceWriteBps");
  emptyArray(j, "BlkioDeviceReadIOps");
  emptyArray(j, "BlkioDeviceWriteIOps");
  j.Key("CpuPeriod"); j.Int64(h.cpu_period());
  j.Key("CpuQuota"); j.Int64(h.cpu_quota());
  j.Key("CpuRealtimePeriod"); j.Int(0);
  j.Key("CpuRealtimeRuntime"); j.Int(0);
  jstr(j, "CpusetCpus", h.cpuset_cpus());
  jstr(j, "CpusetMems", h.cpuset_mems());
  j.Key("Devices");
  j.StartArray();
  for (const auto& d : h.devices()) {
    j.StartObject();
    jstr(j, "PathOnHost", d.path_on_host());
    jstr(j, "PathInContainer", d.path_in_container());
    jstr(j, "CgroupPermissions", d.cgroup_permissions());
    j.EndObject();
  }
  j.EndArray();
  j.Key("DeviceCgroupRules"); j.Null();
  j.Key("DeviceRequests"); j.Null();
  j.Key("MemoryReservation"); j.Int64(h.memory_reservation());
  j.Key("MemorySwap"); j.Int64(h.memory_swap());
  jint64OrNull(j, "MemorySwappiness", h.has_memory_swappiness(), h.memory_swappiness());
  j.Key("OomKillDisable"); j.Bool(h.oom_kill_disable());
  jint64OrNull(j, "PidsLimit", h.has_pids_limit(), h.pids_limit());
  j.Key("Ulimits");
  j.StartArray();
  for (const auto& u : h.ulimits()) {
    j.StartObject();
    jstr(j, "Name", u.name());
    j.Key("Hard"); j.Int64(u.hard());
    j.Key("Soft"); j.Int64(u.soft());
    j.EndObject();
  }
  j.EndArray();
  j.Key("CpuCount"); j.Int(0);
  j.Key("CpuPercent"); j.Int(0);
  j.Key("IOMaximumIOps"); j.Int(0);
  j.Key("IOMaximumBandwidth"); j.Int(0);
  j.Key("MaskedPaths");
  if (h.privileged()) {
    j.Null();  // privileged: no masked or read-only paths (Docker prints null)
  } else {
    j.StartArray();
    for (const char* p : {"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore",
                          "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                          "/sys/devices/virtual/powercap"}) {
      j.String(p);
    }
    j.EndArray();
  }
  j.Key("ReadonlyPaths");
  if (h.privileged()) {
    j.Null();
  } else {
    j.StartArray();
    for (const char* p :
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
      j.String(p);
    }
    j.EndArray();
  }
  if (h.init()) {
    j.Key("Init"); j.Bool(true);
  }
  // issue #6: Mounts and Tmpfs as given (dockerd omits them when empty).
  if (!h.mounts_json().empty()) {
    j.Key("Mounts");
    j.RawValue(h.mounts_json().c_str(), h.mounts_json().size(), rapidjson::kArrayType);
  }
  if (h.tmpfs_size() > 0) jstrMap(j, "Tmpfs", h.tmpfs());
  j.EndObject();
}

}  // namespace arca::api
