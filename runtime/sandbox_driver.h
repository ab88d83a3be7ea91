// The sandbox driver interface: one implementation per isolation level
// (runtime/namespace/ now, runtime/vm/ later), one conformance suite.
//
// A driver turns a SandboxSpec into a running sandbox owned by an agent
// (arca-agent) that outlives arcad. All methods are blocking and may be called
// from any executor thread; calls for different ids may run concurrently,
// calls for one id are serialized by the caller (the executor).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "runtime/sandbox_stats.h"

namespace arca::runtime {

struct SandboxSpec {
  std::string id;                       // full 64-hex container id
  std::vector<std::string> args;        // argv, argv[0] resolved by the runtime in $PATH
  std::vector<std::string> env;         // "K=V"
  std::string cwd = "/";
  std::string user;                     // "", "uid", "uid:gid", "name", "name:group"
  std::string hostname;
  std::vector<std::string> lower_dirs;  // image layers, top-most first
  std::string log_path;                 // json-file log (the agent appends to it)
  std::string network_mode = "none";    // only "none" in this slice
  bool readonly_rootfs = false;
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
  virtual StatusOr<StartResult> start(const SandboxSpec& spec) = 0;
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
  // Runtime name for /info ("runc").
  virtual std::string name() const = 0;

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
