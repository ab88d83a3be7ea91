// HTTP/1.1 server for the Docker Engine API on libevent bufferevents (no
// evhttp: it cannot hijack or half-close).
//
// Thread rules (the model itself is in http_server.h):
//  - The I/O thread owns the event_base, the listeners, the connection table
//    and every libevent object. It alone creates and frees bufferevents and
//    events, and it alone parses request heads.
//  - A handler thread reaches its connection through a shared_ptr, so the
//    Connection object outlives the socket. Everything the I/O thread and a
//    handler thread share sits behind Connection::mu_, including the
//    bufferevent pointer: the I/O thread nulls it under mu_ before freeing,
//    and handler threads use it only under mu_ after checking it.
//  - Lock order: Connection::mu_, then the bufferevent lock, then the base
//    lock. Bufferevent callbacks are deferred and run unlocked
//    (BEV_OPT_DEFER_CALLBACKS | BEV_OPT_UNLOCK_CALLBACKS), so libevent never
//    calls us while it holds a bufferevent lock.
//  - User code (dispatcher, handlers, default_headers) never runs under mu_.
//  - A handler thread hands work back to the I/O thread by activating the
//    connection's wake event (event_active is thread-safe with
//    evthread_use_pthreads()).
#include "api/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace arca::api {
namespace {

// Unread request body we discard to keep a connection; above it we close.
constexpr size_t kMaxDrainBytes = 1 << 20;
// Bodies up to this size are copied behind the head and sent in one write.
constexpr size_t kCoalesceLimit = 64 << 10;
// After the last response byte, how long we read and discard client bytes
// before closing (avoids the peer seeing ECONNRESET instead of our response).
constexpr int kLingerSeconds = 2;
// stop() waits this long for handler threads to return.
constexpr auto kPoolShutdownWait = std::chrono::seconds(2);
// Idle handler threads above the minimum exit after this long.
constexpr auto kPoolIdleExit = std::chrono::seconds(30);
constexpr int kListenBacklog = 1024;

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Entity";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

// Statuses whose responses never have a body (RFC 9110 6.4.1).
bool statusHasNoBody(int status) { return status < 200 || status == 204 || status == 304; }

void appendUint(std::string* out, uint64_t v) {
  char buf[24];
  char* end = buf + sizeof(buf);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out->append(p, static_cast<size_t>(end - p));
}

// Appends `name` in Go's CanonicalMIMEHeaderKey form: "api-version" ->
// "Api-Version", "OSType" -> "Ostype" (what moby emits).
void appendCanonicalName(std::string* out, std::string_view name) {
  size_t start = out->size();
  out->append(name);
  bool upper = true;
  for (size_t i = start; i < out->size(); ++i) {
    char& c = (*out)[i];
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    upper = c == '-';
  }
}

void appendHeader(std::string* out, std::string_view name, std::string_view value) {
  appendCanonicalName(out, name);
  out->append(": ", 2);
  size_t start = out->size();
  out->append(value);
  // A CR or LF in a value would split the header (response splitting).
  // (A plain loop: find_first_of() would call memchr once per character.)
  for (size_t i = start; i < out->size(); ++i) {
    char& c = (*out)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
  out->append("\r\n", 2);
}

// IMF-fixdate, cached per thread and second.
void appendDate(std::string* out) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t cached = -1;
  thread_local char buf[32];
  thread_local int len = 0;
  time_t now = time(nullptr);
  if (now != cached) {
    struct tm tm {};
    gmtime_r(&now, &tm);
    len = snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                   tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                   tm.tm_sec);
    cached = now;
  }
  out->append(buf, static_cast<size_t>(len));
}

// {"message":"..."}: Docker's error body.
std::string jsonMessage(std::string_view msg) {
  std::string out = "{\"message\":\"";
  for (char ch : msg) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char esc[8];
          snprintf(esc, sizeof(esc), "\\u%04x", c);
          out += esc;
        } else {
          out.push_back(ch);
        }
    }
  }
  out += "\"}";
  return out;
}

// --- HandlerPool ---------------------------------------------------------------

// Runs handlers: one thread per in-flight request, growing up to `max`; idle
// threads above `min` exit. Threads are detached and keep the pool alive
// through a shared_ptr; shutdown() waits (bounded) for them to finish.
// Thread-safe.
class HandlerPool : public std::enable_shared_from_this<HandlerPool> {
 public:
  HandlerPool(int min_threads, int max_threads)
      : min_(std::max(0, min_threads)), max_(std::max(1, max_threads)) {}

  void start() {
    std::lock_guard lk(mu_);
    while (threads_ < min_ && spawnLocked()) {
    }
  }

  // False when the pool is shut down or no thread can be started.
  bool submit(std::function<void()> task) {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    queue_.push_back(std::move(task));
    if (static_cast<size_t>(idle_) < queue_.size() && threads_ < max_) {
      if (!spawnLocked() && threads_ == 0) {
        queue_.pop_back();
        return false;
      }
    }
    cv_.notify_one();
    return true;
  }

