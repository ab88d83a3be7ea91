// Registry endpoints: pull (POST /images/create?fromImage=), push, /auth and
// search. The transfers themselves live in runtime/distribution/.
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "api/api.h"
#include "api/json.h"
#include "engine/lookup.h"
#include "runtime/distribution/pull.h"
#include "runtime/image/reference.h"

namespace arca::api {
namespace {

// Writes the progress stream, starting the 200 response with the first
// message (errors before it still get their HTTP status). Flags the
// transfer for cancellation when the client goes away.
class StreamSink {
 public:
  explicit StreamSink(ResponseWriter& w) : w_(w) {}
  distribution::MessageFn fn() {
    return [this](const std::string& line) {
      if (!started_) {
        w_.startStream(200, "application/json");
        started_ = true;
      }
      if (!w_.write(line)) cancel_ = true;
    };
  }
  // Ends the request with `st`: an HTTP error if nothing was streamed yet,
  // else an errorDetail message.
  void fail(const Status& st) {
    if (!started_) return sendError(w_, st);
    w_.write(distribution::errorMessage(st.message()));
    w_.end();
  }
  void finish(const std::string& last) {
    if (!started_) {
      w_.startStream(200, "application/json");
      started_ = true;
    }
    w_.write(last);
    w_.end();
  }
  const std::atomic<bool>* cancel() const { return &cancel_; }

 private:
  ResponseWriter& w_;
  bool started_ = false;
  std::atomic<bool> cancel_{false};
};

StatusOr<registry::AuthConfig> authFrom(const Request& req) {
  auto h = req.header("x-registry-auth");
  if (!h || h->empty()) return registry::AuthConfig{};
  auto a = registry::decodeAuthHeader(*h);
  if (!a.ok()) return InvalidArgument("invalid X-Registry-Auth header: " + a.status().message());
  return a;
}

// Credentials, registry options and parallelism of a pull or push.
StatusOr<distribution::TransferOptions> transferOptions(ApiContext& ctx, const Request& req,
                                                        int max_concurrent) {
  distribution::TransferOptions opts;
  ARCA_ASSIGN_OR_RETURN(opts.auth, authFrom(req));
  opts.registry = ctx.registry;
  opts.max_concurrent = max_concurrent;
  return opts;
}

// Pulls one tag or digest and records it. Returns whether the reference now
// names another image than before (Docker's "Downloaded newer image").
StatusOr<bool> pullOne(ApiContext& ctx, const image::Reference& ref,
                       const distribution::TransferOptions& opts, distribution::Progress& progress) {
  // Held until the image is recorded: GC must not see its layers unreferenced.
  auto transfer = std::make_unique<ImageTransfer>(ctx);
  auto pulled = distribution::pull(*ctx.images, ref, opts, progress);
  if (!pulled.ok()) {
    spdlog::info("pull {}: {}", ref.full(), pulled.status().toString());
    transfer.reset();
    requestImageGc(ctx);  // the layers it did get belong to no image: a failed pull leaves nothing
    return pulled.status();
  }
  std::string before;
  ctx.engine->read([&](const v1::State& s) {
    auto it = s.tags().find(ref.full());
    if (ref.digest.empty() && it != s.tags().end()) before = it->second;
    if (!ref.digest.empty()) {
      for (const auto& [id, img] : s.images()) {
        for (const auto& d : img.record().repo_digests()) {
          if (d == ref.name() + "@" + ref.digest) before = id;
        }
      }
    }
    return 0;
  });
  v1::Event e;
  auto* loaded = e.mutable_image_loaded();
  *loaded->mutable_image() = pulled->record;
  loaded->set_action("pull");
  loaded->set_ref(ref.full());
  ctx.engine->record({std::move(e)});
  return before != pulled->record.id();
}

void pullImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string name = req.queryParam("fromImage").value_or("");
  std::string tag = req.queryParam("tag").value_or("");
  if (name.empty()) return sendError(w, InvalidArgument("image name is required (fromImage)"));
  std::string text = name;
  if (!tag.empty()) text += (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
  auto parsed = image::parseReference(text);
  if (!parsed.ok()) return sendError(w, parsed.status());
  // No tag and no digest: docker pull --all-tags.
  const bool all_tags = tag.empty() && parsed->tag.empty() && parsed->digest.empty();
  auto ref = image::parseNormalizedNamed(all_tags ? text + ":latest" : text);
  if (!ref.ok()) return sendError(w, ref.status());

  auto options = transferOptions(ctx, req, ctx.max_concurrent_downloads);
  if (!options.ok()) return sendError(w, options.status());
  distribution::TransferOptions& opts = *options;
  auto platform = registry::parsePlatform(req.queryParam("platform").value_or(""));
  if (!platform.ok()) return sendError(w, platform.status());
  opts.platform = *platform;
  opts.platform_given = !req.queryParam("platform").value_or("").empty();

  std::vector<image::Reference> refs = {*ref};
  if (all_tags) {
    auto session = registry::Session::open(ref->domain, ref->path, "pull", opts.auth, opts.registry);
    if (!session.ok()) return sendError(w, session.status());
    auto tags = (*session)->listTags();
    if (!tags.ok()) return sendError(w, tags.status());
    if (tags->empty()) return sendError(w, NotFound("repository " + ref->familiarName() + " has no tags"));
    refs.clear();
    for (const auto& t : *tags) {
      image::Reference r = *ref;
      r.tag = t;
      refs.push_back(std::move(r));
    }
  }
  StreamSink sink(w);
  opts.cancel = sink.cancel();
  distribution::Progress progress(sink.fn());
  bool newer = false;
  for (const auto& r : refs) {
    auto changed = pullOne(ctx, r, opts, progress);
    if (!changed.ok()) return sink.fail(changed.status());
    newer = newer || *changed;
  }
  const std::string shown = all_tags ? ref->familiarName() : ref->familiar();
  sink.finish(distribution::statusMessage(newer ? "Status: Downloaded newer image for " + shown
                                                : "Status: Image is up to date for " + shown));
}

void createImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  if (req.queryParam("fromSrc")) return importImage(ctx, req, w);
  pullImage(ctx, req, w);
}

void pushImage(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const std::string name = req.params["name"];
  std::string tag = req.queryParam("tag").value_or("");
  auto named = image::parseReference(name);
  if (!named.ok()) return sendError(w, named.status());
  if (!named->digest.empty()) return sendError(w, InvalidArgument("cannot push a digest reference"));
  if (tag.empty() && !named->tag.empty()) tag = named->tag;
  auto base = image::parseNormalizedNamed(named->name());
  if (!base.ok()) return sendError(w, base.status());
  const std::string repo = base->name();

  // The tags to push: the one named, or every tag of the repository.
  std::vector<std::pair<image::Reference, v1::ImageRecord>> todo;
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [full, id] : s.tags()) {
      auto r = image::parseNormalizedNamed(full);
      if (!r.ok() || r->name() != repo) continue;
      if (!tag.empty() && r->tag != tag) continue;
      auto img = s.images().find(id);
      if (img != s.images().end()) todo.emplace_back(*r, img->second.record());
    }
    return 0;
  });
  if (todo.empty()) {
    std::string shown = image::familiarString(repo + (tag.empty() ? "" : ":" + tag));
    return sendError(w, NotFound("An image does not exist locally with the tag: " + shown));
  }
  auto options = transferOptions(ctx, req, ctx.max_concurrent_uploads);
  if (!options.ok()) return sendError(w, options.status());
  distribution::TransferOptions& opts = *options;
  StreamSink sink(w);
  opts.cancel = sink.cancel();
  distribution::Progress progress(sink.fn());
  for (const auto& [ref, img] : todo) {
    auto pushed = distribution::push(*ctx.images, img, ref, opts, progress);
    if (!pushed.ok()) {
      spdlog::info("push {}: {}", ref.full(), pushed.status().toString());
      return sink.fail(pushed.status());
    }
    v1::Event e;
    auto* p = e.mutable_image_pushed();
    p->set_id(img.id());
    p->set_ref(ref.full());
    p->set_digest(pushed->digest);
    ctx.engine->record({std::move(e)});
  }
  sink.finish("");
}

