// The namespace sandbox: an OCI runtime (runc by default, or crun) runs the
// container from a bundle on an overlayfs root, supervised by a per-container
// arca-agent that outlives arcad.
//
// On disk, for container ID:
//   <containers_dir>/ID/{upper,work}   writable layer, kept until remove()
//   <containers_dir>/ID/init           Docker's init layer (mount points), below upper
//   <exec_root>/c/ID/                  bundle: config.json, rootfs/ (overlay
//                                      mount), hostname, hosts, resolv.conf,
//                                      agent.log, agent.pid, runtime.log,
//                                      init.pid, exit.json (written by the agent)
//   <exec_root>/s/ID[0:16].sock        the agent's gRPC socket (short: unix
//                                      socket paths are limited to 107 bytes)
//   <exec_root>/runc/ (or crun/)       the OCI runtime's --root
//   <exec_root>/m/ID.N                 a stopped container's root, mounted
//                                      privately during a docker cp/export
//
// The driver keeps no sandbox state in memory: a new instance (after an
// arcad restart) finds running sandboxes through their sockets. In memory
// are only per-container locks that keep root filesystem mounts (start,
// cleanup, withRootfs) from overlapping. Thread-safety as in SandboxDriver:
// calls for different ids may run concurrently.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include "runtime/namespace/oci_config.h"
#include "runtime/sandbox_driver.h"
#include "runtime/vm/vm_backend.h"

namespace arca::runtime {

struct NamespaceDriverOptions {
  std::string exec_root;             // runtime state, e.g. /var/run/arca
  std::string containers_dir;        // writable layers, e.g. <data-root>/containers
  std::string agent_path;            // the arca-agent binary
  std::string oci_runtime = "runc";  // "runc" or "crun"
  std::string oci_runtime_path;      // empty: look oci_runtime up in $PATH
  // issue #8: containers with runtime "arca-vm" run in a microVM through
  // this backend (null: the VM sandbox is unavailable). Not owned.
  VmBackend* vm = nullptr;
  std::string vm_unavailable;  // why not, for the start error
};

class NamespaceDriver final : public SandboxDriver {
 public:
  // Unmounts the private roots' directory (<exec-root>/m); agents and
  // sandboxes keep running.
  ~NamespaceDriver() override;
  // Checks the agent and the OCI runtime exist and creates the state dirs.
  static StatusOr<std::unique_ptr<NamespaceDriver>> create(const NamespaceDriverOptions& options);

  using SandboxDriver::start;
  StatusOr<StartResult> start(const SandboxSpec& spec,
                              const std::function<void()>& before_start) override;
  Status signal(const std::string& id, int signal) override;
  StatusOr<ExitResult> wait(const std::string& id) override;
  ProbeResult probe(const std::string& id) override;
  Status cleanup(const std::string& id) override;
  Status remove(const std::string& id) override;
  StatusOr<std::unique_ptr<IoStream>> attach(const std::string& id,
                                             const AttachOptions& options) override;
  StatusOr<int32_t> exec(const std::string& id, const std::string& exec_id,
                         const ExecProcess& process) override;
  StatusOr<int32_t> execWait(const std::string& id, const std::string& exec_id) override;
  Status resize(const std::string& id, const std::string& exec_id, uint32_t width,
                uint32_t height) override;
  Status update(const std::string& id, const std::string& resources_json) override;
  Status connectNic(const std::string& id, const SandboxNic& nic) override;
  std::string name() const override { return options_.oci_runtime; }
  using SandboxDriver::withRootfs;
  Status withRootfs(const std::string& id, const std::vector<std::string>& lower_dirs,
                    const std::vector<SandboxMount>& mounts,
                    const std::function<Status(const std::string& rootfs)>& fn) override;
  Status withLayers(const std::string& id, const std::vector<std::string>& lower_dirs,
                    const LayersFn& fn) override;
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
  // issue #8: boots the container's VM instead of a host agent.
  Status spawnVm(const SandboxSpec& spec);
  // Shares the config's bind sources with the guest (bound under
  // <bundle>/m/N) and points the config at the guest's paths.
  Status shareWithGuest(const std::string& bundle, OciConfigInput* in);
  bool isVm(const std::string& id) const;
  // The agent's channel: a host agent's socket, or the VM's serial link.
  std::shared_ptr<grpc::Channel> channelFor(const std::string& id) const;
  // After a call to the agent of `id`: a VM's broken link is dropped.
  void noteRpc(const std::string& id, const grpc::Status& st) const;
  grpc::Status noted(const std::string& id, grpc::Status st) const;  // noteRpc, then st
  std::string vmStateDir(const std::string& id) const;
  bool vmPaused(const std::string& id) const;  // a VM whose vCPUs docker pause stopped
  void resumeVm(const std::string& id);        // its vCPUs run again (no-op otherwise)
  Status startFailed(const std::string& id, Status error);
  int agentPid(const std::string& id) const;  // 0 when unknown or not running
  void runtimeDelete(const std::string& id);

  // The init layer (<containers_dir>/ID/init): Docker's mount points
  // (/etc/hosts, /etc/hostname, /etc/resolv.conf, /.dockerenv, /dev, /proc,
  // /sys...) made once below the writable layer, so that the runtime never
  // creates them in it (docker diff/commit would see them). Returns the
  // overlay lower dirs: the init layer, then `image_lowers`.
  StatusOr<std::vector<std::string>> layerStack(const std::string& id,
                                                const std::vector<std::string>& image_lowers);
  // Serializes root filesystem mounts of one container: start() and
  // cleanup() hold it exclusively, withRootfs() shared (live root) or
  // exclusively (private mount), so two overlays never share a writable layer.
  std::shared_ptr<std::shared_mutex> rootfsLock(const std::string& id);

  NamespaceDriverOptions options_;
  std::string runtime_root_;
  std::mutex locks_mu_;
  std::map<std::string, std::weak_ptr<std::shared_mutex>> rootfs_locks_;
  std::atomic<uint64_t> private_mounts_{0};
  std::map<std::string, SandboxStats> paused_stats_;  // guarded by locks_mu_
};

}  // namespace arca::runtime
