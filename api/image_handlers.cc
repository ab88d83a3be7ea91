// Image endpoints: list, inspect, tag, delete, load, save, import, history,
// prune, and GET /system/df.
#include <fnmatch.h>

#include <set>

#include "api/api.h"

#include <spdlog/spdlog.h>
#include "api/image_changes.h"
#include "api/image_tools.h"
#include "api/json.h"
#include "api/summaries.h"
#include "engine/volume_commands.h"
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
    if (!parseTimestampOrDuration(u, now, &until)) {
      return sendError(w, InvalidArgument("invalid filter 'until=" + u + "'"));
    }
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
    // issue #7: intermediate images (untagged parents of other images, as
    // docker build leaves them) only with all=1, as dockerd.
    std::set<std::string> parents;
    for (const auto& [id, img] : s.images()) {
      if (!img.record().parent().empty()) parents.insert(img.record().parent());
    }
    const bool all = req.queryBool("all");
    std::vector<const v1::Image*> list;
    for (const auto& [id, img] : s.images()) {
      const auto& r = img.record();
      if (!all && r.repo_tags_size() == 0 && r.repo_digests_size() == 0 && parents.count(id)) continue;
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
      if (!f["label"].empty() && !labelsMatchAll(imageLabels(r), f["label"])) continue;
      list.push_back(&img);
    }
    std::sort(list.begin(), list.end(), [](const v1::Image* a, const v1::Image* b) {
      int64_t ca = createdNs(a->record()), cb = createdNs(b->record());
      if (ca != cb) return ca > cb;
      return a->record().id() < b->record().id();
    });
    j.StartArray();
    for (const auto* img : list) writeImageSummary(j, img->record(), users[img->record().id()], -1);
    j.EndArray();
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void emptyContainerConfig(rapidjson::Value* c, rapidjson::Document::AllocatorType& a);  // below

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
  jstr(j, "Parent", r.parent());
  std::string comment, author;
  bool te = false;
  if (cfg.IsObject()) {
    comment = getString(cfg, "comment", &te).value_or("");
    author = getString(cfg, "author", &te).value_or("");
    // As dockerd: without a top-level comment, the last history entry's (commit).
    auto h = cfg.FindMember("history");
    if (comment.empty() && h != cfg.MemberEnd() && h->value.IsArray() && !h->value.Empty() &&
        h->value[h->value.Size() - 1].IsObject()) {
      comment = getString(h->value[h->value.Size() - 1], "comment", &te).value_or("");
    }
  }
  jstr(j, "Comment", comment);
  if (!r.created().empty()) jstr(j, "Created", rfc3339(createdNs(r)));
  // The committing container and its config, as dockerd had them before API
  // 1.45. Kept at every version on purpose: docker-compose 1.29 negotiates the
  // newest API and reads ContainerConfig.Volumes when it recreates a service
  // (against dockerd 25+ it fails there with KeyError 'ContainerConfig').
  {
    jstr(j, "Container", cfg.IsObject() ? getString(cfg, "container", &te).value_or("") : "");
    j.Key("ContainerConfig");
    auto cc = cfg.IsObject() ? cfg.FindMember("container_config") : cfg.MemberEnd();
    if (cfg.IsObject() && cc != cfg.MemberEnd() && cc->value.IsObject()) {
      cc->value.Accept(j);
    } else {
      rapidjson::Document empty;
      rapidjson::Value ec;
      emptyContainerConfig(&ec, empty.GetAllocator());
      ec.Accept(j);
    }
  }
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

