// The userland proxy for one published port (what docker-proxy does): host
// clients connect to a socket the caller bound in the HOST network namespace;
// each connection (TCP) or client address (UDP) gets its own socket to the
// container's address, made by a caller-supplied factory — the network helper
// makes those in its own namespace with socketInNetns().
//
// TCP: one thread accepts; each connection gets two threads, one per
// direction, moving bytes with splice() through a pipe (no copies through user
// space). A client's EOF becomes shutdown(SHUT_WR) towards the container and
// vice versa, so half-closed exchanges (`nc -N`, HTTP/1.0 bodies ended by EOF)
// work. If the container cannot be reached within the connect timeout the
// client's connection is closed, as docker-proxy does.
// UDP: one thread; each client address gets a connected socket to the
// container, dropped after an idle timeout; replies go back with sendto().
//
// Threads: construct, start() and stop() from one controlling thread (never
// from a proxy thread); the proxy's own threads touch nothing outside it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/status.h"

namespace arca::net {

struct PortProxyOptions {
  // A TCP connection to the container that is not up by then is given up
  // (the client's connection is closed).
  std::chrono::milliseconds connect_timeout{5000};
  // A UDP flow with no datagram in either direction for this long is dropped.
  std::chrono::milliseconds udp_idle_timeout{90000};
  // Capacity asked for each splice pipe (F_SETPIPE_SZ); best effort.
  int pipe_size = 1 << 20;
};

class PortProxy {
 public:
  enum class Protocol { kTcp, kUdp };
  // Makes an unconnected socket (SOCK_CLOEXEC wanted) of `domain` and `type`
  // (SOCK_STREAM or SOCK_DGRAM) from which the container's address is
  // reachable; returns -1 on failure. Called on proxy threads.
  using BackendSocketFn = std::function<int(int domain, int type)>;

  // `listen_fd`: a listening TCP socket or a bound UDP socket (see listenTcp
  // and listenUdp); the proxy owns it from here on and closes it in stop().
  // `backend`: the container's address (sockaddr_in or sockaddr_in6).
  PortProxy(Protocol protocol, int listen_fd, const sockaddr* backend, socklen_t backend_len,
            BackendSocketFn backend_socket, PortProxyOptions options = {});
  ~PortProxy();  // stop()
  PortProxy(const PortProxy&) = delete;
  PortProxy& operator=(const PortProxy&) = delete;

  // Starts serving. InvalidArgument when the descriptor is not a socket of
  // the right kind (TCP: listening), FailedPrecondition when started twice.
  Status start();
  // Closes the listener and every live connection or flow and joins all
  // threads; returns promptly even while connections are idle. Idempotent.
  void stop();

  // Live TCP connections or UDP flows (for tests and `docker port`-style
  // diagnostics).
  size_t activeConnections() const;

  // A SOCK_STREAM (SO_REUSEADDR) or SOCK_DGRAM socket bound to
  // host_ip:port — IPv4 or IPv6 literal, empty means 0.0.0.0; port 0 lets the
  // kernel choose — and for TCP listening. Made in the namespace `netns_fd`
  // when it is >= 0, else in the calling thread's. An address in use gives
  // AlreadyExists with Docker's text: "Bind for 127.0.0.1:18080 failed: port
  // is already allocated". UDP gets no SO_REUSEADDR: on Linux it would let a
  // second socket bind the same port silently.
  static StatusOr<int> listenTcp(const std::string& host_ip, uint16_t port, int netns_fd = -1);
  static StatusOr<int> listenUdp(const std::string& host_ip, uint16_t port, int netns_fd = -1);
  // The local port `fd` is bound to.
  static StatusOr<uint16_t> boundPort(int fd);

 private:
  struct Conn;
  struct UdpFlow;

  void acceptLoop();
  void serveTcp(Conn* conn);
  int connectBackend();
  void relay(int src, int dst);
  void udpLoop();
  void reapFinished();
  // Waits up to `timeout` for stop(); true when stopping.
  bool waitStop(std::chrono::milliseconds timeout) const;

  const Protocol protocol_;
  int listen_fd_;
  sockaddr_storage backend_{};
  socklen_t backend_len_;
  const BackendSocketFn backend_socket_;
  const PortProxyOptions options_;
  int stop_fd_ = -1;  // eventfd, readable once stop() began; never drained
  std::thread main_thread_;
  bool started_ = false;

  mutable std::mutex mu_;
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::unique_ptr<Conn>> conns_;  // guarded by mu_
  std::atomic<size_t> udp_flows_{0};
};

}  // namespace arca::net
