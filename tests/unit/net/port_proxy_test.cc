#include "net/port_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace arca::net {
namespace {

using namespace std::chrono_literals;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int plainSocket(int domain, int type) { return socket(domain, type | SOCK_CLOEXEC, 0); }

int connectTo(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{2, 0};  // a hung proxy fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string readAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

bool sendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t m = send(fd, p, n, MSG_NOSIGNAL);
    if (m <= 0) return false;
    p += m;
    n -= static_cast<size_t>(m);
  }
  return true;
}

// A TCP backend on 127.0.0.1: echoes, or (count mode) reads to EOF and then
// answers "got <n>" — the reply travels after the client's half-close.
class TcpBackend {
 public:
  explicit TcpBackend(bool count_mode) : count_mode_(count_mode) {
    fd_ = *PortProxy::listenTcp("127.0.0.1", 0);
    port_ = *PortProxy::boundPort(fd_);
    accept_ = std::thread([this] {
      int c;
      while ((c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
        conns_.emplace_back([this, c] { serve(c); });
      }
    });
  }
  ~TcpBackend() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    accept_.join();
    for (auto& t : conns_) t.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  sockaddr_in addr() const { return loopback(port_); }

 private:
  void serve(int c) {
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(c, buf, sizeof buf, 0)) > 0) {
      total += static_cast<size_t>(n);
      if (!count_mode_ && !sendAll(c, buf, static_cast<size_t>(n))) break;
    }
    if (count_mode_) {
      std::string reply = "got " + std::to_string(total);
      sendAll(c, reply.data(), reply.size());
    }
    close(c);
  }

  bool count_mode_;
  int fd_;
  uint16_t port_;
  std::thread accept_;
  std::vector<std::thread> conns_;
};

std::unique_ptr<PortProxy> tcpProxy(const sockaddr_in& backend, uint16_t* port, PortProxyOptions opts = {}) {
  int fd = *PortProxy::listenTcp("127.0.0.1", 0);
  *port = *PortProxy::boundPort(fd);
  auto p = std::make_unique<PortProxy>(PortProxy::Protocol::kTcp, fd,
                                       reinterpret_cast<const sockaddr*>(&backend), sizeof backend,
                                       plainSocket, opts);
  EXPECT_TRUE(p->start().ok());
  return p;
}

// A TCP backend with a started proxy in front of it on 127.0.0.1:`port`.
struct ProxiedBackend {
  explicit ProxiedBackend(bool count_mode) : backend(count_mode), proxy(tcpProxy(backend.addr(), &port)) {}
  TcpBackend backend;
  uint16_t port = 0;
  std::unique_ptr<PortProxy> proxy;
};

TEST(PortProxy, RelaysEightMiBBothWays) {
  ProxiedBackend echo(false);
  int c = connectTo(echo.port);
  ASSERT_GE(c, 0);
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::thread writer([&] {
    EXPECT_TRUE(sendAll(c, data.data(), data.size()));
    shutdown(c, SHUT_WR);
  });
  std::string back = readAll(c);
  writer.join();
  close(c);
  EXPECT_EQ(back.size(), data.size());
  EXPECT_TRUE(back == data);
}

TEST(PortProxy, HalfCloseReachesBackendAndReplyStillArrives) {
  ProxiedBackend counter(true);
  int c = connectTo(counter.port);
  ASSERT_GE(c, 0);
  ASSERT_TRUE(sendAll(c, "hello", 5));
  shutdown(c, SHUT_WR);  // the backend only answers after EOF
  EXPECT_EQ(readAll(c), "got 5");
  close(c);
}

TEST(PortProxy, RefusedBackendClosesClient) {
  int reserve = plainSocket(AF_INET, SOCK_STREAM);
  sockaddr_in a = loopback(0);
  ASSERT_EQ(bind(reserve, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);  // bound, not listening
  uint16_t dead = *PortProxy::boundPort(reserve);
  uint16_t port;
  auto proxy = tcpProxy(loopback(dead), &port);
  int c = connectTo(port);
  ASSERT_GE(c, 0);
  char b;
  errno = 0;
  ssize_t n = recv(c, &b, 1, 0);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << errno;
  close(c);
  close(reserve);
  for (int i = 0; i < 100 && proxy->activeConnections() > 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(proxy->activeConnections(), 0u);
}

TEST(PortProxy, StopReturnsPromptlyWithIdleConnections) {
  ProxiedBackend echo(false);
  auto& proxy = echo.proxy;
  uint16_t port = echo.port;
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    int c = connectTo(port);
    ASSERT_GE(c, 0);
    char b = 'x';
    ASSERT_TRUE(sendAll(c, &b, 1));
    ASSERT_EQ(recv(c, &b, 1, 0), 1);  // relayed both ways: the connection is live and now idle
    clients.push_back(c);
  }
  EXPECT_EQ(proxy->activeConnections(), 4u);
  auto t0 = std::chrono::steady_clock::now();
  proxy->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);  // a hang guard, not a timing target
  for (int c : clients) {
    char b;
    EXPECT_LE(recv(c, &b, 1, 0), 0);  // closed by the proxy
    close(c);
  }
  EXPECT_EQ(connectTo(port), -1);  // the listener is gone
  proxy->stop();                   // idempotent
}

