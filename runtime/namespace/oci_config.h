// The OCI runtime configuration (config.json, runtime-spec 1.0.2) of a
// namespace sandbox, with Docker's defaults: capabilities, mounts, masked and
// read-only paths, device rules, namespaces. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace arca::runtime {

struct OciBindMount {
  std::string source;       // host path
  std::string destination;  // path in the container
  bool readonly = false;
  // issue #6: "bind" or "tmpfs"; options replace the default
  // {"rbind", "rprivate", "ro"|"rw"} when not empty.
  std::string type = "bind";
  std::vector<std::string> options;
};

// Docker's default capability set (moby oci/caps/defaults.go).
const std::vector<std::string>& dockerDefaultCapabilities();
inline std::vector<std::string> dockerDefaultCapabilitiesList() { return dockerDefaultCapabilities(); }

struct OciRlimit {
  std::string type;  // "RLIMIT_NOFILE"
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// A device node the runtime creates in the container (linux.devices).
struct OciDevice {
  std::string path;  // in the container
  char type = 'c';   // 'c' or 'b'
  int64_t major = 0;
  int64_t minor = 0;
  uint32_t file_mode = 0666;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// A device cgroup rule (linux.resources.devices), after the default deny-all.
struct OciDeviceRule {
  bool allow = true;
  std::string type = "a";  // "a", "c", "b"
  int64_t major = -1;      // -1: any
  int64_t minor = -1;
  std::string access = "rwm";
};

struct OciConfigInput {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd = "/";
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;
  std::string hostname;
  std::string root_path = "rootfs";  // relative to the bundle
  bool readonly_rootfs = false;
  std::string netns_path;     // join (issue #5); "" = new namespace
  bool host_network = false;  // no network namespace
  bool terminal = false;            // process.terminal (the runtime makes a pty)
  std::string cgroups_path;         // "/arca/<id>"
  uint64_t nofile_limit = 1048576;  // RLIMIT_NOFILE, soft = hard (containerd's default)
  std::vector<OciBindMount> binds;  // after Docker's default mounts
  // Resources and security (docker create's HostConfig).
  std::vector<std::string> capabilities = dockerDefaultCapabilitiesList();
  bool no_new_privileges = false;
  bool privileged = false;  // rw /sys and cgroups, no masked/read-only paths, all devices
  int64_t shm_size = 64 << 20;
  std::map<std::string, std::string> sysctls;
  std::vector<OciRlimit> rlimits;  // replace the default RLIMIT_NOFILE when they name it
  std::vector<OciDevice> devices;
  std::vector<OciDeviceRule> device_rules;
  std::string resources_json;  // LinuxResources object (ociLinuxResourcesJson), "" = none
};


// Docker's container environment: PATH (default unless `env` has one),
// HOSTNAME, TERM=xterm with a terminal, then `env` replacing or appending (moby's CreateDaemonEnvironment).
std::vector<std::string> dockerEnvironment(const std::vector<std::string>& env,
                                           const std::string& hostname, bool tty = false);

// The value of KEY in a "K=V" list ("" when absent).
std::string envValue(const std::vector<std::string>& env, const std::string& key);

// config.json text.
std::string buildOciConfig(const OciConfigInput& in);

}  // namespace arca::runtime
