// Networking request parts (issue #5): container create's NetworkMode,
// NetworkingConfig, PortBindings, PublishAllPorts and Links; network connect's
// EndpointConfig. Pure functions, fuzzed with the create parser.
#pragma once

#include <string>

#include <rapidjson/document.h>

#include "engine/commands.h"
#include "engine/network_commands.h"
#include "engine/status.h"

namespace arca::api {

// "80/tcp" -> 80, "tcp". Docker's "invalid port"/"invalid proto" errors.
Status parsePortSpec(const std::string& key, int* port, std::string* proto);
// "" -> 0,0 (any); "8080" -> 8080,8080; "8000-8010".
Status parseHostPortRange(const std::string& s, int* lo, int* hi);

StatusOr<engine::EndpointRequest> parseEndpointConfig(const rapidjson::Value& v);

// Fills cmd->host_config (network_mode, port_bindings, publish_all_ports,
// links) and cmd->networks (primary network first) from the create body.
Status parseContainerNetworking(const rapidjson::Value& body, const rapidjson::Value* host_config,
                                engine::CreateContainer* cmd);

}  // namespace arca::api
