#include "runtime/executor.h"
#include "runtime/volumes.h"
#include "engine/volume_commands.h"

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <future>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "engine/commands.h"
#include "engine/log_options.h"
#include "engine/restart_policy.h"

namespace arca::runtime {

namespace fs = std::filesystem;

Executor::Executor(engine::Engine* engine, SandboxDriver* driver, image::ImageStore* images,
                   ExecutorOptions opts)
    : engine_(engine), driver_(driver), images_(images), opts_(std::move(opts)) {}

Executor::~Executor() { stop(); }

std::string Executor::logPath(const std::string& id) const {
  return opts_.containers_dir + "/" + id + "/" + id + "-json.log";
}

uint64_t Executor::onNextStart(const std::string& id, std::function<void()> fn) {
  std::lock_guard<std::mutex> lk(mu_);
  uint64_t token = next_before_start_++;
  before_start_[id][token] = std::move(fn);
  return token;
}

void Executor::cancelOnNextStart(const std::string& id, uint64_t token) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = before_start_.find(id);
  if (it == before_start_.end()) return;
  it->second.erase(token);
  if (it->second.empty()) before_start_.erase(it);
}

void Executor::start() {
  reconcile();
  uint64_t durable_at = 0;
  sub_ = engine_->log()->subscribe(
      [this](const v1::Envelope& env) {
        onEvent(env);
        return true;
      },
      &durable_at);
  // No intent can be appended between reconcile() and subscribe(): the API
  // does not serve yet, and reconcile() records outcomes only.
  applyRestartPoliciesAtStart();
}

void Executor::stop() {
  if (stopping_.exchange(true)) return;
  if (sub_) engine_->log()->unsubscribe(sub_);
  std::unique_lock<std::mutex> lk(mu_);
  // Strands finish their queued work; watchers blocked in wait() are abandoned.
  idle_cv_.wait_for(lk, std::chrono::seconds(5), [&] { return strands_.empty(); });
}

void Executor::spawn(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++threads_;
  }
  std::thread([this, fn = std::move(fn)] {
    fn();
    std::lock_guard<std::mutex> lk(mu_);
    --threads_;
    idle_cv_.notify_all();
  }).detach();
}

void Executor::post(const std::string& id, std::function<void()> task) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& q = strands_[id];
  bool start_thread = q.empty();
  q.push_back(std::move(task));
  if (!start_thread) return;
  ++threads_;
  std::thread([this, id] {
    for (;;) {
      std::function<void()> t;
      {
        std::lock_guard<std::mutex> lk(mu_);
        auto& q = strands_[id];
        t = std::move(q.front());
      }
      t();
      std::lock_guard<std::mutex> lk(mu_);
      auto& q = strands_[id];
      q.pop_front();
      if (q.empty()) {
        strands_.erase(id);
        --threads_;
        idle_cv_.notify_all();
        return;
      }
    }
  }).detach();
}

void Executor::onEvent(const v1::Envelope& env) {
  // Runs on the appender thread: only queue work here.
  if (stopping_) return;
  const auto& e = env.event();
  switch (e.kind_case()) {
    case v1::Event::kContainerStartRequested: {
      const auto& ev = e.container_start_requested();
      uint64_t seq = env.seq();
      bool restart = ev.restart();
      post(ev.id(), [this, id = ev.id(), seq, restart] { doStart(id, seq, restart); });
      break;
    }
    case v1::Event::kContainerStopRequested: {
      const auto& ev = e.container_stop_requested();
      int sig = engine::parseSignal(ev.signal());
      int timeout = ev.timeout_s();
      post(ev.id(), [this, id = ev.id(), sig, timeout] { doStop(id, sig, timeout); });
      break;
    }
    case v1::Event::kContainerKillRequested: {
      const auto& ev = e.container_kill_requested();
      uint64_t seq = env.seq();
      int sig = ev.signal();
      // Kills bypass the strand's queue order only in that they do not wait for
      // a stop's time-out (which runs off-strand).
      post(ev.id(), [this, id = ev.id(), sig, seq] { signalAndRecord(id, sig, seq); });
      break;
    }
    default:
      break;
  }
}


Status Executor::updateResources(const std::string& id, const v1::HostConfig& hc) {
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  std::string json = ociLinuxResourcesJson(sandboxResources(hc));
  post(id, [this, id, json, done] { done->set_value(driver_->update(id, json)); });
  return result.get();
}

