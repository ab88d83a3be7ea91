// A container's files: docker cp (HEAD/GET/PUT /containers/{id}/archive),
// docker export, docker diff (GET /containers/{id}/changes) and docker commit
// (POST /commit). The root filesystem comes from the sandbox driver
// (SandboxDriver::withRootfs / withLayers); every path is resolved inside it
// (runtime/container_archive.h).
#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/api.h"
#include "api/image_changes.h"
#include "api/image_commit.h"
#include "api/image_tools.h"
#include "api/json.h"
#include "api/summaries.h"
#include "api/time_util.h"
#include "engine/lookup.h"
#include "runtime/container_archive.h"
#include "runtime/image/archive_io.h"
#include "runtime/volumes.h"

namespace arca::api {
namespace {

using runtime::PathStat;
using runtime::RootDir;

// What a file operation needs to know about a container (a State snapshot).
struct Target {
  v1::Container container;
  v1::ImageRecord image;
  std::vector<std::string> lowers;  // image layer dirs, top-most first
  std::vector<runtime::SandboxMount> mounts;  // issue #6: volumes and binds (docker cp)
};

// issue #6: the mount at container path `path` (the deepest), or nullptr.
const runtime::SandboxMount* mountAt(const std::vector<runtime::SandboxMount>& mounts,
                                     const std::string& path) {
  const runtime::SandboxMount* best = nullptr;
  for (const auto& m : mounts) {
    if (m.kind != runtime::SandboxMount::Kind::kBind) continue;
    bool under = path == m.destination ||
                 (path.size() > m.destination.size() && path.compare(0, m.destination.size(), m.destination) == 0 &&
                  path[m.destination.size()] == '/');
    if (under && (!best || m.destination.size() > best->destination.size())) best = &m;
  }
  return best;
}

StatusOr<Target> lookupTarget(ApiContext& ctx, const std::string& ref) {
  Target t;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto c = engine::findContainer(s, ref);
    if (!c.ok()) {
      st = c.status();
      return 0;
    }
    t.container = **c;
    if (ctx.volumes) t.mounts = runtime::sandboxMounts(s, t.container, *ctx.volumes);
    auto img = s.images().find(t.container.image_id());
    if (img != s.images().end()) t.image = img->second.record();
    return 0;
  });
  ARCA_RETURN_IF_ERROR(st);
  if (t.image.id().empty()) {
    return FailedPrecondition("the image of container " + t.container.name() + " is gone");
  }
  ARCA_ASSIGN_OR_RETURN(t.lowers, ctx.images->layerDirs(t.image));
  return t;
}

// moby's badParameterError text (sic: no space before "cannot").
Status badParameter(const std::string& name) {
  return InvalidArgument("bad parameter: " + name + "cannot be empty");
}