  // Drops queued tasks, wakes idle threads and waits up to `wait` for running
  // handlers to return. Threads still running after that stay detached.
  void shutdown(std::chrono::milliseconds wait) {
    std::deque<std::function<void()>> dropped;
    std::unique_lock lk(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    cv_.notify_all();
    if (!exited_cv_.wait_for(lk, wait, [&] { return threads_ == 0; })) {
      spdlog::warn("http: {} handler thread(s) still running at shutdown", threads_);
    }
    lk.unlock();
    dropped.clear();  // destroys the tasks (and their connection refs) unlocked
  }

 private:
  bool spawnLocked() {
    try {
      std::thread([self = shared_from_this()] {
        pthread_setname_np(pthread_self(), "arca-http-h");
        self->worker();
      }).detach();
    } catch (const std::system_error& e) {
      spdlog::warn("http: cannot start a handler thread: {}", e.what());
      return false;
    }
    ++threads_;
    return true;
  }

  void worker() {
    std::unique_lock lk(mu_);
    for (;;) {
      while (queue_.empty() && !stopping_) {
        ++idle_;
        bool ready = cv_.wait_for(lk, kPoolIdleExit, [&] { return !queue_.empty() || stopping_; });
        --idle_;
        if (!ready && threads_ > min_) {
          --threads_;
          exited_cv_.notify_all();
          return;
        }
      }
      if (stopping_) break;
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      task();
      task = nullptr;  // drop captured references before taking the lock
      lk.lock();
    }
    --threads_;
    exited_cv_.notify_all();
  }

  const int min_;
  const int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable exited_cv_;
  std::deque<std::function<void()>> queue_;
  int threads_ = 0;
  int idle_ = 0;
  bool stopping_ = false;
};

// Immutable after create(); shared with connections (and so with handler
// threads that may outlive the server object).
struct ServerConfig {
  ServerOptions opts;
  DispatchFn dispatch;
};

class HttpServerImpl;

// --- Connection ------------------------------------------------------------------

// One client connection. It is also the Request and the ResponseWriter of its
// current request: requests on a connection are served one at a time, and the
// per-request state is reset between them.
//
// Which thread touches what:
//  - I/O thread: everything marked (io); the libevent callbacks.
//  - Handler thread (or the I/O thread for an inline handler): the Request
//    and ResponseWriter methods, between dispatch and finishHandler().
//  - Fields marked (mu) are shared and guarded by mu_.
//  - Request fields (head_, path_, query_, params, ...) and the per-request
//    flags marked (req) are written by the I/O thread before dispatch and
//    read by the handler; the pool queue / handler_done_ hand-offs order them.
class Connection final : public Request,
                         public ResponseWriter,
                         public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpServerImpl* server, std::shared_ptr<const ServerConfig> cfg,
             std::shared_ptr<HandlerPool> pool, int fd)
      : server_(server), cfg_(std::move(cfg)), pool_(std::move(pool)), fd_(fd) {}
  ~Connection() override = default;

  // (io) Creates the bufferevent (which owns the fd from then on) and starts
  // reading. On failure the fd is closed.
  bool init(event_base* base);
  // (io) Server stop: closes the socket at once and wakes the handler.
  // Server shutdown. Streams end cleanly where they can: a chunked response
  // gets its last chunk and buffered output is written out (best effort; the
  // socket is non-blocking), so `docker logs -f` sees the end of the stream.
  void abort() {
    std::lock_guard lk(mu_);
    if (bev_ != nullptr && !error_ && (resp_ == Resp::kStreaming || resp_ == Resp::kHijacked)) {
      if (resp_ == Resp::kStreaming && stream_mode_ == BodyMode::kChunked) {
        resp_ = Resp::kEnded;
        writeLocked("0\r\n\r\n");
      }
      evbuffer* out = bufferevent_get_output(bev_);
      for (int i = 0; i < 100 && evbuffer_get_length(out) > 0; ++i) {
        if (evbuffer_write(out, fd_) < 0 && errno != EAGAIN && errno != EINTR) break;
        if (evbuffer_get_length(out) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    teardownLocked();
  }

  // Request
  long read(char* buf, size_t len) override;

  // ResponseWriter
  void send(int status, std::string_view content_type, std::string_view body,
            const Headers& extra) override;
  void startStream(int status, std::string_view content_type, const Headers& extra) override;
  bool write(std::string_view data) override;
  void end() override;
  void hijack(std::string_view content_type) override;
  long readRaw(char* buf, size_t len) override;
  void close() override;
  bool clientGone() const override {
    std::lock_guard lk(mu_);
    return goneLocked();
  }
  bool waitClientGone(int timeout_ms) override;
  bool started() const override {
    std::lock_guard lk(mu_);
    return resp_ != Resp::kNone;
  }

 private:
  enum class IoState {
    kIdle,       // waiting for / parsing the next request head
    kInRequest,  // a handler owns the request
    kDraining,   // handler done; discarding the unread rest of its body
    kHijacked,   // raw stream; the connection ends with it
    kClosing,    // flushing the last output
    kLinger,     // output flushed and shut down; discarding input until EOF
    kClosed,     // bufferevent freed
  };
  enum class Resp { kNone, kSent, kStreaming, kEnded, kHijacked };
  enum class BodyMode { kLength, kChunked, kNone, kUntilClose };

  static void onRead(bufferevent*, void* arg);
  static void onWrite(bufferevent*, void* arg);
  static void onEvent(bufferevent*, short what, void* arg);
  static void onWake(evutil_socket_t, short, void* arg);

  // (io) The connection state machine; called on every libevent callback.
  void process();
  // (io, mu) Parses the next head; true when a request was dispatched.
  bool startNextRequestLocked(std::unique_lock<std::mutex>& lk);
  // (io, mu) After handler_done_: decides keep-alive / drain / close.
  bool finishRequestLocked();
  // (io, mu) Discards unread body; true when done and the next request may start.
  bool drainLocked();
  // (io) Routes and runs (inline) or queues the request.
  void dispatchRequest();
  // Handler thread or inline: runs the handler and completes the response.
  void runHandler(const Handler& h);
  void finishHandler();
  void sendError(int status, std::string_view message);

  // (mu) Helpers.
  bool goneLocked() const { return closed_ || error_ || (peer_eof_ && !hijacked_); }
  size_t outputLenLocked() const {
    return bev_ ? evbuffer_get_length(bufferevent_get_output(bev_)) : 0;
  }
  bool writeLocked(const char* data, size_t len);
  bool writeLocked(std::string_view s) { return writeLocked(s.data(), s.size()); }
  void waitWritableLocked(std::unique_lock<std::mutex>& lk);
  bool pumpBodyLocked(bool discard, size_t want);
  void maybeSendContinueLocked();
  void decideCloseLocked();
  void wakeIoLocked() {
    if (wake_ev_ != nullptr && !inline_) event_active(wake_ev_, EV_TIMEOUT, 0);
  }
  void discardInputLocked() {
    if (bev_) {
      evbuffer* in = bufferevent_get_input(bev_);
      evbuffer_drain(in, evbuffer_get_length(in));
    }
  }
  // (io, mu) Closing: flush, shutdown(SHUT_WR), linger, free.
  void beginCloseLocked();
  void beginLingerLocked();
  void teardownLocked();

  // Builds the status line and headers into *out (calls default_headers).
  void buildHead(int status, std::string_view content_type, const Headers& extra, BodyMode mode,
                 uint64_t length, bool close, std::string* out);

  HttpServerImpl* const server_;  // (io) only; the I/O thread outlives us being listed
  const std::shared_ptr<const ServerConfig> cfg_;
  const std::shared_ptr<HandlerPool> pool_;
  const int fd_;  // owned by bev_; used for send()/shutdown() only under mu_ with bev_ set

  mutable std::mutex mu_;
  std::condition_variable cv_;  // (mu) data, drain, output space, gone, closed
  // (mu) libevent objects, freed by the I/O thread only.
  bufferevent* bev_ = nullptr;
  event* wake_ev_ = nullptr;
  IoState state_ = IoState::kIdle;             // (mu)
  bool closed_ = false;                        // (mu) torn down
  bool error_ = false;                         // (mu) socket error / write failure
  bool peer_eof_ = false;                      // (mu) client closed or half-closed
  bool wait_output_ = false;                   // (mu) kIdle paused until output drains
  bool handler_done_ = false;                  // (mu) the handler returned
  bool close_requested_ = false;               // (mu) hijacked close()
  bool hijacked_ = false;                      // (mu)
  Resp resp_ = Resp::kNone;                    // (mu)
  BodyMode stream_mode_ = BodyMode::kChunked;  // (mu)
  bool close_after_ = false;                   // (mu) no keep-alive after this response
  RequestParser parser_;                       // (mu)
  bool body_done_ = true;                      // (mu) the request body has been parsed to its end
  bool parse_failed_ = false;                  // (mu)
  std::string body_buf_;                       // (mu) de-chunked body bytes not yet read()
  size_t body_off_ = 0;                        // (mu)
  uint64_t body_wire_bytes_ = 0;               // (mu) body bytes consumed from the socket
  uint64_t drained_ = 0;                       // (mu) bytes discarded in kDraining
  bool sent_continue_ = false;                 // (mu)

  // (req) Per-request facts set before dispatch.
  bool inline_ = false;
  bool is_head_ = false;
  bool expect_continue_ = false;
  bool chunked_request_ = false;
  uint64_t content_length_ = 0;

  std::string out_;    // handler-side scratch for response heads
  std::string chunk_;  // handler-side scratch for chunks
};

// --- HttpServerImpl --------------------------------------------------------------

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(std::shared_ptr<ServerConfig> cfg) : cfg_(std::move(cfg)) {}
  ~HttpServerImpl() override;

  Status init();
  Status start() override;
  void stop() override;
  int tcpPort() const override { return tcp_port_; }

  // (io) Drops a torn-down connection from the table.
  void forget(Connection* c) { conns_.erase(c); }

 private:
  static void onAccept(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int, void* arg);
  static void onAcceptError(evconnlistener* l, void* arg);
  static void onAcceptRetry(evutil_socket_t, short, void* arg);
  static void onStop(evutil_socket_t, short, void* arg);
  Status bindUnix(int* fd);
  Status bindTcp(int* fd);
  void freeLibevent();

  const std::shared_ptr<ServerConfig> cfg_;
  std::shared_ptr<HandlerPool> pool_;
  event_base* base_ = nullptr;
  evconnlistener* unix_listener_ = nullptr;
  evconnlistener* tcp_listener_ = nullptr;
  event* stop_ev_ = nullptr;
  event* accept_retry_ev_ = nullptr;  // re-enables listeners after EMFILE
  std::thread io_thread_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;  // (io)
  int tcp_port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  bool unix_bound_ = false;
};

// --- Connection: libevent side -------------------------------------------------

bool Connection::init(event_base* base) {
  const ServerOptions& o = cfg_->opts;
  bev_ = bufferevent_socket_new(base, fd_,
                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE |
                                    BEV_OPT_DEFER_CALLBACKS | BEV_OPT_UNLOCK_CALLBACKS);
  if (bev_ == nullptr) {
    ::close(fd_);
    return false;
  }
  wake_ev_ = event_new(base, -1, 0, &Connection::onWake, this);
  if (wake_ev_ == nullptr) {
    bufferevent_free(bev_);
    bev_ = nullptr;
    return false;
  }
  bufferevent_setcb(bev_, &Connection::onRead, &Connection::onWrite, &Connection::onEvent, this);
  // Flow control: libevent stops reading the socket while this much input is
  // buffered (unread body, pipelined requests, hijacked stdin). A head must fit.
  bufferevent_setwatermark(bev_, EV_READ, 0,
                           std::max(o.body_high_water, RequestParser::kMaxHeadBytes + (64 << 10)));
  // onWrite runs once output falls to half the high-water mark (and when it
  // empties), waking writers blocked in waitWritableLocked().
  bufferevent_setwatermark(bev_, EV_WRITE, o.output_high_water / 2, 0);
  bufferevent_enable(bev_, EV_READ);
  return true;
}

void Connection::onRead(bufferevent*, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  auto keep = c->shared_from_this();  // teardown may drop the table's reference
  c->process();
}

void Connection::onWake(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  auto keep = c->shared_from_this();
  c->process();
}

void Connection::onWrite(bufferevent*, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  auto keep = c->shared_from_this();
  std::unique_lock lk(c->mu_);
  c->cv_.notify_all();
  if (c->state_ == IoState::kClosing && c->outputLenLocked() == 0) {
    c->beginLingerLocked();
  } else if (c->state_ == IoState::kIdle && c->wait_output_) {
    c->wait_output_ = false;
    lk.unlock();
    c->process();
  }
}

void Connection::onEvent(bufferevent*, short what, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  auto keep = c->shared_from_this();
  std::lock_guard lk(c->mu_);
  if (c->state_ == IoState::kClosed) return;
  if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
    c->error_ = (what & BEV_EVENT_ERROR) != 0 || c->error_;
    c->teardownLocked();
    return;
  }
  if (what & BEV_EVENT_EOF) {
    c->peer_eof_ = true;
    c->cv_.notify_all();
    switch (c->state_) {
      case IoState::kIdle:
      case IoState::kDraining:
        c->beginCloseLocked();
        break;
      case IoState::kLinger:
        c->teardownLocked();
        break;
      default:
        // kInRequest: the handler sees clientGone() and we close after it.
        // kHijacked: a half-close; readRaw() returns 0, output continues.
        // kClosing: beginLingerLocked() sees peer_eof_ once output is out.
        break;
    }
  }
}

