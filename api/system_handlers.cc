// /_ping, /version, /info, /events.
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>

#include "api/api.h"
#include "api/container_ops.h"
#include "api/events.h"
#include "api/json.h"
#include "api/time_util.h"

namespace arca::api {

const Headers& defaultHeaders() {
  static const Headers h = {{"Api-Version", kApiVersion},
                            {"Docker-Experimental", "false"},
                            {"Ostype", "linux"},
                            {"Server", std::string("Docker/") + kArcaVersion + "-arca (linux)"}};
  return h;
}

namespace {

std::string kernelVersion() {
  struct utsname u;
  if (uname(&u) != 0) return "";
  return u.release;
}

std::string osPrettyName() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "Linux";
}

std::string osVersionId() {
  std::ifstream f("/etc/os-release");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VERSION_ID=", 0) == 0) {
      std::string v = line.substr(11);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  }
  return "";
}

void ping(Request& req, ResponseWriter& w) {
  static const Headers h = {{"Cache-Control", "no-cache, no-store, must-revalidate"},
                            {"Pragma", "no-cache"},
                            {"Swarm", "inactive"},
                            {"Builder-Version", "1"}};
  if (req.method() == "HEAD") {
    w.send(200, "text/plain; charset=utf-8", "", h);
  } else {
    w.send(200, "text/plain; charset=utf-8", "OK", h);
  }
}

