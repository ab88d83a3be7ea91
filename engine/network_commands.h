// Network commands and their deciders (issue #5): Docker's network model on
// the event log. Subnets, gateways, addresses and MACs are decided here, under
// the engine lock, and recorded as events (NetworkCreated, NetworkConnected);
// the IPAM pools in State are folds of those events. Pure: no I/O.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::engine {

inline constexpr const char* kDefaultBridge = "bridge";

struct IpamConfigRequest {
  std::string subnet;
  std::string ip_range;
  std::string gateway;
  std::map<std::string, std::string> aux_addresses;
};

struct CreateNetwork {
  std::string name;
  std::string driver;  // "" -> "bridge"
  std::string scope;
  bool internal = false;
  bool attachable = false;
  bool ingress = false;
  bool config_only = false;
  bool enable_ipv6 = false;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> options;
  std::string ipam_driver;
  std::map<std::string, std::string> ipam_options;
  std::vector<IpamConfigRequest> ipam;
};

// What a container asks of one network (EndpointsConfig / connect body).
struct EndpointRequest {
  std::vector<std::string> aliases;
  std::string ipv4_address;  // IPAMConfig.IPv4Address: static address
  std::string mac_address;
  std::vector<std::string> links;
  std::map<std::string, std::string> driver_opts;
};

// Exact id, exact name, then a unique id prefix (Docker's order).
// NotFound: "network <ref> not found".
StatusOr<const v1::Network*> findNetwork(const v1::State& s, const std::string& ref);

// The predefined networks (bridge, host, none) that State lacks.
std::vector<v1::Event> defaultNetworkEvents(const v1::State& s, IdSource& ids);

Status decideCreateNetwork(const v1::State& s, const CreateNetwork& cmd, IdSource& ids,
                           std::vector<v1::Event>* out, std::string* id);
// PermissionDenied for the predefined networks and while containers use it.
Status decideRemoveNetwork(const v1::State& s, const std::string& ref,
                           std::vector<v1::Event>* out, std::string* id);

// Plans an endpoint on network `n` for what `req` asks: the address (static
// or the pool's first free one, skipping `also_taken`), the MAC, a new
// endpoint id. Docker's errors.
StatusOr<v1::EndpointSettings> planEndpoint(const v1::State& s, const v1::Network& n,
                                            const EndpointRequest& req, IdSource& ids,
                                            const std::vector<std::string>& also_taken = {});

// docker network connect: the container (any state but removing) joins the
// network; NetworkConnected carries the address.
Status decideConnect(const v1::State& s, const std::string& network_ref,
                     const std::string& container_ref, const EndpointRequest& req, IdSource& ids,
                     std::vector<v1::Event>* out, std::string* container_id,
                     std::string* network_id);
Status decideDisconnect(const v1::State& s, const std::string& network_ref,
                        const std::string& container_ref, bool force,
                        std::vector<v1::Event>* out, std::string* container_id,
                        std::string* network_id);

// Networks no container uses, except the predefined ones, passing `keep`.
std::vector<std::string> pruneableNetworks(const v1::State& s,
                                           const std::function<bool(const v1::Network&)>& keep);

// True while any container (running or not) is connected to the network.
bool networkInUse(const v1::State& s, const std::string& network_id);

// True for bridge, host and none.
bool predefinedNetwork(const v1::Network& n);
// True for the default bridge (legacy: no DNS, links).
bool isDefaultBridge(const v1::Network& n);
// The network a container's NetworkMode names ("" for none/host/container:).
std::string primaryNetworkName(const v1::HostConfig& hc);

// The names a container answers to on a user-defined network: its name, its
// aliases, its short id (Docker's DNSNames).
std::vector<std::string> dnsNames(const v1::Container& c, const v1::EndpointSettings& ep);

// The prefix length of a network's subnet (16 for "172.18.0.0/16").
int subnetPrefix(const v1::Network& n);

}  // namespace arca::engine