void Connection::process() {
  std::unique_lock lk(mu_);
  for (;;) {
    if (state_ == IoState::kClosed) return;
    if (error_) {
      teardownLocked();
      return;
    }
    switch (state_) {
      case IoState::kIdle:
        if (!startNextRequestLocked(lk)) return;
        break;
      case IoState::kInRequest:
        if (!handler_done_) {
          cv_.notify_all();  // new input for read() / gone for waiters
          return;
        }
        if (!finishRequestLocked()) return;
        break;
      case IoState::kDraining:
        if (!drainLocked()) return;
        break;
      case IoState::kHijacked:
        cv_.notify_all();  // new input for readRaw()
        if (close_requested_ || handler_done_) beginCloseLocked();
        return;
      case IoState::kClosing:
        discardInputLocked();
        if (outputLenLocked() == 0) beginLingerLocked();
        return;
      case IoState::kLinger:
        discardInputLocked();
        return;
      case IoState::kClosed:
        return;
    }
  }
}

bool Connection::startNextRequestLocked(std::unique_lock<std::mutex>& lk) {
  if (bev_ == nullptr) return false;
  if (outputLenLocked() > cfg_->opts.output_high_water) {
    wait_output_ = true;  // the client is not reading its responses; onWrite resumes
    return false;
  }
  evbuffer* in = bufferevent_get_input(bev_);
  RequestParser::Result r = RequestParser::Result::kNeedMore;
  bufferevent_lock(bev_);
  for (;;) {
    evbuffer_iovec v{};
    if (evbuffer_peek(in, -1, nullptr, &v, 1) < 1 || v.iov_len == 0) break;
    size_t used = 0;
    r = parser_.feed(static_cast<const char*>(v.iov_base), v.iov_len, &used, nullptr);
    evbuffer_drain(in, used);
    if (r != RequestParser::Result::kNeedMore) break;
  }
  bufferevent_unlock(bev_);

  if (r == RequestParser::Result::kNeedMore) {
    if (peer_eof_) beginCloseLocked();
    return false;
  }
  // A new request: reset the per-request state.
  state_ = IoState::kInRequest;
  handler_done_ = false;
  close_requested_ = false;
  resp_ = Resp::kNone;
  stream_mode_ = BodyMode::kChunked;
  body_buf_.clear();
  body_off_ = 0;
  body_wire_bytes_ = 0;
  drained_ = 0;
  sent_continue_ = false;
  params.clear();

  if (r == RequestParser::Result::kError) {
    std::string msg = parser_.error();
    head_ = RequestHead{};
    parse_failed_ = true;
    body_done_ = true;
    close_after_ = true;
    inline_ = true;
    is_head_ = false;
    expect_continue_ = false;
    lk.unlock();
    sendError(400, msg);
    finishHandler();
    lk.lock();
    return true;  // finishRequestLocked() closes
  }

  // kHeadDone.
  head_ = parser_.head();
  size_t used = 0;
  body_done_ = parser_.feed(nullptr, 0, &used, nullptr) == RequestParser::Result::kDone;
  parse_failed_ = false;
  is_head_ = head_.method == "HEAD";
  close_after_ = !head_.keepAlive();
  chunked_request_ = head_.chunked();
  content_length_ = head_.contentLength().value_or(0);
  auto expect = head_.header("expect");
  expect_continue_ =
      !body_done_ && head_.version_minor >= 1 && expect && iequals(*expect, "100-continue");
  lk.unlock();
  dispatchRequest();
  lk.lock();
  return true;
}

