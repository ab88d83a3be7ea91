// Restart policies (no, always, unless-stopped, on-failure[:N]) with Docker's
// rules and back-off (moby's restartmanager), as pure functions of State, and
// the deciders that record an exit with the policy's decision and the
// policy's own start. Deciders run under the engine lock (Engine::execute).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::engine {

// Docker's create-time checks (400, Docker's texts): unknown policy, a
// maximum retry count with a policy other than on-failure, a negative count,
// AutoRemove with a restart policy.
Status validateRestartPolicy(const v1::HostConfig& h);

// true for "always", "unless-stopped" and "on-failure" ("" and "no" are none).
bool hasRestartPolicy(const v1::RestartPolicy& p);

// The back-off before the next restart: 100 ms after a user's start, doubled
// per consecutive restart, at most 1 minute; back to 100 ms when the run that
// just ended lasted at least 10 seconds. `prev_delay_ms` 0: no restart yet.
uint64_t nextRestartDelayMs(uint64_t prev_delay_ms, int64_t ran_ns);

// moby's RestartManager.ShouldRestart without the timer: always restarts;
// unless-stopped unless the user stopped (or killed) it; on-failure on a
// non-zero exit while fewer than MaximumRetryCount restarts happened (0: no limit).
bool policyRestarts(const v1::RestartPolicy& p, int32_t exit_code, bool manually_stopped,
                    uint64_t restart_count);

// At daemon start: a container started before, not running now, whose policy
// says so (the cancellation of a kill/stop is forgotten, as with dockerd's
// fresh restart managers; unless-stopped still honours the manual stop).
bool restartsAtDaemonStart(const v1::Container& c);

// Whether a kill with `signal` cancels the restart policy (Docker's
// ExitOnNext): SIGKILL, or the container's stop signal when one is set, or any
// signal when none is.
bool killCancelsRestart(const v1::Container& c, int signal);

struct ExitReport {
  std::string id;
  int32_t exit_code = 0;
  bool oom_killed = false;
  std::string error;
};

// Records the exit (ContainerExited) and, when the policy restarts the
// container, ContainerRestartScheduled with the back-off. `now_ns` is the
// exit's time (for the 10-second reset). *delay_ms is set, *restart true, when
// a restart was scheduled.
Status decideExit(const v1::State& s, const ExitReport& r, int64_t now_ns,
                  std::vector<v1::Event>* out, bool* restart, uint64_t* delay_ms);

// The policy's start once the back-off passed: ContainerStartRequested if the
// container is still "restarting" for restart number `restart_count` (a stop,
// kill, removal or user start since then cancelled it: FailedPrecondition).
Status decidePolicyStart(const v1::State& s, const std::string& id, uint64_t restart_count,
                         std::vector<v1::Event>* out);

}  // namespace arca::engine
