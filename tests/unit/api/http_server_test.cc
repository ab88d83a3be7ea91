// HttpServer over a real unix socket in a temp dir; the client is plain POSIX
// sockets so the bytes on the wire are checked exactly.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace arca::api {
namespace {

using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Response {
  int status = 0;
  std::string head;                                 // status line and headers, raw
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool chunked = false;
  std::string header(const std::string& name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return headers.count(lower(name)) > 0; }
};

// A blocking test client with a receive buffer and timeouts.
class Client {
 public:
  explicit Client(const std::string& unix_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, unix_path.c_str(), sizeof(addr.sun_path) - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  explicit Client(int tcp_port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(tcp_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { closeNow(); }

  bool connected() const { return connected_; }
  void closeNow() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  void sendAll(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }

  // Receives until pred() holds, EOF or timeout. Returns pred(). Blocking
  // recv() with SO_RCVTIMEO (no poll) keeps the throughput test lean.
  bool fillUntil(const std::function<bool()>& pred, int timeout_ms = 5000) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (eof_) return false;
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      setRecvTimeout(left.count() > 100000 ? timeout_ms * 1000L : left.count());
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      if (n <= 0) {
        eof_ = true;
        if (n < 0) recv_error_ = errno;
      } else {
        buf_.append(buf, static_cast<size_t>(n));
      }
    }
    return true;
  }
  void setRecvTimeout(long us) {
    if (us == timeout_us_) return;
    timeout_us_ = us;
    timeval tv{us / 1000000, us % 1000000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  bool readAtLeast(size_t n, int timeout_ms = 5000) {
    return fillUntil([&] { return buf_.size() >= n; }, timeout_ms);
  }
  bool readHead(int timeout_ms = 5000) {
    return fillUntil([&] { return buf_.find("\r\n\r\n") != std::string::npos; }, timeout_ms);
  }
  // True when the server closed the connection (after consuming everything).
  bool readEof(int timeout_ms = 5000) {
    fillUntil([] { return false; }, timeout_ms);
    return eof_;
  }

  // Reads one response (head + body per its framing).
  bool readResponse(Response* r, bool head_request = false, int timeout_ms = 5000) {
    *r = Response();
    if (!readHead(timeout_ms)) return false;
    size_t e = buf_.find("\r\n\r\n") + 4;
    r->head = buf_.substr(0, e);
    buf_.erase(0, e);
    size_t line_end = r->head.find("\r\n");
    std::string status_line = r->head.substr(0, line_end);
    if (status_line.compare(0, 9, "HTTP/1.1 ") != 0) return false;
    r->status = std::atoi(status_line.c_str() + 9);
    size_t pos = line_end + 2;
    while (pos < e - 2) {
      size_t le = r->head.find("\r\n", pos);
      std::string line = r->head.substr(pos, le - pos);
      size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r->headers.emplace(lower(line.substr(0, colon)), value);
      pos = le + 2;
    }
    if (head_request || r->status < 200 || r->status == 204 || r->status == 304) return true;
    if (lower(r->header("transfer-encoding")) == "chunked") {
      r->chunked = true;
      for (;;) {
        if (!fillUntil([&] { return buf_.find("\r\n") != std::string::npos; }, timeout_ms)) {
          return false;
        }
        size_t le = buf_.find("\r\n");
        size_t size = std::strtoul(buf_.substr(0, le).c_str(), nullptr, 16);
        buf_.erase(0, le + 2);
        if (size == 0) {
          if (!fillUntil([&] { return buf_.find("\r\n") != std::string::npos; }, timeout_ms)) {
            return false;
          }
          buf_.erase(0, buf_.find("\r\n") + 2);  // no trailers from our server
          return true;
        }
        if (!readAtLeast(size + 2, timeout_ms)) return false;
        r->body.append(buf_, 0, size);
        buf_.erase(0, size + 2);
      }
    }
    if (r->has("content-length")) {
      size_t n = std::strtoul(r->header("content-length").c_str(), nullptr, 10);
      if (!readAtLeast(n, timeout_ms)) return false;
      r->body = buf_.substr(0, n);
      buf_.erase(0, n);
      return true;
    }
    readEof(timeout_ms);
    r->body.swap(buf_);
    return true;
  }

  std::string& buffer() { return buf_; }
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  int recv_error_ = 0;
  long timeout_us_ = -1;
  std::string buf_;
};

struct Route {
  Handler handler;
  bool inline_handler = false;
};

const Headers& defaultHeaders() {
  static const Headers h = {{"Api-Version", "1.51"},
                            {"Docker-Experimental", "false"},
                            {"OSType", "linux"},
                            {"Server", "Docker/28.2.2 (linux)"}};
  return h;
}

void pingHandler(Request& req, ResponseWriter& w) {
  Headers extra = {{"Cache-Control", "no-cache, no-store, must-revalidate"},
                   {"Pragma", "no-cache"},
                   {"Swarm", "inactive"}};
  if (req.method() == "HEAD") extra.emplace("Content-Length", "0");
  w.send(200, "text/plain; charset=utf-8", "OK", extra);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-http-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/docker.sock";
    routes_["/_ping"] = {pingHandler, true};
  }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(ServerOptions opts = {}) {
    opts.unix_path = sock_;
    opts.default_headers = defaultHeaders;
    auto s = HttpServer::create(std::move(opts), [this](Request& req) {
      Dispatch d;
      auto it = routes_.find(req.path());
      if (it != routes_.end()) {
        d.handler = it->second.handler;
        d.inline_handler = it->second.inline_handler;
      }
      return d;
    });
    ASSERT_TRUE(s.ok()) << s.status().toString();
    server_ = std::move(s).value();
    ASSERT_TRUE(server_->start().ok());
  }

  std::string dir_;
  std::string sock_;
  std::map<std::string, Route> routes_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, SocketIsMode0660AndStaleSocketIsReplaced) {
  // A stale socket file from an earlier run.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  start();
  struct stat st {};
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  Client c(sock_);
  ASSERT_TRUE(c.connected());
}

TEST_F(HttpServerTest, RefusesToReplaceARegularFile) {
  {
    std::FILE* f = std::fopen(sock_.c_str(), "w");
    std::fclose(f);
  }
  ServerOptions o;
  o.unix_path = sock_;
  auto s = HttpServer::create(o, [](Request&) { return Dispatch{}; });
  EXPECT_FALSE(s.ok());
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start();
  Client c(sock_);
  for (int i = 0; i < 2; ++i) {
    c.sendAll("GET /v1.50/_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n");
    Response r;
    ASSERT_TRUE(c.readResponse(&r)) << i;
    EXPECT_EQ(r.head.substr(0, 17), "HTTP/1.1 200 OK\r\n");
    EXPECT_EQ(r.body, "OK");
    EXPECT_EQ(r.header("Content-Length"), "2");
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(r.header("Api-Version"), "1.51");
    EXPECT_NE(r.head.find("\r\nOstype: linux\r\n"), std::string::npos) << r.head;
    EXPECT_NE(r.head.find("\r\nServer: Docker/28.2.2 (linux)\r\n"), std::string::npos);
    EXPECT_EQ(r.header("Swarm"), "inactive");
    EXPECT_TRUE(r.has("Date"));
    EXPECT_FALSE(r.has("Connection"));
  }
}

TEST_F(HttpServerTest, HeadHasNoBody) {
  start();
  Client c(sock_);
  c.sendAll("HEAD /_ping HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r, /*head_request=*/true));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "0");
  // Nothing follows the head: the next bytes are the next response.
  c.sendAll("GET /_ping HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");

  // A HEAD to a handler that sends a body: Content-Length reflects it.
  routes_["/body"] = {[](Request&, ResponseWriter& w) { w.send(200, "text/plain", "12345"); }};
  c.sendAll("HEAD /body HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r, true));
  EXPECT_EQ(r.header("Content-Length"), "5");
  c.sendAll("GET /_ping HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");
}

TEST_F(HttpServerTest, NoContentHasNoLength) {
  routes_["/nc"] = {[](Request&, ResponseWriter& w) { w.send(204, "", ""); }};
  routes_["/nm"] = {[](Request&, ResponseWriter& w) { w.send(304, "", ""); }};
  routes_["/created"] = {
      [](Request&, ResponseWriter& w) { w.send(201, "application/json", "{\"Id\":\"x\"}"); }};
  start();
  Client c(sock_);
  c.sendAll("POST /nc HTTP/1.1\r\n\r\nPOST /nm HTTP/1.1\r\n\r\nPOST /created HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.head.substr(0, 25), "HTTP/1.1 204 No Content\r\n");
  EXPECT_FALSE(r.has("Content-Length"));
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.head.substr(0, 27), "HTTP/1.1 304 Not Modified\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.head.substr(0, 22), "HTTP/1.1 201 Created\r\n");
  EXPECT_EQ(r.body, "{\"Id\":\"x\"}");
}

TEST_F(HttpServerTest, ExtraHeadersAreCanonicalAndCannotSplitTheResponse) {
  routes_["/h"] = {[](Request&, ResponseWriter& w) {
    w.send(200, "application/json", "{}",
           {{"x-docker-container-path-stat", "e30="},
            {"X-Bad", "a\r\nX-Evil: 1"},
            {"Content-Type", "ignored/type"},
            {"Content-Length", "999"}});
  }};
  start();
  Client c(sock_);
  c.sendAll("GET /h HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_NE(r.head.find("\r\nX-Docker-Container-Path-Stat: e30=\r\n"), std::string::npos);
  EXPECT_EQ(r.head.find("\r\nX-Evil"), std::string::npos) << r.head;
  EXPECT_EQ(r.headers.count("content-type"), 1u);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.header("Content-Length"), "2");  // only HEAD may override it
  EXPECT_EQ(r.body, "{}");
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  routes_["/echo"] = {[](Request& req, ResponseWriter& w) {
    auto body = req.readAll();
    w.send(200, "text/plain", body.ok() ? *body : "error");
  }};
  start();
  Client c(sock_);
  c.sendAll(
      "GET /_ping HTTP/1.1\r\n\r\n"
      "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /missing HTTP/1.1\r\n\r\n"
      "GET /_ping HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "hello");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "abc");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "{\"message\":\"page not found\"}");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");
}

TEST_F(HttpServerTest, ChunkedRequestBodyIsStreamedToTheHandler) {
  std::promise<void> first_bytes;
  routes_["/images/load"] = {[&](Request& req, ResponseWriter& w) {
    std::string got;
    char buf[4096];
    bool signalled = false;
    for (;;) {
      long n = req.read(buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      if (!signalled) {
        first_bytes.set_value();
        signalled = true;
      }
    }
    w.send(200, "text/plain", got);
  }};
  start();
  Client c(sock_);
  c.sendAll(
      "POST /v1.50/images/load HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n");
  // The handler sees the first chunk while the rest has not been sent.
  ASSERT_EQ(first_bytes.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  c.sendAll("6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
}

TEST_F(HttpServerTest, LargeBodyIsFlowControlled) {
  std::atomic<size_t> total{0};
  routes_["/big"] = {[&](Request& req, ResponseWriter& w) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the client fill up
    char buf[65536];
    long n;
    while ((n = req.read(buf, sizeof(buf))) > 0) total += static_cast<size_t>(n);
    w.send(200, "text/plain", std::to_string(total.load()));
  }};
  ServerOptions o;
  o.body_high_water = 64 << 10;
  start(o);
  Client c(sock_);
  const size_t kSize = 16 << 20;
  std::thread sender([&] {
    c.sendAll("PUT /big HTTP/1.1\r\nContent-Length: " + std::to_string(kSize) + "\r\n\r\n");
    std::string block(1 << 20, 'b');
    for (size_t i = 0; i < kSize / block.size(); ++i) c.sendAll(block);
  });
  sender.join();
  Response r;
  ASSERT_TRUE(c.readResponse(&r, false, 20000));
  EXPECT_EQ(r.body, std::to_string(kSize));
}

TEST_F(HttpServerTest, StreamingResponseHeadersAreFlushedAtOnce) {
  std::promise<void> release;
  auto released = release.get_future().share();
  routes_["/events"] = {[released](Request&, ResponseWriter& w) {
    w.startStream(200, "application/json");
    released.wait_for(std::chrono::seconds(10));
    EXPECT_TRUE(w.write("{\"status\":\"start\"}\n"));
    EXPECT_TRUE(w.write(""));  // no empty chunk (it would end the stream)
    EXPECT_TRUE(w.write(std::string(100000, 'x')));
    w.end();
  }};
  start();
  Client c(sock_);
  c.sendAll("GET /v1.50/events HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readHead(3000)) << "headers not flushed before the first event";
  EXPECT_EQ(c.buffer().find("HTTP/1.1 200 OK\r\n"), 0u);
  EXPECT_NE(c.buffer().find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  release.set_value();
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(r.body, "{\"status\":\"start\"}\n" + std::string(100000, 'x'));
  c.sendAll("GET /_ping HTTP/1.1\r\n\r\n");  // keep-alive after end()
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");
}

TEST_F(HttpServerTest, UnendedStreamIsEndedAndUnansweredRequestGets500) {
  routes_["/unended"] = {[](Request&, ResponseWriter& w) {
    w.startStream(200, "application/json");
    w.write("{}");
  }};
  routes_["/silent"] = {[](Request&, ResponseWriter&) {}};
  routes_["/throws"] = {[](Request&, ResponseWriter&) { throw std::runtime_error("boom \"x\""); }};
  start();
  Client c(sock_);
  Response r;
  c.sendAll("GET /unended HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "{}");
  c.sendAll("GET /silent HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(r.body, "{\"message\":\"handler did not write a response\"}");
  c.sendAll("GET /throws HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "{\"message\":\"boom \\\"x\\\"\"}");
}

TEST_F(HttpServerTest, DispatcherExceptionGives500) {
  start();
  server_->stop();
  ServerOptions o;
  o.unix_path = sock_;
  auto s =
      HttpServer::create(o, [](Request&) -> Dispatch { throw std::runtime_error("router broke"); });
  ASSERT_TRUE(s.ok());
  server_ = std::move(s).value();
  ASSERT_TRUE(server_->start().ok());
  Client c(sock_);
  c.sendAll("GET /x HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "{\"message\":\"router broke\"}");
}

TEST_F(HttpServerTest, MalformedRequestGets400JsonAndClose) {
  start();
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                          "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "GET /%zz HTTP/1.1\r\n\r\n"}) {
    Client c(sock_);
    c.sendAll(bad);
    Response r;
    ASSERT_TRUE(c.readResponse(&r)) << bad;
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(r.head.substr(0, 26), "HTTP/1.1 400 Bad Request\r\n");
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.header("Connection"), "close");
    EXPECT_EQ(r.body.rfind("{\"message\":\"", 0), 0u) << r.body;
    EXPECT_TRUE(c.readEof()) << bad;
  }
}

TEST_F(HttpServerTest, BadChunkInHandlerBodyFailsReadAndCloses) {
  routes_["/echo"] = {[](Request& req, ResponseWriter& w) {
    auto body = req.readAll();
    if (!body.ok()) {
      w.send(400, "application/json", "{\"message\":\"bad body\"}");
      return;
    }
    w.send(200, "text/plain", *body);
  }};
  start();
  Client c(sock_);
  c.sendAll("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(c.readEof());
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10AreHonoured) {
  start();
  {
    Client c(sock_);
    c.sendAll("GET /_ping HTTP/1.1\r\nConnection: close\r\n\r\n");
    Response r;
    ASSERT_TRUE(c.readResponse(&r));
    EXPECT_EQ(r.header("Connection"), "close");
    EXPECT_TRUE(c.readEof());
  }
  {
    Client c(sock_);
    c.sendAll("GET /_ping HTTP/1.0\r\n\r\n");
    Response r;
    ASSERT_TRUE(c.readResponse(&r));
    EXPECT_EQ(r.body, "OK");
    EXPECT_TRUE(c.readEof());
  }
  {
    Client c(sock_);
    c.sendAll("GET /_ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    Response r;
    ASSERT_TRUE(c.readResponse(&r));
    EXPECT_EQ(r.header("Connection"), "keep-alive");
    c.sendAll("GET /_ping HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(c.readResponse(&r));
    EXPECT_TRUE(c.readEof());
  }
}

TEST_F(HttpServerTest, UnreadBodyIsDrainedOrTheConnectionClosed) {
  routes_["/ignore"] = {[](Request&, ResponseWriter& w) { w.send(200, "text/plain", "ign"); }};
  start();
  Client c(sock_);
  c.sendAll("POST /ignore HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'q'));
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "ign");
  EXPECT_FALSE(r.has("Connection"));
  c.sendAll("POST /ignore HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  c.sendAll("GET /_ping HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "OK");

  // Too much to drain: answered, then closed.
  Client big(sock_);
  big.sendAll("POST /ignore HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nabc");
  ASSERT_TRUE(big.readResponse(&r));
  EXPECT_EQ(r.body, "ign");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(big.readEof());
}

TEST_F(HttpServerTest, ExpectContinue) {
  routes_["/echo"] = {[](Request& req, ResponseWriter& w) {
    auto body = req.readAll();
    w.send(200, "text/plain", body.ok() ? *body : "error");
  }};
  start();
  Client c(sock_);
  c.sendAll("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_TRUE(c.readHead());
  EXPECT_EQ(c.buffer(), "HTTP/1.1 100 Continue\r\n\r\n");
  c.buffer().clear();
  c.sendAll("hello");
  Response r;
  ASSERT_TRUE(c.readResponse(&r));
  EXPECT_EQ(r.body, "hello");
}

const char kAttach[] =
    "POST /v1.50/containers/abc/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
    "Host: api.moby.localhost\r\n"
    "Connection: Upgrade\r\n"
    "Upgrade: tcp\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n";
const char k101[] =
    "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n";

TEST_F(HttpServerTest, HijackUpgradeAndHalfClose) {
  std::promise<std::string> stdin_seen;
  std::atomic<bool> write_after_eof{false};
  std::atomic<bool> gone_after_eof{true};
  routes_["/containers/abc/attach"] = {[&](Request&, ResponseWriter& w) {
    w.hijack("application/vnd.docker.raw-stream");
    EXPECT_TRUE(w.started());
    EXPECT_TRUE(w.write("out1;"));
    std::string in;
    char buf[16];
    long n;
    while ((n = w.readRaw(buf, sizeof(buf))) > 0) in.append(buf, static_cast<size_t>(n));
    EXPECT_EQ(n, 0);
    EXPECT_EQ(w.readRaw(buf, sizeof(buf)), 0);  // stays at EOF
    stdin_seen.set_value(in);
    gone_after_eof = w.clientGone();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    write_after_eof = w.write("out2;") && w.write(std::string(200000, 'z'));
    w.close();
    EXPECT_FALSE(w.write("late"));
  }};
  start();
  Client c(sock_);
  c.sendAll(kAttach);
  ASSERT_TRUE(c.readAtLeast(sizeof(k101) - 1));
  EXPECT_EQ(c.buffer().substr(0, sizeof(k101) - 1), k101);
  c.sendAll("stdin data that is longer than sixteen bytes");
  c.shutdownWrite();  // CloseWrite(): stdin done
  auto f = stdin_seen.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(f.get(), "stdin data that is longer than sixteen bytes");
  EXPECT_TRUE(c.readEof());  // the server closes after close()
  EXPECT_EQ(c.buffer(), std::string(k101) + "out1;out2;" + std::string(200000, 'z'));
  EXPECT_TRUE(write_after_eof);
  EXPECT_FALSE(gone_after_eof);
}

TEST_F(HttpServerTest, HijackWithoutUpgradeGets200) {
  routes_["/exec/1/start"] = {[](Request& req, ResponseWriter& w) {
    auto body = req.readAll();  // exec start carries a JSON body
    EXPECT_TRUE(body.ok());
    w.hijack("application/vnd.docker.raw-stream");
    char buf[64];
    long n = w.readRaw(buf, sizeof(buf));
    std::string got = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    w.write("echo:" + got);
    w.close();
  }};
  start();
  Client c(sock_);
  // The raw bytes arrive in the same segment as the request.
  c.sendAll(
      "POST /exec/1/start HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
      "\r\n{}early");
  EXPECT_TRUE(c.readEof());
  EXPECT_EQ(c.buffer(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"
            "echo:early");
}

TEST_F(HttpServerTest, ClientDisconnectWakesWaitClientGone) {
  std::promise<std::pair<bool, int64_t>> result;
  routes_["/containers/x/wait"] = {[&](Request&, ResponseWriter& w) {
    w.startStream(200, "application/json");
    auto t0 = Clock::now();
    bool gone = w.waitClientGone(20000);
    result.set_value({gone, msSince(t0)});
    EXPECT_TRUE(w.clientGone());
    EXPECT_FALSE(w.write("{}"));
  }};
  start();
  {
    Client c(sock_);
    c.sendAll("POST /containers/x/wait HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(c.readHead());
  }  // closed
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  auto [gone, ms] = f.get();
  EXPECT_TRUE(gone);
  EXPECT_LT(ms, 5000);
}

TEST_F(HttpServerTest, BlockedWriterSeesDisconnect) {
  std::promise<bool> result;
  routes_["/containers/x/logs"] = {[&](Request&, ResponseWriter& w) {
    w.startStream(200, "application/vnd.docker.multiplexed-stream");
    std::string block(64 << 10, 'l');
    while (w.write(block)) {
    }
    result.set_value(w.clientGone());
  }};
  ServerOptions o;
  o.output_high_water = 128 << 10;
  start(o);
  {
    Client c(sock_);
    c.sendAll("GET /containers/x/logs?follow=1 HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(c.readHead());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // writer blocks
  }
  auto f = result.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(f.get());
}

TEST_F(HttpServerTest, StopReturnsWithBlockedHandlers) {
  std::atomic<int> returned{0};
  std::atomic<int> entered{0};
  routes_["/read"] = {[&](Request& req, ResponseWriter& w) {
    ++entered;
    char buf[64];
    while (req.read(buf, sizeof(buf)) > 0) {
    }
    w.send(200, "text/plain", "x");
    ++returned;
  }};
  routes_["/wait"] = {[&](Request&, ResponseWriter& w) {
    ++entered;
    w.startStream(200, "application/json");
    w.waitClientGone(-1);
    ++returned;
  }};
  routes_["/containers/abc/attach"] = {[&](Request&, ResponseWriter& w) {
    ++entered;
    w.hijack("application/vnd.docker.raw-stream");
    char buf[64];
    while (w.readRaw(buf, sizeof(buf)) > 0) {
    }
    ++returned;
  }};
  start();
  Client a(sock_), b(sock_), c(sock_);
  a.sendAll("POST /read HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n");
  b.sendAll("GET /wait HTTP/1.1\r\n\r\n");
  c.sendAll(kAttach);
  ASSERT_TRUE(b.readHead());
  ASSERT_TRUE(c.readAtLeast(sizeof(k101) - 1));
  for (int i = 0; i < 100 && entered < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(entered, 3);
  auto t0 = Clock::now();
  server_->stop();
  EXPECT_LT(msSince(t0), 1500);
  EXPECT_EQ(returned, 3);
  EXPECT_TRUE(a.readEof(2000));
  EXPECT_TRUE(b.readEof(2000));
  EXPECT_TRUE(c.readEof(2000));
  struct stat st {};
  EXPECT_NE(::stat(sock_.c_str(), &st), 0);  // socket file removed
}

TEST_F(HttpServerTest, LongPollDoesNotBlockOtherConnections) {
  std::promise<void> release;
  auto released = release.get_future().share();
  routes_["/slow"] = {[released](Request&, ResponseWriter& w) {
    released.wait_for(std::chrono::seconds(10));
    w.send(200, "text/plain", "slow");
  }};
  start();
  Client slow(sock_);
  slow.sendAll("GET /slow HTTP/1.1\r\n\r\n");
  Client fast(sock_);
  fast.sendAll("GET /_ping HTTP/1.1\r\n\r\n");
  Response r;
  ASSERT_TRUE(fast.readResponse(&r, false, 2000));
  EXPECT_EQ(r.body, "OK");
  release.set_value();
  ASSERT_TRUE(slow.readResponse(&r));
  EXPECT_EQ(r.body, "slow");
}

// CPU time (user and system) of the thread named `comm`, in seconds, from
// /proc; {-1, -1} when not found. Measures the server's cost per request
// independently of how busy the (shared) machine is.
struct CpuTime {
  double user = -1;
  double sys = -1;
};
CpuTime threadCpu(const std::string& comm) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::FILE* f = std::fopen((e.path() / "comm").c_str(), "r");
    if (f == nullptr) continue;
    char name[64] = {};
    bool match = std::fgets(name, sizeof(name), f) != nullptr && comm + "\n" == name;
    std::fclose(f);
    if (!match) continue;
    f = std::fopen((e.path() / "stat").c_str(), "r");
    if (f == nullptr) return {};
    char buf[1024] = {};
    size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
    std::fclose(f);
    std::string st(buf, n);
    // Fields after the ")" of comm: state is field 3; utime 14, stime 15.
    std::istringstream in(st.substr(st.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
    return {static_cast<double>(utime) / tck, static_cast<double>(stime) / tck};
  }
  return {};
}

TEST_F(HttpServerTest, TcpListenerAndPingThroughput) {
  ServerOptions o;
  o.tcp_address = "127.0.0.1:0";
  start(o);
  ASSERT_GT(server_->tcpPort(), 0);
  {
    Client t(server_->tcpPort());
    ASSERT_TRUE(t.connected());
    t.sendAll("GET /_ping HTTP/1.1\r\n\r\n");
    Response r;
    ASSERT_TRUE(t.readResponse(&r));
    EXPECT_EQ(r.body, "OK");
  }
  // Sequential GET /_ping on one keep-alive unix connection (the docker CLI's
  // pattern). ARCA_HTTP_PING_N raises the count for a real measurement.
  int n = 20000;
  if (const char* env = std::getenv("ARCA_HTTP_PING_N")) n = std::atoi(env);
  Client c(sock_);
  const std::string req =
      "GET /v1.50/_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n"
      "User-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n";
  Response first;
  c.sendAll(req);
  ASSERT_TRUE(c.readResponse(&first));
  const size_t resp_len = first.head.size() + first.body.size();
  CpuTime cpu0 = threadCpu("arca-http-io");
  auto t0 = Clock::now();
  std::string& buf = c.buffer();
  for (int i = 0; i < n; ++i) {
    c.sendAll(req);
    // Responses have a fixed size (Date may change length never: fixed format).
    ASSERT_TRUE(c.readAtLeast(resp_len)) << i;
    buf.erase(0, resp_len);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  CpuTime cpu1 = threadCpu("arca-http-io");
  double user = cpu1.user - cpu0.user;
  double sys = cpu1.sys - cpu0.sys;
  double rate = n / secs;
  std::printf(
      "[ perf ] GET /_ping keep-alive: %d requests in %.3f s = %.0f req/s; I/O thread "
      "CPU %.2f us/request (user %.2f, sys %.2f; capacity %.0f req/s)\n",
      n, secs, rate, (user + sys) * 1e6 / n, user * 1e6 / n, sys * 1e6 / n,
      user + sys > 0 ? n / (user + sys) : 0.0);
  RecordProperty("ping_req_per_s", static_cast<int>(rate));
}

}  // namespace
}  // namespace arca::api