Status Executor::applyConnect(const std::string& id, const std::string& network_id) {
  if (!network_) return Status::Ok();
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  post(id, [this, id, network_id, done] {
    bool running = false, vm = false;
    EndpointPlan ep = engine_->read([&](const v1::State& s) {
      auto it = s.containers().find(id);
      if (it == s.containers().end() || it->second.status() != "running") return EndpointPlan{};
      running = true;
      vm = it->second.host_config().runtime() == kVmRuntime;
      bool has_route = false;
      for (const auto& [nid, e] : it->second.endpoints()) {
        auto n = s.networks().find(nid);
        if (nid != network_id && n != s.networks().end() && !n->second.internal()) has_route = true;
      }
      return planEndpointOf(s, it->second, network_id, !has_route);
    });
    if (running && vm && !ep.network_id.empty()) {  // issue #8: a spare NIC of the VM takes it
      Status st = network_->connect(id, ep);
      if (st.ok()) {
        st = driver_->connectNic(id, {ep.mac, ep.ipv4, ep.prefix, ep.gateway, ep.default_route});
        if (!st.ok()) {
          Status undo = network_->disconnect(id, ep.network_id);
          if (!undo.ok()) spdlog::warn("executor: undo connect of {}: {}", id.substr(0, 12), undo.toString());
        }
      }
      done->set_value(st);
      return;
    }
    done->set_value(running && !ep.network_id.empty() ? network_->connect(id, ep) : Status::Ok());
  });
  return result.get();
}

Status Executor::applyDisconnect(const std::string& id, const std::string& network_id) {
  if (!network_) return Status::Ok();
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  post(id, [this, id, network_id, done] {
    bool running = engine_->read([&](const v1::State& s) {
      auto it = s.containers().find(id);
      return it != s.containers().end() && it->second.status() == "running";
    });
    done->set_value(running ? network_->disconnect(id, network_id) : Status::Ok());
  });
  return result.get();
}