bool Connection::finishRequestLocked() {
  handler_done_ = false;
  if (close_after_ || peer_eof_ || parse_failed_ || hijacked_) {
    beginCloseLocked();
    return false;
  }
  if (!body_done_) {
    state_ = IoState::kDraining;
    return true;
  }
  parser_.reset();
  state_ = IoState::kIdle;
  return true;
}

bool Connection::drainLocked() {
  pumpBodyLocked(/*discard=*/true, 0);
  if (parse_failed_ || drained_ > kMaxDrainBytes) {
    beginCloseLocked();
    return false;
  }
  if (!body_done_) {
    if (peer_eof_) beginCloseLocked();
    return false;
  }
  parser_.reset();
  state_ = IoState::kIdle;
  return true;
}

void Connection::beginCloseLocked() {
  if (state_ == IoState::kClosing || state_ == IoState::kLinger || state_ == IoState::kClosed) {
    return;
  }
  if (error_ || bev_ == nullptr) {
    teardownLocked();
    return;
  }
  state_ = IoState::kClosing;
  cv_.notify_all();
  discardInputLocked();
  if (outputLenLocked() == 0) beginLingerLocked();
}

void Connection::beginLingerLocked() {
  state_ = IoState::kLinger;
  ::shutdown(fd_, SHUT_WR);  // the client sees EOF after our last byte
  if (peer_eof_) {
    teardownLocked();
    return;
  }
  discardInputLocked();
  timeval tv{kLingerSeconds, 0};
  bufferevent_set_timeouts(bev_, &tv, nullptr);
  bufferevent_enable(bev_, EV_READ);
}

