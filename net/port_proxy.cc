#include "net/port_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <system_error>
#include <unordered_map>

#include "net/netns.h"

namespace arca::net {
namespace {

using Clock = std::chrono::steady_clock;

std::string errText(int e) {
  std::string s = std::generic_category().message(e);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;  // Go's spelling ("address already in use"), which Docker's messages carry
}

void setNonBlocking(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

// A write to a socket whose peer is gone raises SIGPIPE in the writing
// thread; proxy threads block it (their children inherit the mask), so a
// vanished client costs an EPIPE, never the process.
void blockSigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
}

int sockOptInt(int fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof v;
  return getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

StatusOr<int> bindSocket(const std::string& host_ip, uint16_t port, int type, int netns_fd) {
  std::string ip = host_ip.empty() ? "0.0.0.0" : host_ip;
  struct addrinfo hints {};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = type;
  struct addrinfo* res = nullptr;
  if (getaddrinfo(ip.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    return InvalidArgument("invalid host IP address: " + host_ip);
  }
  sockaddr_storage ss{};
  socklen_t len = std::min<socklen_t>(res->ai_addrlen, sizeof ss);
  std::memcpy(&ss, res->ai_addr, len);
  freeaddrinfo(res);
  bool v6 = ss.ss_family == AF_INET6;
  int fd;
  if (netns_fd >= 0) {
    ARCA_ASSIGN_OR_RETURN(fd, socketInNetns(netns_fd, ss.ss_family, type, 0));
  } else {
    fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
    if (fd < 0) return Internal(std::string("socket: ") + errText(errno));
  }
  int one = 1;
  if (type == SOCK_STREAM) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Docker binds IPv4 and IPv6 separately; "::" must not also take 0.0.0.0.
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  std::string where = (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int e = errno;
    close(fd);
    if (e == EADDRINUSE) return AlreadyExists("Bind for " + where + " failed: port is already allocated");
    const char* proto = type == SOCK_STREAM ? (v6 ? "tcp6" : "tcp4") : (v6 ? "udp6" : "udp4");
    return Internal(std::string("listen ") + proto + " " + where + ": bind: " + errText(e));
  }
  if (type == SOCK_STREAM && listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    close(fd);
    return Internal("listen tcp " + where + ": " + errText(e));
  }
  return fd;
}

}  // namespace

// One accepted TCP connection. `client` and `backend` are closed by the
// connection's thread under mu_, so stop() can shut them down without racing
// a close (and a reuse of the number).
struct PortProxy::Conn {
  int client = -1;   // guarded by mu_
  int backend = -1;  // guarded by mu_
  bool done = false;  // guarded by mu_
  std::thread thread;  // touched by the accept thread and stop() only
};

struct PortProxy::UdpFlow {
  sockaddr_storage client{};
  socklen_t client_len = 0;
  int fd = -1;  // connected to the container
  Clock::time_point last;
};

PortProxy::PortProxy(Protocol protocol, int listen_fd, const sockaddr* backend, socklen_t backend_len,
                     BackendSocketFn backend_socket, PortProxyOptions options)
    : protocol_(protocol),
      listen_fd_(listen_fd),
      backend_len_(std::min<socklen_t>(backend_len, sizeof backend_)),
      backend_socket_(std::move(backend_socket)),
      options_(options) {
  if (backend) std::memcpy(&backend_, backend, backend_len_);
}

PortProxy::~PortProxy() {
  stop();
  if (stop_fd_ >= 0) close(stop_fd_);
}

Status PortProxy::start() {
  if (started_) return FailedPrecondition("port proxy already started");
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return FailedPrecondition("port proxy stopped");
  }
  int want = protocol_ == Protocol::kTcp ? SOCK_STREAM : SOCK_DGRAM;
  if (sockOptInt(listen_fd_, SOL_SOCKET, SO_TYPE) != want ||
      (protocol_ == Protocol::kTcp && sockOptInt(listen_fd_, SOL_SOCKET, SO_ACCEPTCONN) != 1)) {
    return InvalidArgument(protocol_ == Protocol::kTcp ? "port proxy needs a listening TCP socket"
                                                       : "port proxy needs a bound UDP socket");
  }
  bool v4 = backend_.ss_family == AF_INET && backend_len_ >= sizeof(sockaddr_in);
  bool v6 = backend_.ss_family == AF_INET6 && backend_len_ >= sizeof(sockaddr_in6);
  if (!v4 && !v6) return InvalidArgument("port proxy backend must be an IPv4 or IPv6 address");
  if (!backend_socket_) return InvalidArgument("port proxy needs a backend socket factory");
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) return Internal(std::string("eventfd: ") + errText(errno));
  setNonBlocking(listen_fd_, true);
  try {
    main_thread_ = std::thread([this] { protocol_ == Protocol::kTcp ? acceptLoop() : udpLoop(); });
  } catch (const std::system_error& e) {
    return Unavailable(std::string("starting port proxy thread: ") + e.what());
  }
  started_ = true;
  return Status::Ok();
}

void PortProxy::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (stop_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t unused = write(stop_fd_, &one, sizeof one);
    (void)unused;
  }
  if (main_thread_.joinable()) main_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns;
  {
    // Shutting a socket down wakes every splice() blocked on it, idle or not.
    std::lock_guard<std::mutex> l(mu_);
    for (auto& c : conns_) {
      if (c->client >= 0) shutdown(c->client, SHUT_RDWR);
      if (c->backend >= 0) shutdown(c->backend, SHUT_RDWR);
    }
    conns.swap(conns_);
  }
  for (auto& c : conns) c->thread.join();
}

