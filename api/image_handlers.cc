// Image endpoints of the first slice: list, inspect, tag, delete, load.
#include <fnmatch.h>

#include <set>

#include "api/api.h"

#include <spdlog/spdlog.h>
#include "api/json.h"
#include "api/time_util.h"
#include "engine/lookup.h"
#include "runtime/image/reference.h"

namespace arca::api {
namespace {

using engine::findImage;
using engine::shortId;

int64_t createdNs(const v1::ImageRecord& r) {
  int64_t ns = 0;
  if (!r.created().empty()) engine::parseRfc3339(r.created(), &ns);
  return ns;
}

bool referenceMatches(const v1::ImageRecord& r, const std::string& pattern) {
  for (const auto& tag : r.repo_tags()) {
    std::string fam = image::familiarString(tag);
    std::string name = fam.substr(0, fam.rfind(':'));
    if (fnmatch(pattern.c_str(), fam.c_str(), 0) == 0) return true;
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
    if (fnmatch(pattern.c_str(), tag.c_str(), 0) == 0) return true;
  }
  return false;
}

std::map<std::string, std::string> imageLabels(const v1::ImageRecord& r) {
  std::map<std::string, std::string> out;
  rapidjson::Document d;
  d.Parse(r.config_json().c_str(), r.config_json().size());
  if (d.HasParseError() || !d.IsObject()) return out;
  auto c = d.FindMember("config");
  if (c == d.MemberEnd() || !c->value.IsObject()) return out;
  bool te = false;
  if (auto l = getStringMap(c->value, "Labels", &te)) out = *l;
  return out;
}

void listImages(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  if (auto legacy = req.queryParam("filter"); legacy && !legacy->empty()) f["reference"].push_back(*legacy);
  static const std::set<std::string> kKeys = {"before", "dangling", "label", "reference", "since", "until"};
  for (const auto& [k, v] : f) {
    if (!kKeys.count(k)) return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
  }
  std::optional<bool> dangling;
  for (const auto& d : f["dangling"]) {
    if (d == "true" || d == "1") {
      dangling = true;
    } else if (d == "false" || d == "0") {
      dangling = false;
    } else {
      return sendError(w, InvalidArgument("invalid filter 'dangling=" + d + "'"));
    }
  }
  int64_t now = ctx.engine->clock()->nowNs();
  int64_t until = 0;
  for (const auto& u : f["until"]) {
    if (!parseTimestamp(u, now, &until)) return sendError(w, InvalidArgument("invalid filter 'until=" + u + "'"));
  }
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    int64_t before = INT64_MAX, since = INT64_MIN;
    for (const auto& b : f["before"]) {
      auto img = findImage(s, b);
      if (!img.ok()) { st = img.status(); return 0; }
      before = createdNs((*img)->record());
    }
    for (const auto& b : f["since"]) {
      auto img = findImage(s, b);
      if (!img.ok()) { st = img.status(); return 0; }
      since = createdNs((*img)->record());
    }
    std::map<std::string, int> users;
    for (const auto& [id, c] : s.containers()) users[c.image_id()]++;
    std::vector<const v1::Image*> list;
    for (const auto& [id, img] : s.images()) {
      const auto& r = img.record();
      bool is_dangling = r.repo_tags_size() == 0;
      if (dangling && *dangling != is_dangling) continue;
      if (!f["reference"].empty() &&
          std::none_of(f["reference"].begin(), f["reference"].end(),
                       [&](const std::string& p) { return referenceMatches(r, p); })) {
        continue;
      }
      int64_t created = createdNs(r);
      if (created >= before || created <= since) continue;
      if (until && created > until) continue;
      if (!f["label"].empty()) {
        auto labels = imageLabels(r);
        bool all = std::all_of(f["label"].begin(), f["label"].end(), [&](const std::string& l) {
          auto eq = l.find('=');
          if (eq == std::string::npos) return labels.count(l) > 0;
          auto it = labels.find(l.substr(0, eq));
          return it != labels.end() && it->second == l.substr(eq + 1);
        });
        if (!all) continue;
      }
      list.push_back(&img);
    }
    std::sort(list.begin(), list.end(), [](const v1::Image* a, const v1::Image* b) {
      int64_t ca = createdNs(a->record()), cb = createdNs(b->record());
      if (ca != cb) return ca > cb;
      return a->record().id() < b->record().id();
    });
    j.StartArray();
    for (const auto* img : list) {
      const auto& r = img->record();
      j.StartObject();
      jstr(j, "Id", r.id());
      jstr(j, "ParentId", "");
      std::vector<std::string> tags;
      for (const auto& t : r.repo_tags()) tags.push_back(image::familiarString(t));
      jstrArray(j, "RepoTags", tags);
      std::vector<std::string> digests;
      for (const auto& d : r.repo_digests()) digests.push_back(image::familiarString(d));
      jstrArray(j, "RepoDigests", digests);
      j.Key("Created"); j.Int64(createdNs(r) / 1000000000);
      j.Key("Size"); j.Int64(r.size());
      j.Key("SharedSize"); j.Int(-1);
      jstrMap(j, "Labels", imageLabels(r));
      j.Key("Containers"); j.Int(users[r.id()]);
      j.EndObject();
    }
    j.EndArray();
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void inspectImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  v1::ImageRecord r;
  int64_t loaded = 0;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto img = findImage(s, req.params["name"]);
    if (!img.ok()) {
      st = img.status();
    } else {
      r = (*img)->record();
      loaded = (*img)->loaded_ns();
    }
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  rapidjson::Document cfg;
  cfg.Parse(r.config_json().c_str(), r.config_json().size());
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstr(j, "Id", r.id());
  std::vector<std::string> tags, digests;
  for (const auto& t : r.repo_tags()) tags.push_back(image::familiarString(t));
  for (const auto& d : r.repo_digests()) digests.push_back(image::familiarString(d));
  jstrArray(j, "RepoTags", tags);
  jstrArray(j, "RepoDigests", digests);
  jstr(j, "Parent", "");
  std::string comment, author;
  bool te = false;
  if (cfg.IsObject()) {
    comment = getString(cfg, "comment", &te).value_or("");
    author = getString(cfg, "author", &te).value_or("");
  }
  jstr(j, "Comment", comment);
  if (!r.created().empty()) jstr(j, "Created", rfc3339(createdNs(r)));
  jstr(j, "DockerVersion", "");
  jstr(j, "Author", author);
  j.Key("Config");
  auto c = cfg.IsObject() ? cfg.FindMember("config") : cfg.MemberEnd();
  if (cfg.IsObject() && c != cfg.MemberEnd() && c->value.IsObject()) {
    c->value.Accept(j);
  } else {
    j.StartObject();
    j.EndObject();
  }
  jstr(j, "Architecture", r.architecture().empty() ? "amd64" : r.architecture());
  if (!r.variant().empty()) jstr(j, "Variant", r.variant());
  jstr(j, "Os", r.os().empty() ? "linux" : r.os());
  j.Key("Size"); j.Int64(r.size());
  j.Key("GraphDriver");
  j.StartObject();
  j.Key("Data"); j.Null();
  jstr(j, "Name", ctx.storage_driver);
  j.EndObject();
  j.Key("RootFS");
  j.StartObject();
  jstr(j, "Type", "layers");
  jstrArray(j, "Layers", r.diff_ids());
  j.EndObject();
  j.Key("Metadata");
  j.StartObject();
  jstr(j, "LastTagTime", loaded ? rfc3339(loaded) : "0001-01-01T00:00:00Z");
  j.EndObject();
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void tagImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string repo = req.queryParam("repo").value_or("");
  std::string tag = req.queryParam("tag").value_or("");
  if (repo.empty()) return sendError(w, InvalidArgument("repository name must have at least one component"));
  auto ref = image::parseReference(tag.empty() ? repo : repo + ":" + tag);
  if (!ref.ok()) return sendError(w, ref.status());
  if (!ref->digest.empty()) return sendError(w, InvalidArgument("refusing to create a tag with a digest reference"));
  auto full = image::parseNormalizedNamed(ref->full());
  if (!full.ok()) return sendError(w, full.status());
  std::string target = full->full();
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    auto img = findImage(s, req.params["name"]);
    if (!img.ok()) return img.status();
    v1::Event e;
    e.mutable_image_tagged()->set_id((*img)->record().id());
    e.mutable_image_tagged()->set_ref(target);
    out->push_back(std::move(e));
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  w.send(201, "", "");
}

}  // namespace

void requestImageGc(ApiContext& ctx) {
  std::unique_lock<std::shared_mutex> lock(ctx.image_gc_mu, std::try_to_lock);
  if (!lock.owns_lock()) {
    ctx.gc_pending = true;
    return;
  }
  std::vector<v1::ImageRecord> keep;
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [id, img] : s.images()) keep.push_back(img.record());
    return 0;
  });
  Status st = ctx.images->garbageCollect(keep);
  if (!st.ok()) spdlog::warn("image garbage collection: {}", st.toString());
}

