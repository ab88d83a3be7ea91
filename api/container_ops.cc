// docker stats, top, pause and unpause (issue #4). The counters, the process
// list and the freezer come from the sandbox's agent (SandboxDriver); pause
// and unpause are recorded as ContainerPaused / ContainerUnpaused once the
// agent has done them.
#include "api/container_ops.h"

#include <mutex>
#include <regex>

#include "api/api.h"
#include "api/json.h"
#include "api/stats_json.h"
#include "engine/lookup.h"

namespace arca::api {
namespace {

constexpr int kStatsIntervalMs = 1000;  // dockerd's collector interval

struct Target {
  std::string id;
  std::string name;  // "/<name>"
  std::string status;
  bool paused = false;
};

StatusOr<Target> lookup(ApiContext& ctx, const std::string& ref) {
  return ctx.engine->read([&](const v1::State& s) -> StatusOr<Target> {
    auto c = engine::findContainer(s, ref);
    if (!c.ok()) return c.status();
    return Target{(*c)->id(), "/" + (*c)->name(), (*c)->status(), (*c)->paused()};
  });
}

runtime::SandboxStats sample(ApiContext& ctx, const Target& t) {
  if (t.status != "running") return {};
  auto s = ctx.driver->stats(t.id);
  return s.ok() ? *s : runtime::SandboxStats{};
}

void containerStats(ApiContext& ctx, Request& req, ResponseWriter& w) {
  const bool stream = req.queryBool("stream", true);
  const bool one_shot = req.queryBool("one-shot", false);
  if (stream && one_shot) {
    return sendError(w, InvalidArgument("cannot have stream=true and one-shot=true"));
  }
  auto t = lookup(ctx, req.params["id"]);
  if (!t.ok()) return sendError(w, t.status());

  if (!stream) {
    runtime::SandboxStats cur = sample(ctx, *t);
    runtime::SandboxStats prev;
    // As dockerd: two samples a second apart, so that the CPU % is meaningful.
    if (!one_shot && cur.running) {
      if (w.waitClientGone(kStatsIntervalMs)) return;
      prev = std::move(cur);
      auto now = lookup(ctx, t->id);
      if (!now.ok()) return sendError(w, now.status());
      cur = sample(ctx, *now);
    }
    std::string body = statsJson(cur, one_shot ? nullptr : &prev, t->name, t->id);
    return w.send(200, "application/json", body);
  }

  w.startStream(200, "application/json");
  runtime::SandboxStats prev;
  for (;;) {
    auto now = lookup(ctx, t->id);
    if (!now.ok()) break;  // removed: the stream ends, as dockerd's collector stops
    runtime::SandboxStats cur = sample(ctx, *now);
    if (!w.write(statsJson(cur, &prev, now->name, now->id))) return;
    prev = std::move(cur);
    if (w.waitClientGone(kStatsIntervalMs)) return;
  }
  w.end();
}

void containerTop(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string ps_args = req.queryParam("ps_args").value_or("");
  if (Status st = validatePsArgs(ps_args.empty() ? "-ef" : ps_args); !st.ok()) {
    return sendError(w, st);
  }
  auto t = lookup(ctx, req.params["id"]);
  if (!t.ok()) return sendError(w, t.status());
  if (t->status == "restarting") {
    return sendError(w, Conflict("Container " + t->id +
                                 " is restarting, wait until the container is running"));
  }
  if (t->status != "running") return sendError(w, Conflict("Container " + t->id + " is not running"));
  auto list = ctx.driver->top(t->id, ps_args);
  if (!list.ok()) {
    if (list.status().code() == Code::kFailedPrecondition ||
        list.status().code() == Code::kNotFound) {
      return sendError(w, Conflict("Container " + t->id + " is not running"));
    }
    return sendError(w, Internal(list.status().message()));
  }
  sendJson(w, 200, topJson(*list));
}

// Pause and unpause of one container never interleave (dockerd holds the
// container's lock across the freezer call); they are rare, one lock will do.
std::mutex& pauseMutex() {
  static std::mutex mu;
  return mu;
}

// POST /containers/{id}/pause (pause = true) and /unpause, with dockerd's errors.
void setPaused(ApiContext& ctx, Request& req, ResponseWriter& w, bool pause) {
  std::lock_guard<std::mutex> lk(pauseMutex());
  auto t = lookup(ctx, req.params["id"]);
  if (!t.ok()) return sendError(w, t.status());
  const std::string& id = t->id;
  if (pause) {
    if (t->status == "restarting") {
      return sendError(w, Conflict("Container " + id +
                                   " is restarting, wait until the container is running"));
    }
    if (t->status != "running") return sendError(w, Conflict("Container " + id + " is not running"));
    if (t->paused) return sendError(w, Conflict("Container " + id + " is already paused"));
  } else if (!t->paused) {
    return sendError(w, Internal("Container " + id + " is not paused"));
  }
  Status st = pause ? ctx.driver->pause(id) : ctx.driver->resume(id);
  if (!st.ok()) {
    return sendError(w, Internal(std::string(pause ? "Cannot pause" : "Cannot unpause") +
                                 " container " + id + ": " + st.message()));
  }
  v1::Event e;
  if (pause) {
    e.mutable_container_paused()->set_id(id);
  } else {
    e.mutable_container_unpaused()->set_id(id);
  }
  ctx.engine->record({e});
  w.send(204, "", "");
}

void containerPause(ApiContext& ctx, Request& req, ResponseWriter& w) {
  setPaused(ctx, req, w, true);
}

void containerUnpause(ApiContext& ctx, Request& req, ResponseWriter& w) {
  setPaused(ctx, req, w, false);
}

}  // namespace

Status validatePsArgs(const std::string& ps_args) {
  // dockerd refuses renaming a column to PID ("-o user=PID"): the PID column
  // is how it finds the container's processes.
  static const std::regex re(R"(\s+([^\s]*)=\s*(PID[^\s]*))");
  for (auto it = std::sregex_iterator(ps_args.begin(), ps_args.end(), re);
       it != std::sregex_iterator(); ++it) {
    if ((*it)[1].str() != "pid") {
      return Internal("specifying \"" + (*it)[1].str() + "=" + (*it)[2].str() +
                      "\" is not allowed");
    }
  }
  return Status::Ok();
}

std::string topJson(const runtime::ProcessList& list) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  j.Key("Processes");
  if (list.processes.empty()) {
    j.Null();
  } else {
    j.StartArray();
    for (const auto& row : list.processes) {
      j.StartArray();
      for (const auto& f : row) j.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
      j.EndArray();
    }
    j.EndArray();
  }
  jstrArray(j, "Titles", list.titles);
  j.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

void registerContainerOpsRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& req, ResponseWriter& w) { fn(ctx, req, w); };
  };
  r.add("GET", "/containers/{id}/stats", bind(containerStats));
  r.add("GET", "/containers/{id}/top", bind(containerTop));
  r.add("POST", "/containers/{id}/pause", bind(containerPause));
  r.add("POST", "/containers/{id}/unpause", bind(containerUnpause));
}

}  // namespace arca::api