void Connection::teardownLocked() {
  if (state_ == IoState::kClosed) return;
  state_ = IoState::kClosed;
  closed_ = true;
  if (bev_ != nullptr) {
    bufferevent_free(bev_);  // closes the fd
    bev_ = nullptr;
  }
  if (wake_ev_ != nullptr) {
    event_free(wake_ev_);
    wake_ev_ = nullptr;
  }
  cv_.notify_all();
  // Callers hold a reference (`keep` / the stop loop), so this does not
  // destroy *this.
  server_->forget(this);
}

// --- Connection: request dispatch ------------------------------------------------

void Connection::dispatchRequest() {
  if (!parseTarget()) {
    {
      std::lock_guard lk(mu_);
      close_after_ = true;
    }
    inline_ = true;
    sendError(400, "invalid request target \"" + head_.target.substr(0, 256) + "\"");
    finishHandler();
    return;
  }
  Dispatch d;
  try {
    d = cfg_->dispatch(*this);
  } catch (const std::exception& e) {
    inline_ = true;
    sendError(500, e.what());
    finishHandler();
    return;
  } catch (...) {
    inline_ = true;
    sendError(500, "internal error in request dispatch");
    finishHandler();
    return;
  }
  if (!d.handler) {
    inline_ = true;
    sendError(404, "page not found");
    finishHandler();
    return;
  }
  // Inline only without a body: an inline handler cannot wait for bytes.
  bool body_done;
  {
    std::lock_guard lk(mu_);
    body_done = body_done_;
  }
  if (d.inline_handler && body_done) {
    inline_ = true;
    runHandler(d.handler);
    return;
  }
  inline_ = false;
  auto self = shared_from_this();
  if (!pool_->submit([self, h = std::move(d.handler)] { self->runHandler(h); })) {
    inline_ = true;
    sendError(503, "server is shutting down");
    finishHandler();
  }
}

void Connection::runHandler(const Handler& h) {
  try {
    h(*this, *this);
  } catch (const std::exception& e) {
    spdlog::warn("http: handler for {} {} threw: {}", head_.method, path_, e.what());
    if (!started()) sendError(500, e.what());
  } catch (...) {
    spdlog::warn("http: handler for {} {} threw", head_.method, path_);
    if (!started()) sendError(500, "internal server error");
  }
  finishHandler();
}

void Connection::finishHandler() {
  Resp r;
  {
    std::lock_guard lk(mu_);
    r = resp_;
  }
  if (r == Resp::kNone) {
    sendError(500, "handler did not write a response");
  } else if (r == Resp::kStreaming) {
    end();
  } else if (r == Resp::kHijacked) {
    close();
  }
  std::lock_guard lk(mu_);
  handler_done_ = true;
  wakeIoLocked();  // inline: process() is on the stack and sees handler_done_
}

void Connection::sendError(int status, std::string_view message) {
  send(status, "application/json", jsonMessage(message), {});
}

// --- Connection: Request / ResponseWriter ----------------------------------------

