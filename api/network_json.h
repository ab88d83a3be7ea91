// Docker's JSON shapes for networks and a container's network settings
// (issue #5): GET /networks, /networks/{id}, NetworkSettings in container
// inspect, Ports and NetworkSettings in the container list.
#pragma once

#include <string>

#include "api/json.h"
#include "reducers/state.pb.h"

namespace arca::api {

// A running container's endpoints carry their addresses; stopped ones show
// Docker's empty values.
bool containerNetworkActive(const v1::Container& c);

// GET /networks/{id} (with_containers) and each element of GET /networks.
void writeNetwork(JsonWriter& j, const v1::State& s, const v1::Network& n, bool with_containers);

// NetworkSettings of GET /containers/{id}/json. `sandbox_key`: the
// container's network namespace path ("" when it has none of its own).
void writeNetworkSettings(JsonWriter& j, const v1::State& s, const v1::Container& c,
                          const std::string& sandbox_key);

// GET /containers/json: "Ports" array and the "NetworkSettings" object.
void writeListPorts(JsonWriter& j, const v1::Container& c);
void writeListNetworkSettings(JsonWriter& j, const v1::State& s, const v1::Container& c);

// The network names a container is on (ps --filter network=).
bool containerOnNetwork(const v1::State& s, const v1::Container& c, const std::string& ref);

}  // namespace arca::api