LayerSizes readLayerSizes(ApiContext& ctx, const std::vector<v1::ImageRecord>& images) {
  LayerSizes sizes;
  for (const auto& r : images) {
    for (const auto& c : imageChainIds(r)) {
      if (sizes.count(c)) continue;
      auto sz = ctx.images->layerSize(c);
      if (sz.ok()) sizes[c] = *sz;
    }
  }
  return sizes;
}

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
  bool noprune = req.queryBool("noprune");
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
    // issue #7: images docker build made name their parent. One with
    // children loses its tags only (dockerd: an untagged one cannot go).
    auto hasChildren = [&](const std::string& parent, const std::string& except) {
      for (const auto& [cid, other] : s.images()) {
        if (cid != except && other.record().parent() == parent) return true;
      }
      return false;
    };
    if (hasChildren(id, "")) {
      if (rec.repo_tags_size() == 0) {
        return Conflict("conflict: unable to delete " + shortId(id) +
                        " (cannot be forced) - image has dependent child images");
      }
      for (const auto& t : rec.repo_tags()) untag(t);
      return Status::Ok();
    }
    for (const auto& t : rec.repo_tags()) untag(t);
    v1::Event e;
    e.mutable_image_deleted()->set_id(id);
    out->push_back(std::move(e));
    report.push_back({"Deleted", id});
    // Then its untagged parents that nothing else needs (noprune keeps them).
    std::string child = id, parent = rec.parent();
    while (!noprune && !parent.empty()) {
      auto p = s.images().find(parent);
      if (p == s.images().end()) break;
      const auto& pr = p->second.record();
      if (pr.repo_tags_size() > 0 || pr.repo_digests_size() > 0 || hasChildren(parent, child)) break;
      bool used = false;
      for (const auto& [cid, c] : s.containers()) used = used || c.image_id() == parent;
      if (used) break;
      v1::Event d;
      d.mutable_image_deleted()->set_id(parent);
      out->push_back(std::move(d));
      report.push_back({"Deleted", parent});
      child = parent;
      parent = pr.parent();
    }
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

// ---------------------------------------------------------------------------
// Platforms

std::string normalizeArch(std::string a) {
  if (a == "x86_64" || a == "x86-64") return "amd64";
  if (a == "aarch64") return "arm64";
  return a;
}

