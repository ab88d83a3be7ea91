#include "engine/restart_policy.h"

#include <csignal>

#include "engine/commands.h"

namespace arca::engine {
namespace {

constexpr uint64_t kInitialDelayMs = 100;
constexpr uint64_t kMaxDelayMs = 60 * 1000;
constexpr int64_t kResetAfterNs = 10LL * 1000 * 1000 * 1000;

const v1::Container* find(const v1::State& s, const std::string& id) {
  auto it = s.containers().find(id);
  return it == s.containers().end() ? nullptr : &it->second;
}

}  // namespace

Status validateRestartPolicy(const v1::HostConfig& h) {
  const auto& p = h.restart_policy();
  const std::string& name = p.name();
  const int32_t max = p.maximum_retry_count();
  if (h.auto_remove() && !name.empty() && name != "no") {
    return InvalidArgument("can't create 'AutoRemove' container with restart policy");
  }
  if (name == "always" || name == "unless-stopped" || name == "no") {
    if (max != 0) {
      std::string msg =
          "invalid restart policy: maximum retry count can only be used with 'on-failure'";
      if (max < 0) msg += " and cannot be negative";
      return InvalidArgument(msg);
    }
  } else if (name == "on-failure") {
    if (max < 0) return InvalidArgument("invalid restart policy: maximum retry count cannot be negative");
  } else if (!name.empty()) {
    return InvalidArgument("invalid restart policy: unknown policy '" + name +
                           "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  }
  return Status::Ok();
}

bool hasRestartPolicy(const v1::RestartPolicy& p) {
  return p.name() == "always" || p.name() == "unless-stopped" || p.name() == "on-failure";
}

uint64_t nextRestartDelayMs(uint64_t prev_delay_ms, int64_t ran_ns) {
  if (ran_ns >= kResetAfterNs) prev_delay_ms = 0;
  if (prev_delay_ms == 0) return kInitialDelayMs;
  return prev_delay_ms >= kMaxDelayMs / 2 ? kMaxDelayMs : prev_delay_ms * 2;
}

bool policyRestarts(const v1::RestartPolicy& p, int32_t exit_code, bool manually_stopped,
                    uint64_t restart_count) {
  if (p.name() == "always") return true;
  if (p.name() == "unless-stopped") return !manually_stopped;
  if (p.name() == "on-failure") {
    uint64_t max = p.maximum_retry_count() > 0 ? static_cast<uint64_t>(p.maximum_retry_count()) : 0;
    return exit_code != 0 && (max == 0 || restart_count < max);
  }
  return false;
}

bool restartsAtDaemonStart(const v1::Container& c) {
  if (c.start_count() == 0 || c.start_pending()) return false;
  if (c.status() != "exited" && c.status() != "created") return false;
  return policyRestarts(c.host_config().restart_policy(), c.exit_code(), c.manually_stopped(),
                        c.restart_count());
}

bool killCancelsRestart(const v1::Container& c, int signal) {
  if (signal == SIGKILL || c.config().stop_signal().empty()) return true;
  return parseSignal(c.config().stop_signal()) == signal;
}

Status decideExit(const v1::State& s, const ExitReport& r, int64_t now_ns,
                  std::vector<v1::Event>* out, bool* restart, uint64_t* delay_ms) {
  *restart = false;
  *delay_ms = 0;
  const v1::Container* c = find(s, r.id);
  v1::Event e;
  auto* ev = e.mutable_container_exited();
  ev->set_id(r.id);
  ev->set_exit_code(r.exit_code);
  ev->set_oom_killed(r.oom_killed);
  ev->set_error(r.error);
  ev->set_stopped_by_request(c != nullptr && c->stop_requested());
  out->push_back(std::move(e));
  if (c == nullptr || c->stop_requested() || c->restart_cancelled() || c->status() != "running") {
    return Status::Ok();
  }
  if (!policyRestarts(c->host_config().restart_policy(), r.exit_code, c->manually_stopped(),
                      c->restart_count())) {
    return Status::Ok();
  }
  *restart = true;
  *delay_ms = nextRestartDelayMs(c->restart_delay_ms(), now_ns - c->started_ns());
  v1::Event sched;
  sched.mutable_container_restart_scheduled()->set_id(r.id);
  sched.mutable_container_restart_scheduled()->set_delay_ms(*delay_ms);
  out->push_back(std::move(sched));
  return Status::Ok();
}

Status decidePolicyStart(const v1::State& s, const std::string& id, uint64_t restart_count,
                         std::vector<v1::Event>* out) {
  const v1::Container* c = find(s, id);
  if (c == nullptr || c->status() != "restarting" || c->restart_count() != restart_count ||
      c->start_pending()) {
    return FailedPrecondition("the restart of " + id + " was cancelled");
  }
  v1::Event e;
  e.mutable_container_start_requested()->set_id(id);
  out->push_back(std::move(e));
  return Status::Ok();
}

}  // namespace arca::engine
