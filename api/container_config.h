// Parsing of POST /containers/create bodies and merging of image defaults.
// Pure functions: tested without sockets (STYLE 17), fuzzed.
#pragma once

#include <string>

#include <rapidjson/document.h>

#include "engine/commands.h"
#include "engine/status.h"

namespace arca::api {

// Config.Healthcheck (Docker's HealthConfig) of a container or image config,
// with moby's validation. Nothing set: *out untouched.
Status parseHealthcheck(const rapidjson::Value& config, v1::Healthcheck* out);

// Parses the create body (Config fields at the top level, plus HostConfig and
// NetworkingConfig). Options this engine does not implement yet answer
// InvalidArgument naming the option (never silently ignored).

// HostConfig.Runtime names arcad knows: the namespace sandbox ("runc", and
// "crun", "arca", "io.containerd.runc.v2" for it too) and the VM sandbox
// (runtime::kVmRuntime, issue #8).
bool knownRuntime(const std::string& name);

StatusOr<engine::CreateContainer> parseCreateContainer(const std::string& body);

// Fills what the container config leaves unset from the image config JSON
// (Env merged by key, Cmd/Entrypoint per Docker's rules, WorkingDir, User,
// Labels, StopSignal, ExposedPorts, Volumes).
Status mergeImageConfig(v1::ContainerConfig* cfg, const std::string& image_config_json);

}  // namespace arca::api
