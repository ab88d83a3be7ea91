// Container endpoints: create, inspect, list, start, stop, restart, kill,
// wait, logs, attach (stdout/stderr), rename, delete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <set>

#include "api/api.h"
#include "api/container_config.h"
#include "api/container_util.h"
#include "api/health.h"
#include "api/container_resources.h"
#include "api/host_config_json.h"
#include "api/container_ops.h"
#include "api/json.h"
#include "api/network_json.h"
#include "api/logs.h"
#include "api/summaries.h"
#include <spdlog/spdlog.h>

#include "api/image_tools.h"
#include "api/time_util.h"
#include "engine/commands.h"
#include "engine/lookup.h"
#include "runtime/image/reference.h"

namespace arca::api {
namespace {

using engine::findContainer;

constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

std::string timeOrZero(int64_t ns) { return ns == 0 ? kZeroTime : rfc3339(ns); }

std::string muxContentType(const Request& req) {
  if (!req.apiVersion().empty() && compareVersions(req.apiVersion(), "1.42") < 0) {
    return "application/vnd.docker.raw-stream";
  }
  return "application/vnd.docker.multiplexed-stream";
}

std::string commandLine(const v1::Container& c) {
  std::string s = c.path();
  for (const auto& a : c.args()) {
    s += ' ';
    s += a.find(' ') != std::string::npos ? "'" + a + "'" : a;
  }
  return s;
}

std::string statusText(const v1::Container& c, int64_t now) {
  if (dockerStatus(c) == "running") {
    std::string up = "Up " + humanDuration(now - c.started_ns());
    if (c.health_status() == "starting") return up + " (health: starting)";
    if (!c.health_status().empty()) return up + " (" + c.health_status() + ")";
    return up;
  }
  if (dockerStatus(c) == "paused") return "Up " + humanDuration(now - c.started_ns()) + " (Paused)";
  if (c.status() == "exited" || (c.status() == "created" && c.start_count() > 0)) {
    if (c.finished_ns() == 0) return "Exited (" + std::to_string(c.exit_code()) + ")";
    return "Exited (" + std::to_string(c.exit_code()) + ") " +
           humanDuration(now - c.finished_ns()) + " ago";
  }
  if (c.status() == "restarting") {
    return "Restarting (" + std::to_string(c.exit_code()) + ") " +
           humanDuration(now - c.finished_ns()) + " ago";
  }
  if (c.status() == "removing") return "Removal In Progress";
  if (c.status() == "dead") return "Dead";
  return "Created";
}

// The container's own network namespace, while it has one (issue #5).
std::string containerSandboxKey(const ApiContext& ctx, const v1::Container& c) {
  if (!ctx.network || c.endpoints().empty()) return "";
  return ctx.network->netnsPath(c.id());
}

// writeHostConfig: api/host_config_json.cc

void writeConfig(JsonWriter& j, const v1::Container& c) {
  const auto& cfg = c.config();
  j.StartObject();
  jstr(j, "Hostname", cfg.hostname().empty() ? c.id().substr(0, 12) : cfg.hostname());
  jstr(j, "Domainname", cfg.domainname());
  jstr(j, "User", cfg.user());
  j.Key("AttachStdin"); j.Bool(cfg.attach_stdin());
  j.Key("AttachStdout"); j.Bool(cfg.attach_stdout());
  j.Key("AttachStderr"); j.Bool(cfg.attach_stderr());
  if (cfg.exposed_ports_size() > 0) {
    j.Key("ExposedPorts");
    j.StartObject();
    for (const auto& p : cfg.exposed_ports()) {
      j.Key(p.c_str());
      j.StartObject();
      j.EndObject();
    }
    j.EndObject();
  }
  j.Key("Tty"); j.Bool(cfg.tty());
  j.Key("OpenStdin"); j.Bool(cfg.open_stdin());
  j.Key("StdinOnce"); j.Bool(cfg.stdin_once());
  jstrArray(j, "Env", cfg.env(), true);
  jstrArray(j, "Cmd", cfg.cmd(), true);
  jstr(j, "Image", cfg.image());
  j.Key("Volumes");  // issue #6
  if (cfg.volumes_size() == 0) {
    j.Null();
  } else {
    j.StartObject();
    for (const auto& v : cfg.volumes()) {
      j.Key(v.c_str());
      j.StartObject();
      j.EndObject();
    }
    j.EndObject();
  }
  jstr(j, "WorkingDir", cfg.working_dir());
  jstrArray(j, "Entrypoint", cfg.entrypoint(), true);
  j.Key("OnBuild"); j.Null();
  jstrMap(j, "Labels", cfg.labels());
  if (cfg.has_healthcheck()) {
    const auto& hc = cfg.healthcheck();
    j.Key("Healthcheck");
    j.StartObject();
    jstrArray(j, "Test", hc.test());
    if (hc.interval_ns()) { j.Key("Interval"); j.Int64(hc.interval_ns()); }
    if (hc.timeout_ns()) { j.Key("Timeout"); j.Int64(hc.timeout_ns()); }
    if (hc.start_period_ns()) { j.Key("StartPeriod"); j.Int64(hc.start_period_ns()); }
    if (hc.start_interval_ns()) { j.Key("StartInterval"); j.Int64(hc.start_interval_ns()); }
    if (hc.retries()) { j.Key("Retries"); j.Int(hc.retries()); }
    j.EndObject();
  }
  if (!cfg.stop_signal().empty()) jstr(j, "StopSignal", cfg.stop_signal());
  if (cfg.has_stop_timeout()) {
    j.Key("StopTimeout");
    j.Int(cfg.stop_timeout());
  }
  j.EndObject();
}

// issue #6: a container's mounts in dockerd's shape (inspect; `list`: the
// /containers/json summary, where an anonymous volume has no Source).
// --tmpfs mounts are not listed (dockerd keeps them in HostConfig.Tmpfs only).
void writeMounts(JsonWriter& j, const runtime::LocalVolumes* volumes, const v1::Container& c,
                 const v1::State& s, bool list) {
  j.Key("Mounts");
  j.StartArray();
  for (const auto& m : c.host_config().mounts()) {
    if (m.origin() == "tmpfs") continue;
    j.StartObject();
    jstr(j, "Type", m.type());
    if (m.type() == "volume") {
      jstr(j, "Name", m.source());
      auto v = s.volumes().find(m.source());
      bool anonymous = v != s.volumes().end() && v->second.anonymous();
      jstr(j, "Source", (list && anonymous) || !volumes ? "" : volumes->dataPath(m.source()));
    } else {
      jstr(j, "Source", m.source());
    }
    jstr(j, "Destination", m.destination());
    if (m.type() == "volume") jstr(j, "Driver", "local");
    std::string mode;
    if (m.origin() == "binds") {
      mode = m.mode().empty() && m.type() == "volume" ? "z" : m.mode();
    } else if (m.origin() == "mounts" && m.type() == "volume") {
      mode = "z";
    }
    jstr(j, "Mode", mode);
    j.Key("RW");
    j.Bool(!m.read_only());
    jstr(j, "Propagation",
         m.type() == "bind" ? (m.propagation().empty() ? "rprivate" : m.propagation()) : "");
    j.EndObject();
  }
  j.EndArray();
}

std::string inspectJson(const ApiContext& ctx, const v1::State& s, const v1::Container& c) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  std::string cdir = ctx.data_root + "/containers/" + c.id();
  j.StartObject();
  jstr(j, "Id", c.id());
  jstr(j, "Created", rfc3339(c.created_ns()));
  jstr(j, "Path", c.path());
  jstrArray(j, "Args", c.args());
  j.Key("State");
  j.StartObject();
  jstr(j, "Status", dockerStatus(c));
  j.Key("Running"); j.Bool(c.status() == "running" || c.status() == "restarting");
  j.Key("Paused"); j.Bool(dockerStatus(c) == "paused");
  j.Key("Restarting"); j.Bool(c.status() == "restarting");
  j.Key("OOMKilled"); j.Bool(c.oom_killed());
  j.Key("Dead"); j.Bool(c.status() == "dead");
  j.Key("Pid"); j.Int(c.pid());
  j.Key("ExitCode"); j.Int(c.exit_code());
  jstr(j, "Error", c.error());
  jstr(j, "StartedAt", timeOrZero(c.started_ns()));
  jstr(j, "FinishedAt", timeOrZero(c.finished_ns()));
  if (!c.health_status().empty() && ctx.health != nullptr) {
    j.Key("Health");
    ctx.health->writeHealth(j, c);
  }
  j.EndObject();
  jstr(j, "Image", c.image_id());
  jstr(j, "ResolvConfPath", "");
  jstr(j, "HostnamePath", "");
  jstr(j, "HostsPath", "");
  jstr(j, "LogPath", ctx.executor->logPath(c.id()));
  jstr(j, "Name", "/" + c.name());
  j.Key("RestartCount"); j.Int64(static_cast<int64_t>(c.restart_count()));
  jstr(j, "Driver", ctx.storage_driver);
  jstr(j, "Platform", "linux");
  jstr(j, "MountLabel", "");
  jstr(j, "ProcessLabel", "");
  jstr(j, "AppArmorProfile", "");
  j.Key("ExecIDs"); j.Null();
  j.Key("HostConfig");
  writeHostConfig(j, c.host_config());
  j.Key("GraphDriver");
  j.StartObject();
  j.Key("Data");
  j.StartObject();
  jstr(j, "UpperDir", cdir + "/upper");
  jstr(j, "WorkDir", cdir + "/work");
  j.EndObject();
  jstr(j, "Name", ctx.storage_driver);
  j.EndObject();
  writeMounts(j, ctx.volumes, c, s, false);
  j.Key("Config");
  writeConfig(j, c);
  j.Key("NetworkSettings");
  writeNetworkSettings(j, s, c, containerSandboxKey(ctx, c));
  j.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// Resolves {id} to a full id, or sends 404.
bool resolve(ApiContext& ctx, Request& req, ResponseWriter& w, std::string* id) {
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto c = findContainer(s, req.params["id"]);
    if (!c.ok()) {
      st = c.status();
    } else {
      *id = (*c)->id();
    }
    return 0;
  });
  if (!st.ok()) {
    sendError(w, st);
    return false;
  }
  return true;
}

