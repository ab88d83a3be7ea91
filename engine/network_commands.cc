#include "engine/network_commands.h"

#include <algorithm>
#include <optional>
#include <set>

#include "engine/commands.h"
#include "engine/lookup.h"
#include "net/ipam.h"

namespace arca::engine {
namespace {

v1::Event networkCreatedEvent(v1::NetworkCreated ev) {
  v1::Event e;
  *e.mutable_network_created() = std::move(ev);
  return e;
}

std::string newNetworkId(const v1::State& s, IdSource& ids) {
  std::string id;
  do {
    id = ids.newId();
  } while (s.networks().count(id) > 0);
  return id;
}

std::vector<net::Ipv4Net> subnetsInUse(const v1::State& s) {
  std::vector<net::Ipv4Net> used;
  for (const auto& [id, n] : s.networks()) {
    if (n.subnet().empty()) continue;
    auto c = net::parseCidr(n.subnet());
    if (c.ok()) used.push_back(*c);
  }
  return used;
}

bool nameTaken(const v1::State& s, const std::string& name) {
  for (const auto& [id, n] : s.networks()) {
    if (n.name() == name) return true;
  }
  return false;
}

}  // namespace

bool networkInUse(const v1::State& s, const std::string& network_id) {
  for (const auto& [cid, c] : s.containers()) {
    if (c.endpoints().count(network_id) > 0) return true;
  }
  return false;
}

bool predefinedNetwork(const v1::Network& n) {
  return n.name() == "bridge" || n.name() == "host" || n.name() == "none";
}

bool isDefaultBridge(const v1::Network& n) {
  return n.name() == kDefaultBridge && n.driver() == "bridge";
}

std::string primaryNetworkName(const v1::HostConfig& hc) {
  const std::string& m = hc.network_mode();
  if (m.empty() || m == "default") return kDefaultBridge;
  if (m == "none" || m == "host" || m.rfind("container:", 0) == 0) return "";
  return m;
}

int subnetPrefix(const v1::Network& n) {
  auto c = net::parseCidr(n.subnet());
  return c.ok() ? c->prefix : 0;
}

StatusOr<const v1::Network*> findNetwork(const v1::State& s, const std::string& ref) {
  if (ref.empty()) return NotFound("network " + ref + " not found");
  auto it = s.networks().find(ref);
  if (it != s.networks().end()) return &it->second;
  for (const auto& [id, n] : s.networks()) {
    if (n.name() == ref) return &n;
  }
  const v1::Network* match = nullptr;
  for (const auto& [id, n] : s.networks()) {
    if (id.rfind(ref, 0) == 0) {
      if (match) return NotFound("network " + ref + " is ambiguous (2 matches found based on ID prefix)");
      match = &n;
    }
  }
  if (match) return match;
  return NotFound("network " + ref + " not found");
}

std::vector<v1::Event> defaultNetworkEvents(const v1::State& s, IdSource& ids) {
  std::vector<v1::Event> out;
  if (!nameTaken(s, "bridge")) {
    v1::NetworkCreated ev;
    ev.set_id(newNetworkId(s, ids));
    ev.set_name("bridge");
    ev.set_driver("bridge");
    ev.set_scope("local");
    // Docker's docker0: the first default pool not in use.
    auto subnet = net::nextDefaultSubnet(subnetsInUse(s));
    net::Ipv4Net sn = subnet.ok() ? *subnet : net::Ipv4Net{0xAC110000u, 16};
    ev.set_subnet(net::formatCidr(sn));
    ev.set_gateway(net::formatIpv4(net::defaultGateway(sn)));
    ev.set_ipam_driver("default");
    ev.set_user_ipam(true);  // docker0's config is shown with its subnet and gateway
    auto& o = *ev.mutable_options();
    o["com.docker.network.bridge.default_bridge"] = "true";
    o["com.docker.network.bridge.enable_icc"] = "true";
    o["com.docker.network.bridge.enable_ip_masquerade"] = "true";
    o["com.docker.network.bridge.host_binding_ipv4"] = "0.0.0.0";
    o["com.docker.network.bridge.name"] = "docker0";
    o["com.docker.network.driver.mtu"] = "1500";
    out.push_back(networkCreatedEvent(std::move(ev)));
  }
  for (const char* name : {"host", "none"}) {
    if (nameTaken(s, name)) continue;
    v1::NetworkCreated ev;
    std::string id;
    do {
      id = ids.newId();
    } while (s.networks().count(id) > 0 ||
             std::any_of(out.begin(), out.end(), [&](const v1::Event& e) {
               return e.network_created().id() == id;
             }));
    ev.set_id(id);
    ev.set_name(name);
    ev.set_driver(std::string(name) == "host" ? "host" : "null");
    ev.set_scope("local");
    ev.set_ipam_driver("default");
    out.push_back(networkCreatedEvent(std::move(ev)));
  }
  return out;
}

Status decideCreateNetwork(const v1::State& s, const CreateNetwork& cmd, IdSource& ids,
                           std::vector<v1::Event>* out, std::string* id_out) {
  if (cmd.name.empty()) return InvalidArgument("network name must not be empty");
  if (!validContainerName(cmd.name) && cmd.name.size() > 1) {  // engine/commands.h
    return InvalidArgument("invalid network name \"" + cmd.name +
                           "\", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
  }
  if (cmd.name == "bridge" || cmd.name == "host" || cmd.name == "none") {
    if (nameTaken(s, cmd.name)) {
      return PermissionDenied(cmd.name + " is a pre-defined network and cannot be created");
    }
  }
  if (nameTaken(s, cmd.name)) return Conflict("network with name " + cmd.name + " already exists");
  std::string driver = cmd.driver.empty() ? "bridge" : cmd.driver;
  if (driver == "host" || driver == "null") {
    return PermissionDenied("only one instance of \"" + driver + "\" network is allowed");
  }
  if (driver != "bridge") {
    return NotFound("plugin \"" + driver + "\" not found");
  }
  if (cmd.enable_ipv6) {
    return InvalidArgument("IPv6 networks are not supported by arca yet (see docs/LIMITATIONS.md)");
  }
  if (cmd.ingress) return PermissionDenied("ingress networks require swarm mode");
  if (!cmd.ipam_driver.empty() && cmd.ipam_driver != "default") {
    return NotFound("plugin \"" + cmd.ipam_driver + "\" not found");
  }
  if (cmd.ipam.size() > 1) {
    return InvalidArgument("arca supports one IPv4 pool per network (see docs/LIMITATIONS.md)");
  }
  for (const auto& [k, v] : cmd.options) {
    if (k == "com.docker.network.driver.mtu") {
      char* end = nullptr;
      long mtu = strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || mtu < 68 || mtu > 65535) {
        return InvalidArgument("invalid MTU number: " + v);
      }
    } else if (k == "com.docker.network.bridge.name") {
      if (v.empty() || v.size() > 15) {
        return InvalidArgument("bridge name " + v + " must have 1 to 15 characters");
      }
      for (char c : v) {
        if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
          return InvalidArgument("invalid bridge name " + v);
        }
      }
      // The helper's own devices, and other networks' bridges (dockerd:
      // "networks have same bridge name").
      if (v == "uplink" || v == "lo" || v.rfind("ve", 0) == 0 || v.rfind("br-", 0) == 0) {
        return InvalidArgument("bridge name " + v + " is reserved");
      }
      for (const auto& [id, other] : s.networks()) {
        auto o = other.spec().options().find(k);
        bool same = o != other.spec().options().end() ? o->second == v
                                                      : (isDefaultBridge(other) && v == "docker0");
        if (same) {
          return Conflict("networks have same bridge name: " + v + " is used by network " +
                          other.name());
        }
      }
    }
  }

