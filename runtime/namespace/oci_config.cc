#include "runtime/namespace/oci_config.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "runtime/namespace/container_fs.h"

namespace arca::runtime {
namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void stringArray(Writer& w, const std::vector<std::string>& v) {
  w.StartArray();
  for (const auto& s : v) w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
}

void key(Writer& w, const char* k) { w.Key(k); }

void str(Writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

void mount(Writer& w, const std::string& dest, const std::string& type, const std::string& src,
           const std::vector<std::string>& options) {
  w.StartObject();
  key(w, "destination");
  str(w, dest);
  key(w, "type");
  str(w, type);
  key(w, "source");
  str(w, src);
  key(w, "options");
  stringArray(w, options);
  w.EndObject();
}

}  // namespace

const std::vector<std::string>& dockerDefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  return caps;
}

std::string envValue(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env) {
    if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=') {
      return e.substr(key.size() + 1);
    }
  }
  return "";
}

std::vector<std::string> dockerEnvironment(const std::vector<std::string>& env,
                                           const std::string& hostname, bool tty) {
  // moby's ReplaceOrAppendEnvValues over the daemon's defaults: an override
  // replaces a default in place, "K" without '=' unsets a default, anything
  // else is appended.
  std::vector<std::string> out = {std::string("PATH=") + kDefaultPathEnv, "HOSTNAME=" + hostname};
  if (tty) out.push_back("TERM=xterm");
  const std::string default_keys[] = {"PATH", "HOSTNAME", "TERM"};
  const size_t defaults = out.size();
  for (const auto& e : env) {
    size_t eq = e.find('=');
    std::string k = e.substr(0, eq);
    size_t slot = defaults;
    for (size_t i = 0; i < defaults; ++i) {
      if (default_keys[i] == k) slot = i;
    }
    if (eq == std::string::npos) {
      if (slot < defaults) out[slot] = "";
      continue;
    }
    if (slot < defaults) {
      out[slot] = e;
    } else {
      out.push_back(e);
    }
  }
  std::vector<std::string> result;
  for (auto& o : out) {
    if (!o.empty()) result.push_back(std::move(o));
  }
  return result;
}

