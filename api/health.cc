#include "api/health.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "api/api.h"
#include "api/time_util.h"
#include "runtime/namespace/oci_config.h"
#include "runtime/sandbox_driver.h"

namespace arca::api {
namespace {

constexpr int64_t kSecond = 1000000000;
constexpr size_t kMaxOutput = 4096;  // dockerd's maxOutputLen
constexpr size_t kMaxLog = 5;        // dockerd's maxLogEntries
constexpr int kScanMs = 100;

bool checked(const v1::Container& c) {
  const auto& t = c.config().healthcheck().test();
  return !t.empty() && t[0] != "NONE";
}

std::string seconds(int64_t ns) {
  int64_t s = ns / kSecond;
  return std::to_string(s) + "s";
}

}  // namespace

HealthTiming healthTiming(const v1::Healthcheck& hc) {
  HealthTiming t;
  t.interval_ns = hc.interval_ns() > 0 ? hc.interval_ns() : 30 * kSecond;
  t.timeout_ns = hc.timeout_ns() > 0 ? hc.timeout_ns() : 30 * kSecond;
  t.start_period_ns = hc.start_period_ns();
  t.start_interval_ns = hc.start_interval_ns() > 0 ? hc.start_interval_ns() : 5 * kSecond;
  t.retries = hc.retries() > 0 ? hc.retries() : 3;
  return t;
}

std::string nextHealthStatus(const std::string& status, bool ok, bool in_start_period,
                             int retries, int* streak) {
  if (ok) {
    *streak = 0;
    return "healthy";
  }
  if (in_start_period && status == "starting") return status;  // failures do not count yet
  ++*streak;
  return *streak >= retries ? "unhealthy" : status;
}

void HealthMonitor::start() {
  scanner_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
      lk.unlock();
      scan();
      lk.lock();
      cv_.wait_for(lk, std::chrono::milliseconds(kScanMs), [&] { return stopping_; });
    }
  });
}

void HealthMonitor::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && !scanner_.joinable()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (scanner_.joinable()) scanner_.join();
  // Probes in flight end within their time-out.
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, std::chrono::seconds(5), [&] { return probes_running_ == 0; });
}

void HealthMonitor::scan() {
  std::map<std::string, v1::Container> running;
  int64_t now = ctx_->engine->clock()->nowNs();
  ctx_->engine->read([&](const v1::State& s) {
    for (const auto& [id, c] : s.containers()) {
      if (c.status() == "running" && !c.paused() && checked(c)) running[id] = c;
    }
    return 0;
  });
  std::vector<std::pair<std::string, v1::Container>> due;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = tracked_.begin(); it != tracked_.end();) {
      it = running.count(it->first) || it->second.probing ? std::next(it) : tracked_.erase(it);
    }
    for (auto& [id, c] : running) {
      HealthTiming t = healthTiming(c.config().healthcheck());
      auto& tr = tracked_[id];
      if (tr.start_count != c.start_count()) {  // a new run: start over
        bool keep_log = tr.start_count != 0;
        std::deque<HealthResult> log = std::move(tr.log);
        tr = Tracked{};
        if (keep_log) tr.log = std::move(log);
        tr.start_count = c.start_count();
        tr.started_ns = c.started_ns();
        tr.status = c.health_status().empty() ? "starting" : c.health_status();
        tr.streak = c.health_failing_streak();
        bool in_start = now < tr.started_ns + t.start_period_ns;
        tr.next_ns = now + (in_start ? t.start_interval_ns : t.interval_ns);
      }
      if (stopping_ || tr.probing || now < tr.next_ns) continue;
      tr.probing = true;
      ++probes_running_;
      due.emplace_back(id, c);
    }
  }
  for (auto& [id, c] : due) {
    std::thread([this, id = id, c = std::move(c)]() mutable { probe(id, std::move(c)); }).detach();
  }
}

