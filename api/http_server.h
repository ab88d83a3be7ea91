// HTTP/1.1 server on libevent for the Docker Engine API.
//
// Concurrency model (STYLE 16):
//  - One I/O thread runs the libevent loop: accept, read, parse requests,
//    write bytes. Nothing on it blocks.
//  - A request whose route is marked `inline_handler` (e.g. /_ping) runs on the
//    I/O thread itself: it must not block.
//  - Every other request runs on a handler thread from a growing pool (one
//    thread per in-flight request; idle threads above a small minimum exit).
//    Handlers may block (waiting for events, following logs, reading a large
//    body). The Request body and the ResponseWriter are safe to use from that
//    thread; bytes cross to the I/O thread through thread-safe buffers.
//  - Per connection, requests are served one at a time (no pipelining): the
//    next request is parsed only after the current response is complete.
//    Keep-alive is the default for HTTP/1.1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::api {

// Case-insensitive header map: keys are stored lower-cased.
using Headers = std::multimap<std::string, std::string>;

// The parsed request line and headers (pure data; produced by RequestParser).
struct RequestHead {
  std::string method;  // "GET", "HEAD", ...
  std::string target;  // raw request-target, e.g. "/v1.50/containers/json?all=1"
  int version_minor = 1;  // HTTP/1.x
  Headers headers;        // lower-cased names

  // Header value by lower-case name, or nullopt.
  std::optional<std::string> header(std::string_view lname) const;
  bool chunked() const;                       // Transfer-Encoding: chunked
  std::optional<uint64_t> contentLength() const;
  bool keepAlive() const;                     // per HTTP/1.0 / 1.1 rules + Connection
  bool wantsUpgrade() const;                  // Connection: Upgrade and Upgrade: tcp
};

// Incremental, allocation-bounded HTTP/1.1 request parser (pure; no I/O).
// Feed bytes; it reports a complete head, then body bytes (de-chunked).
// Fuzzed by tests/fuzz/http_parser_fuzz.cc.
class RequestParser {
 public:
  enum class Result { kNeedMore, kHeadDone, kBody, kDone, kError };
  static constexpr size_t kMaxHeadBytes = 1 << 20;

  // Consumes from `data` (up to `len` bytes). Returns how many bytes were
  // consumed in `*consumed`. After kHeadDone, head() is valid. kBody means
  // `body_out` received bytes (appended). kDone: the request (head + body) is
  // complete; call reset() before the next request. kError: error() says why.
  // Details: a call that produced body bytes returns kBody even if it also
  // reached the end (the next call, with any len, returns kDone consuming 0).
  // kNeedMore consumes all of `len`. `body_out` may be null: body discarded.
  // Memory is bounded: at most kMaxHeadBytes are buffered for a head.
  Result feed(const char* data, size_t len, size_t* consumed, std::string* body_out);
  const RequestHead& head() const { return head_; }
  const std::string& error() const { return error_; }
  void reset();

 private:
  enum class Phase { kHead, kFixedBody, kChunkSize, kChunkData, kChunkDataCrlf, kTrailer, kDone };
  Phase phase_ = Phase::kHead;
  std::string buf_;  // partial head / chunk-size line
  RequestHead head_;
  uint64_t remaining_ = 0;
  std::string error_;
};

// A request as handlers see it.
class Request {
 public:
  virtual ~Request() = default;
  const RequestHead& head() const { return head_; }
  const std::string& method() const { return head_.method; }
  // Path with the "/vX.Y" prefix removed and percent-decoding applied.
  const std::string& path() const { return path_; }
  // The API version from the prefix ("1.50"), or "" when unversioned.
  const std::string& apiVersion() const { return api_version_; }
  // Decoded query parameters ('+' is a space, %XX decoded). Repeated keys kept.
  const std::multimap<std::string, std::string>& query() const { return query_; }
  std::optional<std::string> queryParam(const std::string& key) const;
  // moby's boolean rule: "", "0", "no", "false", "none" (case-insensitive,
  // trimmed) are false; anything else true; absent -> `def`.
  bool queryBool(const std::string& key, bool def = false) const;
  std::optional<std::string> header(std::string_view lname) const { return head_.header(lname); }
  // Path parameters set by the router ({id}, {name}).
  std::map<std::string, std::string> params;

  // Reads body bytes (de-chunked). Blocks until data, EOF or client gone.
  // Returns bytes read; 0 at end of body. Negative on connection error.
  virtual long read(char* buf, size_t len) = 0;
  // Reads the whole body, failing with InvalidArgument above `limit` bytes.
  StatusOr<std::string> readAll(size_t limit = 64 << 20);

