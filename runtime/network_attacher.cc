#include "runtime/network_attacher.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "engine/lookup.h"
#include "engine/network_commands.h"

namespace arca::runtime {

EndpointPlan planEndpointOf(const v1::State& s, const v1::Container& c, const std::string& network_id,
                            bool default_route) {
  EndpointPlan p;
  auto n = s.networks().find(network_id);
  auto ep = c.endpoints().find(network_id);
  if (n == s.networks().end() || ep == c.endpoints().end()) return p;
  p.network_id = network_id;
  p.network_name = n->second.name();
  p.ipv4 = ep->second.ipv4_address();
  p.prefix = engine::subnetPrefix(n->second);
  p.gateway = n->second.gateway();
  p.mac = ep->second.mac_address();
  p.internal = n->second.internal();
  p.dns = !engine::isDefaultBridge(n->second);
  if (p.dns) p.dns_names = engine::dnsNames(c, ep->second);
  p.default_route = default_route && !p.internal;
  return p;
}

ContainerNetworkPlan planContainerNetwork(const v1::State& s, const v1::Container& c) {
  ContainerNetworkPlan plan;
  plan.id = c.id();
  const std::string& mode = c.host_config().network_mode();
  if (mode == "none") return plan;
  if (mode == "host") {
    plan.mode = ContainerNetworkPlan::Mode::kHost;
    return plan;
  }
  if (mode.rfind("container:", 0) == 0) {
    plan.mode = ContainerNetworkPlan::Mode::kJoin;
    auto other = engine::findContainer(s, mode.substr(10));
    if (other.ok()) {
      plan.join_id = (*other)->id();
      if ((*other)->status() == "running") plan.join_pid = (*other)->pid();
    }
    return plan;
  }
  plan.mode = ContainerNetworkPlan::Mode::kBridge;
  // The primary network (NetworkMode) first: it gives the default route.
  std::string primary = engine::primaryNetworkName(c.host_config());
  std::vector<std::string> order;
  for (const auto& [nid, ep] : c.endpoints()) {
    auto n = s.networks().find(nid);
    if (n == s.networks().end()) continue;
    if (n->second.name() == primary || nid == primary) {
      order.insert(order.begin(), nid);
    } else {
      order.push_back(nid);
    }
  }
  bool route_given = false;
  std::string hostname = c.config().hostname().empty() ? engine::shortId(c.id()) : c.config().hostname();
  if (!c.config().domainname().empty()) hostname += "." + c.config().domainname() + " " + hostname;
  for (const auto& nid : order) {
    EndpointPlan ep = planEndpointOf(s, c, nid, !route_given);
    if (ep.network_id.empty()) continue;
    if (ep.default_route) route_given = true;
    // One embedded DNS answers for all of the container's networks.
    if (ep.dns && plan.nameservers.empty()) plan.nameservers.push_back(ep.gateway);
    plan.endpoints.push_back(std::move(ep));
  }
  if (!plan.endpoints.empty()) {
    plan.hosts_entries.push_back(plan.endpoints.front().ipv4 + "\t" + hostname);
  }
  // Legacy links on the default bridge: "ip\talias name" (Docker's /etc/hosts).
  for (const auto& l : c.host_config().links()) {
    auto colon = l.find(':');
    std::string name = l.substr(0, colon);
    std::string alias = colon == std::string::npos ? name : l.substr(colon + 1);
    auto other = engine::findContainer(s, name);
    if (!other.ok() || (*other)->status() != "running") continue;
    for (const auto& ep : plan.endpoints) {
      auto oe = (*other)->endpoints().find(ep.network_id);
      if (oe == (*other)->endpoints().end()) continue;
      std::string line = oe->second.ipv4_address() + "\t" + alias;
      if (alias != (*other)->name()) line += " " + (*other)->name();
      line += " " + engine::shortId((*other)->id());
      plan.hosts_entries.push_back(line);
      break;
    }
  }
  // Published ports: the bindings, then (-P) every exposed port not bound.
  std::set<std::string> bound;
  for (const auto& b : c.host_config().port_bindings()) {
    PortPlan p;
    p.container_port = b.container_port();
    p.host_ip = b.host_ip();
    const std::string& hp = b.host_port();
    auto dash = hp.find('-');
    p.host_port_lo = hp.empty() ? 0 : atoi(hp.c_str());
    p.host_port_hi = dash == std::string::npos ? p.host_port_lo : atoi(hp.c_str() + dash + 1);
    plan.ports.push_back(p);
    bound.insert(b.container_port());
  }
  if (c.host_config().publish_all_ports()) {
    for (const auto& e : c.config().exposed_ports()) {
      if (bound.count(e)) continue;
      PortPlan p;
      p.container_port = e.find('/') == std::string::npos ? e + "/tcp" : e;
      plan.ports.push_back(p);
    }
  }
  return plan;
}

}  // namespace arca::runtime