bool Connection::writeLocked(const char* data, size_t len) {
  if (bev_ == nullptr || error_) return false;
  if (len == 0) return true;
  bufferevent_lock(bev_);
  evbuffer* out = bufferevent_get_output(bev_);
  // Fast path: nothing queued, so write to the socket directly. This saves
  // the I/O thread a round through EPOLLOUT and gives each flush its own
  // write(2) (the 101 of a hijack in particular).
  if (evbuffer_get_length(out) == 0) {
    ssize_t n = ::send(fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        bufferevent_unlock(bev_);
        error_ = true;
        cv_.notify_all();
        wakeIoLocked();  // the I/O thread tears down
        return false;
      }
      n = 0;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  if (len > 0) evbuffer_add(out, data, len);  // libevent writes it when writable
  bufferevent_unlock(bev_);
  return true;
}

void Connection::waitWritableLocked(std::unique_lock<std::mutex>& lk) {
  if (inline_) return;  // the I/O thread must not block
  while (bev_ != nullptr && !goneLocked() && outputLenLocked() > cfg_->opts.output_high_water) {
    cv_.wait(lk);
  }
}

bool Connection::pumpBodyLocked(bool discard, size_t want) {
  if (bev_ == nullptr || body_done_ || parse_failed_) return false;
  evbuffer* in = bufferevent_get_input(bev_);
  bool progress = false;
  // The bufferevent lock keeps the I/O thread from reshaping the evbuffer
  // between peek and drain.
  bufferevent_lock(bev_);
  for (;;) {
    evbuffer_iovec v{};
    int n = evbuffer_peek(in, -1, nullptr, &v, 1);
    const char* p = n > 0 ? static_cast<const char*>(v.iov_base) : nullptr;
    size_t len = n > 0 ? v.iov_len : 0;
    size_t used = 0;
    auto r = parser_.feed(p, len, &used, discard ? nullptr : &body_buf_);
    if (used > 0) {
      evbuffer_drain(in, used);
      body_wire_bytes_ += used;
      if (discard) drained_ += used;
      progress = true;
    }
    if (r == RequestParser::Result::kDone) {
      body_done_ = true;
      progress = true;
      break;
    }
    if (r == RequestParser::Result::kError) {
      parse_failed_ = true;
      close_after_ = true;
      progress = true;
      break;
    }
    if (len == 0) break;
    if (!discard && body_buf_.size() - body_off_ >= want) break;
    if (discard && drained_ > kMaxDrainBytes) break;
  }
  bufferevent_unlock(bev_);
  return progress;
}

void Connection::maybeSendContinueLocked() {
  if (expect_continue_ && !sent_continue_ && resp_ == Resp::kNone && !body_done_) {
    sent_continue_ = true;
    writeLocked("HTTP/1.1 100 Continue\r\n\r\n");
  }
}

long Connection::read(char* buf, size_t len) {
  if (len == 0) return 0;
  std::unique_lock lk(mu_);
  maybeSendContinueLocked();
  for (;;) {
    if (body_off_ < body_buf_.size()) {
      size_t n = std::min(len, body_buf_.size() - body_off_);
      std::memcpy(buf, body_buf_.data() + body_off_, n);
      body_off_ += n;
      if (body_off_ == body_buf_.size()) {
        body_buf_.clear();
        body_off_ = 0;
      }
      return static_cast<long>(n);
    }
    if (body_done_) return 0;
    if (parse_failed_ || closed_ || error_ || bev_ == nullptr) return -1;
    if (pumpBodyLocked(false, len)) continue;
    if (peer_eof_ || inline_) return -1;  // truncated body / cannot block
    cv_.wait(lk);                         // process() notifies on new input
  }
}

void Connection::decideCloseLocked() {
  if (body_done_) return;
  // The client would not send a body we never asked for: the next bytes
  // could be a new request or the body. Go closes in this case too.
  if (expect_continue_ && !sent_continue_) close_after_ = true;
  // Too much unread body to drain.
  if (!chunked_request_ && content_length_ - body_wire_bytes_ > kMaxDrainBytes) {
    close_after_ = true;
  }
}

void Connection::buildHead(int status, std::string_view content_type, const Headers& extra,
                           BodyMode mode, uint64_t length, bool close, std::string* out) {
  out->clear();
  out->append("HTTP/1.1 ");
  appendUint(out, static_cast<uint64_t>(status));
  out->push_back(' ');
  out->append(reasonPhrase(status));
  out->append("\r\n");

  // Content-Length, Transfer-Encoding, Connection and Date are ours.
  auto reserved = [](std::string_view n) {
    return iequals(n, "content-length") || iequals(n, "transfer-encoding") ||
           iequals(n, "connection") || iequals(n, "date");
  };
  auto in_extra = [&](std::string_view n) {
    for (const auto& [k, v] : extra) {
      if (iequals(k, n)) return true;
    }
    return false;
  };
  if (cfg_->opts.default_headers) {
    const Headers& defaults = cfg_->opts.default_headers();
    for (const auto& [k, v] : defaults) {
      if (reserved(k) || in_extra(k)) continue;
      if (!content_type.empty() && iequals(k, "content-type")) continue;
      appendHeader(out, k, v);
    }
  }
  const std::string* extra_length = nullptr;
  for (const auto& [k, v] : extra) {
    if (iequals(k, "content-length")) {
      extra_length = &v;
      continue;
    }
    if (reserved(k)) continue;
    if (!content_type.empty() && iequals(k, "content-type")) continue;
    appendHeader(out, k, v);
  }
  if (!content_type.empty()) appendHeader(out, "Content-Type", content_type);
  switch (mode) {
    case BodyMode::kLength:
      out->append("Content-Length: ");
      if (is_head_ && extra_length != nullptr) {
        out->append(*extra_length);
      } else {
        appendUint(out, length);
      }
      out->append("\r\n");
      break;
    case BodyMode::kChunked:
      out->append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyMode::kNone:
    case BodyMode::kUntilClose:
      break;
  }
  out->append("Date: ");
  appendDate(out);
  out->append("\r\n");
  if (close) {
    out->append("Connection: close\r\n");
  } else if (head_.version_minor == 0) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
}

void Connection::send(int status, std::string_view content_type, std::string_view body,
                      const Headers& extra) {
  bool close;
  {
    std::lock_guard lk(mu_);
    if (resp_ != Resp::kNone) {
      spdlog::warn("http: second response for {} {} ignored", head_.method, path_);
      return;
    }
    resp_ = Resp::kSent;
    decideCloseLocked();
    close = close_after_;
  }
  bool no_body = statusHasNoBody(status);
  buildHead(status, content_type, extra, no_body ? BodyMode::kNone : BodyMode::kLength, body.size(),
            close, &out_);
  bool with_body = !no_body && !is_head_ && !body.empty();
  std::unique_lock lk(mu_);
  if (!with_body) {
    writeLocked(out_);
    return;
  }
  waitWritableLocked(lk);
  if (body.size() <= kCoalesceLimit) {
    out_.append(body);
    writeLocked(out_);
  } else {
    writeLocked(out_);
    writeLocked(body);
  }
}

void Connection::startStream(int status, std::string_view content_type, const Headers& extra) {
  BodyMode mode;
  bool close;
  {
    std::lock_guard lk(mu_);
    if (resp_ != Resp::kNone) {
      spdlog::warn("http: second response for {} {} ignored", head_.method, path_);
      return;
    }
    resp_ = Resp::kStreaming;
    if (statusHasNoBody(status) || is_head_) {
      mode = BodyMode::kNone;
    } else if (head_.version_minor == 0) {
      mode = BodyMode::kUntilClose;  // HTTP/1.0 has no chunked encoding
      close_after_ = true;
    } else {
      mode = BodyMode::kChunked;
    }
    stream_mode_ = mode;
    decideCloseLocked();
    close = close_after_;
  }
  buildHead(status, content_type, extra, mode, 0, close, &out_);
  std::lock_guard lk(mu_);
  writeLocked(out_);
}

bool Connection::write(std::string_view data) {
  std::unique_lock lk(mu_);
  if (resp_ == Resp::kHijacked) {
    if (close_requested_ || goneLocked()) return false;
    waitWritableLocked(lk);
    if (close_requested_ || goneLocked()) return false;
    return writeLocked(data);
  }
  if (resp_ != Resp::kStreaming || goneLocked()) return false;
  waitWritableLocked(lk);
  if (goneLocked()) return false;
  if (data.empty() || stream_mode_ == BodyMode::kNone) return true;
  if (stream_mode_ == BodyMode::kUntilClose) return writeLocked(data);
  char size_line[24];
  int n = snprintf(size_line, sizeof(size_line), "%zx\r\n", data.size());
  if (data.size() <= kCoalesceLimit) {
    chunk_.assign(size_line, static_cast<size_t>(n));
    chunk_.append(data);
    chunk_.append("\r\n");
    return writeLocked(chunk_);
  }
  return writeLocked(size_line, static_cast<size_t>(n)) && writeLocked(data) && writeLocked("\r\n");
}

void Connection::end() {
  std::lock_guard lk(mu_);
  if (resp_ != Resp::kStreaming) return;
  resp_ = Resp::kEnded;
  if (stream_mode_ == BodyMode::kChunked) writeLocked("0\r\n\r\n");
}

void Connection::hijack(std::string_view content_type) {
  std::unique_lock lk(mu_);
  if (resp_ != Resp::kNone) {
    spdlog::warn("http: hijack after a response for {} {} ignored", head_.method, path_);
    return;
  }
  resp_ = Resp::kHijacked;
  hijacked_ = true;
  close_after_ = true;
  if (state_ == IoState::kInRequest) state_ = IoState::kHijacked;
  std::string text;
  if (head_.wantsUpgrade()) {
    text.append("HTTP/1.1 101 UPGRADED\r\nContent-Type: ");
    text.append(content_type);
    text.append("\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
  } else {
    text.append("HTTP/1.1 200 OK\r\nContent-Type: ");
    text.append(content_type);
    text.append("\r\n\r\n");
  }
  writeLocked(text);
  // Usually sent above in a write(2) of its own. If the socket was full, wait
  // until it is out so no stream byte shares its write: docker-py reads the
  // socket under its buffered HTTP reader.
  if (!inline_) {
    while (bev_ != nullptr && !error_ && outputLenLocked() > 0) cv_.wait(lk);
  }
}

long Connection::readRaw(char* buf, size_t len) {
  if (len == 0) return 0;
  std::unique_lock lk(mu_);
  if (!hijacked_) return -1;
  for (;;) {
    if (error_) return -1;
    if (closed_ || close_requested_ || bev_ == nullptr) return 0;
    if (!body_done_) {
      // Unread request body precedes the raw stream: skip it.
      pumpBodyLocked(/*discard=*/true, 0);
      if (parse_failed_) return -1;
    }
    if (body_done_) {
      size_t n = bufferevent_read(bev_, buf, len);
      if (n > 0) return static_cast<long>(n);
    }
    if (peer_eof_) return 0;
    if (inline_) return -1;
    cv_.wait(lk);
  }
}

void Connection::close() {
  std::lock_guard lk(mu_);
  if (!hijacked_ || close_requested_) return;
  close_requested_ = true;
  cv_.notify_all();
  wakeIoLocked();  // the I/O thread flushes, shuts down and closes
}

bool Connection::waitClientGone(int timeout_ms) {
  std::unique_lock lk(mu_);
  if (inline_) return goneLocked();
  auto gone = [&] { return goneLocked(); };
  if (timeout_ms < 0) {
    cv_.wait(lk, gone);
  } else if (timeout_ms > 0) {
    cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), gone);
  }
  return goneLocked();
}

