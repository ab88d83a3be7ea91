#include "api/network_json.h"

#include <map>
#include <set>

#include "api/time_util.h"
#include "engine/clock.h"
#include "engine/network_commands.h"

namespace arca::api {
namespace {

void writeEndpoint(JsonWriter& j, const v1::Container& c, const v1::Network& n,
                   const v1::EndpointSettings& ep, bool active) {
  j.StartObject();
  j.Key("IPAMConfig");
  if (ep.static_ip()) {
    j.StartObject();
    jstr(j, "IPv4Address", ep.ipv4_address());
    j.EndObject();
  } else {
    j.Null();
  }
  j.Key("Links");
  if (ep.links_size() == 0) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& l : ep.links()) j.String(l.c_str());
    j.EndArray();
  }
  j.Key("Aliases");
  if (ep.aliases_size() == 0) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& a : ep.aliases()) j.String(a.c_str());
    j.EndArray();
  }
  jstr(j, "MacAddress", active ? ep.mac_address() : "");
  jstrMap(j, "DriverOpts", ep.driver_opts(), true);
  j.Key("GwPriority"); j.Int(0);
  jstr(j, "NetworkID", n.id());
  jstr(j, "EndpointID", active ? ep.endpoint_id() : "");
  jstr(j, "Gateway", active ? n.gateway() : "");
  jstr(j, "IPAddress", active ? ep.ipv4_address() : "");
  j.Key("IPPrefixLen"); j.Int(active ? engine::subnetPrefix(n) : 0);
  jstr(j, "IPv6Gateway", "");
  jstr(j, "GlobalIPv6Address", "");
  j.Key("GlobalIPv6PrefixLen"); j.Int(0);
  j.Key("DNSNames");
  if (engine::isDefaultBridge(n)) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& name : engine::dnsNames(c, ep)) j.String(name.c_str());
    j.EndArray();
  }
  j.EndObject();
}

void writeEndpointEmpty(JsonWriter& j, const std::string& network_id) {
  j.StartObject();
  j.Key("IPAMConfig"); j.Null();
  j.Key("Links"); j.Null();
  j.Key("Aliases"); j.Null();
  jstr(j, "MacAddress", "");
  j.Key("DriverOpts"); j.Null();
  j.Key("GwPriority"); j.Int(0);
  jstr(j, "NetworkID", network_id);
  jstr(j, "EndpointID", "");
  jstr(j, "Gateway", "");
  jstr(j, "IPAddress", "");
  j.Key("IPPrefixLen"); j.Int(0);
  jstr(j, "IPv6Gateway", "");
  jstr(j, "GlobalIPv6Address", "");
  j.Key("GlobalIPv6PrefixLen"); j.Int(0);
  j.Key("DNSNames"); j.Null();
  j.EndObject();
}