  v1::NetworkCreated ev;
  ev.set_id(newNetworkId(s, ids));
  ev.set_name(cmd.name);
  ev.set_driver(driver);
  ev.set_scope(cmd.scope.empty() ? "local" : cmd.scope);
  ev.set_internal(cmd.internal);
  ev.set_attachable(cmd.attachable);
  ev.set_config_only(cmd.config_only);
  for (const auto& [k, v] : cmd.labels) (*ev.mutable_labels())[k] = v;
  for (const auto& [k, v] : cmd.options) (*ev.mutable_options())[k] = v;
  for (const auto& [k, v] : cmd.ipam_options) (*ev.mutable_ipam_options())[k] = v;
  ev.set_ipam_driver("default");

  std::vector<net::Ipv4Net> used = subnetsInUse(s);
  net::Ipv4Net subnet;
  if (!cmd.ipam.empty() && !cmd.ipam[0].subnet.empty()) {
    const auto& req = cmd.ipam[0];
    ev.set_user_ipam(true);
    if (req.subnet.find(':') != std::string::npos) {
      return InvalidArgument("IPv6 networks are not supported by arca yet (see docs/LIMITATIONS.md)");
    }
    auto c = net::parseCidr(req.subnet);
    if (!c.ok()) return InvalidArgument(c.status().message());
    subnet = *c;
    if (subnet.prefix > 30) {
      return InvalidArgument("subnet " + req.subnet + " is too small: a /30 at most");
    }
    for (const auto& u : used) {
      if (net::overlaps(u, subnet)) {
        return PermissionDenied("Pool overlaps with other one on this address space");
      }
    }
  } else {
    if (!cmd.ipam.empty() && (!cmd.ipam[0].ip_range.empty() || !cmd.ipam[0].gateway.empty())) {
      return InvalidArgument("invalid pool request: ip-range and gateway need a subnet");
    }
    auto next = net::nextDefaultSubnet(used);
    if (!next.ok()) {
      return PermissionDenied(
          "all predefined address pools have been fully subnetted");
    }
    subnet = *next;
  }
  ev.set_subnet(net::formatCidr(subnet));
  uint32_t gw = net::defaultGateway(subnet);
  if (!cmd.ipam.empty() && !cmd.ipam[0].gateway.empty()) {
    auto g = net::parseIpv4(cmd.ipam[0].gateway);
    if (!g.ok()) return InvalidArgument(g.status().message());
    if (!net::contains(subnet, *g)) {
      return PermissionDenied("no matching subnet for gateway " + cmd.ipam[0].gateway);
    }
    gw = *g;
    ev.set_user_gateway(true);
  }
  ev.set_gateway(net::formatIpv4(gw));
  if (!cmd.ipam.empty() && !cmd.ipam[0].ip_range.empty()) {
    auto r = net::parseCidr(cmd.ipam[0].ip_range);
    if (!r.ok()) return InvalidArgument(r.status().message());
    if (!net::contains(subnet, r->addr) || r->prefix < subnet.prefix) {
      return PermissionDenied("no matching subnet for range " + cmd.ipam[0].ip_range);
    }
    ev.set_ip_range(net::formatCidr(*r));
  }
  if (!cmd.ipam.empty()) {
    for (const auto& [name, addr] : cmd.ipam[0].aux_addresses) {
      auto a = net::parseIpv4(addr);
      if (!a.ok()) return InvalidArgument(a.status().message());
      if (!net::contains(subnet, *a)) {
        return PermissionDenied("no matching subnet for aux-address " + addr);
      }
      (*ev.mutable_aux_addresses())[name] = addr;
    }
  }
  *id_out = ev.id();
  out->push_back(networkCreatedEvent(std::move(ev)));
  return Status::Ok();
}

