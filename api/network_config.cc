// Networking parts of POST /containers/create and of network connect bodies
// (issue #5): NetworkMode, NetworkingConfig.EndpointsConfig, PortBindings,
// PublishAllPorts, Links. Pure parsing with dockerd's refusals.
#include "api/network_config.h"

#include <cstdlib>

#include "api/json.h"

namespace arca::api {
namespace {

bool parsePortNumber(const std::string& s, int* out) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  int v = atoi(s.c_str());
  if (v < 0 || v > 65535) return false;
  *out = v;
  return true;
}

}  // namespace

Status parsePortSpec(const std::string& key, int* port, std::string* proto) {
  std::string p = key;
  *proto = "tcp";
  auto slash = key.find('/');
  if (slash != std::string::npos) {
    p = key.substr(0, slash);
    *proto = key.substr(slash + 1);
  }
  if (*proto != "tcp" && *proto != "udp" && *proto != "sctp") {
    return InvalidArgument("invalid proto: " + *proto);
  }
  if (*proto == "sctp") return InvalidArgument("sctp ports are not supported by arca");
  if (!parsePortNumber(p, port) || *port == 0) return InvalidArgument("invalid port: " + p);
  return Status::Ok();
}

Status parseHostPortRange(const std::string& s, int* lo, int* hi) {
  if (s.empty()) {
    *lo = *hi = 0;
    return Status::Ok();
  }
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    if (!parsePortNumber(s, lo)) return InvalidArgument("invalid hostPort: " + s);
    *hi = *lo;
    return Status::Ok();
  }
  if (!parsePortNumber(s.substr(0, dash), lo) || !parsePortNumber(s.substr(dash + 1), hi) ||
      *hi < *lo) {
    return InvalidArgument("invalid hostPort: " + s);
  }
  return Status::Ok();
}

StatusOr<engine::EndpointRequest> parseEndpointConfig(const rapidjson::Value& v) {
  engine::EndpointRequest req;
  if (v.IsNull()) return req;
  if (!v.IsObject()) return InvalidArgument("invalid type for EndpointConfig");
  bool te = false;
  if (auto a = getStrings(v, "Aliases", &te)) req.aliases = *a;
  if (auto l = getStrings(v, "Links", &te)) req.links = *l;
  if (auto m = getString(v, "MacAddress", &te)) req.mac_address = *m;
  if (auto o = getStringMap(v, "DriverOpts", &te)) {
    for (auto& [k, x] : *o) req.driver_opts[k] = x;
  }
  auto ipam = v.FindMember("IPAMConfig");
  if (ipam != v.MemberEnd() && ipam->value.IsObject()) {
    if (auto a = getString(ipam->value, "IPv4Address", &te)) req.ipv4_address = *a;
    auto v6 = getString(ipam->value, "IPv6Address", &te);
    if (v6 && !v6->empty()) {
      return InvalidArgument("IPv6 addresses are not supported by arca yet (see docs/LIMITATIONS.md)");
    }
  }
  if (te) return InvalidArgument("invalid type in EndpointConfig");
  if (!req.mac_address.empty()) {
    // 6 hex pairs separated by ':'
    bool ok = req.mac_address.size() == 17;
    for (size_t i = 0; ok && i < 17; ++i) {
      char c = req.mac_address[i];
      ok = (i % 3 == 2) ? c == ':' : isxdigit(static_cast<unsigned char>(c)) != 0;
    }
    if (!ok) return InvalidArgument("invalid MAC address: " + req.mac_address);
  }
  return req;
}