void Executor::doStart(const std::string& id, uint64_t request_seq, bool restart) {
  SandboxSpec spec;
  ContainerNetworkPlan net_plan;
  v1::ImageRecord image;
  v1::Container container;  // with mounts only
  v1::State mount_state;    // the volumes it uses
  bool cfg_tty = false, cfg_open_stdin = false;
  uint32_t console_h = 0, console_w = 0;
  bool found = engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return false;
    const auto& c = it->second;
    spec.id = id;
    spec.args.push_back(c.path());
    for (const auto& a : c.args()) spec.args.push_back(a);
    for (const auto& e : c.config().env()) spec.env.push_back(e);
    spec.cwd = c.config().working_dir().empty() ? "/" : c.config().working_dir();
    spec.user = c.config().user();
    spec.hostname = c.config().hostname().empty() ? id.substr(0, 12) : c.config().hostname();
    spec.network_mode = c.host_config().network_mode();
    spec.runtime = c.host_config().runtime();
    net_plan = planContainerNetwork(s, c);
    spec.readonly_rootfs = c.host_config().readonly_rootfs();
    cfg_tty = c.config().tty();
    cfg_open_stdin = c.config().open_stdin();
    if (c.host_config().console_size_size() == 2) {
      console_h = static_cast<uint32_t>(std::max(0, c.host_config().console_size(0)));
      console_w = static_cast<uint32_t>(std::max(0, c.host_config().console_size(1)));
    }
    spec.resources = sandboxResources(c.host_config());
    spec.security = sandboxSecurity(c.host_config());
    if (c.host_config().mounts_size() > 0) {  // issue #6
      container = c;
      for (const auto& m : c.host_config().mounts()) {
        auto v = s.volumes().find(m.source());
        if (m.type() == "volume" && v != s.volumes().end()) (*mount_state.mutable_volumes())[v->first] = v->second;
      }
    }
    auto img = s.images().find(c.image_id());
    if (img != s.images().end()) image = img->second.record();
    return true;
  });
  if (!found) return;
  spec.log_path = logPath(id);
  std::string log_error;
  bool log_ok = applyLogOptions(id, &spec, &log_error);
  std::error_code ec;
  fs::create_directories(fs::path(spec.log_path).parent_path(), ec);

  auto fail = [&](const std::string& msg) {
    spdlog::info("executor: start of {} failed: {}", id.substr(0, 12), msg);
    if (opts_.volumes) releaseMounts(container, *opts_.volumes);  // issue #6
    v1::Event e;
    auto* ev = e.mutable_container_start_failed();
    ev->set_id(id);
    ev->set_message(msg);
    ev->set_exit_code(startFailureExitCode(msg));
    ev->set_request_seq(request_seq);
    engine_->record({e});
    // Docker removes an AutoRemove container whose start failed (`docker run
    // --rm` waits for that removal before it reports the error).
    bool auto_remove = engine_->read([&](const v1::State& s) {
      auto it = s.containers().find(id);
      return it != s.containers().end() && it->second.host_config().auto_remove();
    });
    if (auto_remove) {
      Status st = removeContainer(id, true);
      if (!st.ok()) spdlog::warn("executor: auto-remove of {}: {}", id.substr(0, 12), st.toString());
    }
  };
  if (!log_ok) return fail(log_error);
  if (image.id().empty()) return fail("image of container " + id + " is gone");
  auto dirs = images_->layerDirs(image);
  if (!dirs.ok()) return fail(dirs.status().message());
  spec.lower_dirs = *dirs;
  if (container.host_config().mounts_size() > 0) {  // issue #6
    if (!opts_.volumes) return fail("this engine has no volume store: mounts are unavailable");
    Status ms = prepareMounts(mount_state, container, *opts_.volumes);
    if (!ms.ok()) return fail(ms.message());
    spec.mounts = sandboxMounts(mount_state, container, *opts_.volumes);
  }

  // issue #5: the network namespace, endpoints, DNS records and ports first.
  std::vector<v1::PortBinding> ports;
  using Mode = ContainerNetworkPlan::Mode;
  const bool vm = spec.runtime == kVmRuntime;
  if (vm && (net_plan.mode == Mode::kHost || net_plan.mode == Mode::kJoin)) {
    return fail("the " + std::string(kVmRuntime) + " runtime cannot share the network namespace of " +
                (net_plan.mode == Mode::kHost ? std::string("the host") : "another container") +
                " (--network " + spec.network_mode + "): a VM has its own kernel");
  }
  if (net_plan.mode == Mode::kHost) {
    spec.host_network = true;
    if (spec.hostname == id.substr(0, 12)) {
      char host[256] = {0};
      if (gethostname(host, sizeof host - 1) == 0) spec.hostname = host;
    }
  } else if (net_plan.mode == Mode::kJoin) {
    if (net_plan.join_pid <= 0) {
      return fail("cannot join network namespace of a non running container: " +
                  (net_plan.join_id.empty() ? spec.network_mode.substr(10) : net_plan.join_id));
    }
    spec.netns_path = "/proc/" + std::to_string(net_plan.join_pid) + "/ns/net";
  } else if (net_plan.mode == Mode::kBridge && network_) {
    Status ns = network_->setUp(net_plan, &spec.netns_path, &ports);
    if (!ns.ok()) {
      network_->tearDown(id);
      return fail(ns.message());
    }
    spec.hosts_entries = net_plan.hosts_entries;
    spec.nameservers = net_plan.nameservers;
    for (const auto& ep : net_plan.endpoints) {  // issue #8: the VM's NICs take them
      spec.nics.push_back({ep.mac, ep.ipv4, ep.prefix, ep.gateway, ep.default_route});
    }
  }
  spec.tty = cfg_tty;
  spec.open_stdin = cfg_open_stdin;
  spec.console_height = console_h;
  spec.console_width = console_w;
  auto r = driver_->start(spec, [this, &id] {
    std::map<uint64_t, std::function<void()>> fns;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = before_start_.find(id);
      if (it != before_start_.end()) {
        fns.swap(it->second);
        before_start_.erase(it);
      }
    }
    for (auto& [token, fn] : fns) fn();
  });
  if (!r.ok()) {
    Status cst = driver_->cleanup(id);
    (void)cst;
    if (network_) network_->tearDown(id);
    return fail(r.status().message());
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    watching_.insert(id);
  }
  v1::Event e;
  auto* ev = e.mutable_container_started();
  ev->set_id(id);
  ev->set_pid(r->pid);
  ev->set_restart(restart);
  ev->set_request_seq(request_seq);
  for (auto& p : ports) *ev->add_ports() = std::move(p);
  engine_->record({e});
  spawn([this, id] { watchExit(id); });
}

