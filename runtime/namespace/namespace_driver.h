// The namespace sandbox: an OCI runtime (runc by default, or crun) runs the
// container from a bundle on an overlayfs root, supervised by a per-container
// arca-agent that outlives arcad.
//
// On disk, for container ID:
//   <containers_dir>/ID/{upper,work}   writable layer, kept until remove()
//   <exec_root>/c/ID/                  bundle: config.json, rootfs/ (overlay
//                                      mount), hostname, hosts, resolv.conf,
//                                      agent.log, agent.pid, runtime.log,
//                                      init.pid, exit.json (written by the agent)
//   <exec_root>/s/ID[0:16].sock        the agent's gRPC socket (short: unix
//                                      socket paths are limited to 107 bytes)
//   <exec_root>/runc/ (or crun/)       the OCI runtime's --root
//
// The driver keeps no state in memory: a new instance (after an arcad
// restart) finds running sandboxes through their sockets. Thread-safety as
// in SandboxDriver: calls for different ids may run concurrently.
#pragma once

#include <memory>
#include <string>

#include "runtime/sandbox_driver.h"

namespace arca::runtime {

struct NamespaceDriverOptions {
  std::string exec_root;             // runtime state, e.g. /var/run/arca
  std::string containers_dir;        // writable layers, e.g. <data-root>/containers
  std::string agent_path;            // the arca-agent binary
  std::string oci_runtime = "runc";  // "runc" or "crun"
  std::string oci_runtime_path;      // empty: look oci_runtime up in $PATH
};

class NamespaceDriver final : public SandboxDriver {
 public:
  // Checks the agent and the OCI runtime exist and creates the state dirs.
  static StatusOr<std::unique_ptr<NamespaceDriver>> create(const NamespaceDriverOptions& options);

  StatusOr<StartResult> start(const SandboxSpec& spec) override;
  Status signal(const std::string& id, int signal) override;
  StatusOr<ExitResult> wait(const std::string& id) override;
  ProbeResult probe(const std::string& id) override;
  Status cleanup(const std::string& id) override;
  Status remove(const std::string& id) override;
  std::string name() const override { return options_.oci_runtime; }
  // issue #4: stats, top, pause (agent RPCs)
  StatusOr<SandboxStats> stats(const std::string& id) override;
  StatusOr<ProcessList> top(const std::string& id, const std::string& ps_args) override;
  Status pause(const std::string& id) override;
  Status resume(const std::string& id) override;

  // Layout (see the file comment); exposed for diagnostics and tests.
  std::string bundleDir(const std::string& id) const;
  std::string socketPath(const std::string& id) const;
  std::string layerDir(const std::string& id) const;

 private:
  explicit NamespaceDriver(NamespaceDriverOptions options) : options_(std::move(options)) {}

  Status prepareBundle(const SandboxSpec& spec, const std::string& hostname);
  Status mountRootfs(const SandboxSpec& spec);
  Status spawnAgent(const SandboxSpec& spec);
  Status startFailed(const std::string& id, Status error);
  int agentPid(const std::string& id) const;  // 0 when unknown or not running
  void runtimeDelete(const std::string& id);

  NamespaceDriverOptions options_;
  std::string runtime_root_;
};

}  // namespace arca::runtime
