// SandboxSpec's resources and security options applied to a namespace
// sandbox's OCI config: capabilities, no-new-privileges, privileged mode,
// docker-init, /dev/shm size, sysctls, ulimits, devices, --group-add and the
// cgroup limits.
#pragma once

#include "engine/status.h"
#include "runtime/namespace/container_fs.h"
#include "runtime/namespace/oci_config.h"
#include "runtime/sandbox_driver.h"

namespace arca::runtime {

// Where Docker mounts its init in the container.
inline constexpr char kInContainerInitPath[] = "/sbin/docker-init";

// The host's docker-init (tini, static): the first of /usr/bin/tini-static,
// /usr/libexec/docker/docker-init, /usr/bin/docker-init, or "" when none.
std::string hostInitPath();

// Fills the resource and security parts of `in` from `spec` (in->args,
// in->uid/gid and in->binds already set); `root` is the container's root
// for --group-add names. Errors with Docker's wording.
Status applySandboxSecurity(const SandboxSpec& spec, const RootDir& root, OciConfigInput* in);

}  // namespace arca::runtime
