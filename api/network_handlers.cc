// /networks endpoints (issue #5): list, inspect, create, remove, connect,
// disconnect, prune. Decisions go through the engine (events); the network
// plane applies them to running containers before the answer.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/image_tools.h"
#include "api/json.h"
#include "api/network_config.h"
#include "api/network_json.h"
#include "api/time_util.h"
#include "engine/lookup.h"
#include "engine/network_commands.h"

namespace arca::api {
namespace {

std::string networkJson(const v1::State& s, const v1::Network& n, bool containers) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  writeNetwork(j, s, n, containers);
  return std::string(sb.GetString(), sb.GetSize());
}

bool labelsOk(const v1::Network& n, const std::vector<std::string>& want) {
  std::map<std::string, std::string> labels(n.labels().begin(), n.labels().end());
  return labelsMatchAll(labels, want);
}

void listNetworks(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  for (const auto& [k, v] : f) {
    static const char* kKeys[] = {"dangling", "driver", "id", "label", "name", "scope", "type"};
    if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* x) { return k == x; })) {
      return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
    }
  }
  for (const auto& t : f["type"]) {
    if (t != "custom" && t != "builtin") {
      return sendError(w, InvalidArgument("invalid filter: 'type'='" + t + "'"));
    }
  }
  for (const auto& d : f["dangling"]) {
    if (d != "true" && d != "false" && d != "1" && d != "0") {
      return sendError(w, InvalidArgument("invalid filter 'dangling=" + d + "'"));
    }
  }
  std::string out = "[";
  ctx.engine->read([&](const v1::State& s) {
    std::vector<const v1::Network*> list;
    for (const auto& [id, n] : s.networks()) {
      auto anyOf = [&](const std::string& key, const std::function<bool(const std::string&)>& p) {
        const auto& vals = f[key];
        return vals.empty() || std::any_of(vals.begin(), vals.end(), p);
      };
      if (!anyOf("name", [&](const std::string& v) { return n.name().find(v) != std::string::npos; })) continue;
      if (!anyOf("id", [&](const std::string& v) { return id.find(v) != std::string::npos; })) continue;
      if (!anyOf("driver", [&](const std::string& v) { return n.driver() == v; })) continue;
      if (!anyOf("scope", [&](const std::string& v) { return v == "local"; })) continue;
      if (!anyOf("type", [&](const std::string& v) {
            return (v == "builtin") == engine::predefinedNetwork(n);
          })) continue;
      if (!anyOf("dangling", [&](const std::string& v) {
            bool dangling = !engine::networkInUse(s, id) && !engine::predefinedNetwork(n);
            return (v == "true" || v == "1") == dangling;
          })) continue;
      if (!labelsOk(n, f["label"])) continue;
      list.push_back(&n);
    }
    std::sort(list.begin(), list.end(), [](const v1::Network* a, const v1::Network* b) {
      return a->created_ns() != b->created_ns() ? a->created_ns() < b->created_ns() : a->id() < b->id();
    });
    for (size_t i = 0; i < list.size(); ++i) {
      if (i) out += ",";
      out += networkJson(s, *list[i], false);
    }
    return 0;
  });
  out += "]\n";
  sendJson(w, 200, out);
}

void inspectNetwork(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string out;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto n = engine::findNetwork(s, req.params["id"]);
    if (!n.ok()) {
      st = n.status();
    } else {
      out = networkJson(s, **n, true) + "\n";
    }
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, out);
}

StatusOr<engine::CreateNetwork> parseCreateNetwork(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("invalid JSON body for network create");
  engine::CreateNetwork cmd;
  bool te = false;
  cmd.name = getString(d, "Name", &te).value_or("");
  cmd.driver = getString(d, "Driver", &te).value_or("");
  cmd.scope = getString(d, "Scope", &te).value_or("");
  cmd.internal = getBool(d, "Internal", &te).value_or(false);
  cmd.attachable = getBool(d, "Attachable", &te).value_or(false);
  cmd.ingress = getBool(d, "Ingress", &te).value_or(false);
  cmd.config_only = getBool(d, "ConfigOnly", &te).value_or(false);
  cmd.enable_ipv6 = getBool(d, "EnableIPv6", &te).value_or(false);
  if (auto v4 = getBool(d, "EnableIPv4", &te); v4 && !*v4) {
    return InvalidArgument("IPv4 cannot be disabled on arca networks");
  }
  if (auto m = getStringMap(d, "Labels", &te)) cmd.labels = *m;
  if (auto m = getStringMap(d, "Options", &te)) cmd.options = *m;
  auto cf = d.FindMember("ConfigFrom");
  if (cf != d.MemberEnd() && cf->value.IsObject()) {
    auto net = getString(cf->value, "Network", &te);
    if (net && !net->empty()) return InvalidArgument("ConfigFrom networks are not supported by arca");
  }
  auto ipam = d.FindMember("IPAM");
  if (ipam != d.MemberEnd() && ipam->value.IsObject()) {
    cmd.ipam_driver = getString(ipam->value, "Driver", &te).value_or("");
    if (auto m = getStringMap(ipam->value, "Options", &te)) cmd.ipam_options = *m;
    auto cfg = ipam->value.FindMember("Config");
    if (cfg != ipam->value.MemberEnd() && cfg->value.IsArray()) {
      for (const auto& c : cfg->value.GetArray()) {
        if (!c.IsObject()) return InvalidArgument("invalid IPAM config");
        engine::IpamConfigRequest r;
        r.subnet = getString(c, "Subnet", &te).value_or("");
        r.ip_range = getString(c, "IPRange", &te).value_or("");
        r.gateway = getString(c, "Gateway", &te).value_or("");
        if (auto m = getStringMap(c, "AuxiliaryAddresses", &te)) r.aux_addresses = *m;
        cmd.ipam.push_back(std::move(r));
      }
    }
  }
  if (te) return InvalidArgument("invalid type in network create body");
  return cmd;
}