TEST(PortProxy, UdpRoundTripAndIdleFlowsExpire) {
  int backend = plainSocket(AF_INET, SOCK_DGRAM);
  sockaddr_in a = loopback(0);
  ASSERT_EQ(bind(backend, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  sockaddr_in backend_addr = loopback(*PortProxy::boundPort(backend));
  std::atomic<bool> done{false};
  std::thread echo([&] {
    char buf[2048];
    while (!done) {
      pollfd p{backend, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(backend, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 0) sendto(backend, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  });

  int lfd = *PortProxy::listenUdp("127.0.0.1", 0);
  uint16_t port = *PortProxy::boundPort(lfd);
  PortProxyOptions opts;
  opts.udp_idle_timeout = 150ms;
  PortProxy proxy(PortProxy::Protocol::kUdp, lfd, reinterpret_cast<const sockaddr*>(&backend_addr),
                  sizeof backend_addr, plainSocket, opts);
  ASSERT_TRUE(proxy.start().ok());

  sockaddr_in to = loopback(port);
  for (int i = 0; i < 2; ++i) {
    int c = plainSocket(AF_INET, SOCK_DGRAM);
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string msg = "ping " + std::to_string(i);
    ASSERT_EQ(sendto(c, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(msg.size()));
    char buf[64];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(c, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    ASSERT_EQ(n, static_cast<ssize_t>(msg.size()));
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), msg);
    EXPECT_EQ(ntohs(from.sin_port), port);  // the reply comes from the published port
    close(c);
  }
  EXPECT_EQ(proxy.activeConnections(), 2u);
  for (int i = 0; i < 100 && proxy.activeConnections() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(proxy.activeConnections(), 0u);
  proxy.stop();
  done = true;
  echo.join();
  close(backend);
}

TEST(PortProxy, AddressInUseHasDockersMessage) {
  int first = *PortProxy::listenTcp("127.0.0.1", 0);
  uint16_t port = *PortProxy::boundPort(first);
  auto again = PortProxy::listenTcp("127.0.0.1", port);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(again.status().message(),
            "Bind for 127.0.0.1:" + std::to_string(port) + " failed: port is already allocated");
  close(first);

  int udp = *PortProxy::listenUdp("127.0.0.1", 0);
  uint16_t uport = *PortProxy::boundPort(udp);
  auto udp_again = PortProxy::listenUdp("127.0.0.1", uport);
  ASSERT_FALSE(udp_again.ok());
  EXPECT_EQ(udp_again.status().message(),
            "Bind for 127.0.0.1:" + std::to_string(uport) + " failed: port is already allocated");
  close(udp);

  EXPECT_EQ(PortProxy::listenTcp("127.0.0.300", 0).status().code(), Code::kInvalidArgument);

  auto v6 = PortProxy::listenTcp("::1", 0);
  if (v6.ok()) {  // IPv6 addresses are bracketed, as Go's JoinHostPort writes them
    uint16_t p6 = *PortProxy::boundPort(*v6);
    EXPECT_EQ(PortProxy::listenTcp("::1", p6).status().message(),
              "Bind for [::1]:" + std::to_string(p6) + " failed: port is already allocated");
    close(*v6);
  }
}

TEST(PortProxy, StartRejectsTheWrongSocket) {
  int udp = *PortProxy::listenUdp("127.0.0.1", 0);
  sockaddr_in b = loopback(9);
  PortProxy p(PortProxy::Protocol::kTcp, udp, reinterpret_cast<const sockaddr*>(&b), sizeof b, plainSocket);
  EXPECT_EQ(p.start().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace arca::net