void postAuth(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string body;
  char buf[4096];
  while (true) {
    long n = req.read(buf, sizeof buf);
    if (n < 0) return sendError(w, InvalidArgument("error reading request body"));
    if (n == 0) break;
    body.append(buf, static_cast<size_t>(n));
    if (body.size() > (1 << 20)) return sendError(w, InvalidArgument("request body too large"));
  }
  auto auth = registry::parseAuthJson(body);
  if (!auth.ok()) return sendError(w, auth.status());
  const std::string domain = registry::serverAddressDomain(auth->server_address);
  Status st = registry::login(domain, *auth, ctx.registry);
  if (!st.ok()) {
    if (st.code() == Code::kPermissionDenied) {
      return sendJson(w, 401, "{\"message\":" + jsonEscape(st.message()) + "}\n");
    }
    return sendError(w, st);
  }
  sendJson(w, 200, "{\"IdentityToken\":\"\",\"Status\":\"Login Succeeded\"}\n");
}

void searchImages(ApiContext&, Request& req, ResponseWriter& w) {
  std::string term = req.queryParam("term").value_or("");
  auto ref = image::parseReference(term);
  std::string domain = ref.ok() ? ref->domain : "docker.io";
  sendError(w, NotImplemented("search is not supported for registry " + domain +
                              ": the distribution API (v2) has no search endpoint and Arca does "
                              "not speak the legacy v1 search API"));
}

}  // namespace

// FROM and COPY --from of an image docker build does not have (api/build.cc).
StatusOr<bool> pullForBuild(ApiContext& ctx, const image::Reference& ref,
                            const registry::AuthConfig& auth, distribution::Progress& progress) {
  distribution::TransferOptions opts;
  opts.auth = auth;
  opts.registry = ctx.registry;
  opts.max_concurrent = ctx.max_concurrent_downloads;
  return pullOne(ctx, ref, opts, progress);
}

void registerRegistryRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("POST", "/images/create", bind(createImage));
  r.add("POST", "/images/{name}/push", bind(pushImage));
  r.add("POST", "/auth", bind(postAuth));
  r.add("GET", "/images/search", bind(searchImages));
}

}  // namespace arca::api