Status fileNotFound(const std::string& path, const std::string& container) {
  return NotFound("Could not find the file " + path + " in container " + container);
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// ---------------------------------------------------------------------------
// HEAD / GET /containers/{id}/archive

void archiveStatOrGet(ApiContext& ctx, Request& req, ResponseWriter& w, bool head) {
  const std::string ref = req.params["id"];
  const std::string path = req.queryParam("path").value_or("");
  if (path.empty()) return sendError(w, badParameter("path"));
  auto t = lookupTarget(ctx, ref);
  if (!t.ok()) return sendError(w, t.status());
  const std::string abs = runtime::containerAbsPath(path);
  Status st = ctx.driver->withRootfs(t->container.id(), t->lowers, t->mounts,
                                     [&](const std::string& rootfs) {
    ARCA_ASSIGN_OR_RETURN(RootDir root, RootDir::open(rootfs));
    auto stat = runtime::statPath(root, abs);
    if (!stat.ok()) {
      return stat.status().code() == Code::kNotFound ? fileNotFound(path, ref) : stat.status();
    }
    Headers h{{"X-Docker-Container-Path-Stat", pathStatHeader(*stat)}};
    if (head) {
      w.send(200, "", "", h);
      return Status::Ok();
    }
    w.startStream(200, "application/x-tar", h);
    Status a = runtime::archivePath(root, abs, [&](std::string_view d) { return w.write(d); });
    w.end();
    return a;
  });
  if (!st.ok() && !w.started()) return sendError(w, st);
}

// ---------------------------------------------------------------------------
// PUT /containers/{id}/archive

void extractArchive(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string ref = req.params["id"];
  const std::string path = req.queryParam("path").value_or("");
  if (path.empty()) return sendError(w, badParameter("path"));
  const bool no_overwrite = req.queryBool("noOverwriteDirNonDir");
  const bool copy_uid_gid = req.queryBool("copyUIDGID");
  auto t = lookupTarget(ctx, ref);
  if (!t.ok()) return sendError(w, t.status());
  const auto& c = t->container;
  Status st = ctx.driver->withRootfs(c.id(), t->lowers, t->mounts, [&](const std::string& rootfs) {
    ARCA_ASSIGN_OR_RETURN(RootDir root, RootDir::open(rootfs));
    auto dir = runtime::resolveExtractDir(root, path);
    if (!dir.ok()) {
      return dir.status().code() == Code::kNotFound ? fileNotFound(path, ref) : dir.status();
    }
    // A volume or bind there decides (issue #6), else the root file system.
    if (const auto* m = mountAt(t->mounts, *dir)) {
      if (m->readonly) return InvalidArgument("mounted volume is marked read-only");
    } else if (c.host_config().readonly_rootfs()) {
      return InvalidArgument("container rootfs is marked read-only");
    }
    image::UnpackOptions o;
    o.overlay_whiteouts = false;
    o.no_overwrite_dir_non_dir = no_overwrite;
    o.noun = "tar";
    o.display_root = *dir;
    if (copy_uid_gid && !c.config().user().empty()) {
      // moby's tarCopyOptions: everything owned by the container's user.
      ARCA_ASSIGN_OR_RETURN(auto user, runtime::resolveUser(c.config().user(),
                                                            root.readFile("/etc/passwd"),
                                                            root.readFile("/etc/group")));
      o.owner = std::make_pair(user.uid, user.gid);
    }
    // Extracted chrooted in the container's root: a container racing the
    // copy with symlinks of its own still never leads it out.
    return runtime::runInRoot(rootfs, [&]() -> Status {
      auto n = image::unpackTar([&](char* buf, size_t len) { return req.read(buf, len); }, *dir, o);
      // Whatever the tar did wrong is dockerd's 500 ("Error processing tar file").
      if (!n.ok()) return Internal("Error processing tar file: " + n.status().message());
      return Status::Ok();
    });
  });
  if (!st.ok()) return sendError(w, st);
  w.send(200, "", "");
}

// ---------------------------------------------------------------------------
// GET /containers/{id}/export

void exportContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto t = lookupTarget(ctx, req.params["id"]);
  if (!t.ok()) return sendError(w, t.status());
  Status st = ctx.driver->withRootfs(t->container.id(), t->lowers, [&](const std::string& rootfs) {
    ARCA_ASSIGN_OR_RETURN(RootDir root, RootDir::open(rootfs));
    w.startStream(200, "application/x-tar");
    Status e = runtime::exportRoot(root, [&](std::string_view d) { return w.write(d); });
    w.end();
    return e;
  });
  if (!st.ok() && !w.started()) {
    return sendError(w, Internal("Error exporting container " + req.params["id"] + ": " +
                                 st.message()));
  }
}

// ---------------------------------------------------------------------------
// GET /containers/{id}/changes