// The `platform` query parameter of save and history (a JSON OCI platform):
// only the image's own platform is served.
Status checkPlatform(Request& req, const v1::ImageRecord& r, const std::string& ref) {
  std::string raw = req.queryParam("platform").value_or("");
  if (raw.empty()) return Status::Ok();
  rapidjson::Document d;
  d.Parse(raw.c_str(), raw.size());
  if (d.HasParseError() || !d.IsObject()) return InvalidArgument("failed to parse platform: invalid JSON");
  bool te = false;
  std::string os = getString(d, "os", &te).value_or("");
  std::string arch = normalizeArch(getString(d, "architecture", &te).value_or(""));
  std::string variant = getString(d, "variant", &te).value_or("");
  if (te) return InvalidArgument("failed to parse platform: invalid JSON");
  if (os.empty()) return InvalidArgument("failed to parse platform: os is required");
  std::string img_os = r.os().empty() ? "linux" : r.os();
  std::string img_arch = normalizeArch(r.architecture().empty() ? "amd64" : r.architecture());
  auto format = [](const std::string& o, const std::string& a, const std::string& v) {
    return o + (a.empty() ? "" : "/" + a) + (v.empty() ? "" : "/" + v);
  };
  bool match = os == img_os && (arch.empty() || arch == img_arch) &&
               (variant.empty() || variant == r.variant() ||
                (img_arch == "arm64" && r.variant().empty() && variant == "v8"));
  if (!match) {
    return NotFound("image with reference " + ref +
                    " was found but does not match the specified platform: wanted " +
                    format(os, arch, variant) + ", actual: " + format(img_os, img_arch, r.variant()));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// docker save

// The images `names` denote, each with the tags it is named by, as dockerd
// resolves them: "repo" alone means every tag of that repository, "repo:tag"
// that tag, an id (or prefix) or digest the image without a tag.
Status resolveSaveNames(const v1::State& s, const std::vector<std::string>& names,
                        std::vector<image::SaveItem>* items) {
  std::map<std::string, size_t> index;
  auto add = [&](const v1::ImageRecord& r, const std::string& tag) {
    auto [it, fresh] = index.emplace(r.id(), items->size());
    if (fresh) {
      image::SaveItem item;
      item.image = r;
      item.image.clear_repo_tags();
      item.created_s = createdNs(r) / 1000000000;
      items->push_back(std::move(item));
    }
    auto& tags = (*items)[it->second].tags;
    if (!tag.empty() && std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
  };
  for (const auto& name : names) {
    auto ref = image::parseReference(name);
    bool id_like = name.rfind("sha256:", 0) == 0;
    if (ref.ok() && !id_like && ref->digest.empty()) {
      if (ref->tag.empty()) {
        const std::string prefix = ref->name() + ":";
        bool any = false;
        for (const auto& [t, id] : s.tags()) {
          if (t.rfind(prefix, 0) != 0 || t.find('@') != std::string::npos) continue;
          auto img = s.images().find(id);
          if (img == s.images().end()) continue;
          add(img->second.record(), t);
          any = true;
        }
        if (any) continue;
      } else if (auto t = s.tags().find(ref->full()); t != s.tags().end()) {
        auto img = s.images().find(t->second);
        if (img != s.images().end()) {
          add(img->second.record(), t->first);
          continue;
        }
      }
    }
    auto img = findImage(s, name);
    if (!img.ok()) return img.status();
    add((*img)->record(), "");
  }
  return Status::Ok();
}

void saveImages(ApiContext& ctx, const std::vector<std::string>& names, Request& req,
                ResponseWriter& w) {
  std::vector<image::SaveItem> items;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    st = resolveSaveNames(s, names, &items);
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  for (const auto& item : items) {
    if (Status p = checkPlatform(req, item.image, engine::shortId(item.image.id())); !p.ok()) {
      return sendError(w, p);
    }
  }
  ImageTransfer transfer(ctx);  // GC waits: the blobs being read stay
  bool started = false;
  Status r = ctx.images->save(items, [&](std::string_view data) {
    if (!started) {
      w.startStream(200, "application/x-tar");
      started = true;
    }
    return w.write(data);
  });
  if (!r.ok()) {
    spdlog::warn("docker save: {}", r.toString());
    if (!started) return sendError(w, r);
    return w.end();  // a truncated tar: the client's reader reports it
  }
  w.end();
  std::vector<v1::Event> events;
  for (const auto& item : items) {
    v1::Event e;
    e.mutable_image_saved()->set_id(item.image.id());
    events.push_back(std::move(e));
  }
  if (!events.empty()) ctx.engine->record(std::move(events));
}

void saveOne(ApiContext& ctx, Request& req, ResponseWriter& w) {
  saveImages(ctx, {req.params["name"]}, req, w);
}

void saveMany(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::vector<std::string> names;
  auto range = req.query().equal_range("names");
  for (auto it = range.first; it != range.second; ++it) names.push_back(it->second);
  saveImages(ctx, names, req, w);
}

// ---------------------------------------------------------------------------
// history, prune

std::vector<v1::ImageRecord> allImages(ApiContext& ctx) {
  std::vector<v1::ImageRecord> out;
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [id, img] : s.images()) out.push_back(img.record());
    return 0;
  });
  return out;
}