void version(ApiContext& ctx, Request&, ResponseWriter& w) {
  (void)ctx;
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  std::string kv = kernelVersion();
  j.StartObject();
  j.Key("Platform");
  j.StartObject();
  jstr(j, "Name", "Arca Engine");
  j.EndObject();
  j.Key("Components");
  j.StartArray();
  j.StartObject();
  jstr(j, "Name", "Engine");
  jstr(j, "Version", kArcaVersion);
  j.Key("Details");
  j.StartObject();
  jstr(j, "ApiVersion", kApiVersion);
  jstr(j, "Arch", "amd64");
  jstr(j, "BuildTime", "");
  jstr(j, "Experimental", "false");
  jstr(j, "GitCommit", "arca");
  jstr(j, "GoVersion", "n/a (C++20)");
  jstr(j, "KernelVersion", kv);
  jstr(j, "MinAPIVersion", kMinApiVersion);
  jstr(j, "Os", "linux");
  j.EndObject();
  j.EndObject();
  j.StartObject();
  jstr(j, "Name", ctx.runtime_name);
  jstr(j, "Version", "");
  j.Key("Details");
  j.StartObject();
  jstr(j, "Path", ctx.runtime_path);
  j.EndObject();
  j.EndObject();
  j.EndArray();
  jstr(j, "Version", kArcaVersion);
  jstr(j, "ApiVersion", kApiVersion);
  jstr(j, "MinAPIVersion", kMinApiVersion);
  jstr(j, "GitCommit", "arca");
  jstr(j, "GoVersion", "n/a (C++20)");
  jstr(j, "Os", "linux");
  jstr(j, "Arch", "amd64");
  jstr(j, "KernelVersion", kv);
  jstr(j, "BuildTime", "");
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

void info(ApiContext& ctx, Request&, ResponseWriter& w) {
  int total = 0, running = 0, paused = 0, stopped = 0, images = 0;
  ctx.engine->read([&](const v1::State& s) {
    for (const auto& [id, c] : s.containers()) {
      ++total;
      if (dockerStatus(c) == "running") {
        ++running;
      } else if (dockerStatus(c) == "paused") {
        ++paused;
      } else {
        ++stopped;
      }
    }
    images = s.images_size();
    return 0;
  });
  struct sysinfo si;
  sysinfo(&si);
  int64_t mem_total = static_cast<int64_t>(si.totalram) * si.mem_unit;
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartObject();
  jstr(j, "ID", ctx.daemon_id);
  j.Key("Containers"); j.Int(total);
  j.Key("ContainersRunning"); j.Int(running);
  j.Key("ContainersPaused"); j.Int(paused);
  j.Key("ContainersStopped"); j.Int(stopped);
  j.Key("Images"); j.Int(images);
  jstr(j, "Driver", ctx.storage_driver);
  j.Key("DriverStatus");
  j.StartArray();
  j.StartArray(); j.String("Backing Filesystem"); j.String("extfs"); j.EndArray();
  j.StartArray(); j.String("Supports d_type"); j.String("true"); j.EndArray();
  j.EndArray();
  j.Key("Plugins");
  j.StartObject();
  j.Key("Volume"); j.StartArray(); j.EndArray();
  j.Key("Network"); j.StartArray(); j.String("none"); j.EndArray();
  j.Key("Authorization"); j.Null();
  j.Key("Log"); j.StartArray(); j.String("json-file"); j.EndArray();
  j.EndObject();
  j.Key("MemoryLimit"); j.Bool(true);
  j.Key("SwapLimit"); j.Bool(false);
  j.Key("CpuCfsPeriod"); j.Bool(true);
  j.Key("CpuCfsQuota"); j.Bool(true);
  j.Key("CPUShares"); j.Bool(true);
  j.Key("CPUSet"); j.Bool(true);
  j.Key("PidsLimit"); j.Bool(true);
  j.Key("OomKillDisable"); j.Bool(false);
  j.Key("IPv4Forwarding"); j.Bool(false);
  j.Key("Debug"); j.Bool(ctx.log_level == "debug");
  j.Key("NFd"); j.Int(0);
  j.Key("NGoroutines"); j.Int(0);
  jstr(j, "SystemTime", rfc3339Local(ctx.engine->clock()->nowNs()));
  jstr(j, "LoggingDriver", "json-file");
  jstr(j, "CgroupDriver", "cgroupfs");
  jstr(j, "CgroupVersion", access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1");
  j.Key("NEventsListener"); j.Int(0);
  jstr(j, "KernelVersion", kernelVersion());
  jstr(j, "OperatingSystem", osPrettyName());
  jstr(j, "OSVersion", osVersionId());
  jstr(j, "OSType", "linux");
  jstr(j, "Architecture", "x86_64");
  jstr(j, "IndexServerAddress", "https://index.docker.io/v1/");
  j.Key("RegistryConfig");
  j.StartObject();
  {
    std::vector<std::string> cidrs = {"::1/128", "127.0.0.0/8"};
    std::vector<std::string> hosts;
    for (const auto& r : ctx.registry.insecure_registries) {
      (r.find('/') != std::string::npos ? cidrs : hosts).push_back(r);
    }
    jstrArray(j, "InsecureRegistryCIDRs", cidrs);
    j.Key("IndexConfigs");
    j.StartObject();
    auto index = [&](const std::string& name, bool secure, bool official,
                     const std::vector<std::string>& mirrors) {
      j.Key(name.c_str());
      j.StartObject();
      jstr(j, "Name", name);
      jstrArray(j, "Mirrors", mirrors);
      j.Key("Secure"); j.Bool(secure);
      j.Key("Official"); j.Bool(official);
      j.EndObject();
    };
    index("docker.io", true, true, ctx.registry.mirrors);
    for (const auto& h : hosts) index(h, false, false, {});
    j.EndObject();
    jstrArray(j, "Mirrors", ctx.registry.mirrors);
  }
  j.EndObject();
  j.Key("NCPU"); j.Int(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  j.Key("MemTotal"); j.Int64(mem_total);
  j.Key("GenericResources"); j.Null();
  jstr(j, "DockerRootDir", ctx.data_root);
  jstr(j, "HttpProxy", "");
  jstr(j, "HttpsProxy", "");
  jstr(j, "NoProxy", "");
  jstr(j, "Name", ctx.hostname);
  j.Key("Labels"); j.StartArray(); j.EndArray();
  j.Key("ExperimentalBuild"); j.Bool(false);
  jstr(j, "ServerVersion", kArcaVersion);
  j.Key("Runtimes");
  j.StartObject();
  j.Key(ctx.runtime_name.c_str());
  j.StartObject();
  jstr(j, "path", ctx.runtime_path);
  j.EndObject();
  if (ctx.vm) {  // issue #8: a microVM per container
    j.Key(runtime::kVmRuntime);
    j.StartObject();
    jstr(j, "path", "qemu-system-x86_64");
    j.Key("runtimeArgs");
    j.StartArray();
    j.String(("accel=" + ctx.vm->accelerator()).c_str());
    j.String(("kernel=" + ctx.vm->kernel()).c_str());
    j.EndArray();
    j.EndObject();
  }
  j.EndObject();
  jstr(j, "DefaultRuntime",
       ctx.default_runtime == runtime::kVmRuntime ? ctx.default_runtime : ctx.runtime_name);
  j.Key("Swarm");
  j.StartObject();
  jstr(j, "NodeID", "");
  jstr(j, "NodeAddr", "");
  jstr(j, "LocalNodeState", "inactive");
  j.Key("ControlAvailable"); j.Bool(false);
  jstr(j, "Error", "");
  j.Key("RemoteManagers"); j.Null();
  j.EndObject();
  j.Key("LiveRestoreEnabled"); j.Bool(true);
  jstr(j, "Isolation", "");
  jstr(j, "InitBinary", "");
  j.Key("ContainerdCommit"); j.StartObject(); jstr(j, "ID", ""); j.EndObject();
  j.Key("RuncCommit"); j.StartObject(); jstr(j, "ID", ""); j.EndObject();
  j.Key("InitCommit"); j.StartObject(); jstr(j, "ID", ""); j.EndObject();
  j.Key("SecurityOptions"); j.StartArray(); j.EndArray();
  j.Key("Warnings");
  if (ctx.vm && ctx.vm->accelerator() != "kvm") {
    j.StartArray();
    j.String(("WARNING: the " + std::string(runtime::kVmRuntime) + " runtime runs under " +
              ctx.vm->acceleratorNote() + ": VMs are slow")
                 .c_str());
    j.EndArray();
  } else {
    j.Null();
  }
  j.EndObject();
  sendJson(w, 200, std::string(sb.GetString(), sb.GetSize()) + "\n");
}

// First seq whose time is >= t_ns, in [1, last+1] (times are monotonic).
uint64_t firstSeqAtOrAfter(const eventlog::EventLog& log, uint64_t last, int64_t t_ns) {
  uint64_t lo = 1, hi = last + 1;
  v1::Envelope env;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    int64_t mt = INT64_MAX;
    Status st = log.read(mid, mid, [&](const v1::Envelope& e) {
      mt = e.time_ns();
      return false;
    });
    (void)st;
    if (mt < t_ns) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

void events(ApiContext& ctx, Request& req, ResponseWriter& w) {
  int64_t now = ctx.engine->clock()->nowNs();
  std::optional<int64_t> since, until;
  for (auto [key, dst] : {std::pair<const char*, std::optional<int64_t>*>{"since", &since},
                          {"until", &until}}) {
    auto v = req.queryParam(key);
    if (!v || v->empty()) continue;
    int64_t ns;
    if (!parseTimestamp(*v, now, &ns)) {
      return sendError(w, InvalidArgument("invalid value for " + std::string(key) + ": " + *v));
    }
    *dst = ns;
  }
  EventFilters filters;
  if (!parseFilters(req.queryParam("filters").value_or(""), &filters.f)) {
    return sendError(w, InvalidArgument("invalid filter"));
  }
  static const char* kKeys[] = {"container", "event", "image", "label", "type", "volume",
                                "network", "daemon", "plugin", "node", "service", "secret",
                                "config", "scope"};
  for (const auto& [k, v] : filters.f) {
    if (std::find(std::begin(kKeys), std::end(kKeys), k) == std::end(kKeys)) {
      return sendError(w, InvalidArgument("invalid filter '" + k + "'"));
    }
  }
  if (since && until && *until < *since) {
    return sendError(w, InvalidArgument("since time (" + std::to_string(*since / 1000000000) +
                                        ") cannot be after until time (" +
                                        std::to_string(*until / 1000000000) + ")"));
  }

  // Subscribe first (bounded queue), then read history up to the durable seq
  // at subscription: no event is missed or doubled (STYLE 18).
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<v1::Envelope> q;
    bool overflow = false;
  };
  auto queue = std::make_shared<Queue>();
  bool live = !until || *until > now;
  uint64_t durable_at = 0;
  uint64_t sub = 0;
  EventProjector proj;
  if (live) {
    sub = ctx.engine->log()->subscribe(
        [queue](const v1::Envelope& e) {
          std::lock_guard<std::mutex> lk(queue->mu);
          if (queue->q.size() >= 10000) {
            queue->overflow = true;
            queue->cv.notify_all();
            return false;  // a stalled client is dropped rather than stalling the log
          }
          queue->q.push_back(e);
          queue->cv.notify_all();
          return true;
        },
        &durable_at);
  } else {
    durable_at = ctx.engine->log()->durableSeq();
  }
  // Seed after subscribing: a container created in between is known either
  // way (the seed, or its ContainerCreated in the subscription).
  ctx.engine->read([&](const v1::State& s) {
    proj.seed(s);
    return 0;
  });
  w.startStream(200, "application/json");
  auto emit = [&](const v1::Envelope& env) {
    for (const auto& de : proj.project(env)) {
      if (since && de.time_ns < *since) continue;
      if (until && de.time_ns > *until) continue;
      if (!filters.matches(de)) continue;
      if (!w.write(de.toJson())) return false;
    }
    return true;
  };
  bool ok = true;
  if (since) {
    uint64_t from = firstSeqAtOrAfter(*ctx.engine->log(), durable_at, *since);
    Status st = ctx.engine->log()->read(from, durable_at, [&](const v1::Envelope& e) {
      ok = emit(e);
      return ok;
    });
    (void)st;
  }
  while (ok && live) {
    std::deque<v1::Envelope> batch;
    {
      std::unique_lock<std::mutex> lk(queue->mu);
      queue->cv.wait_for(lk, std::chrono::milliseconds(200),
                         [&] { return !queue->q.empty() || queue->overflow; });
      batch.swap(queue->q);
      if (queue->overflow && batch.empty()) break;
    }
    for (const auto& e : batch) {
      if (until && e.time_ns() > *until) {
        ok = false;
        break;
      }
      if (!(ok = emit(e))) break;
    }
    if (w.clientGone()) break;
    if (until && ctx.engine->clock()->nowNs() > *until) break;
  }
  if (sub) ctx.engine->log()->unsubscribe(sub);
  if (!w.clientGone()) w.end();
}

}  // namespace

void registerSystemRoutes(Router& r, ApiContext& ctx) {
  r.add("GET", "/_ping", ping, true);
  r.add("HEAD", "/_ping", ping, true);
  r.add("GET", "/version", [&ctx](Request& q, ResponseWriter& w) { version(ctx, q, w); });
  r.add("GET", "/info", [&ctx](Request& q, ResponseWriter& w) { info(ctx, q, w); });
  r.add("GET", "/events", [&ctx](Request& q, ResponseWriter& w) { events(ctx, q, w); });
}

}  // namespace arca::api