  // Fills path_/api_version_/query_ from head_.target. Returns false when the
  // target is malformed.
  bool parseTarget();

 protected:
  RequestHead head_;
  std::string path_;
  std::string api_version_;
  std::multimap<std::string, std::string> query_;
};

// Writes one response. All methods are callable from the handler thread.
// Exactly one of: send(), startStream()+write()*+end(), hijack()+...+close().
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // A complete response with Content-Length. For HEAD requests the body is
  // not sent (Content-Length still reflects it unless set in `extra`).
  virtual void send(int status, std::string_view content_type, std::string_view body,
                    const Headers& extra = {}) = 0;

  // Starts a chunked streaming response; the status line and headers are
  // flushed at once (Docker clients block on them: /events, /wait, logs -f).
  virtual void startStream(int status, std::string_view content_type,
                           const Headers& extra = {}) = 0;
  // Writes one chunk (chunked mode) or raw bytes (hijacked mode), flushed.
  // Blocks while the connection's output buffer is over its high-water mark
  // (flow control). Returns false once the client is gone: stop producing.
  virtual bool write(std::string_view data) = 0;
  // Ends a chunked stream (terminating 0-chunk). The connection returns to
  // keep-alive if the request allowed it.
  virtual void end() = 0;

  // Takes over the connection for a raw bidirectional stream. If the request
  // asked for `Upgrade: tcp`, writes exactly
  //   "HTTP/1.1 101 UPGRADED\r\nContent-Type: <ct>\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
  // in a write of its own; otherwise "HTTP/1.1 200 OK\r\nContent-Type: <ct>\r\n\r\n".
  // After that, write() sends raw bytes and readRaw() returns client bytes
  // (stdin). The connection is never reused.
  virtual void hijack(std::string_view content_type) = 0;
  // Hijacked mode: reads client bytes. Blocks; returns 0 when the client
  // half-closed (shutdown SHUT_WR) or closed; negative on error.
  virtual long readRaw(char* buf, size_t len) = 0;
  // Hijacked mode: flushes pending output, then closes the socket.
  virtual void close() = 0;

  // True once the peer closed the connection (or a write failed). Streaming
  // handlers poll this (or rely on write() returning false) to cancel.
  virtual bool clientGone() const = 0;
  // Blocks up to `timeout_ms` (negative: no limit) or until the client goes
  // away. Returns clientGone(). Lets long-poll handlers sleep without spinning.
  virtual bool waitClientGone(int timeout_ms) = 0;

  // True once a response (or hijack) has been started.
  virtual bool started() const = 0;
};

using Handler = std::function<void(Request&, ResponseWriter&)>;

// Headers added to every response (Api-Version, Server, Ostype, ...). Called
// once per response on the thread that builds it: return a reference to
// storage that outlives the server (e.g. a function-local static).
using DefaultHeadersFn = std::function<const Headers&()>;

struct ServerOptions {
  std::string unix_path;      // listen here (mode 0660, stale socket replaced)
  std::string tcp_address;    // optional "host:port" (loopback tests/bench)
  DefaultHeadersFn default_headers;
  size_t output_high_water = 4 << 20;  // write() blocks above this
  size_t body_high_water = 8 << 20;    // stop reading the socket above this
  int min_handler_threads = 2;
  int max_handler_threads = 512;
};

// The dispatcher decides, from the parsed head, which handler runs and where.
// It runs on the I/O thread (keep it fast). An empty handler gets 404
// {"message":"page not found"}. A request with a body never runs inline.
struct Dispatch {
  Handler handler;
  bool inline_handler = false;  // run on the I/O thread (must not block)
};
using DispatchFn = std::function<Dispatch(Request&)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds the listeners. Does not start serving. Ignores SIGPIPE process-wide
  // (libevent writes with writev).
  static StatusOr<std::unique_ptr<HttpServer>> create(ServerOptions opts, DispatchFn dispatch);
  // Runs the event loop on a new I/O thread and returns.
  virtual Status start() = 0;
  // Stops accepting, closes connections, joins the I/O thread. Handler threads
  // still running are detached from their connections (their writes fail).
  virtual void stop() = 0;
  // The bound TCP port (when tcp_address had port 0), else 0.
  virtual int tcpPort() const = 0;
};

}  // namespace arca::api