Status parseContainerNetworking(const rapidjson::Value& body, const rapidjson::Value* host_config,
                                engine::CreateContainer* cmd) {
  bool te = false;
  std::string mode;
  if (host_config) {
    const auto& H = *host_config;
    if (auto v = getString(H, "NetworkMode", &te)) mode = *v;
    if (auto v = getBool(H, "PublishAllPorts", &te)) cmd->host_config.set_publish_all_ports(*v);
    if (auto v = getStrings(H, "Links", &te)) {
      for (const auto& l : *v) {
        // "name:alias" (CLI) or "/name:/self/alias" (stored form)
        std::string s = l;
        auto colon = s.find(':');
        std::string name = colon == std::string::npos ? s : s.substr(0, colon);
        std::string alias = colon == std::string::npos ? name : s.substr(colon + 1);
        if (!name.empty() && name[0] == '/') name = name.substr(1);
        auto slash = alias.rfind('/');
        if (slash != std::string::npos) alias = alias.substr(slash + 1);
        if (name.empty() || alias.empty()) return InvalidArgument("invalid link: " + l);
        cmd->host_config.add_links(name + ":" + alias);
      }
    }
    auto pb = H.FindMember("PortBindings");
    if (pb != H.MemberEnd() && pb->value.IsObject()) {
      for (const auto& m : pb->value.GetObject()) {
        std::string key = m.name.GetString();
        int port = 0;
        std::string proto;
        ARCA_RETURN_IF_ERROR(parsePortSpec(key, &port, &proto));
        std::string canon = std::to_string(port) + "/" + proto;
        if (m.value.IsNull() || (m.value.IsArray() && m.value.Empty())) {
          auto* b = cmd->host_config.add_port_bindings();
          b->set_container_port(canon);
          continue;
        }
        if (!m.value.IsArray()) return InvalidArgument("invalid type for PortBindings");
        for (const auto& x : m.value.GetArray()) {
          if (!x.IsObject()) return InvalidArgument("invalid type for PortBindings");
          auto* b = cmd->host_config.add_port_bindings();
          b->set_container_port(canon);
          std::string ip = getString(x, "HostIp", &te).value_or("");
          std::string hp = getString(x, "HostPort", &te).value_or("");
          int lo = 0, hi = 0;
          ARCA_RETURN_IF_ERROR(parseHostPortRange(hp, &lo, &hi));
          if (!ip.empty()) {
            if (ip.find(':') != std::string::npos) {
              return InvalidArgument("IPv6 host addresses are not supported by arca yet: " + ip);
            }
            int parts = 0;
            for (char c : ip) parts += c == '.';
            if (parts != 3) return InvalidArgument("invalid IP address: " + ip);
          }
          b->set_host_ip(ip);
          b->set_host_port(hp);
        }
      }
    }
  }
  if (te) return InvalidArgument("invalid type in HostConfig");

  if (mode.empty() || mode == "default") mode = engine::kDefaultBridge;
  cmd->host_config.set_network_mode(mode);
  std::vector<std::pair<std::string, engine::EndpointRequest>> eps;
  auto nc = body.FindMember("NetworkingConfig");
  if (nc != body.MemberEnd() && nc->value.IsObject()) {
    auto ec = nc->value.FindMember("EndpointsConfig");
    if (ec != nc->value.MemberEnd() && ec->value.IsObject()) {
      for (const auto& m : ec->value.GetObject()) {
        auto req = parseEndpointConfig(m.value);
        if (!req.ok()) return req.status();
        std::string name = m.name.GetString();
        if (name == "default") name = engine::kDefaultBridge;  // the CLI's name for NetworkMode ""
        eps.emplace_back(name, std::move(*req));
      }
    }
  }
  bool special = mode == "none" || mode == "host" || mode.rfind("container:", 0) == 0;
  if (special) {
    for (const auto& [name, req] : eps) {
      if (name != mode) {
        return InvalidArgument(
            "conflicting options: container type network can't be used with other networks");
      }
    }
    if (mode.rfind("container:", 0) == 0) {
      if (mode.size() == 10) return InvalidArgument("invalid container format container:<name|id>");
      if (cmd->host_config.port_bindings_size() > 0 || cmd->host_config.publish_all_ports()) {
        return InvalidArgument(
            "conflicting options: port publishing and the container type network mode");
      }
      if (!cmd->config.hostname().empty()) {
        return InvalidArgument("conflicting options: hostname and the network mode");
      }
    }
    if (mode == "host") {
      cmd->host_config.clear_port_bindings();  // Docker discards them (with a warning)
      cmd->host_config.set_publish_all_ports(false);
    }
    return Status::Ok();
  }
  // The primary network first, with its endpoint config if given.
  engine::EndpointRequest primary;
  for (auto it = eps.begin(); it != eps.end(); ++it) {
    if (it->first == mode) {
      primary = it->second;
      eps.erase(it);
      break;
    }
  }
  cmd->networks.emplace_back(mode, std::move(primary));
  for (auto& e : eps) cmd->networks.push_back(std::move(e));
  return Status::Ok();
}

}  // namespace arca::api