HealthResult HealthMonitor::runProbe(const v1::Container& c, int64_t timeout_ns) {
  HealthResult r;
  r.start_ns = ctx_->engine->clock()->nowNs();
  const auto& test = c.config().healthcheck().test();
  runtime::AttachOptions o;
  {
    std::lock_guard<std::mutex> lk(mu_);
    o.exec_id = "health-" + c.id().substr(0, 12) + "-" + std::to_string(++seq_);
  }
  o.start_exec = true;
  if (test[0] == "CMD-SHELL") {
    o.exec.args = {"/bin/sh", "-c", test[1]};
  } else {
    o.exec.args.assign(test.begin() + 1, test.end());
  }
  std::string hostname = c.config().hostname().empty() ? c.id().substr(0, 12) : c.config().hostname();
  o.exec.env = runtime::dockerEnvironment({c.config().env().begin(), c.config().env().end()},
                                          hostname, false);
  o.exec.user = c.config().user();
  o.exec.cwd = c.config().working_dir();
  auto io = ctx_->driver->attach(c.id(), o);
  if (!io.ok()) {
    r.end_ns = ctx_->engine->clock()->nowNs();
    r.exit_code = -1;
    r.output = io.status().message();
    return r;
  }
  // A watchdog ends the stream at the time-out (the probe's process is left
  // to finish on its own).
  auto done = std::make_shared<std::pair<std::mutex, std::condition_variable>>();
  bool finished = false, timed_out = false;
  runtime::IoStream* stream = io->get();
  std::thread watchdog([&, done] {
    std::unique_lock<std::mutex> lk(done->first);
    if (!done->second.wait_for(lk, std::chrono::nanoseconds(timeout_ns), [&] { return finished; })) {
      timed_out = true;
      stream->cancel();
    }
  });
  runtime::IoEvent ev;
  bool exited = false;
  while (stream->read(&ev)) {
    if (ev.kind == runtime::IoEvent::Kind::kOutput && r.output.size() < kMaxOutput) {
      r.output.append(ev.data, 0, kMaxOutput - r.output.size());
    } else if (ev.kind == runtime::IoEvent::Kind::kExit) {
      exited = true;
      r.exit_code = ev.exit_code;
    }
  }
  Status st = stream->finish();
  {
    std::lock_guard<std::mutex> lk(done->first);
    finished = true;
    done->second.notify_all();
  }
  watchdog.join();
  r.end_ns = ctx_->engine->clock()->nowNs();
  if (timed_out) {
    r.exit_code = -1;
    r.output = "Health check exceeded timeout (" + seconds(timeout_ns) + ")";
  } else if (!exited) {
    r.exit_code = -1;
    r.output = st.ok() ? "health check ended without an exit code" : st.message();
  }
  return r;
}

void HealthMonitor::probe(const std::string& id, v1::Container c) {
  HealthTiming t = healthTiming(c.config().healthcheck());
  HealthResult r = runProbe(c, t.timeout_ns);
  std::string changed;
  int streak = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = tracked_.find(id);
    if (it != tracked_.end() && it->second.start_count == c.start_count()) {
      auto& tr = it->second;
      bool in_start = r.start_ns < tr.started_ns + t.start_period_ns;
      std::string next = nextHealthStatus(tr.status, r.exit_code == 0, in_start, t.retries,
                                          &tr.streak);
      if (next != tr.status) changed = next;
      tr.status = next;
      streak = tr.streak;
      tr.log.push_back(std::move(r));
      while (tr.log.size() > kMaxLog) tr.log.pop_front();
      int64_t now = ctx_->engine->clock()->nowNs();
      bool still_starting = now < tr.started_ns + t.start_period_ns && tr.status == "starting";
      tr.next_ns = now + (still_starting ? t.start_interval_ns : t.interval_ns);
      tr.probing = false;
    } else if (it != tracked_.end()) {
      it->second.probing = false;
    }
  }
  if (!changed.empty()) {
    // Only while that run still runs: a status of a gone run is not news.
    bool same_run = ctx_->engine->read([&](const v1::State& s) {
      auto it = s.containers().find(id);
      return it != s.containers().end() && it->second.start_count() == c.start_count() &&
             it->second.status() == "running";
    });
    if (same_run) {
      v1::Event e;
      auto* h = e.mutable_container_health_changed();
      h->set_id(id);
      h->set_status(changed);
      h->set_failing_streak(streak);
      ctx_->engine->record({e});
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  --probes_running_;
  cv_.notify_all();
}

void HealthMonitor::writeHealth(JsonWriter& j, const v1::Container& c) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = tracked_.find(c.id());
  bool live = it != tracked_.end() && it->second.start_count == c.start_count();
  j.StartObject();
  jstr(j, "Status", c.health_status().empty() ? "starting" : c.health_status());
  j.Key("FailingStreak");
  j.Int(live ? it->second.streak : c.health_failing_streak());
  j.Key("Log");
  j.StartArray();
  if (it != tracked_.end()) {
    for (const auto& r : it->second.log) {
      j.StartObject();
      jstr(j, "Start", rfc3339(r.start_ns));
      jstr(j, "End", rfc3339(r.end_ns));
      j.Key("ExitCode");
      j.Int(r.exit_code);
      jstr(j, "Output", r.output);
      j.EndObject();
    }
  }
  j.EndArray();
  j.EndObject();
}

}  // namespace arca::api