std::string buildOciConfig(const OciConfigInput& in) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  key(w, "ociVersion");
  w.String("1.0.2");

  key(w, "process");
  w.StartObject();
  key(w, "terminal");
  w.Bool(in.terminal);
  key(w, "user");
  w.StartObject();
  key(w, "uid");
  w.Uint(in.uid);
  key(w, "gid");
  w.Uint(in.gid);
  if (!in.additional_gids.empty()) {
    key(w, "additionalGids");
    w.StartArray();
    for (uint32_t g : in.additional_gids) w.Uint(g);
    w.EndArray();
  }
  w.EndObject();
  key(w, "args");
  stringArray(w, in.args);
  key(w, "env");
  stringArray(w, in.env);
  key(w, "cwd");
  str(w, in.cwd.empty() ? std::string("/") : in.cwd);
  key(w, "capabilities");
  w.StartObject();
  for (const char* set : {"bounding", "effective", "permitted"}) {
    key(w, set);
    stringArray(w, in.capabilities);
  }
  w.EndObject();
  key(w, "rlimits");
  w.StartArray();
  std::vector<OciRlimit> rlimits = in.rlimits;
  bool have_nofile = false;
  for (const auto& r : rlimits) have_nofile = have_nofile || r.type == "RLIMIT_NOFILE";
  if (!have_nofile) rlimits.insert(rlimits.begin(), {"RLIMIT_NOFILE", in.nofile_limit, in.nofile_limit});
  for (const auto& r : rlimits) {
    w.StartObject();
    key(w, "type");
    str(w, r.type);
    key(w, "hard");
    w.Uint64(r.hard);
    key(w, "soft");
    w.Uint64(r.soft);
    w.EndObject();
  }
  w.EndArray();
  key(w, "noNewPrivileges");
  w.Bool(in.no_new_privileges);
  w.EndObject();  // process

  key(w, "root");
  w.StartObject();
  key(w, "path");
  str(w, in.root_path);
  key(w, "readonly");
  w.Bool(in.readonly_rootfs);
  w.EndObject();

  key(w, "hostname");
  str(w, in.hostname);

  key(w, "mounts");
  w.StartArray();
  mount(w, "/proc", "proc", "proc", {"nosuid", "noexec", "nodev"});
  mount(w, "/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"});
  mount(w, "/dev/pts", "devpts", "devpts",
        {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
  const std::string ro = in.privileged ? "rw" : "ro";
  mount(w, "/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", ro});
  mount(w, "/sys/fs/cgroup", "cgroup", "cgroup", {ro, "nosuid", "noexec", "nodev"});
  mount(w, "/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"});
  mount(w, "/dev/shm", "tmpfs", "shm",
        {"nosuid", "noexec", "nodev", "mode=1777", "size=" + std::to_string(in.shm_size)});
  for (const auto& b : in.binds) {
    if (!b.options.empty()) {
      mount(w, b.destination, b.type, b.type == "tmpfs" ? "tmpfs" : b.source, b.options);
      continue;
    }
    mount(w, b.destination, "bind", b.source,
          {"rbind", "rprivate", b.readonly ? std::string("ro") : std::string("rw")});
  }
  w.EndArray();

  key(w, "linux");
  w.StartObject();
  key(w, "resources");
  w.StartObject();
  key(w, "devices");
  w.StartArray();
  w.StartObject();  // deny all; runc appends its default allow list (null, zero, tty, ...)
  key(w, "allow");
  w.Bool(in.privileged);  // privileged: allow all
  key(w, "access");
  w.String("rwm");
  w.EndObject();
  for (const auto& r : in.device_rules) {
    w.StartObject();
    key(w, "allow");
    w.Bool(r.allow);
    key(w, "type");
    str(w, r.type);
    if (r.major >= 0) {
      key(w, "major");
      w.Int64(r.major);
    }
    if (r.minor >= 0) {
      key(w, "minor");
      w.Int64(r.minor);
    }
    key(w, "access");
    str(w, r.access);
    w.EndObject();
  }
  w.EndArray();
  if (!in.resources_json.empty()) {  // memory, cpu, pids, blockIO
    rapidjson::Document res;
    res.Parse(in.resources_json.c_str(), in.resources_json.size());
    if (!res.HasParseError() && res.IsObject()) {
      for (const auto& m : res.GetObject()) {
        w.Key(m.name.GetString(), m.name.GetStringLength());
        m.value.Accept(w);
      }
    }
  }
  w.EndObject();
  if (!in.devices.empty()) {
    key(w, "devices");
    w.StartArray();
    for (const auto& d : in.devices) {
      w.StartObject();
      key(w, "path");
      str(w, d.path);
      key(w, "type");
      str(w, std::string(1, d.type));
      key(w, "major");
      w.Int64(d.major);
      key(w, "minor");
      w.Int64(d.minor);
      key(w, "fileMode");
      w.Uint(d.file_mode);
      key(w, "uid");
      w.Uint(d.uid);
      key(w, "gid");
      w.Uint(d.gid);
      w.EndObject();
    }
    w.EndArray();
  }
  if (!in.sysctls.empty()) {
    key(w, "sysctl");
    w.StartObject();
    for (const auto& [k, v] : in.sysctls) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      str(w, v);
    }
    w.EndObject();
  }
  key(w, "cgroupsPath");
  str(w, in.cgroups_path);
  key(w, "namespaces");
  w.StartArray();
  for (const char* ns : {"mount", "network", "uts", "pid", "ipc"}) {
    bool network = std::string(ns) == "network";
    if (network && in.host_network) continue;
    w.StartObject();
    key(w, "type");
    w.String(ns);
    if (network && !in.netns_path.empty()) {
      key(w, "path");
      str(w, in.netns_path);
    }
    w.EndObject();
  }
  w.EndArray();
  // Privileged: nothing masked or read-only (Docker's WithMounts).
  static const std::vector<std::string> kMasked = {
      "/proc/asound",     "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
      "/proc/keys",       "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
      "/proc/sched_debug", "/proc/scsi",       "/sys/firmware",    "/sys/devices/virtual/powercap"};
  static const std::vector<std::string> kReadonly = {"/proc/bus", "/proc/fs", "/proc/irq",
                                                     "/proc/sys", "/proc/sysrq-trigger"};
  key(w, "maskedPaths");
  stringArray(w, in.privileged ? std::vector<std::string>{} : kMasked);
  key(w, "readonlyPaths");
  stringArray(w, in.privileged ? std::vector<std::string>{} : kReadonly);
  w.EndObject();  // linux

  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace arca::runtime
