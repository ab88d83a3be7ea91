// /volumes endpoints (issue #6): create, list, inspect, remove, prune with the
// local driver. Decisions are events; the data lives in
// <data-root>/volumes/<name>/_data (Docker's Mountpoint).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/image_tools.h"
#include "api/json.h"
#include "api/time_util.h"
#include "api/summaries.h"
#include "engine/volume_commands.h"
#include "runtime/volumes.h"

namespace fs = std::filesystem;

namespace arca::api {
namespace {


std::string createdAt(int64_t ns) {
  time_t t = static_cast<time_t>(ns / 1000000000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void writeVolume(JsonWriter& j, const ApiContext& ctx, const v1::Volume& v, int64_t size,
                 int64_t ref_count) {
  j.StartObject();
  jstr(j, "CreatedAt", createdAt(v.created_ns()));
  jstr(j, "Driver", v.driver());
  jstrMap(j, "Labels", v.labels(), true);
  jstr(j, "Mountpoint", ctx.volumes->dataPath(v.name()));
  jstr(j, "Name", v.name());
  jstrMap(j, "Options", v.options(), true);
  jstr(j, "Scope", "local");
  if (size >= -1 && ref_count >= 0) {  // system df
    j.Key("UsageData");
    j.StartObject();
    j.Key("RefCount");
    j.Int64(ref_count);
    j.Key("Size");
    j.Int64(size);
    j.EndObject();
  }
  j.EndObject();
}

namespace {

std::string volumeJson(const ApiContext& ctx, const v1::Volume& v) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  writeVolume(j, ctx, v);
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

bool labelsOk(const v1::Volume& v, const std::vector<std::string>& want) {
  std::map<std::string, std::string> labels(v.labels().begin(), v.labels().end());
  return labelsMatchAll(labels, want);
}

void createVolume(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  rapidjson::Document d;
  d.Parse(body->c_str(), body->size());
  if (d.HasParseError() || !d.IsObject()) {
    return sendError(w, InvalidArgument("invalid JSON body for volume create"));
  }
  bool te = false;
  engine::CreateVolume cmd;
  cmd.name = getString(d, "Name", &te).value_or("");
  cmd.driver = getString(d, "Driver", &te).value_or("");
  if (auto m = getStringMap(d, "Labels", &te)) cmd.labels = *m;
  if (auto m = getStringMap(d, "DriverOpts", &te)) cmd.options = *m;
  auto cs = d.FindMember("ClusterVolumeSpec");
  if (cs != d.MemberEnd() && nonDefault(cs->value)) {
    return sendError(w, InvalidArgument("cluster volumes need swarm mode"));
  }
  if (te) return sendError(w, InvalidArgument("invalid type in volume create body"));
  cmd.anonymous = cmd.name.empty();
  std::string name;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideCreateVolume(s, cmd, *ctx.engine->ids(), out, &name);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  std::string out;
  int64_t generation = 0;
  ctx.engine->read([&](const v1::State& s) {
    auto v = engine::findVolume(s, name);
    if (v.ok()) {
      out = volumeJson(ctx, **v);
      generation = (*v)->created_ns();
    }
    return 0;
  });
  if (Status c = ctx.volumes->create(name, generation); !c.ok()) {
    spdlog::warn("volume {}: {}", name, c.toString());
  }
  if (out.empty()) return sendError(w, Internal("volume " + name + " vanished"));
  sendJson(w, 201, out);
}

void inspectVolume(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string out;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto v = engine::findVolume(s, req.params["name"]);
    if (v.ok()) {
      out = volumeJson(ctx, **v);
    } else {
      st = v.status();
    }
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, out);
}

void listVolumes(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  for (const auto& [k, v] : f) {
    if (k != "dangling" && k != "name" && k != "label" && k != "driver") {
      return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
    }
  }
  for (const auto& d : f["dangling"]) {
    if (d != "true" && d != "false" && d != "1" && d != "0") {
      return sendError(w, InvalidArgument("invalid filter 'dangling=" + d + "'"));
    }
  }
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  j.Key("Volumes");
  j.StartArray();
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [name, v] : s.volumes()) {
      auto any = [&](const std::string& key, const std::function<bool(const std::string&)>& p) {
        const auto& vals = f[key];
        return vals.empty() || std::any_of(vals.begin(), vals.end(), p);
      };
      if (!any("name", [&](const std::string& x) { return name.find(x) != std::string::npos; })) continue;
      if (!any("driver", [&](const std::string& x) { return v.driver() == x; })) continue;
      if (!any("dangling", [&](const std::string& x) {
            return (x == "true" || x == "1") == engine::volumeUsers(s, name).empty();
          })) continue;
      if (!labelsOk(v, f["label"])) continue;
      writeVolume(j, ctx, v);
    }
    return 0;
  });
  j.EndArray();
  j.Key("Warnings");
  j.StartArray();
  j.EndArray();
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void removeVolumeData(const ApiContext& ctx, const std::string& name, int64_t generation) {
  // A volume of that name created again meanwhile keeps its new directory.
  Status st = ctx.volumes->remove(name, generation);
  if (!st.ok()) spdlog::warn("volume {}: removing its data: {}", name, st.toString());
}

void deleteVolume(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string name = req.params["name"];
  bool existed = false;
  int64_t generation = 0;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    auto v = s.volumes().find(name);
    existed = v != s.volumes().end();
    if (existed) generation = v->second.created_ns();
    return engine::decideRemoveVolume(s, name, req.queryBool("force"), out);
  });
  if (!seq.ok()) return sendError(w, seq.status());
  if (existed) removeVolumeData(ctx, name, generation);
  w.send(204, "", "");
}

