// The agent's core: drives the OCI runtime for one container, reaps, relays
// the container's stdout/stderr into the json-file log and records the exit.
//
// Threads: run() is the event loop and owns reaping (SIGCHLD via signalfd,
// the agent is a child subreaper) and the stdio relay; it must be called on
// the main thread with SIGCHLD blocked in every thread. All other public
// methods are called from gRPC threads and may block (they spawn the runtime
// and wait for the loop to reap it). Shared state is guarded by mu_.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/status.h"

namespace arca::agent {

struct AgentOptions {
  std::string id;        // container id (also the OCI runtime's container id)
  std::string bundle;    // OCI bundle directory (config.json, rootfs/)
  std::string socket;    // unix socket to serve gRPC on
  std::string log_path;  // json-file log the container's output is appended to
  std::string runtime = "runc";
  std::string runtime_path;  // empty: look `runtime` up in $PATH
  std::string runtime_root;  // the OCI runtime's --root state directory
  int ready_fd = -1;         // written "ok\n" (or an error line) once serving
};

enum class Phase { kCreated, kStarting, kRunning, kExited, kFailed };

struct Snapshot {
  Phase phase = Phase::kCreated;
  int32_t pid = 0;
  int32_t exit_code = 0;
  bool oom_killed = false;
  int64_t finished_ns = 0;
  std::string error;
};

class Supervisor {
 public:
  static StatusOr<std::unique_ptr<Supervisor>> create(const AgentOptions& options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Event loop (main thread): reaps children, relays stdio, records the exit.
  // Returns once shutdown() has finished.
  void run();

  // `runtime create` + `runtime start`; returns the init's pid. On failure the
  // phase is kFailed and the message is the runtime's own error.
  StatusOr<int32_t> start();
  // kill(2) on the container's init; a no-op once it has exited.
  Status signal(int sig);
  using WaitCallback = std::function<void(const Status&, const Snapshot&)>;
  // Registers `done` to run once the exit is recorded (log flushed, exit.json
  // written) or the start failed; runs it at once (on this thread) if that
  // already happened and returns 0. Otherwise returns a token for
  // cancelWaiter(); `done` then runs on the loop thread or a gRPC thread,
  // never under mu_. Waiting holds no thread.
  uint64_t addWaiter(WaitCallback done);
  // Unregisters a waiter; false if its callback already ran or is running.
  bool cancelWaiter(uint64_t token);
  Snapshot snapshot();
  // `runtime delete -f`, waits (bounded) for the exit record, stops run().
  void shutdown();

  // --- issue #4: stats, top, pause (gRPC threads; see cgroup_ops.h) ---
  struct LiveTarget {
    std::string cgroups_path;  // linux.cgroupsPath of the bundle, e.g. "/arca/<id>"
    pid_t init_pid = 0;
  };
  // The running container's cgroup and init; FailedPrecondition when not running.
  StatusOr<LiveTarget> liveTarget();
  // Runs argv (argv[0] looked up in $PATH) to completion with stdin from
  // /dev/null; collects its stdout and stderr (each bounded) and exit code.
  Status capture(std::vector<std::string> argv, std::string* out, std::string* err,
                 int* exit_code);
  // `runtime pause` / `runtime resume` (the cgroup freezer); the runtime's error otherwise.
  Status pause();
  Status resume();

 private:
  explicit Supervisor(AgentOptions options) : opts_(std::move(options)) {}
  Status init();

  std::vector<std::string> runtimeArgs(std::vector<std::string> args) const;
  // Forks + execs argv with the given stdio; the pid is registered so that the
  // loop hands its status to waitChild(). Returns -errno on fork failure.
  pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd);
  int waitChild(pid_t pid);  // wait(2) status
  int runRuntime(const std::vector<std::string>& args);
  std::string lastRuntimeError(int status) const;
  void failStartLocked(const std::string& message);
  Status failStart(const std::string& message);  // failStartLocked + notifyWaiters
  bool finishedLocked() const { return exit_recorded_ || phase_ == Phase::kFailed; }
  Snapshot snapshotLocked() const;
  void notifyWaiters();  // runs the callbacks of waiters once finished

  void reapChildren();
  void onChildExitLocked(pid_t pid, int status);
  void maybeRecordExitLocked();
  bool readOomKilled() const;
  void writeExitFile() const;
  void writeLog(const std::string& data);
  void wake();

  AgentOptions opts_;
  std::string runtime_path_;
  std::string runtime_log_path_;
  std::string pid_file_path_;
  std::string exit_path_;
  std::string cgroups_path_;
  bool crun_hybrid_workaround_ = false;
  int sig_fd_ = -1;
  int wake_fd_ = -1;
  int log_fd_ = -1;
  int devnull_fd_ = -1;
  bool log_error_reported_ = false;  // loop thread only

  std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kCreated;
  pid_t init_pid_ = 0;
  bool init_reaped_ = false;
  int init_status_ = 0;
  int64_t finished_ns_ = 0;
  int pending_fds_[2] = {-1, -1};  // stdout, stderr read ends handed to the loop
  bool relay_done_ = false;
  bool exit_recorded_ = false;
  int32_t exit_code_ = 0;
  bool oom_killed_ = false;
  std::string error_;
  bool shutting_down_ = false;
  bool stop_loop_ = false;
  std::map<uint64_t, WaitCallback> waiters_;
  uint64_t next_waiter_ = 1;
  std::set<pid_t> watched_;                    // runtime invocations being waited for
  std::map<pid_t, int> child_status_;          // their statuses, until waitChild takes them
  std::deque<std::pair<pid_t, int>> orphans_;  // other reaped pids (bounded)
};

}  // namespace arca::agent