void containerChanges(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto t = lookupTarget(ctx, req.params["id"]);
  if (!t.ok()) return sendError(w, t.status());
  std::vector<runtime::Change> changes;
  Status st = ctx.driver->withLayers(
      t->container.id(), t->lowers,
      [&](const std::string& upper, const std::vector<std::string>& lowers) {
        ARCA_ASSIGN_OR_RETURN(changes, runtime::layerChanges(upper, lowers));
        return Status::Ok();
      });
  if (!st.ok()) return sendError(w, st);
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  if (changes.empty()) {
    j.Null();  // dockerd's nil slice
  } else {
    j.StartArray();
    for (const auto& c : changes) {
      j.StartObject();
      jstr(j, "Path", c.path);
      j.Key("Kind");
      j.Int(c.kind);
      j.EndObject();
    }
    j.EndArray();
  }
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

// ---------------------------------------------------------------------------
// POST /commit

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

Value str(const std::string& s, Alloc& a) {
  return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

bool emptyMember(const Value& o, const char* k) {
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || it->value.IsNull()) return true;
  if (it->value.IsString()) return it->value.GetStringLength() == 0;
  if (it->value.IsArray()) return it->value.Empty();
  if (it->value.IsObject()) return it->value.MemberCount() == 0;
  return false;
}

void setMember(Value& o, const char* k, const Value& v, Alloc& a) {
  Value copy(v, a);
  auto it = o.FindMember(k);
  if (it != o.MemberEnd()) {
    it->value = copy;
  } else {
    o.AddMember(Value(k, a), copy, a);
  }
}

// Fills `user` (the config given in the request, changes applied) from the
// container's config, as moby's commit merge() does.
void mergeCommitConfig(Value& user, const Value& cont, Alloc& a) {
  auto from = [&](const char* k) -> const Value* {
    auto it = cont.FindMember(k);
    return it == cont.MemberEnd() ? nullptr : &it->value;
  };
  for (const char* k : {"User", "WorkingDir", "StopSignal", "Healthcheck"}) {
    if (emptyMember(user, k) && from(k)) setMember(user, k, *from(k), a);
  }
  for (const char* k : {"ExposedPorts", "Volumes", "Labels"}) {  // union, the request's win
    const Value* c = from(k);
    if (!c || !c->IsObject()) continue;
    if (emptyMember(user, k)) {
      setMember(user, k, *c, a);
      continue;
    }
    Value& u = user[k];
    if (!u.IsObject()) continue;
    for (const auto& m : c->GetObject()) {
      if (!u.HasMember(m.name)) u.AddMember(Value(m.name, a), Value(m.value, a), a);
    }
  }
  if (const Value* env = from("Env"); env && env->IsArray()) {
    if (emptyMember(user, "Env")) {
      setMember(user, "Env", *env, a);
    } else if (user["Env"].IsArray()) {
      Value& u = user["Env"];
      std::vector<std::string> keys;
      for (const auto& e : u.GetArray()) {
        std::string s = e.IsString() ? e.GetString() : "";
        keys.push_back(s.substr(0, s.find('=')));
      }
      for (const auto& e : env->GetArray()) {
        std::string s = e.IsString() ? e.GetString() : "";
        if (std::find(keys.begin(), keys.end(), s.substr(0, s.find('='))) == keys.end()) {
          u.PushBack(Value(e, a), a);
        }
      }
    }
  }
  if (emptyMember(user, "Entrypoint")) {
    if (emptyMember(user, "Cmd") && from("Cmd")) setMember(user, "Cmd", *from("Cmd"), a);
    auto ep = user.FindMember("Entrypoint");
    if ((ep == user.MemberEnd() || ep->value.IsNull()) && from("Entrypoint")) {
      setMember(user, "Entrypoint", *from("Entrypoint"), a);
    }
  }
}

void commitContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string ref = req.queryParam("container").value_or("");
  auto target = repoTagReference(req.queryParam("repo").value_or(""),
                                 req.queryParam("tag").value_or(""),
                                 "cannot commit to digest reference");
  if (!target.ok()) return sendError(w, target.status());
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  const std::string ct = req.header("content-type").value_or("");
  if (!body->empty() && ct.rfind("application/json", 0) != 0) {
    return sendError(w, InvalidArgument("unsupported Content-Type header (" + ct +
                                        "): must be 'application/json'"));
  }
  rapidjson::Document doc;
  Value user_config;
  if (!body->empty()) {
    doc.Parse(body->c_str(), body->size());
    if (doc.HasParseError() || !(doc.IsObject() || doc.IsNull())) {
      return sendError(w, InvalidArgument("invalid JSON in the commit config"));
    }
    if (doc.IsObject()) user_config.CopyFrom(doc, doc.GetAllocator());
  }
  auto& a = doc.GetAllocator();
  std::vector<std::string> changes;
  auto range = req.query().equal_range("changes");
  for (auto it = range.first; it != range.second; ++it) changes.push_back(it->second);

  auto t = lookupTarget(ctx, ref);
  if (!t.ok()) return sendError(w, t.status());
  const auto& c = t->container;
  if (c.status() == "dead") {
    return sendError(w, Conflict("You cannot commit container " + c.id() + " which is Dead"));
  }
  if (c.status() == "removing") {
    return sendError(w, Conflict("You cannot commit container " + c.id() +
                                 " which is being removed"));
  }
  rapidjson::Document cont;
  const std::string cont_json = containerConfigJson(c);
  cont.Parse(cont_json.c_str(), cont_json.size());
  const bool given = user_config.IsObject();
  Value config;
  config.CopyFrom(given ? user_config : static_cast<const Value&>(cont), a);
  if (Status st = applyChanges(changes, &config, a); !st.ok()) return sendError(w, st);
  if (given) mergeCommitConfig(config, cont, a);

  // docker commit --pause (the default since API 1.13): the container is
  // frozen while its layer is taken (no pause/unpause events, and one that
  // the user paused stays paused).
  const bool pause = req.queryParam("pause").has_value()
                         ? req.queryBool("pause")
                         : compareVersions(req.apiVersion().empty() ? kApiVersion : req.apiVersion(),
                                           "1.13") >= 0;
  bool froze = pause && c.status() == "running" && !c.paused() && ctx.driver->pause(c.id()).ok();

  ImageTransfer transfer(ctx);  // GC never sees the new layer half-recorded
  auto layer = commitLayer(ctx, c.id(), c.name(), t->lowers, t->image);
  if (froze) {
    if (Status st = ctx.driver->resume(c.id()); !st.ok()) {
      spdlog::warn("commit: resume of {}: {}", c.id().substr(0, 12), st.message());
    }
  }
  if (!layer.ok()) return sendError(w, layer.status());

  std::string created_by;
  for (const auto& arg : c.config().cmd()) created_by += (created_by.empty() ? "" : " ") + arg;
  ChildImage child;
  child.diff_id = layer->diff_id;
  child.container_id = c.id();
  child.author = req.queryParam("author").value_or("");
  child.comment = req.queryParam("comment").value_or("");
  child.created_by = created_by;
  child.created = rfc3339(ctx.engine->clock()->nowNs());
  auto config_json = childImageConfig(t->image, config, child);
  if (!config_json.ok()) return sendError(w, config_json.status());
  auto rec = storeImage(ctx, *config_json, *layer);
  if (!rec.ok()) return sendError(w, rec.status());
  if (!target->empty()) rec->add_repo_tags(*target);
  v1::Event e;
  auto* ev = e.mutable_container_committed();
  ev->set_id(c.id());
  *ev->mutable_image() = *rec;
  ev->set_ref(*target);
  ev->set_comment(req.queryParam("comment").value_or(""));
  ctx.engine->record({std::move(e)});
  sendJson(w, 201, "{\"Id\":" + jsonEscape(rec->id()) + "}\n");
}

}  // namespace