// Reads one field of a container (or `def` if gone).
template <typename T, typename F>
T field(ApiContext& ctx, const std::string& id, T def, F f) {
  return ctx.engine->read([&](const v1::State& s) -> T {
    auto it = s.containers().find(id);
    return it == s.containers().end() ? def : f(it->second);
  });
}

uint64_t exitCount(ApiContext& ctx, const std::string& id) {
  return field<uint64_t>(ctx, id, 0, [](const v1::Container& c) { return c.exit_count(); });
}

auto exitedSince(const std::string& id, uint64_t exits) {
  return [id, exits](const v1::State& s) {
    auto it = s.containers().find(id);
    return it == s.containers().end() || it->second.exit_count() > exits;
  };
}

void createContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto body = req.readAll(4 << 20);
  if (!body.ok()) return sendError(w, body.status());
  auto cmd = parseCreateContainer(*body);
  if (!cmd.ok()) return sendError(w, cmd.status());
  std::vector<std::string> warnings;  // resources: api/container_resources.cc
  Status vst = validateHostResources(&cmd->host_config, HostFacts::detect(), &warnings);
  if (!vst.ok()) return sendError(w, vst);
  cmd->name = req.queryParam("name").value_or("");
  if (auto p = req.queryParam("platform"); p && !p->empty()) {
    if (*p != "linux" && *p != "linux/amd64" && *p != "linux/x86_64") {
      return sendError(w, NotFound("image with reference " + cmd->config.image() +
                                   " was found but does not match the specified platform: "
                                   "wanted " + *p));
    }
    cmd->platform = *p;
  }
  auto id = createFromCommand(ctx, std::move(*cmd));
  if (!id.ok()) return sendError(w, id.status());
  sendJson(w, 201, "{\"Id\":\"" + *id + "\",\"Warnings\":" + warningsJson(warnings) + "}\n");
}

void inspectContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string out;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto c = findContainer(s, req.params["id"]);
    if (!c.ok()) {
      st = c.status();
    } else {
      out = inspectJson(ctx, s, **c);
    }
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, out);
}

bool labelMatch(const v1::Container& c, const std::string& want) {
  auto eq = want.find('=');
  if (eq == std::string::npos) return c.config().labels().count(want) > 0;
  auto it = c.config().labels().find(want.substr(0, eq));
  return it != c.config().labels().end() && it->second == want.substr(eq + 1);
}

void listContainers(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool all = req.queryBool("all");
  long limit = -1;
  if (auto l = req.queryParam("limit"); l && !l->empty()) limit = std::strtol(l->c_str(), nullptr, 10);
  bool size = req.queryBool("size");
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(req.queryParam("filters").value_or(""), &f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  static const std::set<std::string> kKeys = {"ancestor", "before", "expose", "exited", "health",
                                              "id", "isolation", "is-task", "label", "name",
                                              "network", "publish", "since", "status", "volume"};
  for (const auto& [k, v] : f) {
    if (!kKeys.count(k)) return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
  }
  for (const auto& s : f["status"]) {
    static const std::set<std::string> kStates = {"created", "restarting", "running", "removing",
                                                  "paused", "exited", "dead"};
    if (!kStates.count(s)) {
      return sendError(w, InvalidArgument("invalid filter 'status=" + s + "'"));
    }
  }
  std::vector<int> exited_codes;
  for (const auto& e : f["exited"]) {
    char* end = nullptr;
    long v = std::strtol(e.c_str(), &end, 10);
    if (e.empty() || *end) return sendError(w, InvalidArgument("invalid filter 'exited=" + e + "'"));
    exited_codes.push_back(static_cast<int>(v));
  }
  if (limit > 0 || !f["status"].empty() || !exited_codes.empty()) all = true;
  int64_t now = ctx.engine->clock()->nowNs();

  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    // Ancestor filter: resolve each to an image id (unknown images match nothing).
    std::set<std::string> ancestors;
    for (const auto& a : f["ancestor"]) {
      auto img = engine::findImage(s, a);
      if (img.ok()) ancestors.insert((*img)->record().id());
    }
    uint64_t before_seq = UINT64_MAX, since_seq = 0;
    for (const auto& b : f["before"]) {
      auto c = findContainer(s, b);
      if (!c.ok()) { st = c.status(); return 0; }
      before_seq = (*c)->created_seq();
    }
    for (const auto& b : f["since"]) {
      auto c = findContainer(s, b);
      if (!c.ok()) { st = c.status(); return 0; }
      since_seq = (*c)->created_seq();
    }
    std::vector<const v1::Container*> list;
    for (const auto& kv : s.containers()) {
      const std::string& id = kv.first;  // (clang 14 cannot capture structured bindings)
      const v1::Container& c = kv.second;
      if (!all && c.status() != "running" && c.status() != "paused" && c.status() != "restarting") continue;
      if (c.created_seq() >= before_seq || c.created_seq() <= since_seq) continue;
      if (!f["status"].empty() &&
          std::find(f["status"].begin(), f["status"].end(), dockerStatus(c)) == f["status"].end()) {
        continue;
      }
      if (!f["id"].empty() &&
          std::none_of(f["id"].begin(), f["id"].end(),
                       [&](const std::string& p) { return id.rfind(p, 0) == 0; })) {
        continue;
      }
      if (!f["name"].empty() &&
          std::none_of(f["name"].begin(), f["name"].end(), [&](const std::string& n) {
            std::string want = !n.empty() && n[0] == '/' ? n.substr(1) : n;
            return c.name().find(want) != std::string::npos;
          })) {
        continue;
      }
      if (!f["label"].empty() &&
          !std::all_of(f["label"].begin(), f["label"].end(),
                       [&](const std::string& l) { return labelMatch(c, l); })) {
        continue;
      }
      if (!f["ancestor"].empty() && !ancestors.count(c.image_id())) continue;
      if (!exited_codes.empty()) {
        if (c.status() != "exited") continue;
        if (std::find(exited_codes.begin(), exited_codes.end(), c.exit_code()) == exited_codes.end()) continue;
      }
      if (!f["network"].empty() &&
          std::none_of(f["network"].begin(), f["network"].end(),
                       [&](const std::string& n) { return containerOnNetwork(s, c, n); })) {
        continue;
      }
      if (!f["volume"].empty() &&  // issue #6: a volume's name, a destination, a bind's source
          std::none_of(f["volume"].begin(), f["volume"].end(), [&](const std::string& v) {
            return std::any_of(c.host_config().mounts().begin(), c.host_config().mounts().end(),
                               [&](const v1::MountPoint& m) {
                                 return m.origin() != "tmpfs" &&
                                        (m.source() == v || m.destination() == v);
                               });
          })) {
        continue;
      }
      if (!f["publish"].empty() || !f["expose"].empty() || !f["health"].empty()) {
        continue;  // nothing published, exposed-with-bindings or health-checked yet
      }
      if (!f["is-task"].empty() && f["is-task"][0] == "true") continue;
      list.push_back(&c);
    }
    std::sort(list.begin(), list.end(), [](const v1::Container* a, const v1::Container* b) {
      return a->created_seq() > b->created_seq();
    });
    if (limit > 0 && list.size() > static_cast<size_t>(limit)) list.resize(static_cast<size_t>(limit));
    j.StartArray();
    for (const auto* c : list) writeContainerSummary(j, s, *c, now, size, ctx.volumes);
    j.EndArray();
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

// A start in flight finishes before stop/kill decide (its outcome decides
// whether there is anything to stop).
void waitStartSettled(ApiContext& ctx, const std::string& ref, ResponseWriter& w) {
  ctx.engine->waitUntil(
      [&](const v1::State& s) {
        auto c = findContainer(s, ref);
        return !c.ok() || !(*c)->start_pending();
      },
      [&] { return w.clientGone(); }, 30000);
}

// Starts `id` and waits for the executor's outcome.
Status startAndWait(ApiContext& ctx, const std::string& ref, bool restart, ResponseWriter& w) {
  std::string id;
  bool auto_remove = false;
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    Status st = engine::decideStart(s, ref, restart, out, &id, ctx.engine->ids());
    auto c = s.containers().find(id);
    auto_remove = c != s.containers().end() && c->second.host_config().auto_remove() &&
                  c->second.status() == "created" && st.code() == Code::kNotFound;
    return st;
  });
  if (!seq.ok()) {
    // dockerd removes an AutoRemove container whose start failed (its network
    // is gone): `docker run --rm` waits for that removal.
    if (auto_remove) {
      Status rm = ctx.executor->removeContainer(id, true);
      if (!rm.ok()) spdlog::warn("auto-remove of {}: {}", id.substr(0, 12), rm.toString());
    }
    return seq.status();
  }
  uint64_t want = *seq;
  std::string err;
  int code = 0;
  bool started = false;
  // Read the outcome in the predicate: an AutoRemove container whose start
  // failed is removed right after the outcome is recorded.
  ctx.engine->waitUntil([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) {
      // Gone before we looked (ran and was auto-removed, or failed and was
      // auto-removed): the wait(removed) the CLI holds reports the exit code.
      started = true;
      return true;
    }
    const auto& c = it->second;
    if (c.start_outcome_seq() < want) return false;
    err = c.error();
    code = c.exit_code();
    // A process that started and already exited also counts as started.
    started = c.status() == "running" || (c.start_count() > 0 && c.error().empty());
    return true;
  });
  (void)w;
  if (started) return Status::Ok();
  if (err.empty()) err = "container " + ref + " did not start";
  if (code == 127 || code == 126) return InvalidArgument(err);
  return Internal(err);
}

void startContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  Status st = startAndWait(ctx, req.params["id"], false, w);
  if (!st.ok()) return sendError(w, st);
  w.send(204, "", "");
}

int timeoutParam(Request& req, bool* bad) {
  auto t = req.queryParam("t");
  if (!t || t->empty()) return -2;  // the container's StopTimeout or 10
  char* end = nullptr;
  long v = std::strtol(t->c_str(), &end, 10);
  if (*end) *bad = true;
  return static_cast<int>(v);
}

// Stops `ref` and waits until it is not running. NotModified if not running.
Status stopAndWait(ApiContext& ctx, const std::string& ref, const std::string& signal, int timeout,
                   bool restart, ResponseWriter& w) {
  waitStartSettled(ctx, ref, w);
  std::string id;
  uint64_t exits = 0;
  bool restarting = false;  // a pending restart is abandoned: nothing runs to wait for
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    Status st = engine::decideStop(s, ref, signal, timeout, restart, out, &id);
    auto it = s.containers().find(id);
    if (it != s.containers().end()) exits = it->second.exit_count();
    restarting = it != s.containers().end() && it->second.status() == "restarting";
    return st;
  });
  if (!seq.ok()) return seq.status();
  if (restarting) return Status::Ok();
  ctx.engine->waitUntil(exitedSince(id, exits), [&] { return w.clientGone(); });
  return Status::Ok();
}

void stopContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool bad = false;
  int t = timeoutParam(req, &bad);
  if (bad) return sendError(w, InvalidArgument("invalid value for t"));
  Status st = stopAndWait(ctx, req.params["id"], req.queryParam("signal").value_or(""), t, false, w);
  if (!st.ok()) return sendError(w, st);
  w.send(204, "", "");
}

void restartContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool bad = false;
  int t = timeoutParam(req, &bad);
  if (bad) return sendError(w, InvalidArgument("invalid value for t"));
  std::string id;
  if (!resolve(ctx, req, w, &id)) return;
  Status st = stopAndWait(ctx, id, req.queryParam("signal").value_or(""), t, true, w);
  if (!st.ok() && st.code() != Code::kNotModified) return sendError(w, st);
  st = startAndWait(ctx, id, true, w);
  if (!st.ok() && st.code() != Code::kNotModified) {
    return sendError(w, Internal("Cannot restart container " + req.params["id"] + ": " + st.message()));
  }
  w.send(204, "", "");
}

// Sends a kill request and waits for the executor's outcome; for SIGKILL also
// waits (bounded) for the exit, as Docker does.
Status killAndWait(ApiContext& ctx, const std::string& ref, const std::string& signal,
                   ResponseWriter& w) {
  waitStartSettled(ctx, ref, w);
  std::string id;
  uint64_t exits = 0;
  bool signalled = false;  // false: a restarting container, only its pending restart cancelled
  auto seq = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    Status st = engine::decideKill(s, ref, signal, out, &id);
    auto it = s.containers().find(id);
    if (it != s.containers().end()) exits = it->second.exit_count();
    signalled = !out->empty() && out->back().has_container_kill_requested();
    return st;
  });
  if (!seq.ok()) return seq.status();
  if (!signalled) return Status::Ok();
  uint64_t want = *seq;
  ctx.engine->waitUntil([&](const v1::State& s) {
    auto it = s.containers().find(id);
    return it == s.containers().end() || it->second.signal_outcome_seq() >= want;
  });
  std::string err = field<std::string>(ctx, id, "", [](const v1::Container& c) { return c.signal_error(); });
  if (!err.empty()) {
    return Conflict("cannot kill container: " + ref + ": " + err);
  }
  int sig = signal.empty() ? SIGKILL : engine::parseSignal(signal);
  if (sig == SIGKILL) {
    ctx.engine->waitUntil(exitedSince(id, exits), [&] { return w.clientGone(); }, 10000);
  }
  return Status::Ok();
}

void killContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  Status st = killAndWait(ctx, req.params["id"], req.queryParam("signal").value_or(""), w);
  if (!st.ok()) return sendError(w, st);
  w.send(204, "", "");
}

void deleteContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool force = req.queryBool("force");
  if (req.queryBool("link")) {
    return sendError(w, InvalidArgument("links are not supported by arca"));
  }
  std::string id;
  bool running = false;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    st = engine::checkRemove(s, req.params["id"], force, &id, &running);
    return 0;
  });
  if (!st.ok()) return sendError(w, st);
  if (running) {
    Status k = killAndWait(ctx, id, "KILL", w);
    if (!k.ok() && k.code() != Code::kConflict) return sendError(w, k);
    // Wait for the exit outcome (a start in flight finishes first).
    ctx.engine->waitUntil([&](const v1::State& s) {
      auto it = s.containers().find(id);
      return it == s.containers().end() ||
             (it->second.status() != "running" && !it->second.start_pending());
    }, [&] { return w.clientGone(); }, 30000);
  }
  st = ctx.executor->removeContainer(id, req.queryBool("v"));  // issue #6: rm -v
  bool racing = (st.code() == Code::kConflict &&
                 st.message().find("already in progress") != std::string::npos) ||
                (running && st.code() == Code::kNotFound);
  if (racing) {
    // AutoRemove got there first (the kill ended a --rm container): wait for it.
    bool gone = ctx.engine->waitUntil(
        [&](const v1::State& s) { return s.containers().count(id) == 0; },
        [&] { return w.clientGone(); }, 30000);
    if (gone) st = Status::Ok();
  }
  if (!st.ok()) return sendError(w, st);
  w.send(204, "", "");
}

// POST /containers/prune: every stopped container (created, exited, dead)
// the filters (until, label, label!) select, removed as `docker rm` would.
void pruneContainers(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto f = parsePruneFilters(req.queryParam("filters").value_or(""), ctx.engine->clock()->nowNs());
  if (!f.ok()) return sendError(w, f.status());
  std::vector<std::string> victims;
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [id, c] : s.containers()) {
      const std::string& st = c.status();
      if (st != "created" && st != "exited" && st != "dead") continue;
      if (c.start_pending()) continue;
      std::map<std::string, std::string> labels(c.config().labels().begin(), c.config().labels().end());
      if (!f->selects(c.created_ns(), labels)) continue;
      victims.push_back(id);
    }
    return 0;
  });
  std::sort(victims.begin(), victims.end());
  std::vector<std::string> deleted;
  for (const auto& id : victims) {
    // A container started (or removed) since the read is skipped, as in dockerd.
    Status st = ctx.executor->removeContainer(id);
    if (st.ok()) {
      deleted.push_back(id);
    } else {
      spdlog::debug("container prune: {}: {}", id, st.toString());
    }
  }
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstrArray(j, "ContainersDeleted", deleted, true);
  j.Key("SpaceReclaimed");
  j.Int64(0);
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void waitContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  std::string cond = req.queryParam("condition").value_or("");
  if (cond.empty()) cond = "not-running";
  if (cond != "not-running" && cond != "next-exit" && cond != "removed") {
    return sendError(w, InvalidArgument("invalid condition: \"" + cond + "\""));
  }
  std::string id;
  if (!resolve(ctx, req, w, &id)) return;
  uint64_t exits = 0;
  bool not_running = false;
  int last_code = 0;
  bool gone = ctx.engine->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return true;
    const auto& c = it->second;
    exits = c.exit_count();
    not_running = c.status() != "running" && c.status() != "restarting" && !c.start_pending();
    last_code = c.exit_code();
    return false;
  });
  if (gone) return sendError(w, NotFound("No such container: " + req.params["id"]));
  // Headers go out at once: the CLI blocks on them before it starts (trap 4).
  w.startStream(200, "application/json");
  bool done = false;
  if (cond == "not-running" && not_running) {
    done = ctx.engine->waitUntil([](const v1::State&) { return true; });  // durable
  } else {
    done = ctx.engine->waitUntil(
        [&](const v1::State& s) {
          auto it = s.containers().find(id);
          if (it == s.containers().end()) return true;
          if (it->second.exit_count() > exits) last_code = it->second.exit_code();
          if (cond == "removed") return false;
          if (cond == "not-running" && it->second.status() != "running" &&
              it->second.status() != "restarting" && !it->second.start_pending()) {
            last_code = it->second.exit_code();  // e.g. a pending restart cancelled by a stop
            return true;
          }
          return it->second.exit_count() > exits;
        },
        [&] { return w.clientGone(); });
  }
  if (!done) return;  // client went away
  w.write("{\"Error\":null,\"StatusCode\":" + std::to_string(last_code) + "}\n");
  w.end();
}

int openLog(ApiContext& ctx, const std::string& id) {
  std::string path = ctx.executor->logPath(id);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // Never through a symlink, never blocking on a FIFO, only a regular file:
  // a VM guest writes this directory over its share (issue #8).
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
  struct stat st {};
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    errno = EINVAL;
    return -1;
  }
  if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}