void Executor::watchExit(const std::string& id) {
  auto r = driver_->wait(id);
  if (stopping_) return;  // abandoned: the next arcad reattaches
  ExitResult res;
  std::string err;
  if (r.ok()) {
    res = *r;
  } else {
    res.exit_code = 255;
    err = r.status().message();
  }
  // Tear the sandbox down before recording the exit, so a `docker start`
  // answered after the exit never races with this cleanup.
  Status cst = driver_->cleanup(id);
  if (!cst.ok()) spdlog::warn("executor: cleanup of {}: {}", id.substr(0, 12), cst.toString());
  if (network_) network_->tearDown(id);  // issue #5: endpoints, records, ports, namespace
  releaseVolumes(id);                     // issue #6
  bool auto_remove = false;
  engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return 0;
    // As dockerd: a restart's stop does not trigger AutoRemove.
    auto_remove = it->second.host_config().auto_remove() && !it->second.restarting_by_request();
    return 0;
  });
  {
    std::lock_guard<std::mutex> lk(mu_);
    watching_.erase(id);
  }
  // The exit and the restart policy's decision go in one batch (lifecycle).
  engine::ExitReport report{id, res.exit_code, res.oom_killed, err};
  bool restart = false;
  uint64_t delay_ms = 0, restart_count = 0;
  int64_t now = engine_->clock()->nowNs();
  auto recorded = engine_->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    Status st = engine::decideExit(s, report, now, out, &restart, &delay_ms);
    auto it = s.containers().find(id);
    if (it != s.containers().end()) restart_count = it->second.restart_count() + 1;
    return st;
  });
  if (!recorded.ok()) spdlog::warn("executor: exit of {}: {}", id.substr(0, 12), recorded.status().toString());
  if (restart) scheduleRestart(id, restart_count, static_cast<int64_t>(delay_ms));
  if (auto_remove) {
    Status st = removeContainer(id, true);
    if (!st.ok()) spdlog::warn("executor: auto-remove of {}: {}", id.substr(0, 12), st.toString());
  }
}

void Executor::doStop(const std::string& id, int signal, int timeout_s) {
  uint64_t exits = 0;
  bool running = engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end()) return false;
    exits = it->second.exit_count();
    return it->second.status() == "running";
  });
  if (!running) return;
  auto exited = [id, exits](const v1::State& s) {
    auto it = s.containers().find(id);
    return it == s.containers().end() || it->second.exit_count() > exits;
  };
  if (signal != SIGKILL) {
    signalAndRecord(id, signal, 0);
    if (timeout_s < 0) return;  // wait forever for the process to obey
    // The escalation waits off-strand so that a kill queued meanwhile runs now.
    spawn([this, id, exits, timeout_s, exited] {
      if (engine_->waitUntil(exited, [this] { return stopping_.load(); }, timeout_s * 1000)) return;
      if (stopping_) return;
      post(id, [this, id, exits] {
        bool still = engine_->read([&](const v1::State& s) {
          auto it = s.containers().find(id);
          return it != s.containers().end() && it->second.exit_count() == exits &&
                 it->second.status() == "running";
        });
        if (still) signalAndRecord(id, SIGKILL, 0);
      });
    });
    return;
  }
  signalAndRecord(id, SIGKILL, 0);
}

void Executor::signalAndRecord(const std::string& id, int signal, uint64_t request_seq) {
  Status st = driver_->signal(id, signal);
  v1::Event e;
  auto* ev = e.mutable_container_signaled();
  ev->set_id(id);
  ev->set_signal(signal);
  ev->set_request_seq(request_seq);
  if (!st.ok()) ev->set_error(st.message());
  std::vector<v1::Event> events{e};
  // issue #4: in the same append, so that a kill answered after it sees the thaw.
  if (st.ok() && thawAfterSignal(id, signal)) {
    events.emplace_back().mutable_container_unpaused()->set_id(id);
  }
  engine_->record(events);
}

// issue #4: as dockerd's killWithSignal, a paused container is thawed after
// SIGKILL or its stop signal (any signal when it has none configured), so
// that the signal is delivered. True when it was thawed.
bool Executor::thawAfterSignal(const std::string& id, int signal) {
  bool thaw = engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it == s.containers().end() || !it->second.paused()) return false;
    const std::string& stop = it->second.config().stop_signal();
    return signal == SIGKILL || stop.empty() || engine::parseSignal(stop) == signal;
  });
  if (!thaw) return false;
  Status st = driver_->resume(id);
  if (!st.ok()) spdlog::warn("executor: cannot unpause {}: {}", id.substr(0, 12), st.toString());
  return st.ok();
}

