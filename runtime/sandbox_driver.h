// The sandbox driver interface: one implementation per isolation level
// (runtime/namespace/ now, runtime/vm/ later), one conformance suite.
//
// A driver turns a SandboxSpec into a running sandbox owned by an agent
// (arca-agent) that outlives arcad. All methods are blocking and may be called
// from any executor thread; calls for different ids may run concurrently,
// calls for one id are serialized by the caller (the executor).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "runtime/sandbox_resources.h"
#include "runtime/sandbox_stats.h"

namespace arca::runtime {

// A mount of the container (issue #6), in host terms: a volume is a bind of
// its data directory (prepared by the executor), so every sandbox sees the
// same three kinds. The namespace sandbox binds them; the VM sandbox shares
// them with its guest.
struct SandboxMount {
  enum class Kind { kBind, kTmpfs } kind = Kind::kBind;
  std::string source;       // host path (kBind)
  std::string destination;  // absolute path in the container
  bool readonly = false;
  std::string propagation;  // "" = rprivate
  bool recursive = true;    // rbind (bind-recursive=disabled: bind)
  bool readonly_recursive = true;  // read-only submounts too (bind-recursive=writable: false)
  std::string volume;       // the volume's name ("" for binds and tmpfs)
  std::vector<std::string> tmpfs_options;  // "size=1048576", "mode=1777", "noexec", ...
};

// The runtime names (HostConfig.Runtime): the namespace sandbox answers to
// "runc" (and "arca", "crun"), the VM sandbox to "arca-vm" (issue #8).
inline constexpr char kVmRuntime[] = "arca-vm";

// A network endpoint the sandbox's NIC takes (the VM sandbox: the guest's
// address; the namespace sandbox has it in its namespace already).
struct SandboxNic {
  std::string mac;
  std::string ipv4;
  int prefix = 16;
  std::string gateway;
  bool default_route = false;
};

struct SandboxSpec {
  std::string id;                       // full 64-hex container id
  std::vector<std::string> args;        // argv, argv[0] resolved by the runtime in $PATH
  std::vector<std::string> env;         // "K=V"
  std::string cwd = "/";
  std::string user;                     // "", "uid", "uid:gid", "name", "name:group"
  std::string hostname;
  std::vector<std::string> lower_dirs;  // image layers, top-most first
  std::string log_path;                 // json-file log (the agent appends to it)
  std::string network_mode = "none";    // HostConfig.NetworkMode, for information
  std::string runtime;                  // HostConfig.Runtime ("" = the namespace sandbox)
  std::vector<SandboxNic> nics;         // the endpoints in netns_path (issue #8)
  // Networking (issue #5). The network plane prepared the namespace.
  std::string netns_path;     // join this network namespace ("" = a new, empty one)
  bool host_network = false;  // share the host's (--network host)
  std::vector<std::string> hosts_entries;  // /etc/hosts lines after localhost ("ip\tname")
  std::vector<std::string> nameservers;    // replace the host's nameservers (embedded DNS)
  bool readonly_rootfs = false;
  std::vector<SandboxMount> mounts;  // issue #6: volumes, binds, tmpfs (the parents first)
  bool tty = false;         // the init gets a terminal (Config.Tty)
  bool open_stdin = false;  // its stdin stays open for attached clients (Config.OpenStdin)
  uint32_t console_width = 0;   // the terminal's initial size (HostConfig.ConsoleSize)
  uint32_t console_height = 0;
  SandboxResources resources;  // cgroup limits (docker update changes them live)
  SandboxSecurity security;    // capabilities, devices, init, /etc files, ...
  // json-file rotation (lifecycle): rotate at `log_max_size` bytes (-1: never),
  // keeping `log_max_files` files (<log>, <log>.1 ... <log>.N-1).
  int64_t log_max_size = -1;
  int log_max_files = 1;
};

// A process started in a running sandbox (docker exec).
struct ExecProcess {
  std::vector<std::string> args;
  std::vector<std::string> env;  // complete: the container's + the exec's
  std::string cwd;               // "" -> the container's working directory
  std::string user;              // resolved inside the sandbox
  bool tty = false;
  bool open_stdin = false;
  bool privileged = false;
  uint32_t width = 0;
  uint32_t height = 0;
};

struct AttachOptions {
  std::string exec_id;  // "" = the container's init
  bool stdin = false;
  bool stdout = true;
  bool stderr = true;
  bool start_exec = false;  // start exec `exec_id` with the stream attached
  ExecProcess exec;
};

// What an attached stream yields.
struct IoEvent {
  enum class Kind { kOpened, kOutput, kExit } kind = Kind::kOutput;
  int stream = 1;  // kOutput: 1 stdout (or the terminal), 2 stderr
  std::string data;
  int32_t exit_code = 0;  // kExit
  int32_t pid = 0;        // kOpened: the process's pid once known (0: not yet)
};

// One attached stream to a process in a sandbox. read() runs on one thread,
// writeStdin()/closeStdin()/detach() on one other; cancel() on any.
class IoStream {
 public:
  virtual ~IoStream() = default;
  // The next event; false once the stream is over (then finish()).
  virtual bool read(IoEvent* ev) = 0;
  virtual bool writeStdin(std::string_view data) = 0;
  virtual bool closeStdin() = 0;
  // Detaches (the process keeps running); read() ends after what is queued.
  virtual void detach() = 0;
  virtual void cancel() = 0;
  // After read() returned false: why the stream ended.
  virtual Status finish() = 0;
};

struct StartResult {
  int32_t pid = 0;
};

struct ExitResult {
  int32_t exit_code = 0;  // 128+N when killed by signal N
  bool oom_killed = false;
  int64_t finished_ns = 0;
};

struct ProbeResult {
  enum class Phase { kMissing, kCreated, kRunning, kExited, kFailed } phase = Phase::kMissing;
  int32_t pid = 0;
  ExitResult exit;
  std::string error;
};

class SandboxDriver {
 public:
  virtual ~SandboxDriver() = default;
  // Prepares the root filesystem and bundle, starts the agent and the
  // container's process. On failure nothing is left running; the error text
  // says what failed, with Docker's wording where clients match on it
  // ("exec: \"nope\": executable file not found in $PATH").
  // `before_start` runs once the agent is up, before the process starts
  // (attach streams opened there see all of the process's output).
  virtual StatusOr<StartResult> start(const SandboxSpec& spec,
                                      const std::function<void()>& before_start) = 0;
  StatusOr<StartResult> start(const SandboxSpec& spec) { return start(spec, [] {}); }
  // Sends `signal` to the container's init. NotFound if no sandbox.
  virtual Status signal(const std::string& id, int signal) = 0;
  // Blocks until the process has exited and its output is flushed to the log.
  virtual StatusOr<ExitResult> wait(const std::string& id) = 0;
  // Non-blocking: what state is the sandbox in (used after an arcad restart).
  virtual ProbeResult probe(const std::string& id) = 0;
  // After exit: stops the agent, deletes the OCI container, unmounts the
  // rootfs. Keeps the writable layer (docker start reuses it). Idempotent.
  virtual Status cleanup(const std::string& id) = 0;
  // Removes everything of the container on disk (writable layer, bundle).
  // Idempotent. The log file is removed by the caller.
  virtual Status remove(const std::string& id) = 0;
  // Attaches to the init or an exec (or starts an exec attached). NotFound
  // without a sandbox; FailedPrecondition when it does not run.
  virtual StatusOr<std::unique_ptr<IoStream>> attach(const std::string& id,
                                                     const AttachOptions& options) = 0;
  // Starts exec `exec_id` detached; returns its pid.
  virtual StatusOr<int32_t> exec(const std::string& id, const std::string& exec_id,
                                 const ExecProcess& process) = 0;
  // Blocks until exec `exec_id` has ended; its exit code.
  virtual StatusOr<int32_t> execWait(const std::string& id, const std::string& exec_id) = 0;
  // The terminal size of the init ("") or an exec. FailedPrecondition
  // without a terminal.
  virtual Status resize(const std::string& id, const std::string& exec_id, uint32_t width,
                        uint32_t height) = 0;
  // docker update on a running sandbox: applies `resources_json` (an OCI
  // LinuxResources object, see ociLinuxResourcesJson) live. FailedPrecondition
  // when not running; the runtime's error otherwise.
  virtual Status update(const std::string& id, const std::string& resources_json) {
    (void)id;
    (void)resources_json;
    return NotImplemented("this sandbox driver cannot update resources");
  }
  // issue #8: a running sandbox joined a network whose endpoint the network
  // plane made in its namespace (the VM sandbox gives it to the guest).
  virtual Status connectNic(const std::string& id, const SandboxNic& nic) {
    (void)id;
    (void)nic;
    return Status::Ok();
  }
  // Runtime name for /info ("runc").
  virtual std::string name() const = 0;

