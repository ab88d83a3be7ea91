// POST /containers/{id}/update (docker update): resources and restart policy.
//
// Docker's order: validate the given values (400), merge them into the
// container's HostConfig (409 on conflicts), apply them live when the
// container runs ("Cannot update container <id>: <runtime error>", 500), and
// only then record ContainerUpdated, so the log never holds limits that were
// refused. A stopped container gets them at its next start.
#include "api/api.h"
#include "api/container_resources.h"
#include "api/host_config_json.h"
#include "engine/lookup.h"

namespace arca::api {
namespace {

struct Decision {
  std::string id;
  v1::HostConfig merged;
  bool live = false;
};

bool runsLive(const v1::Container& c) {
  return c.status() == "running" || c.status() == "paused";
}

Status decideUpdate(const v1::State& s, const std::string& ref, const ResourcesUpdate& u,
                    Decision* d) {
  auto c = engine::findContainer(s, ref);
  if (!c.ok()) return c.status();
  d->id = (*c)->id();
  auto cannot = [&](const Status& st) {
    return Status(st.code(), "Cannot update container " + d->id + ": " + st.message());
  };
  if ((*c)->status() == "removing" || (*c)->status() == "dead") {
    return cannot(Internal("container is marked for removal and cannot be \"update\""));
  }
  d->merged = (*c)->host_config();
  Status m = mergeResourcesUpdate(u, &d->merged);
  if (!m.ok()) return cannot(m);
  d->live = runsLive(**c);
  return Status::Ok();
}

void updateContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(1 << 20);
  if (!body.ok()) return sendError(w, body.status());
  auto u = parseResourcesUpdate(*body);
  if (!u.ok()) return sendError(w, u.status());
  std::vector<std::string> warnings;
  Status v = validateResourcesUpdate(&*u, HostFacts::detect(), &warnings);
  if (!v.ok()) return sendError(w, v);
  const std::string ref = req.params["id"];
  // A start between the decision and the append would run with the old
  // limits: the append re-decides and retries when liveness changed.
  for (int attempt = 0; attempt < 3; ++attempt) {
    Decision d;
    Status st = ctx.engine->read([&](const v1::State& s) { return decideUpdate(s, ref, *u, &d); });
    if (!st.ok()) return sendError(w, st);
    if (d.live) {
      Status applied = ctx.executor->updateResources(d.id, d.merged);
      if (!applied.ok()) {
        return sendError(w, Internal("Cannot update container " + d.id + ": " + applied.message()));
      }
    }
    bool changed = false;
    auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
      Decision now;
      ARCA_RETURN_IF_ERROR(decideUpdate(s, ref, *u, &now));
      if (now.live != d.live) {
        changed = true;
        return Status::Ok();
      }
      v1::Event e;
      auto* ev = e.mutable_container_updated();
      ev->set_id(now.id);
      *ev->mutable_host_config() = now.merged;
      out->push_back(std::move(e));
      return Status::Ok();
    });
    if (!r.ok()) return sendError(w, r.status());
    if (changed) continue;
    return sendJson(w, 200, "{\"Warnings\":" + warningsJson(warnings) + "}\n");
  }
  sendError(w, Conflict("Cannot update container " + ref + ": the container changed state"));
}

}  // namespace

void registerContainerUpdateRoutes(Router& r, ApiContext& ctx) {
  r.add("POST", "/containers/{id}/update",
        [&ctx](Request& req, ResponseWriter& w) { updateContainer(ctx, req, w); });
}

}  // namespace arca::api