Status Executor::removeContainer(const std::string& id, bool remove_volumes) {
  // The engine accepts the removal first (status "removing"): a concurrent
  // start or second removal is refused from here on.
  std::string full;
  auto accepted = engine_->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    return engine::decideRemove(s, id, out, &full, remove_volumes);
  });
  if (!accepted.ok()) return accepted.status();
  return finishRemoval(full);
}

Status Executor::finishRemoval(const std::string& id) {
  Status st = driver_->remove(id);
  if (!st.ok()) return st;  // stays "removing"; the next start-up retries
  std::error_code ec;
  fs::remove_all(opts_.containers_dir + "/" + id, ec);
  // issue #6: with rm -v / --rm, its anonymous volumes go in the same batch.
  std::vector<std::string> volumes;
  std::vector<int64_t> generations;
  auto recorded = engine_->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
    auto it = s.containers().find(id);
    if (it != s.containers().end() && it->second.remove_volumes()) {
      volumes = engine::anonymousVolumesOf(s, id);
    }
    generations.clear();
    for (const auto& v : volumes) generations.push_back(s.volumes().at(v).created_ns());
    for (const auto& v : volumes) {  // dockerd: the volumes' destroy first
      v1::Event r;
      r.mutable_volume_removed()->set_name(v);
      out->push_back(std::move(r));
    }
    v1::Event e;
    e.mutable_container_removed()->set_id(id);
    out->push_back(std::move(e));
    return Status::Ok();
  });
  if (!recorded.ok()) return recorded.status();
  for (size_t i = 0; i < volumes.size() && opts_.volumes; ++i) {
    const std::string& v = volumes[i];
    Status rm = opts_.volumes->remove(v, generations[i]);
    if (!rm.ok()) spdlog::warn("executor: removing volume {}: {}", v, rm.toString());
  }
  return Status::Ok();
}

void Executor::releaseVolumes(const std::string& id) {
  if (!opts_.volumes) return;
  v1::Container c;
  engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it != s.containers().end()) c = it->second;
    return 0;
  });
  releaseMounts(c, *opts_.volumes);
}

void Executor::reconcile() {
  struct Item {
    std::string id;
    bool start_pending;
    uint64_t request_seq;
    bool auto_remove;
  };
  std::vector<Item> items;
  std::vector<std::string> removing;
  engine_->read([&](const v1::State& s) {
    for (const auto& [id, c] : s.containers()) {
      if (c.status() == "removing") removing.push_back(id);
      if (c.status() == "running" || c.start_pending()) {
        items.push_back({id, c.start_pending(), 0, c.host_config().auto_remove()});
      }
    }
    return 0;
  });
  for (const auto& id : removing) {
    Status st = finishRemoval(id);  // a removal interrupted by a crash
    if (!st.ok()) spdlog::warn("executor: removal of {}: {}", id.substr(0, 12), st.toString());
  }
  for (const auto& it : items) {
    ProbeResult p = driver_->probe(it.id);
    if (p.phase == ProbeResult::Phase::kRunning || p.phase == ProbeResult::Phase::kCreated) {
      spdlog::info("executor: reattached to {} (pid {})", it.id.substr(0, 12), p.pid);
      if (opts_.volumes) {  // issue #6: its volumes' holds (their mounts are still there)
        v1::State vs;
        v1::Container c;
        engine_->read([&](const v1::State& s) {
          *vs.mutable_volumes() = s.volumes();
          auto ci = s.containers().find(it.id);
          if (ci != s.containers().end()) c = ci->second;
          return 0;
        });
        Status ms = prepareMounts(vs, c, *opts_.volumes);
        if (!ms.ok()) spdlog::warn("executor: volumes of {}: {}", it.id.substr(0, 12), ms.toString());
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        watching_.insert(it.id);
      }
      v1::Event e;
      if (it.start_pending) {
        auto* ev = e.mutable_container_started();
        ev->set_id(it.id);
        ev->set_pid(p.pid);
      } else {
        auto* ev = e.mutable_container_reattached();
        ev->set_id(it.id);
        ev->set_pid(p.pid);
      }
      engine_->record({e});
      spawn([this, id = it.id] { watchExit(id); });
      continue;
    }
    Status cst = driver_->cleanup(it.id);
    (void)cst;
    if (network_) network_->tearDown(it.id);
    releaseVolumes(it.id);  // issue #6
    v1::Event e;
    if (it.start_pending && p.phase != ProbeResult::Phase::kExited) {
      auto* ev = e.mutable_container_start_failed();
      ev->set_id(it.id);
      ev->set_message(p.error.empty() ? "arcad restarted while the container was starting"
                                      : p.error);
      ev->set_exit_code(128);
    } else {
      auto* ev = e.mutable_container_exited();
      ev->set_id(it.id);
      ev->set_observed_after_restart(true);
      if (p.phase == ProbeResult::Phase::kExited) {
        ev->set_exit_code(p.exit.exit_code);
        ev->set_oom_killed(p.exit.oom_killed);
      } else {
        ev->set_exit_code(255);
        ev->set_error("the container's sandbox disappeared while arcad was down");
      }
    }
    engine_->record({e});
    if (it.auto_remove) {
      Status st = removeContainer(it.id, true);
      (void)st;
    }
  }
}