void containerLogs(ApiContext& ctx, Request& req, ResponseWriter& w) {
  bool out = req.queryBool("stdout"), err = req.queryBool("stderr");
  if (!out && !err) {
    return sendError(w, InvalidArgument("Bad parameters: you must choose at least one stream"));
  }
  std::string id;
  if (!resolve(ctx, req, w, &id)) return;
  bool follow = req.queryBool("follow");
  bool timestamps = req.queryBool("timestamps");
  int64_t now = ctx.engine->clock()->nowNs();
  int64_t since = 0, until = 0;
  if (auto v = req.queryParam("since"); v && !v->empty() && *v != "0") {
    if (!parseTimestamp(*v, now, &since)) return sendError(w, InvalidArgument("invalid since: " + *v));
  }
  if (auto v = req.queryParam("until"); v && !v->empty() && *v != "0") {
    if (!parseTimestamp(*v, now, &until)) return sendError(w, InvalidArgument("invalid until: " + *v));
  }
  long tail = -1;
  if (auto v = req.queryParam("tail"); v && !v->empty() && *v != "all") {
    char* end = nullptr;
    tail = std::strtol(v->c_str(), &end, 10);
    if (*end || tail < 0) tail = -1;
  }
  bool tty = field<bool>(ctx, id, false, [](const v1::Container& c) { return c.config().tty(); });
  // Decide about following before reading, so lines written while the
  // container exits are not lost between the read and the decision.
  uint64_t exits = exitCount(ctx, id);
  bool running = field<bool>(ctx, id, false, [](const v1::Container& c) {
    return c.status() == "running" || c.start_pending();
  });
  int fd = openLog(ctx, id);
  if (fd < 0) return sendError(w, Internal("cannot open the container's log"));
  w.startStream(200, tty ? "application/vnd.docker.raw-stream" : muxContentType(req));
  LogReader reader(ctx.executor->logPath(id), fd);  // owns fd
  auto wanted = [&](const LogEntry& e) {
    if ((e.stream == 1 && !out) || (e.stream == 2 && !err)) return false;
    if (since && e.time_ns < since) return false;
    if (until && e.time_ns > until) return false;
    return true;
  };
  LogBatcher batch(w, timestamps, tty);
  bool ok = true;
  if (tail < 0) {
    // Everything: streamed as it is read (a large log is never all in memory).
    std::vector<LogEntry> more;
    do {
      more.clear();
      reader.poll(&more);
      for (const auto& e : more) {
        if (wanted(e) && !(ok = batch.add(e))) break;
      }
    } while (ok && !more.empty());
  } else {
    std::vector<LogEntry> entries;
    reader.poll(&entries);
    while (!entries.empty()) {  // the rest of a large file
      std::vector<LogEntry> more;
      reader.poll(&more);
      if (more.empty()) break;
      entries.insert(entries.end(), std::make_move_iterator(more.begin()),
                     std::make_move_iterator(more.end()));
    }
    std::vector<const LogEntry*> sel;
    for (const auto& e : entries) {
      if (wanted(e)) sel.push_back(&e);
    }
    size_t first = sel.size() > static_cast<size_t>(tail) ? sel.size() - tail : 0;
    for (size_t i = first; i < sel.size() && ok; ++i) ok = batch.add(*sel[i]);
  }
  if (ok) ok = batch.flush();
  if (ok && follow && (until == 0 || until > now)) {
    // Follow while the container runs (or until the client goes); the pass
    // after the exit drains what the agent flushed before reporting it.
    while (ok && running && !w.clientGone()) {
      bool exited = ctx.engine->waitUntil(exitedSince(id, exits), [&] { return w.clientGone(); }, 100);
      std::vector<LogEntry> more;
      do {  // after the exit, everything left (poll reads ~1 MiB at a time)
        more.clear();
        reader.poll(&more);
        for (const auto& e : more) {
          if (wanted(e) && !(ok = batch.add(e))) break;
        }
        if (ok) ok = batch.flush();
      } while (ok && exited && !more.empty());
      if (exited) break;
      if (until && ctx.engine->clock()->nowNs() > until) break;
    }
  }
  if (!w.clientGone()) w.end();
}

void renameContainer(ApiContext& ctx, Request& req, ResponseWriter& w) {
  auto name = req.queryParam("name").value_or("");
  if (name.empty()) return sendError(w, InvalidArgument("Neither old nor new names may be empty"));
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideRename(s, req.params["id"], name, out);
  });
  if (!r.ok()) return sendError(w, r.status());
  w.send(204, "", "");
}

}  // namespace

