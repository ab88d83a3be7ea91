// The OCI runtime configuration (config.json, runtime-spec 1.0.2) of a
// namespace sandbox, with Docker's defaults: capabilities, mounts, masked and
// read-only paths, device rules, namespaces. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace arca::runtime {

struct OciBindMount {
  std::string source;       // host path
  std::string destination;  // path in the container
  bool readonly = false;
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
  bool terminal = false;            // process.terminal (the runtime makes a pty)
  std::string cgroups_path;         // "/arca/<id>"
  uint64_t nofile_limit = 1048576;  // RLIMIT_NOFILE, soft = hard (containerd's default)
  std::vector<OciBindMount> binds;  // after Docker's default mounts
};

// Docker's default capability set (moby oci/caps/defaults.go).
const std::vector<std::string>& dockerDefaultCapabilities();

// Docker's container environment: PATH (default unless `env` has one),
// HOSTNAME, TERM=xterm with a terminal, then `env` replacing or appending (moby's CreateDaemonEnvironment).
std::vector<std::string> dockerEnvironment(const std::vector<std::string>& env,
                                           const std::string& hostname, bool tty = false);

// The value of KEY in a "K=V" list ("" when absent).
std::string envValue(const std::vector<std::string>& env, const std::string& key);

// config.json text.
std::string buildOciConfig(const OciConfigInput& in);

}  // namespace arca::runtime
