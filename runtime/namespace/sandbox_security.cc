#include "runtime/namespace/sandbox_security.h"

#include <unistd.h>

#include <algorithm>

#include "runtime/capabilities.h"
#include "runtime/namespace/devices.h"

namespace arca::runtime {

std::string hostInitPath() {
  for (const char* p :
       {"/usr/bin/tini-static", "/usr/libexec/docker/docker-init", "/usr/bin/docker-init"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return "";
}

Status applySandboxSecurity(const SandboxSpec& spec, const RootDir& root, OciConfigInput* in) {
  const SandboxSecurity& sec = spec.security;
  std::vector<std::string> available = currentCapabilities();
  // Already normalized at create; normalizing again keeps old logs working.
  auto add = normalizeCapabilities(sec.cap_add, knownCapabilities());
  if (!add.ok()) return add.status();
  auto drop = normalizeCapabilities(sec.cap_drop, knownCapabilities());
  if (!drop.ok()) return drop.status();
  in->capabilities =
      containerCapabilities(dockerDefaultCapabilities(), *add, *drop, sec.privileged, available);
  in->no_new_privileges = sec.no_new_privileges;
  in->privileged = sec.privileged;
  in->shm_size = sec.shm_size > 0 ? sec.shm_size : kDefaultShmSize;
  in->sysctls = sec.sysctls;
  for (const auto& u : sec.ulimits) {
    std::string type = "RLIMIT_" + u.name;
    std::transform(type.begin(), type.end(), type.begin(), ::toupper);
    in->rlimits.push_back({type, static_cast<uint64_t>(u.soft), static_cast<uint64_t>(u.hard)});
  }
  if (sec.privileged) in->devices = hostDevices();
  for (const auto& d : sec.devices) {
    if (sec.privileged && d.path_on_host == d.path_in_container) continue;  // already there
    std::vector<OciDeviceRule> rules;
    ARCA_RETURN_IF_ERROR(devicesFromPath(d.path_on_host, d.path_in_container,
                                         sec.privileged ? "rwm" : d.permissions, &in->devices,
                                         &rules));
    if (!sec.privileged) in->device_rules.insert(in->device_rules.end(), rules.begin(), rules.end());
  }
  if (!sec.group_add.empty()) {
    ARCA_ASSIGN_OR_RETURN(std::vector<uint32_t> gids,
                          resolveAdditionalGroups(sec.group_add, root.readFile("/etc/group")));
    for (uint32_t g : gids) {
      if (std::find(in->additional_gids.begin(), in->additional_gids.end(), g) ==
          in->additional_gids.end()) {
        in->additional_gids.push_back(g);
      }
    }
  }
  if (sec.init) {
    std::string init = hostInitPath();
    if (init.empty()) {
      return InvalidArgument("exec: \"docker-init\": executable file not found in $PATH");
    }
    std::vector<std::string> args = {kInContainerInitPath, "--"};
    args.insert(args.end(), in->args.begin(), in->args.end());
    in->args = std::move(args);
    in->binds.push_back({init, kInContainerInitPath, true});
  }
  in->resources_json = ociLinuxResourcesJson(spec.resources);
  return Status::Ok();
}

}  // namespace arca::runtime