size_t PortProxy::activeConnections() const {
  if (protocol_ == Protocol::kUdp) return udp_flows_.load();
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<size_t>(
      std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return !c->done; }));
}

bool PortProxy::waitStop(std::chrono::milliseconds timeout) const {
  struct pollfd p = {stop_fd_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

void PortProxy::reapFinished() {
  std::vector<std::unique_ptr<Conn>> finished;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto mid = std::partition(conns_.begin(), conns_.end(), [](const auto& c) { return !c->done; });
    std::move(mid, conns_.end(), std::back_inserter(finished));
    conns_.erase(mid, conns_.end());
  }
  for (auto& c : finished) c->thread.join();  // already past its last statement
}

void PortProxy::acceptLoop() {
  blockSigpipe();
  for (;;) {
    struct pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    if (!p[0].revents) continue;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      // Out of descriptors or memory: back off instead of spinning on a
      // listener that stays readable.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (waitStop(std::chrono::milliseconds(100))) break;
      }
      continue;
    }
    reapFinished();
    auto conn = std::make_unique<Conn>();
    conn->client = c;
    Conn* raw = conn.get();
    std::lock_guard<std::mutex> l(mu_);
    try {
      raw->thread = std::thread([this, raw] { serveTcp(raw); });
    } catch (const std::system_error&) {
      close(c);
      continue;
    }
    conns_.push_back(std::move(conn));
  }
}

int PortProxy::connectBackend() {
  int fd = backend_socket_(backend_.ss_family, SOCK_STREAM);
  if (fd < 0) return -1;
  setNonBlocking(fd, true);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&backend_), backend_len_);
  if (rc != 0 && errno == EINPROGRESS) {
    auto deadline = Clock::now() + options_.connect_timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      struct pollfd p[2] = {{fd, POLLOUT, 0}, {stop_fd_, POLLIN, 0}};
      int n = poll(p, 2, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (n < 0 && errno == EINTR) continue;
      rc = (n > 0 && p[0].revents && !p[1].revents && sockOptInt(fd, SOL_SOCKET, SO_ERROR) == 0) ? 0 : -1;
      break;
    }
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  setNonBlocking(fd, false);
  return fd;
}

void PortProxy::serveTcp(Conn* conn) {
  int backend = connectBackend();
  int client;
  {
    std::lock_guard<std::mutex> l(mu_);
    client = conn->client;
    if (backend >= 0 && stopping_) {  // stop() may have swept already: do not start relaying
      close(backend);
      backend = -1;
    }
    conn->backend = backend;
  }
  if (backend >= 0) {
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread back;
    try {
      back = std::thread([this, backend, client] { relay(backend, client); });
    } catch (const std::system_error&) {
    }
    if (back.joinable()) {
      relay(client, backend);
      back.join();
    }
  }
  // No backend: the client's connection is closed, as docker-proxy does.
  std::lock_guard<std::mutex> l(mu_);
  close(conn->client);
  if (conn->backend >= 0) close(conn->backend);
  conn->client = conn->backend = -1;
  conn->done = true;
}

// Moves src's bytes to dst until src's EOF, then half-closes dst. On an
// error either way both sockets are shut down, which ends the other direction.
void PortProxy::relay(int src, int dst) {
  int p[2];
  bool ok = pipe2(p, O_CLOEXEC) == 0;
  if (ok) {
    fcntl(p[1], F_SETPIPE_SZ, options_.pipe_size);  // best effort; the default 64 KiB works too
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    size_t chunk = cap > 0 ? static_cast<size_t>(cap) : 65536;
    while (ok) {
      ssize_t n = splice(src, nullptr, p[1], nullptr, chunk, SPLICE_F_MOVE);
      if (n == 0) break;
      if (n < 0) {
        ok = errno == EINTR;
        continue;
      }
      while (n > 0) {
        ssize_t m = splice(p[0], nullptr, dst, nullptr, static_cast<size_t>(n), SPLICE_F_MOVE);
        if (m > 0) {
          n -= m;
        } else if (m < 0 && errno != EINTR) {
          ok = false;
          break;
        }
      }
    }
    close(p[0]);
    close(p[1]);
  }
  if (ok) {
    shutdown(dst, SHUT_WR);
  } else {
    shutdown(src, SHUT_RDWR);
    shutdown(dst, SHUT_RDWR);
  }
}

