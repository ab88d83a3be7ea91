// What the executor asks of the network plane (issue #5), and the plan it
// hands over: a container's networking derived from State by a pure function.
// The implementation (helpervm/plane.h) drives the network helper; the
// executor never talks to bridges or DNS itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::runtime {

struct EndpointPlan {
  std::string network_id;
  std::string network_name;
  std::string ipv4;     // "172.18.0.2"
  int prefix = 16;
  std::string gateway;  // "172.18.0.1"
  std::string mac;
  bool internal = false;
  bool dns = false;                    // user-defined network: names resolve
  std::vector<std::string> dns_names;  // name, aliases, short id
  bool default_route = false;
};

struct PortPlan {
  std::string container_port;  // "80/tcp"
  std::string host_ip;         // "" = all
  int host_port_lo = 0;        // 0 = any
  int host_port_hi = 0;
};

struct ContainerNetworkPlan {
  std::string id;
  enum class Mode { kNone, kHost, kJoin, kBridge } mode = Mode::kNone;
  std::string join_id;   // kJoin: the container whose namespace is shared
  int32_t join_pid = 0;  // its init pid (0: not running)
  std::vector<EndpointPlan> endpoints;
  std::vector<PortPlan> ports;
  std::vector<std::string> hosts_entries;  // "ip\tname" lines
  std::vector<std::string> nameservers;
};

// Pure: the plan of container `c` in State `s` (ports from HostConfig's
// bindings and, with -P, the exposed ports).
ContainerNetworkPlan planContainerNetwork(const v1::State& s, const v1::Container& c);
// The endpoint plan of one network of `c` (connect on a running container).
EndpointPlan planEndpointOf(const v1::State& s, const v1::Container& c, const std::string& network_id,
                            bool default_route);

class NetworkAttacher {
 public:
  virtual ~NetworkAttacher() = default;
  // kBridge: creates the container's network namespace with its endpoints,
  // DNS records and published ports; returns the namespace path and the ports
  // as bound. Other modes: nothing to do (returns "" and no ports).
  virtual Status setUp(const ContainerNetworkPlan& plan, std::string* netns_path,
                       std::vector<v1::PortBinding>* ports) = 0;
  // After the sandbox ended: endpoints, records and ports go, the namespace
  // is removed. Idempotent.
  virtual void tearDown(const std::string& id) = 0;
  // A running container joins / leaves a network.
  virtual Status connect(const std::string& id, const EndpointPlan& ep) = 0;
  virtual Status disconnect(const std::string& id, const std::string& network_id) = 0;
  // Removes a network's bridge (after NetworkRemoved).
  virtual void removeNetwork(const std::string& network_id) = 0;
  // The path of a container's namespace (for inspect's SandboxKey).
  virtual std::string netnsPath(const std::string& id) const = 0;
};

}  // namespace arca::runtime
