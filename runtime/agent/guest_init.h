// The VM sandbox's guest side (issue #8): arca-agent as PID 1 of a microVM.
//
// The host (runtime/vm/) boots the guest kernel with `init=/sbin/arca-agent`
// on a read-only system disk, exports the container's bundle over virtio-9p
// (tag "arca") and connects QEMU's virtio-serial port "arca.agent" to a unix
// socket. As PID 1 the agent mounts what a Linux userland needs, mounts the
// share at /run/arca, configures the NICs the host listed, and serves the same
// gRPC service as on the host, over the serial port (SerialRelay). When the
// container has ended and the host has said Shutdown, it syncs and reboots,
// which ends QEMU (reboot=t, -no-reboot).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "engine/status.h"

namespace grpc {
class Server;
}

namespace arca::agent {

// Where the guest finds what the host shared: the bundle is the 9p export.
inline constexpr const char* kGuestShare = "/run/arca";
inline constexpr const char* kGuestBundle = "/run/arca/bundle";
inline constexpr const char* kShareTag = "arca";
inline constexpr const char* kAgentPortName = "arca.agent";

// PID 1's set-up before the agent proper: mounts, clock, the share, NICs.
// Returns the agent's arguments (read from <bundle>/agent.args, one per line).
StatusOr<std::vector<std::string>> guestSetUp();

// Gives the guest NIC whose MAC is `mac` a new MAC (when not empty), the
// address `ipv4_cidr` and, with `default_route`, the default route via
// `gateway`; brings it up (docker network connect on a running VM).
Status configureGuestInterface(const std::string& mac, const std::string& new_mac,
                               const std::string& ipv4_cidr, const std::string& gateway,
                               bool default_route);

// Ends the VM: sync, then reboot (QEMU exits). Never returns.
[[noreturn]] void guestPowerOff();

// Relays bytes between the virtio-serial port and a gRPC server transport.
// A char device cannot carry gRPC's endpoint (recvmsg/sendmsg), so each host
// connection gets a socketpair: one end goes to the server
// (AddInsecureChannelFromFd), the relay copies between the other and the
// port. When the host goes away (the port reports POLLHUP) the pair is
// closed, which ends the transport and cancels its calls; a new host gets a
// new pair. One thread, non-blocking I/O on both sides.
class SerialRelay {
 public:
  // Finds the port named `name` under /sys/class/virtio-ports and opens it.
  static StatusOr<int> openPort(const std::string& name);
  SerialRelay(int port_fd, grpc::Server* server) : port_(port_fd), server_(server) {}
  // Runs until stop() (on its own thread).
  void run();
  void stop() { stop_ = true; }

 private:
  int port_;
  grpc::Server* server_;
  std::atomic<bool> stop_{false};
};

}  // namespace arca::agent
