// The VM sandbox's host side (issue #8): one QEMU microVM per container.
//
// The namespace driver keeps doing everything on the host that it does for a
// namespace sandbox (the overlay root, the bundle, the init layer, docker cp)
// and hands a VM container to this backend instead of spawning a host agent:
//   - the guest boots this machine's kernel (kernel/build.sh) with a
//     read-only system disk holding arca-agent, crun, busybox and their
//     libraries (made here once per set of binaries, cached by key);
//   - the bundle (with the overlay root mounted in it) is exported to the
//     guest over virtio-9p; binds and volumes are bound into it on the host;
//   - the agent (PID 1 in the guest) answers on a virtio-serial port that
//     QEMU connects to the unix socket where a host agent's socket would be;
//     arcad talks to it through one from-fd gRPC channel per VM (a QEMU
//     chardev serves one client at a time);
//   - each network endpoint of the container's namespace (prepared by the
//     network plane as for any container) is bridged in that namespace to a
//     tap that QEMU's virtio-net uses: the guest takes the endpoint's
//     address and MAC, so DNS, ports and isolation behave as before.
// QEMU is daemonized: it outlives arcad, and a new arcad finds it by its
// pidfile and its socket.
#pragma once

#include <grpcpp/channel.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/status.h"
#include "runtime/sandbox_driver.h"

namespace arca::runtime {

struct VmOptions {
  std::string state_dir;   // per-VM state (<exec-root>/vm): pidfile, console log
  std::string cache_dir;   // <data-root>/vm: system disks (sys/<key>/sys.img)
  std::string kernel;      // guest kernel: vmlinux (PVH entry) or bzImage
  std::string qemu;        // qemu-system-x86_64 ("" = $PATH)
  std::string agent_path;  // the arca-agent binary the guest runs as PID 1
  std::string crun_path;   // "" = $PATH
  std::string busybox_path;  // "" = $PATH (busybox for ps/top in the guest)
  std::string accel = "auto";  // "auto" (probe KVM by a boot, else TCG), "kvm", "tcg"
};

// A guest NIC: the endpoint's address and MAC, on a tap in its namespace.
using VmNic = SandboxNic;

struct VmBootSpec {
  std::string id;
  std::string share_dir;     // exported to the guest as /run/arca/bundle
  std::string agent_socket;  // the chardev socket of the agent's port
  std::string netns_path;    // the container's network namespace ("" = no NIC)
  std::vector<VmNic> nics;
  int memory_mb = 128;
  int cpus = 1;
};

class VmBackend {
 public:
  // Checks qemu, the kernel and the binaries, makes the system disk.
  static StatusOr<std::unique_ptr<VmBackend>> create(const VmOptions& options);
  // What is missing for the VM sandbox on this machine (empty: nothing):
  // the lines `arcad doctor` and the start-up warning print.
  static std::vector<std::string> missing(const VmOptions& options);

  // Starts the VM (QEMU daemonized) and waits until the guest agent answers
  // (boot-to-agent). On failure nothing of the VM is left running.
  Status boot(const VmBootSpec& spec);
  // The channel to the guest agent of `id` (one per VM, reconnected when broken).
  std::shared_ptr<grpc::Channel> channel(const std::string& id, const std::string& socket);
  void dropChannel(const std::string& id);
  // docker network connect on a running VM: one of its spare NICs takes the
  // endpoint `nic` (whose veth the network plane made in the VM's namespace).
  // FailedPrecondition when no spare is left.
  Status attachNic(const std::string& id, const std::string& socket, const VmNic& nic);
  // docker pause / unpause: QEMU stops / resumes the VM's vCPUs (QMP). While
  // stopped the guest answers nothing: paused() tells the driver not to ask.
  Status pauseVcpus(const std::string& id);
  // No-op unless paused; then the guest's clock is set again (SetTime).
  Status resumeVcpus(const std::string& id, const std::string& socket);
  bool paused(const std::string& id) const;
  // QEMU's pid for `id` (0 when not running).
  int qemuPid(const std::string& id) const;
  // After the guest powered off (or to force it): waits up to `grace_ms`
  // for QEMU to exit, kills it after that, removes its state.
  void stop(const std::string& id, int grace_ms);
  // The same for the VM whose state directory is `dir`, without a backend
  // (an arcad restarted without the VM sandbox still stops its VMs).
  static void stopAt(const std::string& dir, int grace_ms);
  // "kvm" or "tcg", and why (docker info / doctor).
  std::string accelerator() const { return accel_; }
  std::string acceleratorNote() const { return accel_note_; }
  std::string kernel() const { return options_.kernel; }
  // A VM's state directory on the host (exists while it may run), under a
  // given VmOptions::state_dir (no backend needed).
  static std::string stateDirIn(const std::string& state_dir, const std::string& id) {
    return state_dir + "/" + id.substr(0, 16);
  }

 private:
  explicit VmBackend(VmOptions options) : options_(std::move(options)) {}
  Status makeSystemDisk();
  Status qmp(const std::string& id, const std::string& command);  // one command, its reply
  void chooseAccelerator();
  std::vector<std::string> qemuArgv(const VmBootSpec& spec, const std::string& dir,
                                    const std::string& cmdline, bool probe,
                                    const std::string& accel,
                                    const std::vector<std::string>& macs) const;
  std::string dir(const std::string& id) const;
  // A pidfd of the QEMU whose state directory is `dir` (-1: none running).
  static int openQemu(const std::string& dir);

  VmOptions options_;
  std::string sys_image_;
  std::string accel_ = "tcg";
  std::string accel_note_;
  long tsc_khz_ = 0;
  mutable std::mutex mu_;
  std::mutex nic_mu_;  // attachNic
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace arca::runtime