// --- Restart policies and log options (lifecycle) ---------------------------

bool Executor::applyLogOptions(const std::string& id, SandboxSpec* spec, std::string* error) {
  std::map<std::string, std::string> opts;
  engine_->read([&](const v1::State& s) {
    auto it = s.containers().find(id);
    if (it != s.containers().end()) opts.insert(it->second.host_config().log_config().begin(),
                                                it->second.host_config().log_config().end());
    return 0;
  });
  auto parsed = engine::parseJsonFileOptions(opts);
  if (!parsed.ok()) {
    *error = "failed to initialize logging driver: " + parsed.status().message();
    return false;
  }
  spec->log_max_size = parsed->max_size;
  spec->log_max_files = parsed->max_files;
  return true;
}

void Executor::scheduleRestart(const std::string& id, uint64_t restart_count, int64_t delay_ms) {
  spawn([this, id, restart_count, delay_ms] {
    // Cancelled when the container stops "restarting" for this restart (stop,
    // kill, removal); otherwise the policy's start is decided when due.
    auto cancelled = [id, restart_count](const v1::State& s) {
      auto it = s.containers().find(id);
      return it == s.containers().end() || it->second.status() != "restarting" ||
             it->second.restart_count() != restart_count;
    };
    if (delay_ms > 0 &&
        engine_->waitUntil(cancelled, [this] { return stopping_.load(); }, static_cast<int>(delay_ms))) {
      return;
    }
    if (stopping_) return;
    post(id, [this, id, restart_count] {
      auto r = engine_->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
        return engine::decidePolicyStart(s, id, restart_count, out);
      });
      if (!r.ok()) spdlog::debug("executor: restart of {}: {}", id.substr(0, 12), r.status().message());
    });
  });
}

void Executor::applyRestartPoliciesAtStart() {
  struct Pending {
    std::string id;
    uint64_t restart_count;
    int64_t due_ns;
  };
  std::vector<Pending> pending;
  std::vector<std::string> to_start;
  engine_->read([&](const v1::State& s) {
    for (const auto& [id, c] : s.containers()) {
      if (c.status() == "restarting" && !c.start_pending()) {
        pending.push_back({id, c.restart_count(), c.restart_due_ns()});
      } else if (engine::restartsAtDaemonStart(c)) {
        to_start.push_back(id);
      }
    }
    return 0;
  });
  const int64_t now = engine_->clock()->nowNs();
  for (const auto& p : pending) {  // decided before a crash: still due
    spdlog::info("executor: resuming the pending restart of {}", p.id.substr(0, 12));
    scheduleRestart(p.id, p.restart_count, std::max<int64_t>(0, (p.due_ns - now) / 1000000));
  }
  for (const auto& id : to_start) {  // as dockerd does when it starts
    std::string full;
    auto r = engine_->execute([&](const v1::State& s, std::vector<v1::Event>* out) {
      if (auto it = s.containers().find(id); it == s.containers().end() ||
                                             !engine::restartsAtDaemonStart(it->second)) {
        return FailedPrecondition("no longer restarts");
      }
      return engine::decideStart(s, id, false, out, &full);
    });
    if (r.ok()) spdlog::info("executor: restart policy starts {}", id.substr(0, 12));
  }
}

}  // namespace arca::runtime