std::string pathStatHeader(const PathStat& st) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstr(j, "name", st.name);
  j.Key("size");
  j.Int64(st.size);
  j.Key("mode");
  j.Uint(st.mode);
  jstr(j, "mtime", rfc3339(st.mtime_ns));
  jstr(j, "linkTarget", st.link_target);
  j.EndObject();
  return base64(std::string_view(sb.GetString(), sb.GetSize()));
}

void registerFileRoutes(Router& r, ApiContext& ctx) {
  r.add("HEAD", "/containers/{id}/archive",
        [&ctx](Request& q, ResponseWriter& w) { archiveStatOrGet(ctx, q, w, true); });
  r.add("GET", "/containers/{id}/archive",
        [&ctx](Request& q, ResponseWriter& w) { archiveStatOrGet(ctx, q, w, false); });
  r.add("PUT", "/containers/{id}/archive",
        [&ctx](Request& q, ResponseWriter& w) { extractArchive(ctx, q, w); });
  r.add("GET", "/containers/{id}/export",
        [&ctx](Request& q, ResponseWriter& w) { exportContainer(ctx, q, w); });
  r.add("GET", "/containers/{id}/changes",
        [&ctx](Request& q, ResponseWriter& w) { containerChanges(ctx, q, w); });
  r.add("POST", "/commit", [&ctx](Request& q, ResponseWriter& w) { commitContainer(ctx, q, w); });
}

}  // namespace arca::api