void PortProxy::udpLoop() {
  blockSigpipe();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return;
  auto watch = [ep](int fd) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  watch(listen_fd_);
  watch(stop_fd_);
  std::map<std::string, std::unique_ptr<UdpFlow>> by_client;
  std::unordered_map<int, UdpFlow*> by_fd;
  auto drop = [&](UdpFlow* f) {
    epoll_ctl(ep, EPOLL_CTL_DEL, f->fd, nullptr);
    close(f->fd);
    by_fd.erase(f->fd);
    by_client.erase(std::string(reinterpret_cast<const char*>(&f->client), f->client_len));
    udp_flows_ = by_client.size();
  };
  std::vector<char> buf(65536);
  bool running = true;
  while (running) {
    // Sleep until the next flow would expire.
    int timeout = -1;
    auto now = Clock::now();
    for (auto& [key, f] : by_client) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(f->last + options_.udp_idle_timeout - now);
      int ms = static_cast<int>(std::max<int64_t>(left.count(), 0)) + 1;
      timeout = timeout < 0 ? ms : std::min(timeout, ms);
    }
    struct epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, timeout);
    if (n < 0 && errno != EINTR) break;
    now = Clock::now();
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == stop_fd_) {
        running = false;
      } else if (fd == listen_fd_) {
        for (int burst = 0; burst < 64; ++burst) {
          sockaddr_storage from{};
          socklen_t from_len = sizeof from;
          ssize_t got = recvfrom(listen_fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_len);
          if (got < 0) break;
          std::string key(reinterpret_cast<const char*>(&from), from_len);
          auto it = by_client.find(key);
          if (it == by_client.end()) {
            int b = backend_socket_(backend_.ss_family, SOCK_DGRAM);
            if (b < 0) continue;
            if (connect(b, reinterpret_cast<const sockaddr*>(&backend_), backend_len_) != 0 || !watch(b)) {
              close(b);
              continue;
            }
            setNonBlocking(b, true);
            auto flow = std::make_unique<UdpFlow>();
            flow->client = from;
            flow->client_len = from_len;
            flow->fd = b;
            by_fd[b] = flow.get();
            it = by_client.emplace(key, std::move(flow)).first;
            udp_flows_ = by_client.size();
          }
          it->second->last = now;
          // A refused earlier datagram (ICMP) shows up here as an error; UDP
          // has no delivery promise, so it is dropped like the datagram.
          send(it->second->fd, buf.data(), static_cast<size_t>(got), MSG_DONTWAIT);
        }
      } else if (auto it = by_fd.find(fd); it != by_fd.end()) {
        UdpFlow* f = it->second;
        for (int burst = 0; burst < 64; ++burst) {
          ssize_t got = recv(f->fd, buf.data(), buf.size(), MSG_DONTWAIT);
          if (got < 0) {
            if (errno != EAGAIN && errno != EINTR) drop(f);  // e.g. ECONNREFUSED: the container's port is closed
            break;
          }
          f->last = now;
          sendto(listen_fd_, buf.data(), static_cast<size_t>(got), MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&f->client), f->client_len);
        }
      }
    }
    std::vector<UdpFlow*> idle;
    for (auto& [key, f] : by_client) {
      if (now - f->last >= options_.udp_idle_timeout) idle.push_back(f.get());
    }
    for (UdpFlow* f : idle) drop(f);
  }
  std::vector<UdpFlow*> all;
  for (auto& [key, f] : by_client) all.push_back(f.get());
  for (UdpFlow* f : all) drop(f);
  close(ep);
}

StatusOr<int> PortProxy::listenTcp(const std::string& host_ip, uint16_t port, int netns_fd) {
  return bindSocket(host_ip, port, SOCK_STREAM, netns_fd);
}

StatusOr<int> PortProxy::listenUdp(const std::string& host_ip, uint16_t port, int netns_fd) {
  return bindSocket(host_ip, port, SOCK_DGRAM, netns_fd);
}

StatusOr<uint16_t> PortProxy::boundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return Internal(std::string("getsockname: ") + errText(errno));
  }
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return InvalidArgument("not an IP socket");
}

}  // namespace arca::net