// --- HttpServerImpl ----------------------------------------------------------------

HttpServerImpl::~HttpServerImpl() { stop(); }

Status HttpServerImpl::bindUnix(int* out_fd) {
  const std::string& path = cfg_->opts.unix_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return InvalidArgument("unix socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return FailedPrecondition(path + " exists and is not a socket");
    }
    ::unlink(path.c_str());  // stale socket of an earlier run
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Internal(std::string("socket: ") + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    return Unavailable("bind " + path + ": " + std::strerror(e));
  }
  unix_bound_ = true;
  if (::chmod(path.c_str(), 0660) != 0 || ::listen(fd, kListenBacklog) != 0) {
    int e = errno;
    ::close(fd);
    return Internal("listen " + path + ": " + std::strerror(e));
  }
  *out_fd = fd;
  return Status::Ok();
}

Status HttpServerImpl::bindTcp(int* out_fd) {
  const std::string& a = cfg_->opts.tcp_address;
  size_t colon = a.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("tcp address needs host:port: " + a);
  std::string host = a.substr(0, colon);
  std::string port = a.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return InvalidArgument("tcp address " + a + ": " + gai_strerror(rc));
  Status st = Unavailable("cannot bind " + a);
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      st = Unavailable("bind " + a + ": " + std::strerror(errno));
      ::close(fd);
      continue;
    }
    sockaddr_storage ss{};
    socklen_t sl = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
    tcp_port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    *out_fd = fd;
    st = Status::Ok();
    break;
  }
  ::freeaddrinfo(res);
  return st;
}