void pruneVolumes(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  bool all = false;
  for (const auto& [k, v] : f) {
    if (k != "label" && k != "label!" && k != "all") {
      return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
    }
  }
  for (const auto& a : f["all"]) {
    if (a == "true" || a == "1") {
      all = true;
    } else if (a != "false" && a != "0") {
      return sendError(w, InvalidArgument("invalid filter 'all=" + a + "'"));
    }
  }
  // Before API 1.42 a prune removed named volumes too.
  if (!req.apiVersion().empty() && compareVersions(req.apiVersion(), "1.42") < 0) all = true;
  std::vector<std::string> names;
  std::vector<int64_t> generations;
  uint64_t reclaimed = 0;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    names = engine::pruneableVolumes(s, all, [&](const v1::Volume& v) {
      if (!labelsOk(v, f["label"])) return true;
      if (!f["label!"].empty() && labelsOk(v, f["label!"])) return true;
      return false;
    });
    generations.clear();
    for (const auto& n : names) {
      generations.push_back(s.volumes().at(n).created_ns());
      v1::Event e;
      e.mutable_volume_removed()->set_name(n);
      out->push_back(std::move(e));
    }
    return Status::Ok();
  });
  if (!seq.ok()) return sendError(w, seq.status());
  for (size_t i = 0; i < names.size(); ++i) {
    int64_t size = ctx.volumes->size(names[i]);
    if (size > 0) reclaimed += static_cast<uint64_t>(size);
    removeVolumeData(ctx, names[i], generations[i]);
  }
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstrArray(j, "VolumesDeleted", names, false);
  j.Key("SpaceReclaimed");
  j.Uint64(reclaimed);
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

}  // namespace

void registerVolumeRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("GET", "/volumes", bind(listVolumes));
  r.add("POST", "/volumes/create", bind(createVolume));
  r.add("POST", "/volumes/prune", bind(pruneVolumes));
  r.add("GET", "/volumes/{name}", bind(inspectVolume));
  r.add("DELETE", "/volumes/{name}", bind(deleteVolume));
}

}  // namespace arca::api