const v1::Network* networkByName(const v1::State& s, const std::string& name) {
  for (const auto& [id, n] : s.networks()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

// The endpoints of a container by network name (Docker's Networks map),
// plus host/none/container modes.
void writeNetworksMap(JsonWriter& j, const v1::State& s, const v1::Container& c) {
  bool active = containerNetworkActive(c);
  j.StartObject();
  const std::string& mode = c.host_config().network_mode();
  if (mode == "host" || mode == "none") {
    const v1::Network* n = networkByName(s, mode);
    j.Key(mode.c_str());
    writeEndpointEmpty(j, n ? n->id() : "");
  }
  std::map<std::string, std::pair<const v1::Network*, const v1::EndpointSettings*>> byName;
  for (const auto& [nid, ep] : c.endpoints()) {
    auto n = s.networks().find(nid);
    if (n == s.networks().end()) continue;
    byName[n->second.name()] = {&n->second, &ep};
  }
  for (const auto& [name, p] : byName) {
    j.Key(name.c_str());
    writeEndpoint(j, c, *p.first, *p.second, active);
  }
  j.EndObject();
}

}  // namespace

bool containerNetworkActive(const v1::Container& c) {
  return c.status() == "running" || c.status() == "paused" || c.paused();
}

void writeNetwork(JsonWriter& j, const v1::State& s, const v1::Network& n, bool with_containers) {
  const v1::NetworkCreated& spec = n.spec();
  j.StartObject();
  jstr(j, "Name", n.name());
  jstr(j, "Id", n.id());
  jstr(j, "Created", engine::rfc3339Nano(n.created_ns()));
  jstr(j, "Scope", n.scope().empty() ? "local" : n.scope());
  jstr(j, "Driver", n.driver());
  j.Key("EnableIPv4"); j.Bool(true);
  j.Key("EnableIPv6"); j.Bool(false);
  j.Key("IPAM");
  j.StartObject();
  jstr(j, "Driver", spec.ipam_driver().empty() ? "default" : spec.ipam_driver());
  if (n.name() == "bridge" || n.driver() != "bridge") {
    j.Key("Options"); j.Null();
  } else {
    jstrMap(j, "Options", spec.ipam_options());
  }
  j.Key("Config");
  j.StartArray();
  if (!n.subnet().empty()) {
    j.StartObject();
    jstr(j, "Subnet", n.subnet());
    if (!spec.ip_range().empty()) jstr(j, "IPRange", spec.ip_range());
    jstr(j, "Gateway", n.gateway());
    if (spec.aux_addresses_size() > 0) jstrMap(j, "AuxiliaryAddresses", spec.aux_addresses());
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  j.Key("Internal"); j.Bool(n.internal());
  j.Key("Attachable"); j.Bool(spec.attachable());
  j.Key("Ingress"); j.Bool(false);
  j.Key("ConfigFrom");
  j.StartObject();
  jstr(j, "Network", "");
  j.EndObject();
  j.Key("ConfigOnly"); j.Bool(spec.config_only());
  j.Key("Containers");
  j.StartObject();
  if (with_containers) {
    int prefix = engine::subnetPrefix(n);
    for (const auto& [cid, c] : s.containers()) {
      auto ep = c.endpoints().find(n.id());
      if (ep == c.endpoints().end() || !containerNetworkActive(c)) continue;
      j.Key(cid.c_str());
      j.StartObject();
      jstr(j, "Name", c.name());
      jstr(j, "EndpointID", ep->second.endpoint_id());
      jstr(j, "MacAddress", ep->second.mac_address());
      jstr(j, "IPv4Address", ep->second.ipv4_address() + "/" + std::to_string(prefix));
      jstr(j, "IPv6Address", "");
      j.EndObject();
    }
  }
  j.EndObject();
  jstrMap(j, "Options", spec.options());
  jstrMap(j, "Labels", n.labels());
  j.EndObject();
}

void writeNetworkSettings(JsonWriter& j, const v1::State& s, const v1::Container& c,
                          const std::string& sandbox_key) {
  bool active = containerNetworkActive(c);
  j.StartObject();
  jstr(j, "Bridge", "");
  jstr(j, "SandboxID", active && !sandbox_key.empty() ? c.id() : "");
  jstr(j, "SandboxKey", active ? sandbox_key : "");
  // Ports: the exposed ports (null when unpublished) and what is bound now.
  j.Key("Ports");
  j.StartObject();
  if (active) {
    std::map<std::string, std::vector<const v1::PortBinding*>> ports;
    for (const auto& p : c.config().exposed_ports()) ports[p];
    for (const auto& b : c.host_config().port_bindings()) ports[b.container_port()];
    for (const auto& b : c.ports()) ports[b.container_port()].push_back(&b);
    for (const auto& [port, bs] : ports) {
      j.Key(port.c_str());
      if (bs.empty()) {
        j.Null();
        continue;
      }
      j.StartArray();
      for (const auto* b : bs) {
        j.StartObject();
        jstr(j, "HostIp", b->host_ip().empty() ? "0.0.0.0" : b->host_ip());
        jstr(j, "HostPort", b->host_port());
        j.EndObject();
      }
      j.EndArray();
    }
  }
  j.EndObject();
  j.Key("HairpinMode"); j.Bool(false);
  jstr(j, "LinkLocalIPv6Address", "");
  j.Key("LinkLocalIPv6PrefixLen"); j.Int(0);
  j.Key("SecondaryIPAddresses"); j.Null();
  j.Key("SecondaryIPv6Addresses"); j.Null();
  // The deprecated top-level fields describe the default bridge only.
  const v1::Network* bridge = networkByName(s, engine::kDefaultBridge);
  const v1::EndpointSettings* ep = nullptr;
  if (bridge && active) {
    auto it = c.endpoints().find(bridge->id());
    if (it != c.endpoints().end()) ep = &it->second;
  }
  jstr(j, "EndpointID", ep ? ep->endpoint_id() : "");
  jstr(j, "Gateway", ep ? bridge->gateway() : "");
  jstr(j, "GlobalIPv6Address", "");
  j.Key("GlobalIPv6PrefixLen"); j.Int(0);
  jstr(j, "IPAddress", ep ? ep->ipv4_address() : "");
  j.Key("IPPrefixLen"); j.Int(ep ? engine::subnetPrefix(*bridge) : 0);
  jstr(j, "IPv6Gateway", "");
  jstr(j, "MacAddress", ep ? ep->mac_address() : "");
  j.Key("Networks");
  writeNetworksMap(j, s, c);
  j.EndObject();
}

void writeListPorts(JsonWriter& j, const v1::Container& c) {
  j.StartArray();
  bool active = containerNetworkActive(c);
  std::set<std::string> published;
  if (active) {
    for (const auto& b : c.ports()) {
      published.insert(b.container_port());
      auto slash = b.container_port().find('/');
      j.StartObject();
      jstr(j, "IP", b.host_ip().empty() ? "0.0.0.0" : b.host_ip());
      j.Key("PrivatePort"); j.Int(atoi(b.container_port().c_str()));
      j.Key("PublicPort"); j.Int(atoi(b.host_port().c_str()));
      jstr(j, "Type", slash == std::string::npos ? "tcp" : b.container_port().substr(slash + 1));
      j.EndObject();
    }
  }
  for (const auto& p : c.config().exposed_ports()) {
    if (published.count(p)) continue;
    auto slash = p.find('/');
    j.StartObject();
    j.Key("PrivatePort"); j.Int(atoi(p.c_str()));
    jstr(j, "Type", slash == std::string::npos ? "tcp" : p.substr(slash + 1));
    j.EndObject();
  }
  j.EndArray();
}

void writeListNetworkSettings(JsonWriter& j, const v1::State& s, const v1::Container& c) {
  j.StartObject();
  j.Key("Networks");
  writeNetworksMap(j, s, c);
  j.EndObject();
}

bool containerOnNetwork(const v1::State& s, const v1::Container& c, const std::string& ref) {
  const std::string& mode = c.host_config().network_mode();
  if (mode == ref) return true;
  for (const auto& [nid, ep] : c.endpoints()) {
    auto n = s.networks().find(nid);
    if (n == s.networks().end()) continue;
    if (n->second.name() == ref || nid == ref || (ref.size() >= 12 && nid.rfind(ref, 0) == 0)) {
      return true;
    }
  }
  return false;
}

}  // namespace arca::api