void createNetwork(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  auto cmd = parseCreateNetwork(*body);
  if (!cmd.ok()) return sendError(w, cmd.status());
  std::string id;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideCreateNetwork(s, *cmd, *ctx.engine->ids(), out, &id);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  sendJson(w, 201, "{\"Id\":\"" + id + "\",\"Warning\":\"\"}\n");
}

void deleteNetwork(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string id;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideRemoveNetwork(s, req.params["id"], out, &id);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  if (ctx.network) ctx.network->removeNetwork(id);
  w.send(204, "", "");
}

void connectNetwork(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  rapidjson::Document d;
  d.Parse(body->c_str(), body->size());
  if (d.HasParseError() || !d.IsObject()) return sendError(w, InvalidArgument("invalid JSON body"));
  bool te = false;
  std::string container = getString(d, "Container", &te).value_or("");
  if (te) return sendError(w, InvalidArgument("invalid type for Container"));
  engine::EndpointRequest epreq;
  auto ec = d.FindMember("EndpointConfig");
  if (ec != d.MemberEnd()) {
    auto r = parseEndpointConfig(ec->value);
    if (!r.ok()) return sendError(w, r.status());
    epreq = std::move(*r);
  }
  std::string cid, nid;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideConnect(s, req.params["id"], container, epreq, *ctx.engine->ids(), out,
                                 &cid, &nid);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  Status applied = ctx.executor->applyConnect(cid, nid);
  if (!applied.ok()) {
    // Undo the record: the container is not on the network after all.
    auto undo = ctx.engine->execute([&](const v1::State&, std::vector<v1::Event>* out) {
      v1::Event e;
      e.mutable_network_disconnected()->set_container_id(cid);
      e.mutable_network_disconnected()->set_network_id(nid);
      out->push_back(std::move(e));
      return Status::Ok();
    });
    (void)undo;
    return sendError(w, Internal(applied.message()));
  }
  sendJson(w, 200, "");
}

void disconnectNetwork(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  rapidjson::Document d;
  d.Parse(body->c_str(), body->size());
  if (d.HasParseError() || !d.IsObject()) return sendError(w, InvalidArgument("invalid JSON body"));
  bool te = false;
  std::string container = getString(d, "Container", &te).value_or("");
  bool force = getBool(d, "Force", &te).value_or(false);
  if (te) return sendError(w, InvalidArgument("invalid type in disconnect body"));
  // The interface goes first, then the record (which frees the address): an
  // address is never handed out while a live interface still holds it.
  std::string cid, nid;
  Status valid = ctx.engine->read([&](const v1::State& s) {
    std::vector<v1::Event> ignored;
    return engine::decideDisconnect(s, req.params["id"], container, force, &ignored, &cid, &nid);
  });
  if (!valid.ok()) return sendError(w, valid);
  if (!cid.empty()) {
    Status applied = ctx.executor->applyDisconnect(cid, nid);
    if (!applied.ok()) return sendError(w, Internal(applied.message()));
  }
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideDisconnect(s, req.params["id"], container, force, out, &cid, &nid);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  sendJson(w, 200, "");
}

void pruneNetworks(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto f = parsePruneFilters(req.queryParam("filters").value_or(""), ctx.engine->clock()->nowNs());
  if (!f.ok()) return sendError(w, f.status());
  std::vector<std::string> names;
  std::vector<std::string> removed_ids;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    auto ids = engine::pruneableNetworks(s, [&](const v1::Network& n) {
      return !f->selects(n.created_ns(), {n.labels().begin(), n.labels().end()});
    });
    for (const auto& id : ids) {
      v1::Event e;
      e.mutable_network_removed()->set_id(id);
      out->push_back(std::move(e));
      names.push_back(s.networks().at(id).name());
      removed_ids.push_back(id);
    }
    return Status::Ok();
  });
  if (!seq.ok()) return sendError(w, seq.status());
  if (ctx.network) {
    for (const auto& id : removed_ids) ctx.network->removeNetwork(id);
  }
  std::sort(names.begin(), names.end());
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstrArray(j, "NetworksDeleted", names, false);
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

}  // namespace

void registerNetworkRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("GET", "/networks", bind(listNetworks));
  r.add("POST", "/networks/create", bind(createNetwork));
  r.add("POST", "/networks/prune", bind(pruneNetworks));
  r.add("POST", "/networks/{id}/connect", bind(connectNetwork));
  r.add("POST", "/networks/{id}/disconnect", bind(disconnectNetwork));
  r.add("GET", "/networks/{id}", bind(inspectNetwork));
  r.add("DELETE", "/networks/{id}", bind(deleteNetwork));
}

}  // namespace arca::api