Status decideRemoveNetwork(const v1::State& s, const std::string& ref, std::vector<v1::Event>* out,
                           std::string* id) {
  auto n = findNetwork(s, ref);
  if (!n.ok()) return n.status();
  const v1::Network& net = **n;
  if (predefinedNetwork(net)) {
    return PermissionDenied(net.name() + " is a pre-defined network and cannot be removed");
  }
  if (networkInUse(s, net.id())) {
    return Conflict("error while removing network: network " + net.name() + " id " + net.id() +
                    " has active endpoints");
  }
  v1::Event e;
  e.mutable_network_removed()->set_id(net.id());
  out->push_back(std::move(e));
  *id = net.id();
  return Status::Ok();
}

StatusOr<v1::EndpointSettings> planEndpoint(const v1::State& s, const v1::Network& n,
                                            const EndpointRequest& req, IdSource& ids,
                                            const std::vector<std::string>& also_taken) {
  if (n.driver() == "host" || n.driver() == "null") {
    return InvalidArgument("container cannot be disconnected from host network or connected to host network");
  }
  bool user_defined = !isDefaultBridge(n);
  if (!user_defined && !req.aliases.empty()) {
    return InvalidArgument("network-scoped alias is supported only for containers in user defined networks");
  }
  if (!user_defined && !req.ipv4_address.empty()) {
    return InvalidArgument("user specified IP address is supported on user defined networks only");
  }
  auto subnet = net::parseCidr(n.subnet());
  if (!subnet.ok()) return Internal("network " + n.name() + " has no usable subnet");
  std::set<uint32_t> taken;
  auto pool = s.ipam().find(n.id());
  if (pool != s.ipam().end()) {
    for (const auto& [addr, owner] : pool->second.allocated()) {
      auto a = net::parseIpv4(addr);
      if (a.ok()) taken.insert(*a);
    }
  }
  // The gateway and auxiliary addresses are never handed out.
  if (auto gw = net::parseIpv4(n.gateway()); gw.ok()) taken.insert(*gw);
  for (const auto& [k, a] : n.spec().aux_addresses()) {
    if (auto x = net::parseIpv4(a); x.ok()) taken.insert(*x);
  }
  for (const auto& t : also_taken) {
    auto a = net::parseIpv4(t);
    if (a.ok()) taken.insert(*a);
  }
  v1::EndpointSettings ep;
  ep.set_network_id(n.id());
  for (const auto& a : req.aliases) ep.add_aliases(a);
  for (const auto& l : req.links) ep.add_links(l);
  for (const auto& [k, v] : req.driver_opts) (*ep.mutable_driver_opts())[k] = v;
  uint32_t addr = 0;
  if (!req.ipv4_address.empty()) {
    if (!n.spec().user_ipam()) {
      return InvalidArgument("user specified IP address is supported only when connecting to networks with user configured subnets");
    }
    auto a = net::parseIpv4(req.ipv4_address);
    if (!a.ok()) return InvalidArgument("invalid IPv4 address: " + req.ipv4_address);
    if (!net::contains(*subnet, *a) || *a == subnet->addr ||
        *a == (subnet->addr | ~net::netmask(subnet->prefix))) {
      return InvalidArgument("no configured subnet or ip-range contain the IP address " +
                             req.ipv4_address);
    }
    if (taken.count(*a)) {
      return PermissionDenied("Address already in use");
    }
    addr = *a;
    ep.set_static_ip(true);
  } else {
    std::optional<net::Ipv4Net> range;
    if (!n.spec().ip_range().empty()) {
      auto r = net::parseCidr(n.spec().ip_range());
      if (r.ok()) range = *r;
    }
    auto a = net::allocateAddress(*subnet, range, taken);
    if (!a.ok()) return a.status();
    addr = *a;
  }
  ep.set_ipv4_address(net::formatIpv4(addr));
  if (!req.mac_address.empty()) {
    ep.set_mac_address(req.mac_address);
  } else {
    ep.set_mac_address(net::macFromIpv4(addr));
  }
  ep.set_endpoint_id(ids.newId());
  return ep;
}

