// Servers for the registry client tests: Debian's real distribution registry
// (docker-registry) started on a free loopback port, and a minimal
// hand-rolled HTTP/1.1 server for the cases a real registry will not produce
// (token service, truncated and hanging bodies, bad digests).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace arca::registry::testing {

inline constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";

// A port nobody listens on right now (the kernel's choice for port 0).
inline int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

inline bool canConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

inline std::string runCommand(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// docker-registry with filesystem storage in a temp dir; killed and removed
// with the object. With `user` set, htpasswd basic auth for user/password.
class RegistryProcess {
 public:
  static std::unique_ptr<RegistryProcess> start(const std::string& user = "",
                                                const std::string& password = "") {
    auto r = std::unique_ptr<RegistryProcess>(new RegistryProcess());
    char templ[] = "/tmp/arca-registry-test-XXXXXX";
    if (!::mkdtemp(templ)) return nullptr;
    r->dir_ = templ;
    r->port_ = freePort();
    std::string auth;
    if (!user.empty()) {
      std::ofstream(r->dir_ + "/htpasswd")
          << runCommand("htpasswd -Bbn '" + user + "' '" + password + "'");
      auth = "auth:\n  htpasswd:\n    realm: arca-test\n    path: " + r->dir_ + "/htpasswd\n";
    }
    std::ofstream(r->dir_ + "/config.yml")
        << "version: 0.1\n"
           "log:\n  level: error\n  accesslog:\n    disabled: true\n"
           "storage:\n  filesystem:\n    rootdirectory: "
        << r->dir_ << "/data\n  delete:\n    enabled: true\n"
        << "http:\n  addr: 127.0.0.1:" << r->port_ << "\n"
        << auth;
    pid_t pid = ::fork();
    if (pid == 0) {
      int log = ::open((r->dir_ + "/log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, 1);
      ::dup2(log, 2);
      std::string cfg = r->dir_ + "/config.yml";
      ::execl(kRegistryBinary, kRegistryBinary, "serve", cfg.c_str(), nullptr);
      ::_exit(127);
    }
    r->pid_ = pid;
    for (int i = 0; i < 200; ++i) {
      if (canConnect(r->port_)) return r;
      if (::waitpid(pid, nullptr, WNOHANG) == pid) {
        r->pid_ = -1;
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return nullptr;
  }

  ~RegistryProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  int port() const { return port_; }
  std::string domain() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  // Where the registry keeps a blob's bytes.
  std::string blobPath(const std::string& digest) const {
    std::string hex = digest.substr(7);
    return dir_ + "/data/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" + hex + "/data";
  }

 private:
  RegistryProcess() = default;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct HttpRequest {
  std::string method, target, path, query;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string header(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

// One thread accepting on 127.0.0.1:<ephemeral>, one thread per connection;
// every response closes its connection. The handler writes the response; it
// gets the server itself (for hang(), port()) rather than reaching it through
// an owner's pointer that the destructor may already have cleared.
class FakeServer {
 public:
  using Handler = std::function<void(const FakeServer&, int fd, const HttpRequest&)>;

  explicit FakeServer(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 64);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { acceptLoop(); });
  }

  ~FakeServer() {
    stopping_ = true;
    accept_thread_.join();
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> l(mu_);
      conns.swap(conns_);
    }
    for (auto& t : conns) t.join();
    ::close(fd_);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string domain() const { return "127.0.0.1:" + std::to_string(port_); }
  bool stopping() const { return stopping_; }

  // Sleeps until the server is being destroyed (or `max` passes).
  void hang(std::chrono::milliseconds max = std::chrono::seconds(20)) const {
    auto until = std::chrono::steady_clock::now() + max;
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  static void writeAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  // A complete response; Content-Length is added unless given in `headers`.
  static void respond(int fd, int status, const std::vector<std::string>& headers,
                      const std::string& body, bool add_length = true) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nConnection: close\r\n";
    for (const auto& h : headers) r += h + "\r\n";
    if (add_length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    r += "\r\n" + body;
    writeAll(fd, r);
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard<std::mutex> l(mu_);
      conns_.emplace_back([this, c] {
        HttpRequest req;
        if (readRequest(c, &req)) handler_(*this, c, req);
        ::shutdown(c, SHUT_WR);
        ::close(c);
      });
    }
  }

  bool readRequest(int fd, HttpRequest* req) {
    std::string buf;
    char tmp[4096];
    size_t end;
    pollfd ready{fd, POLLIN, 0};
    if (::poll(&ready, 1, 5000) <= 0) return false;
    unsigned char byte = 0;
    if (::recv(fd, &byte, 1, MSG_PEEK) == 1 && byte == 0x16) {
      // A TLS ClientHello (an https attempt): answer as Go's plain-http
      // server does, so the client fails fast and falls back to http.
      writeAll(fd,
               "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
      return false;
    }
    while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
    }
    std::string head = buf.substr(0, end);
    req->body = buf.substr(end + 4);
    size_t line_end = head.find("\r\n");
    std::string first = head.substr(0, line_end);
    size_t s1 = first.find(' '), s2 = first.rfind(' ');
    req->method = first.substr(0, s1);
    req->target = first.substr(s1 + 1, s2 - s1 - 1);
    size_t q = req->target.find('?');
    req->path = req->target.substr(0, q);
    req->query = q == std::string::npos ? "" : req->target.substr(q + 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        size_t v = line.find_first_not_of(' ', colon + 1);
        req->headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = e + 2;
    }
    size_t want = static_cast<size_t>(std::atol(req->header("content-length").c_str()));
    while (req->body.size() < want) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      req->body.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }

  Handler handler_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
};

}  // namespace arca::registry::testing