void imageHistoryHandler(ApiContext& ctx, Request& req, ResponseWriter& w) {
  v1::ImageRecord r;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto img = findImage(s, req.params["name"]);
    if (img.ok()) {
      r = (*img)->record();
    } else {
      st = img.status();
    }
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  if (Status p = checkPlatform(req, r, req.params["name"]); !p.ok()) return sendError(w, p);
  std::vector<std::string> tags;
  for (const auto& t : r.repo_tags()) tags.push_back(image::familiarString(t));
  // The images a build made it from (issue #7): their ids and tags name the
  // rows below the top one, as dockerd does.
  std::vector<std::pair<std::string, std::vector<std::string>>> ancestors;
  ctx.engine->read([&](const v1::State& s) {
    std::string id = r.parent();
    while (!id.empty() && ancestors.size() < 10000) {
      auto it = s.images().find(id);
      if (it == s.images().end()) break;
      std::vector<std::string> t;
      for (const auto& x : it->second.record().repo_tags()) t.push_back(image::familiarString(x));
      ancestors.emplace_back(id, std::move(t));
      id = it->second.record().parent();
    }
    return 0;
  });
  auto rows = imageHistory(r, tags, readLayerSizes(ctx, {r}), ancestors);
  if (!rows.ok()) return sendError(w, rows.status());
  sendJson(w, 200, historyJson(*rows));
}

void pruneImages(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  auto opts = pruneOptions(f, ctx.engine->clock()->nowNs());
  if (!opts.ok()) return sendError(w, opts.status());
  const LayerSizes sizes = readLayerSizes(ctx, allImages(ctx));
  PruneOutcome outcome;
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    outcome = decideImagePrune(s, *opts, sizes, out);
    return Status::Ok();
  });
  if (!r.ok()) return sendError(w, r.status());
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  j.Key("ImagesDeleted");
  if (outcome.report.empty()) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& [k, v] : outcome.report) {
      j.StartObject();
      jstr(j, k.c_str(), v);
      j.EndObject();
    }
    j.EndArray();
  }
  j.Key("SpaceReclaimed");
  j.Int64(outcome.reclaimed);
  j.EndObject();
  if (!outcome.report.empty()) requestImageGc(ctx);
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

// ---------------------------------------------------------------------------
// system df

void diskUsage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool images = true, containers = true, volumes = true, build_cache = true;
  auto range = req.query().equal_range("type");
  if (range.first != range.second) {
    images = containers = volumes = build_cache = false;
    for (auto it = range.first; it != range.second; ++it) {
      const std::string& t = it->second;
      if (t == "image") {
        images = true;
      } else if (t == "container") {
        containers = true;
      } else if (t == "volume") {
        volumes = true;
      } else if (t == "build-cache") {
        build_cache = true;
      } else {
        return sendError(w, InvalidArgument("unknown object type: " + t));
      }
    }
  }
  v1::State snapshot;
  ctx.engine->read([&](const v1::State& s) {
    *snapshot.mutable_images() = s.images();
    if (containers || images) *snapshot.mutable_containers() = s.containers();
    return 0;
  });
  std::vector<v1::ImageRecord> records;
  for (const auto& [id, img] : snapshot.images()) records.push_back(img.record());
  LayerSizes sizes;
  if (images) sizes = readLayerSizes(ctx, records);
  int64_t now = ctx.engine->clock()->nowNs();

  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  j.Key("LayersSize");
  j.Int64(images ? layersSize(records, sizes) : 0);
  j.Key("Images");
  if (images) {
    std::map<std::string, int> users;
    for (const auto& [id, c] : snapshot.containers()) users[c.image_id()]++;
    auto shared = sharedSizes(records, sizes);
    std::sort(records.begin(), records.end(), [](const v1::ImageRecord& a, const v1::ImageRecord& b) {
      int64_t ca = createdNs(a), cb = createdNs(b);
      return ca != cb ? ca > cb : a.id() < b.id();
    });
    j.StartArray();
    for (const auto& r : records) writeImageSummary(j, r, users[r.id()], shared[r.id()]);
    j.EndArray();
  } else {
    j.Null();
  }
  j.Key("Containers");
  if (containers) {
    std::vector<const v1::Container*> list;
    for (const auto& [id, c] : snapshot.containers()) list.push_back(&c);
    std::sort(list.begin(), list.end(), [](const v1::Container* a, const v1::Container* b) {
      return a->created_seq() > b->created_seq();
    });
    j.StartArray();
    for (const auto* c : list) writeContainerSummary(j, snapshot, *c, now, true, ctx.volumes);
    j.EndArray();
  } else {
    j.Null();
  }
  j.Key("Volumes");
  if (volumes) {
    // issue #6: local volumes with their size and how many containers name
    // them; as dockerd, not those with driver options (tmpfs, bind devices).
    v1::State vs;
    ctx.engine->read([&](const v1::State& s) {
      *vs.mutable_volumes() = s.volumes();
      *vs.mutable_containers() = s.containers();
      return 0;
    });
    std::vector<const v1::Volume*> list;
    for (const auto& [n, v] : vs.volumes()) {
      if (v.options().empty()) list.push_back(&v);
    }
    std::sort(list.begin(), list.end(), [](const v1::Volume* a, const v1::Volume* b) {
      return a->created_ns() != b->created_ns() ? a->created_ns() > b->created_ns() : a->name() < b->name();
    });
    j.StartArray();
    for (const auto* v : list) {
      writeVolume(j, ctx, *v, ctx.volumes ? ctx.volumes->size(v->name()) : -1,
                  static_cast<int64_t>(engine::volumeUsers(vs, v->name()).size()));
    }
    j.EndArray();
  } else {
    j.Null();
  }
  j.Key("BuildCache");
  if (build_cache) {
    j.StartArray();
    j.EndArray();
  } else {
    j.Null();
  }
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