Status decideConnect(const v1::State& s, const std::string& network_ref,
                     const std::string& container_ref, const EndpointRequest& req, IdSource& ids,
                     std::vector<v1::Event>* out, std::string* container_id,
                     std::string* network_id) {
  auto n = findNetwork(s, network_ref);
  if (!n.ok()) return n.status();
  auto c = findContainer(s, container_ref);
  if (!c.ok()) return c.status();
  const v1::Container& ct = **c;
  const v1::Network& net = **n;
  if (ct.status() == "removing") {
    return Conflict("container " + ct.id() + " is marked for removal and cannot be connected or disconnected to the network");
  }
  const std::string& mode = ct.host_config().network_mode();
  if (mode == "host" || net.driver() == "host") {
    return InvalidArgument("container cannot be disconnected from host network or connected to host network");
  }
  if (mode == "none" || net.driver() == "null") {
    return InvalidArgument("container cannot be connected to multiple networks with one of the networks in private (none) mode");
  }
  if (mode.rfind("container:", 0) == 0) {
    return InvalidArgument("conflicting options: container type network can't be used with other networks");
  }
  if (ct.endpoints().count(net.id()) > 0) {
    return PermissionDenied("endpoint with name " + ct.name() + " already exists in network " +
                            net.name());
  }
  auto ep = planEndpoint(s, net, req, ids);
  if (!ep.ok()) return ep.status();
  v1::Event e;
  auto* ev = e.mutable_network_connected();
  ev->set_container_id(ct.id());
  *ev->mutable_endpoint() = std::move(*ep);
  out->push_back(std::move(e));
  *container_id = ct.id();
  *network_id = net.id();
  return Status::Ok();
}

Status decideDisconnect(const v1::State& s, const std::string& network_ref,
                        const std::string& container_ref, bool force,
                        std::vector<v1::Event>* out, std::string* container_id,
                        std::string* network_id) {
  auto n = findNetwork(s, network_ref);
  if (!n.ok()) return n.status();
  const v1::Network& net = **n;
  auto c = findContainer(s, container_ref);
  if (!c.ok()) {
    if (force) return Status::Ok();  // nothing of a gone container is left here
    return c.status();
  }
  const v1::Container& ct = **c;
  if (net.driver() == "host" || ct.host_config().network_mode() == "host") {
    return InvalidArgument("container cannot be disconnected from host network or connected to host network");
  }
  if (ct.endpoints().count(net.id()) == 0) {
    return PermissionDenied("container " + ct.id() + " is not connected to network " + net.name());
  }
  if (ct.status() == "removing") {
    return Conflict("container " + ct.id() + " is marked for removal and cannot be connected or disconnected to the network");
  }
  v1::Event e;
  auto* ev = e.mutable_network_disconnected();
  ev->set_container_id(ct.id());
  ev->set_network_id(net.id());
  out->push_back(std::move(e));
  *container_id = ct.id();
  *network_id = net.id();
  return Status::Ok();
}

std::vector<std::string> pruneableNetworks(const v1::State& s,
                                           const std::function<bool(const v1::Network&)>& keep) {
  std::vector<std::string> ids;
  for (const auto& [id, n] : s.networks()) {
    if (predefinedNetwork(n) || networkInUse(s, id)) continue;
    if (keep && keep(n)) continue;
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> dnsNames(const v1::Container& c, const v1::EndpointSettings& ep) {
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  add(c.name());
  for (const auto& a : ep.aliases()) add(a);
  add(shortId(c.id()));  // Docker resolves names, aliases and the short id, not the hostname
  return names;
}

}  // namespace arca::engine