namespace {

void deleteImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool force = req.queryBool("force");
  const std::string ref = req.params["name"];
  std::vector<std::pair<std::string, std::string>> report;  // ("Untagged"|"Deleted", value)
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    report.clear();
    auto img = findImage(s, ref);
    if (!img.ok()) return img.status();
    const auto& rec = (*img)->record();
    const std::string& id = rec.id();
    // Which tag did the user name (if any)?
    std::string named;
    auto parsed = image::parseNormalizedNamed(ref);
    if (parsed.ok() && parsed->digest.empty()) {
      auto t = s.tags().find(parsed->full());
      if (t != s.tags().end() && t->second == id) named = parsed->full();
    }
    std::string running_user, stopped_user;
    for (const auto& [cid, c] : s.containers()) {
      if (c.image_id() != id) continue;
      if (c.status() == "running" || c.status() == "paused") {
        running_user = cid;
      } else {
        stopped_user = cid;
      }
    }
    auto untag = [&](const std::string& t) {
      v1::Event e;
      e.mutable_image_untagged()->set_id(id);
      e.mutable_image_untagged()->set_ref(t);
      out->push_back(std::move(e));
      report.push_back({"Untagged", image::familiarString(t)});
    };
    if (!named.empty() && rec.repo_tags_size() > 1) {
      untag(named);  // other tags remain: only this reference goes
      return Status::Ok();
    }
    if (named.empty() && rec.repo_tags_size() > 1 && !force) {
      return Conflict("conflict: unable to delete " + shortId(id) +
                      " (must be forced) - image is referenced in multiple repositories");
    }
    if (!running_user.empty()) {
      if (!named.empty() && force) {
        untag(named);
        return Status::Ok();
      }
      return Conflict("conflict: unable to delete " + shortId(id) +
                      " (cannot be forced) - image is being used by running container " +
                      shortId(running_user));
    }
    if (!stopped_user.empty()) {
      if (!force) {
        if (!named.empty()) {
          return Conflict("conflict: unable to remove repository reference \"" + ref +
                          "\" (must force) - container " + shortId(stopped_user) +
                          " is using its referenced image " + shortId(id));
        }
        return Conflict("conflict: unable to delete " + shortId(id) +
                        " (must be forced) - image is being used by stopped container " +
                        shortId(stopped_user));
      }
      // Forced: the references go; the image stays while a container needs it.
      for (const auto& t : rec.repo_tags()) untag(t);
      return Status::Ok();
    }
    for (const auto& t : rec.repo_tags()) untag(t);
    v1::Event e;
    e.mutable_image_deleted()->set_id(id);
    out->push_back(std::move(e));
    report.push_back({"Deleted", id});
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  bool deleted = false;
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartArray();
  for (const auto& [k, v] : report) {
    j.StartObject();
    jstr(j, k.c_str(), v);
    j.EndObject();
    deleted = deleted || k == "Deleted";
  }
  j.EndArray();
  if (deleted) requestImageGc(ctx);
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

std::string streamMsg(const std::string& text) {
  return "{\"stream\":" + jsonEscape(text) + "}\n";
}

void loadImages(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool quiet = req.queryBool("quiet", true);
  ImageTransfer transfer(ctx);
  bool streaming = false;
  auto progress = [&](const std::string& line) {
    if (quiet) return;
    if (!streaming) {
      w.startStream(200, "application/json");
      streaming = true;
    }
    w.write(streamMsg(line + "\n"));
  };
  auto records = ctx.images->load([&](char* buf, size_t len) { return req.read(buf, len); }, progress);
  if (!records.ok()) {
    if (!streaming) return sendError(w, records.status());
    std::string m = jsonEscape(records.status().message());
    w.write("{\"errorDetail\":{\"message\":" + m + "},\"error\":" + m + "}\n");
    return w.end();
  }
  std::vector<v1::Event> events;
  std::string out;
  for (const auto& rec : *records) {
    v1::Event e;
    *e.mutable_image_loaded()->mutable_image() = rec;
    events.push_back(std::move(e));
    if (rec.repo_tags_size() == 0) {
      out += streamMsg("Loaded image ID: " + rec.id() + "\n");
    }
    for (const auto& t : rec.repo_tags()) out += streamMsg("Loaded image: " + image::familiarString(t) + "\n");
  }
  ctx.engine->record(std::move(events));
  if (!streaming) w.startStream(200, "application/json");
  w.write(out);
  w.end();
}

}  // namespace

void registerImageRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("GET", "/images/json", bind(listImages));
  r.add("POST", "/images/load", bind(loadImages));
  r.add("GET", "/images/{name}/json", bind(inspectImage));
  r.add("POST", "/images/{name}/tag", bind(tagImage));
  r.add("DELETE", "/images/{name}", bind(deleteImage));
}

}  // namespace arca::api