StatusOr<std::string> createFromCommand(ApiContext& ctx, engine::CreateContainer cmd) {
  if (cmd.host_config.runtime().empty()) cmd.host_config.set_runtime(ctx.default_runtime);
  if (cmd.host_config.runtime() == runtime::kVmRuntime && !ctx.vm) {  // issue #8
    return InvalidArgument("the " + std::string(runtime::kVmRuntime) + " runtime is not available: " +
                           ctx.vm_unavailable);
  }
  // Merge the image's defaults (outside the lock: JSON parsing).
  std::string config_json, image_id;
  Status st;
  ctx.engine->read([&](const v1::State& s) {
    auto img = engine::findImage(s, cmd.config.image());
    if (!img.ok()) {
      st = img.status();
    } else {
      config_json = (*img)->record().config_json();
      image_id = (*img)->record().id();
    }
    return 0;
  });
  if (!st.ok()) return st;
  st = mergeImageConfig(&cmd.config, config_json);
  if (!st.ok()) return st;
  cmd.expected_image_id = image_id;
  std::string id;
  auto r = ctx.engine->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideCreate(s, cmd, *ctx.engine->ids(), out, &id);
  });
  if (!r.ok()) return r.status();
  // issue #6: empty volumes get the image's content now (dockerd's copy-up).
  v1::Container created;
  v1::ImageRecord image;
  v1::State volumes;  // their driver options
  ctx.engine->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it != s.containers().end()) created = it->second;
    *volumes.mutable_volumes() = s.volumes();
    auto img = s.images().find(created.image_id());
    if (img != s.images().end()) image = img->second.record();
    return 0;
  });
  if (created.host_config().mounts_size() > 0 && ctx.volumes) {
    for (const auto& m : created.host_config().mounts()) {  // every volume has its directory
      if (m.type() != "volume") continue;
      auto v = volumes.volumes().find(m.source());
      Status c = ctx.volumes->create(m.source(), v == volumes.volumes().end() ? 0 : v->second.created_ns());
      if (!c.ok()) spdlog::warn("volume {}: {}", m.source(), c.toString());
    }
    auto lowers = ctx.images->layerDirs(image);
    Status cp = lowers.ok() ? runtime::populateVolumes(*ctx.driver, volumes, created, *lowers, *ctx.volumes)
                            : lowers.status();
    if (!cp.ok()) {
      Status rm = ctx.executor->removeContainer(id, true);
      if (!rm.ok()) spdlog::warn("removing {} after a failed copy-up: {}", id.substr(0, 12), rm.toString());
      return cp;
    }
  }
  return id;
}


std::string containerConfigJson(const v1::Container& c) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  writeConfig(j, c);
  return std::string(sb.GetString(), sb.GetSize());
}

void writeContainerSummary(JsonWriter& j, const v1::State& s, const v1::Container& c, int64_t now,
                           bool size, const runtime::LocalVolumes* volumes) {
  j.StartObject();
  jstr(j, "Id", c.id());
  j.Key("Names");
  j.StartArray();
  j.String(("/" + c.name()).c_str());
  j.EndArray();
  jstr(j, "Image", c.config().image());
  jstr(j, "ImageID", c.image_id());
  jstr(j, "Command", commandLine(c));
  j.Key("Created"); j.Int64(c.created_ns() / 1000000000);
  j.Key("Ports");
  writeListPorts(j, c);
  if (size) {
    j.Key("SizeRw"); j.Int64(0);
    auto img = s.images().find(c.image_id());
    j.Key("SizeRootFs"); j.Int64(img != s.images().end() ? img->second.record().size() : 0);
  }
  jstrMap(j, "Labels", c.config().labels());
  jstr(j, "State", dockerStatus(c));
  jstr(j, "Status", statusText(c, now));
  j.Key("HostConfig");
  j.StartObject();
  jstr(j, "NetworkMode", c.host_config().network_mode());
  j.EndObject();
  j.Key("NetworkSettings");
  writeListNetworkSettings(j, s, c);
  writeMounts(j, volumes, c, s, true);
  j.EndObject();
}

// Shared with the other container handler files (api/container_util.h).
std::string attachContentType(const Request& req) { return muxContentType(req); }
bool resolveContainerId(ApiContext& ctx, Request& req, ResponseWriter& w, std::string* id) {
  return resolve(ctx, req, w, id);
}
int openContainerLog(ApiContext& ctx, const std::string& id) { return openLog(ctx, id); }

void registerContainerRoutes(Router& r, ApiContext& ctx) {
  auto bind = [&ctx](void (*fn)(ApiContext&, Request&, ResponseWriter&)) {
    return [&ctx, fn](Request& q, ResponseWriter& w) { fn(ctx, q, w); };
  };
  r.add("POST", "/containers/create", bind(createContainer));
  r.add("GET", "/containers/json", bind(listContainers));
  r.add("GET", "/containers/{id}/json", bind(inspectContainer));
  r.add("POST", "/containers/{id}/start", bind(startContainer));
  r.add("POST", "/containers/{id}/stop", bind(stopContainer));
  r.add("POST", "/containers/{id}/restart", bind(restartContainer));
  r.add("POST", "/containers/{id}/kill", bind(killContainer));
  r.add("POST", "/containers/{id}/wait", bind(waitContainer));
  r.add("GET", "/containers/{id}/logs", bind(containerLogs));
  r.add("POST", "/containers/{id}/rename", bind(renameContainer));
  r.add("DELETE", "/containers/{id}", bind(deleteContainer));
  r.add("POST", "/containers/prune", bind(pruneContainers));
}

}  // namespace arca::api
