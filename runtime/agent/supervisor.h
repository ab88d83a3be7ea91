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
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "runtime/agent/log_writer.h"

namespace arca::agent {

struct AgentOptions {
  std::string id;        // container id (also the OCI runtime's container id)
  std::string bundle;    // OCI bundle directory (config.json, rootfs/)
  std::string socket;    // unix socket to serve gRPC on
  std::string log_path;  // json-file log the container's output is appended to
  int64_t log_max_size = -1;  // json-file rotation (lifecycle): -1 never
  int log_max_files = 1;
  std::string runtime = "runc";
  std::string runtime_path;  // empty: look `runtime` up in $PATH
  std::string runtime_root;  // the OCI runtime's --root state directory
  int ready_fd = -1;         // written "ok\n" (or an error line) once serving
  // `runtime run --detach` instead of `create` + `start` (the VM guest: one
  // runtime process less, which costs ~0.3 s under TCG emulation).
  bool single_run = false;
};

enum class Phase { kCreated, kStarting, kRunning, kExited, kFailed };

// Where an attached client's output goes (an Attach stream). Called from the
// loop thread without the supervisor's lock held; must not block.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  // Bytes of stream 1 (stdout, or the terminal) or 2 (stderr).
  virtual void output(int stream, std::string_view data) = 0;
  // The process ended and all its output was delivered: the last call.
  virtual void exited(int exit_code) = 0;
  // Bytes queued and not yet sent: above kSinkHighWater the loop stops
  // reading the process's output until the sink calls Supervisor::wake().
  virtual size_t backlog() const = 0;
};
inline constexpr size_t kSinkHighWater = 1 << 20;
inline constexpr size_t kStdinHighWater = 1 << 20;

// An exec: a process started in the running container next to its init.
struct ExecOptions {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  std::string user;
  bool tty = false;
  bool open_stdin = false;
  bool privileged = false;
  uint32_t width = 0;
  uint32_t height = 0;
};

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
  // phase is kFailed and the message is the runtime's own error. With
  // `open_stdin` the init's stdin (a pipe, or its terminal) stays open for
  // attached clients; a terminal gets `width`x`height` when both are set.
  StatusOr<int32_t> start(bool open_stdin = false, uint32_t width = 0, uint32_t height = 0);

  // Starts exec `exec_id` (`runtime exec --detach`); `sink`, when given, is
  // attached before the process starts. AlreadyExists for a used id,
  // FailedPrecondition when the container does not run.
  StatusOr<int32_t> exec(const std::string& exec_id, const ExecOptions& o,
                         std::shared_ptr<OutputSink> sink, bool want_stdout, bool want_stderr);
  // Attaches `sink` to the init ("") or an exec. A process that has already
  // ended gets exited() at once. NotFound for an unknown exec.
  Status attach(const std::string& exec_id, std::shared_ptr<OutputSink> sink, bool want_stdout,
                bool want_stderr);
  void detach(const std::string& exec_id, const OutputSink* sink);
  // Queues bytes for the process's stdin; returns the bytes now queued (the
  // caller pauses above kStdinHighWater and is resumed through
  // addStdinWaiter). Bytes for a closed stdin are dropped.
  size_t writeStdin(const std::string& exec_id, std::string_view data);
  // Runs `fn` (from the loop thread) once the queue is below kStdinHighWater.
  void addStdinWaiter(const std::string& exec_id, std::function<void()> fn);
  // The process's stdin sees EOF once the queued bytes are written.
  void closeStdin(const std::string& exec_id);
  // TIOCSWINSZ on the process's terminal. FailedPrecondition without one.
  Status resize(const std::string& exec_id, uint32_t width, uint32_t height);
  // Runs `done(exit_code)` once exec `exec_id` has ended (at once if it has).
  // NotFound for an unknown exec.
  Status addExecWaiter(const std::string& exec_id, std::function<void(int)> done);
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
  // `runtime update --resources -` with `resources_json` (an OCI
  // LinuxResources object) on stdin. FailedPrecondition unless running; the
  // runtime's own error otherwise.
  Status update(const std::string& resources_json);

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
  // The runtime's last error in its log, from byte `from` on.
  std::string lastRuntimeError(int status, size_t from = 0) const;
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

 public:
  // Wakes the loop (sinks call it when their backlog drained).
  void wake();

 private:
  struct Sink {
    std::shared_ptr<OutputSink> sink;
    bool out = true;
    bool err = true;
  };
  // The stdio of one process: the init ("") or an exec.
  struct Proc {
    bool tty = false;
    bool is_init = false;
    int out_fd = -1;  // read ends handed to the loop (a terminal: its master)
    int err_fd = -1;
    int in_fd = -1;   // stdin write end (a terminal: a dup of the master); -1 closed
    int tty_fd = -1;  // the master, for resize
    bool fds_handed = false;  // the loop has taken out_fd/err_fd
    std::string in_buf;
    bool in_close = false;
    std::vector<std::function<void()>> in_waiters;
    std::vector<Sink> sinks;
    pid_t pid = 0;
    bool reaped = false;
    int status = 0;
    bool relay_done = false;
    bool finished = false;
    int exit_code = 0;
    int64_t finished_at_ms = 0;
    std::vector<std::function<void(int)>> exit_waiters;
  };
  Proc* procLocked(const std::string& exec_id);
  void finishExecLocked(const std::string& exec_id, Proc& p,
                        std::vector<std::function<void()>>* after);
  std::string execProcessJson(const ExecOptions& o, std::string* error);

  AgentOptions opts_;
  std::string runtime_path_;
  std::string runtime_log_path_;
  std::string pid_file_path_;
  std::string exit_path_;
  std::string cgroups_path_;
  bool crun_hybrid_workaround_ = false;
  int sig_fd_ = -1;
  int wake_fd_ = -1;
  std::unique_ptr<LogWriter> log_;  // the json-file log, with rotation
  int devnull_fd_ = -1;
  bool log_error_reported_ = false;  // loop thread only

  std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kCreated;
  pid_t init_pid_ = 0;
  bool init_reaped_ = false;
  int init_status_ = 0;
  int64_t finished_ns_ = 0;
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
  std::map<std::string, std::unique_ptr<Proc>> procs_;  // "" = the init
  std::map<pid_t, std::string> exec_pids_;               // running execs by pid
  std::string process_json_;  // config.json's "process", the base of every exec
  bool terminal_ = false;     // config.json asks for a terminal for the init
  uint64_t console_seq_ = 0;
};

}  // namespace arca::agent