  // --- The container's files (docker cp / export / diff / commit) ---------
  // Runs `fn` with the container's merged root filesystem at a host path:
  // the live root while the sandbox runs, else the writable layer over
  // `lower_dirs` (image layers, top-most first) mounted privately for the
  // duration of the call. start(), cleanup() and remove() of the same id wait
  // until `fn` returns (and `fn` never sees a half-mounted root). Any thread.
  // With `mounts` (issue #6: docker cp), the volumes and binds among them
  // are mounted at their destinations in that root, so `fn` reads and writes
  // them rather than the layer below (tmpfs mounts are not reachable).
  virtual Status withRootfs(const std::string& id, const std::vector<std::string>& lower_dirs,
                            const std::vector<SandboxMount>& mounts,
                            const std::function<Status(const std::string& rootfs)>& fn) = 0;
  Status withRootfs(const std::string& id, const std::vector<std::string>& lower_dirs,
                    const std::function<Status(const std::string& rootfs)>& fn) {
    return withRootfs(id, lower_dirs, {}, fn);
  }
  // Runs `fn` with the container's writable layer in overlay format
  // (`upper`; it may not exist yet) and every layer below it, top-most first
  // (the driver's own layers, then `lower_dirs`). The layer may belong to a
  // running sandbox: `fn` only reads. remove() waits until `fn` returns.
  using LayersFn =
      std::function<Status(const std::string& upper, const std::vector<std::string>& lowers)>;
  virtual Status withLayers(const std::string& id, const std::vector<std::string>& lower_dirs,
                            const LayersFn& fn) = 0;
  // --- issue #4: stats, top, pause (the agent answers; drivers without one
  // answer NotImplemented) ---
  // One sample of the sandbox's counters; running=false once the process is
  // gone. NotFound if no sandbox.
  virtual StatusOr<SandboxStats> stats(const std::string& id) {
    return NotImplemented("stats not supported by " + name() + " (" + id + ")");
  }
  // `ps` with `ps_args` ("" -> "-ef") limited to the container's processes.
  // FailedPrecondition when not running; Internal with ps's error.
  virtual StatusOr<ProcessList> top(const std::string& id, const std::string& ps_args) {
    return NotImplemented("top not supported by " + name() + " (" + id + ps_args + ")");
  }
  // Freezes / thaws every process of the container.
  virtual Status pause(const std::string& id) {
    return NotImplemented("pause not supported by " + name() + " (" + id + ")");
  }
  virtual Status resume(const std::string& id) {
    return NotImplemented("resume not supported by " + name() + " (" + id + ")");
  }
};

// The exit code Docker records for a container whose start failed, from the
// failure text (moby's translateContainerdStartErr): 127 when the command is
// missing, 126 when it cannot be invoked, 128 otherwise. Start errors of
// kind 126/127 are Docker's "invalid parameter" (HTTP 400), others are 500.
inline int32_t startFailureExitCode(std::string_view message) {
  std::string m(message);
  for (char& c : m) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  int32_t code = 128;
  if (m.find("executable file not found") != std::string::npos ||
      m.find("no such file or directory") != std::string::npos) {
    code = 127;
  }
  if (m.find("permission denied") != std::string::npos) code = 126;
  return code;
}

}  // namespace arca::runtime