// ---------------------------------------------------------------------------
// docker import

// Docker's empty container Config, as an imported image's config starts.
void emptyContainerConfig(rapidjson::Value* c, rapidjson::Document::AllocatorType& a) {
  c->SetObject();
  for (const char* k : {"Hostname", "Domainname", "User"}) c->AddMember(rapidjson::StringRef(k), "", a);
  for (const char* k : {"AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce"}) {
    c->AddMember(rapidjson::StringRef(k), false, a);
  }
  c->AddMember("Env", rapidjson::Value(rapidjson::kNullType), a);
  c->AddMember("Cmd", rapidjson::Value(rapidjson::kNullType), a);
  c->AddMember("Image", "", a);
  c->AddMember("Volumes", rapidjson::Value(rapidjson::kNullType), a);
  c->AddMember("WorkingDir", "", a);
  c->AddMember("Entrypoint", rapidjson::Value(rapidjson::kNullType), a);
  c->AddMember("OnBuild", rapidjson::Value(rapidjson::kNullType), a);
  c->AddMember("Labels", rapidjson::Value(rapidjson::kNullType), a);
}

}  // namespace

void importImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string src = req.queryParam("fromSrc").value_or("");
  if (src != "-") {
    return sendError(w, NotImplemented("importing from a URL (" + src +
                                       ") is not supported by arca: download the archive and "
                                       "import it from a file or from stdin (docker import - )"));
  }
  auto target = repoTagReference(req.queryParam("repo").value_or(""),
                                 req.queryParam("tag").value_or(""),
                                 "cannot import digest reference");
  if (!target.ok()) return sendError(w, target.status());
  std::string os = "linux", arch = image::hostArchitecture(), variant;
  if (std::string p = req.queryParam("platform").value_or(""); !p.empty()) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      size_t slash = p.find('/', start);
      parts.push_back(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() > 3 || parts[0].empty() || (parts.size() > 1 && parts[1].empty())) {
      return sendError(w, InvalidArgument("invalid platform: " + p));
    }
    os = parts[0];
    if (os != "linux") return sendError(w, InvalidArgument("operating system is not supported: " + os));
    if (parts.size() > 1) arch = normalizeArch(parts[1]);
    if (parts.size() > 2) variant = parts[2];
  }
  std::vector<std::string> changes;
  auto range = req.query().equal_range("changes");
  for (auto it = range.first; it != range.second; ++it) changes.push_back(it->second);
  std::string message = req.queryParam("message").value_or("");
  if (message.empty()) message = "Imported from " + src;

  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  rapidjson::Value config;
  emptyContainerConfig(&config, a);
  if (Status st = applyChanges(changes, &config, a); !st.ok()) return sendError(w, st);

  ImageTransfer transfer(ctx);
  auto layer = ctx.images->ingestLayer([&](char* buf, size_t len) { return req.read(buf, len); }, "",
                                       "", -1, "", nullptr);
  if (!layer.ok()) return sendError(w, layer.status());

  const std::string created = rfc3339(ctx.engine->clock()->nowNs());
  auto str = [&](const std::string& s) {
    return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  doc.AddMember("architecture", str(arch), a);
  doc.AddMember("comment", str(message), a);
  doc.AddMember("config", config, a);
  doc.AddMember("created", str(created), a);
  rapidjson::Value history(rapidjson::kArrayType), entry(rapidjson::kObjectType);
  entry.AddMember("created", str(created), a);
  entry.AddMember("comment", str(message), a);
  history.PushBack(entry, a);
  doc.AddMember("history", history, a);
  doc.AddMember("os", str(os), a);
  rapidjson::Value rootfs(rapidjson::kObjectType), diffs(rapidjson::kArrayType);
  rootfs.AddMember("type", "layers", a);
  diffs.PushBack(str(layer->diff_id), a);
  rootfs.AddMember("diff_ids", diffs, a);
  doc.AddMember("rootfs", rootfs, a);
  if (!variant.empty()) doc.AddMember("variant", str(variant), a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> jw(sb);
  doc.Accept(jw);
  const std::string config_json(sb.GetString(), sb.GetSize());

  auto digest = ctx.images->putBlob(config_json);
  if (!digest.ok()) return sendError(w, digest.status());
  auto rec = ctx.images->recordFromConfig(config_json);
  if (!rec.ok()) return sendError(w, rec.status());
  if (Status st = ctx.images->recordBlobs(rec->id(), {*digest, layer->blob_digest}); !st.ok()) {
    return sendError(w, st);
  }
  if (!target->empty()) rec->add_repo_tags(*target);
  v1::Event e;
  e.mutable_image_loaded()->set_action("import");
  *e.mutable_image_loaded()->mutable_image() = *rec;
  ctx.engine->record({std::move(e)});
  w.startStream(200, "application/json");
  w.write("{\"status\":" + jsonEscape(rec->id()) + "}\n");
  w.end();
}

void writeImageSummary(JsonWriter& j, const v1::ImageRecord& r, int containers, int64_t shared_size) {
  j.StartObject();
  jstr(j, "Id", r.id());
  jstr(j, "ParentId", r.parent());
  std::vector<std::string> tags;
  for (const auto& t : r.repo_tags()) tags.push_back(image::familiarString(t));
  jstrArray(j, "RepoTags", tags);
  std::vector<std::string> digests;
  for (const auto& d : r.repo_digests()) digests.push_back(image::familiarString(d));
  jstrArray(j, "RepoDigests", digests);
  j.Key("Created"); j.Int64(createdNs(r) / 1000000000);
  j.Key("Size"); j.Int64(r.size());
  j.Key("SharedSize"); j.Int64(shared_size);
  jstrMap(j, "Labels", imageLabels(r));
  j.Key("Containers"); j.Int(containers);
  j.EndObject();
}

void registerImageRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("GET", "/images/json", bind(listImages));
  r.add("POST", "/images/load", bind(loadImages));
  r.add("GET", "/images/get", bind(saveMany));
  r.add("POST", "/images/prune", bind(pruneImages));
  r.add("GET", "/system/df", bind(diskUsage));
  r.add("GET", "/images/{name}/json", bind(inspectImage));
  r.add("GET", "/images/{name}/get", bind(saveOne));
  r.add("GET", "/images/{name}/history", bind(imageHistoryHandler));
  r.add("POST", "/images/{name}/tag", bind(tagImage));
  r.add("DELETE", "/images/{name}", bind(deleteImage));
}

}  // namespace arca::api