Status HttpServerImpl::init() {
  static std::once_flag once;
  std::call_once(once, [] {
    evthread_use_pthreads();
    // libevent writes with writev(2), which raises SIGPIPE on a closed peer.
    std::signal(SIGPIPE, SIG_IGN);
  });
  const ServerOptions& o = cfg_->opts;
  if (o.unix_path.empty() && o.tcp_address.empty()) {
    return InvalidArgument("http server needs a unix path or a tcp address");
  }
  if (!cfg_->dispatch) return InvalidArgument("http server needs a dispatcher");
  base_ = event_base_new();
  if (base_ == nullptr) return Internal("event_base_new failed");
  stop_ev_ = event_new(base_, -1, 0, &HttpServerImpl::onStop, this);
  accept_retry_ev_ = evtimer_new(base_, &HttpServerImpl::onAcceptRetry, this);
  if (stop_ev_ == nullptr || accept_retry_ev_ == nullptr) return Internal("event_new failed");

  // Listeners are created on this thread; the loop has not started yet.
  auto listen = [&](int fd, evconnlistener** out) -> Status {
    *out = evconnlistener_new(base_, &HttpServerImpl::onAccept, this,
                              LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
    if (*out == nullptr) {
      ::close(fd);
      return Internal("evconnlistener_new failed");
    }
    evconnlistener_set_error_cb(*out, &HttpServerImpl::onAcceptError);
    return Status::Ok();
  };
  if (!o.unix_path.empty()) {
    int fd = -1;
    ARCA_RETURN_IF_ERROR(bindUnix(&fd));
    ARCA_RETURN_IF_ERROR(listen(fd, &unix_listener_));
  }
  if (!o.tcp_address.empty()) {
    int fd = -1;
    ARCA_RETURN_IF_ERROR(bindTcp(&fd));
    ARCA_RETURN_IF_ERROR(listen(fd, &tcp_listener_));
  }
  pool_ = std::make_shared<HandlerPool>(o.min_handler_threads, o.max_handler_threads);
  return Status::Ok();
}

Status HttpServerImpl::start() {
  if (started_ || stopped_) return FailedPrecondition("http server already started");
  started_ = true;
  pool_->start();
  io_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "arca-http-io");
    event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
  });
  return Status::Ok();
}

void HttpServerImpl::onAccept(evconnlistener*, evutil_socket_t fd, sockaddr* sa, int, void* arg) {
  auto* s = static_cast<HttpServerImpl*>(arg);
  if (sa != nullptr && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  auto c = std::make_shared<Connection>(s, s->cfg_, s->pool_, fd);
  if (!c->init(s->base_)) return;
  s->conns_.emplace(c.get(), std::move(c));
}

void HttpServerImpl::onAcceptError(evconnlistener* l, void* arg) {
  auto* s = static_cast<HttpServerImpl*>(arg);
  int e = EVUTIL_SOCKET_ERROR();
  spdlog::warn("http: accept: {}", evutil_socket_error_to_string(e));
  if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
    // Out of descriptors: pause accepting for a moment instead of spinning.
    evconnlistener_disable(l);
    timeval tv{0, 100 * 1000};
    evtimer_add(s->accept_retry_ev_, &tv);
  }
}

void HttpServerImpl::onAcceptRetry(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<HttpServerImpl*>(arg);
  if (s->unix_listener_ != nullptr) evconnlistener_enable(s->unix_listener_);
  if (s->tcp_listener_ != nullptr) evconnlistener_enable(s->tcp_listener_);
}

void HttpServerImpl::onStop(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<HttpServerImpl*>(arg);
  evtimer_del(s->accept_retry_ev_);
  if (s->unix_listener_ != nullptr) evconnlistener_free(s->unix_listener_);
  if (s->tcp_listener_ != nullptr) evconnlistener_free(s->tcp_listener_);
  s->unix_listener_ = nullptr;
  s->tcp_listener_ = nullptr;
  // Copy: abort() removes each connection from the table.
  std::vector<std::shared_ptr<Connection>> conns;
  conns.reserve(s->conns_.size());
  for (auto& [p, c] : s->conns_) conns.push_back(c);
  for (auto& c : conns) c->abort();
  s->conns_.clear();
  event_base_loopbreak(s->base_);
}

void HttpServerImpl::freeLibevent() {
  if (unix_listener_ != nullptr) evconnlistener_free(unix_listener_);
  if (tcp_listener_ != nullptr) evconnlistener_free(tcp_listener_);
  unix_listener_ = nullptr;
  tcp_listener_ = nullptr;
  if (stop_ev_ != nullptr) event_free(stop_ev_);
  stop_ev_ = nullptr;
  if (accept_retry_ev_ != nullptr) event_free(accept_retry_ev_);
  accept_retry_ev_ = nullptr;
  if (base_ != nullptr) event_base_free(base_);  // also runs pending finalizers
  base_ = nullptr;
}

void HttpServerImpl::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (started_) {
    event_active(stop_ev_, EV_TIMEOUT, 0);
    io_thread_.join();
    // The I/O thread is gone; this thread runs the loop a few more passes so
    // the deferred callbacks and finalizers of the bufferevents freed in
    // onStop() complete (event_base_free would cancel them and leak the
    // bufferevents). No user callback is left to run: all were cleared.
    for (int i = 0; i < 4; ++i) event_base_loop(base_, EVLOOP_NONBLOCK);
  }
  // Every connection is torn down: handlers blocked in read(), write(),
  // readRaw() or waitClientGone() have been woken and see the client gone.
  if (pool_) pool_->shutdown(kPoolShutdownWait);
  freeLibevent();
  if (unix_bound_) ::unlink(cfg_->opts.unix_path.c_str());
}

}  // namespace

StatusOr<std::unique_ptr<HttpServer>> HttpServer::create(ServerOptions opts, DispatchFn dispatch) {
  auto cfg = std::make_shared<ServerConfig>();
  cfg->opts = std::move(opts);
  cfg->dispatch = std::move(dispatch);
  auto server = std::make_unique<HttpServerImpl>(std::move(cfg));
  Status st = server->init();
  if (!st.ok()) return st;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace arca::api
