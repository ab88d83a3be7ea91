// HTTP/1.1 request parsing, pure and without I/O: the RequestHead helpers, the
// incremental RequestParser and Request's target, query and body helpers.
// Everything here is outside input: tests/fuzz/http_parser_fuzz.cc fuzzes it.
//
// Thread rules: none of this code shares state. A RequestParser or Request is
// used by one thread at a time; the server serializes that (see
// http_server.cc).
#include <algorithm>
#include <cstring>
#include <limits>

#include "api/http_server.h"

namespace arca::api {
namespace {

// A chunk-size line, extensions included, may not be longer than this.
constexpr size_t kMaxChunkLine = 4096;
// Chunk sizes have at most this many hex digits (< 2^60 bytes).
constexpr int kMaxChunkDigits = 15;
constexpr size_t kNpos = std::string::npos;

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

// Trims optional whitespace (SP and HTAB), as RFC 9110 calls it.
std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Go's strings.TrimSpace for ASCII: moby trims query values with it.
std::string_view trimSpace(std::string_view s) {
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
bool isTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != 0;
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTokenChar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Field values may hold visible characters, SP, HTAB and obs-text (>= 0x80).
bool isFieldValue(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls fn(element) for each trimmed, non-empty element of a comma list.
template <typename Fn>
void forEachListElement(std::string_view v, Fn fn) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view elem = trimOws(v.substr(0, comma));
    if (!elem.empty()) fn(elem);
    if (comma == kNpos) break;
    v.remove_prefix(comma + 1);
  }
}

// Offset just past the blank line that ends a head in p[0, n), looking at the
// line ends from `from` on; kNpos when the head is not complete. A line ends
// with LF or CRLF (Go accepts a bare LF too). The head never starts with an
// empty line: the parser skips those first.
size_t findHeadEnd(const char* p, size_t n, size_t from) {
  size_t i = from;
  while (i < n) {
    const void* hit = std::memchr(p + i, '\n', n - i);
    if (hit == nullptr) return kNpos;
    size_t lf = static_cast<const char*>(hit) - p;
    if (lf + 1 < n && p[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < n && p[lf + 1] == '\r' && p[lf + 2] == '\n') return lf + 3;
    i = lf + 1;
  }
  return kNpos;
}

// Parses a decimal Content-Length element (digits only, no sign).
bool parseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// The Content-Length of `headers`: absent -> nullopt with *valid true;
// malformed or conflicting values -> *valid false.
std::optional<uint64_t> contentLengthOf(const Headers& headers, bool* valid) {
  *valid = true;
  std::optional<uint64_t> result;
  auto [lo, hi] = headers.equal_range("content-length");
  for (auto it = lo; it != hi; ++it) {
    bool any = false;
    forEachListElement(it->second, [&](std::string_view elem) {
      uint64_t v = 0;
      any = true;
      if (!parseDecimal(elem, &v) || (result && *result != v)) {
        *valid = false;
      } else {
        result = v;
      }
    });
    if (!any) *valid = false;
  }
  if (!*valid) return std::nullopt;
  return result;
}

// Parses "METHOD SP target SP HTTP/1.x", then header lines, from a complete
// head (which ends with the blank line). Lines end with LF, optionally CRLF.
bool parseHead(std::string_view text, RequestHead* head, std::string* error) {
  size_t pos = 0;
  auto nextLine = [&](std::string_view* line) {
    size_t lf = text.find('\n', pos);
    if (lf == kNpos) return false;
    size_t end = (lf > pos && text[lf - 1] == '\r') ? lf - 1 : lf;
    *line = text.substr(pos, end - pos);
    pos = lf + 1;
    return true;
  };

  std::string_view line;
  if (!nextLine(&line)) {
    *error = "malformed HTTP request";
    return false;
  }
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == kNpos ? kNpos : line.find(' ', sp1 + 1);
  if (sp2 == kNpos) {
    *error = "malformed HTTP request \"" + std::string(line.substr(0, 64)) + "\"";
    return false;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view proto = line.substr(sp2 + 1);
  if (!isToken(method)) {
    *error = "invalid method";
    return false;
  }
  if (target.empty()) {
    *error = "missing request target";
    return false;
  }
  for (char ch : target) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      *error = "invalid request target";
      return false;
    }
  }
  if (proto.size() != 8 || proto.substr(0, 7) != "HTTP/1." || proto[7] < '0' || proto[7] > '9') {
    *error = "malformed HTTP version \"" + std::string(proto.substr(0, 16)) + "\"";
    return false;
  }
  head->method.assign(method);
  head->target.assign(target);
  head->version_minor = proto[7] - '0';

  while (nextLine(&line) && !line.empty()) {
    if (line.front() == ' ' || line.front() == '\t') {
      *error = "obsolete header line folding is not supported";
      return false;
    }
    size_t colon = line.find(':');
    if (colon == kNpos || !isToken(line.substr(0, colon))) {
      *error = "malformed MIME header line";
      return false;
    }
    std::string_view value = trimOws(line.substr(colon + 1));
    if (!isFieldValue(value)) {
      *error = "invalid header field value";
      return false;
    }
    std::string name(line.substr(0, colon));
    for (char& c : name) c = lowerAscii(c);
    head->headers.emplace_hint(head->headers.end(), std::move(name), std::string(value));
  }
  return true;
}

// Percent-decodes `in` into `out` ('+' becomes a space when `plus_is_space`).
// False on a malformed escape.
bool percentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hexValue(in[i + 1]);
      int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

// --- RequestHead -------------------------------------------------------------

std::optional<std::string> RequestHead::header(std::string_view lname) const {
  auto it = headers.find(std::string(lname));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

bool RequestHead::chunked() const {
  auto [lo, hi] = headers.equal_range("transfer-encoding");
  bool last_is_chunked = false;
  for (auto it = lo; it != hi; ++it) {
    forEachListElement(it->second,
                       [&](std::string_view e) { last_is_chunked = iequals(e, "chunked"); });
  }
  return last_is_chunked;
}

std::optional<uint64_t> RequestHead::contentLength() const {
  bool valid = true;
  return contentLengthOf(headers, &valid);
}

bool RequestHead::keepAlive() const {
  bool close = false;
  bool keep_alive = false;
  auto [lo, hi] = headers.equal_range("connection");
  for (auto it = lo; it != hi; ++it) {
    forEachListElement(it->second, [&](std::string_view e) {
      if (iequals(e, "close")) close = true;
      if (iequals(e, "keep-alive")) keep_alive = true;
    });
  }
  if (close) return false;
  return version_minor >= 1 || keep_alive;
}

bool RequestHead::wantsUpgrade() const {
  bool upgrade = false;
  auto [lo, hi] = headers.equal_range("connection");
  for (auto it = lo; it != hi; ++it) {
    forEachListElement(it->second, [&](std::string_view e) {
      if (iequals(e, "upgrade")) upgrade = true;
    });
  }
  if (!upgrade) return false;
  auto u = header("upgrade");
  return u && iequals(trimOws(*u), "tcp");
}

// --- RequestParser -----------------------------------------------------------

void RequestParser::reset() {
  phase_ = Phase::kHead;
  buf_.clear();
  head_.method.clear();
  head_.target.clear();
  head_.version_minor = 1;
  head_.headers.clear();
  remaining_ = 0;
  error_.clear();
}

RequestParser::Result RequestParser::feed(const char* data, size_t len, size_t* consumed,
                                          std::string* body_out) {
  *consumed = 0;
  if (!error_.empty()) return Result::kError;
  if (len == 0) return phase_ == Phase::kDone ? Result::kDone : Result::kNeedMore;
  size_t pos = 0;
  auto fail = [&](std::string msg) {
    error_ = std::move(msg);
    buf_.clear();
    buf_.shrink_to_fit();
    *consumed = pos;
    return Result::kError;
  };

  if (phase_ == Phase::kHead) {
    if (buf_.empty()) {
      // Empty lines before the request line are ignored (RFC 9112 2.2).
      while (pos < len && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
      if (pos == len) {
        *consumed = pos;
        return Result::kNeedMore;
      }
      size_t end = findHeadEnd(data + pos, len - pos, 0);
      if (end == kNpos) {
        size_t take = std::min(len - pos, kMaxHeadBytes + 1);
        buf_.assign(data + pos, take);
        pos += take;
        if (buf_.size() > kMaxHeadBytes) return fail("request header too large");
        *consumed = pos;
        return Result::kNeedMore;
      }
      if (end > kMaxHeadBytes) return fail("request header too large");
      std::string error;
      if (!parseHead(std::string_view(data + pos, end), &head_, &error)) return fail(error);
      pos += end;
    } else {
      size_t old = buf_.size();
      size_t take = std::min(len, kMaxHeadBytes + 1 - old);
      buf_.append(data, take);
      size_t end = findHeadEnd(buf_.data(), buf_.size(), old >= 2 ? old - 2 : 0);
      if (end == kNpos) {
        pos = take;
        if (buf_.size() > kMaxHeadBytes) return fail("request header too large");
        *consumed = pos;
        return Result::kNeedMore;
      }
      if (end > kMaxHeadBytes) return fail("request header too large");
      pos = end - old;  // > 0: the head was not complete before this call
      std::string error;
      if (!parseHead(std::string_view(buf_.data(), end), &head_, &error)) return fail(error);
      buf_.clear();
    }

    // Body framing (RFC 9112 6.3): chunked wins over Content-Length.
    auto [te_lo, te_hi] = head_.headers.equal_range("transfer-encoding");
    if (te_lo != te_hi) {
      if (std::next(te_lo) != te_hi || !iequals(trimOws(te_lo->second), "chunked")) {
        return fail("unsupported transfer encoding");
      }
      phase_ = Phase::kChunkSize;
    } else {
      bool valid = true;
      auto cl = contentLengthOf(head_.headers, &valid);
      if (!valid) return fail("bad Content-Length");
      if (cl.value_or(0) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return fail("bad Content-Length");
      }
      remaining_ = cl.value_or(0);
      phase_ = remaining_ > 0 ? Phase::kFixedBody : Phase::kDone;
    }
    *consumed = pos;
    return Result::kHeadDone;
  }

  bool produced = false;
  auto emit = [&](size_t n) {
    if (body_out != nullptr) body_out->append(data + pos, n);
    pos += n;
    produced = true;
  };
  while (pos < len || phase_ == Phase::kDone) {
    switch (phase_) {
      case Phase::kHead:  // handled above; unreachable
      case Phase::kDone:
        *consumed = pos;
        return produced ? Result::kBody : Result::kDone;

      case Phase::kFixedBody: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - pos));
        emit(n);
        remaining_ -= n;
        if (remaining_ == 0) phase_ = Phase::kDone;
        break;
      }

      case Phase::kChunkSize: {
        const void* hit = std::memchr(data + pos, '\n', len - pos);
        size_t lf = hit ? static_cast<size_t>(static_cast<const char*>(hit) - data) : len;
        if (buf_.size() + (lf - pos) > kMaxChunkLine) return fail("chunk size line too long");
        buf_.append(data + pos, lf - pos);
        if (hit == nullptr) {
          pos = len;
          break;
        }
        pos = lf + 1;
        std::string_view line(buf_);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        uint64_t size = 0;
        int digits = 0;
        size_t i = 0;
        for (; i < line.size(); ++i) {
          int v = hexValue(line[i]);
          if (v < 0) break;
          if (++digits > kMaxChunkDigits) return fail("chunk size too large");
          size = size * 16 + static_cast<uint64_t>(v);
        }
        std::string_view rest = trimOws(line.substr(i));
        if (digits == 0 || (!rest.empty() && rest.front() != ';')) {
          return fail("invalid chunk size");
        }
        buf_.clear();
        remaining_ = size;
        phase_ = size == 0 ? Phase::kTrailer : Phase::kChunkData;
        break;
      }

      case Phase::kChunkData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - pos));
        emit(n);
        remaining_ -= n;
        if (remaining_ == 0) phase_ = Phase::kChunkDataCrlf;
        break;
      }

      case Phase::kChunkDataCrlf: {
        char c = data[pos];
        if (c == '\r' && buf_.empty()) {
          buf_.push_back('\r');
          ++pos;
        } else if (c == '\n') {
          buf_.clear();
          ++pos;
          phase_ = Phase::kChunkSize;
        } else {
          return fail("malformed chunked encoding");
        }
        break;
      }

      case Phase::kTrailer: {
        // remaining_ counts trailer bytes; trailer fields are ignored. buf_
        // only tracks the current line: "" (nothing yet), "\r", or "x".
        const void* hit = std::memchr(data + pos, '\n', len - pos);
        size_t lf = hit ? static_cast<size_t>(static_cast<const char*>(hit) - data) : len;
        remaining_ += lf - pos + 1;
        if (remaining_ > kMaxHeadBytes) return fail("trailer too large");
        std::string_view seg(data + pos, lf - pos);
        if (hit == nullptr) {
          if (!seg.empty()) buf_.assign(buf_.empty() && seg == "\r" ? "\r" : "x");
          pos = len;
          break;
        }
        bool empty_line =
            (buf_.empty() && (seg.empty() || seg == "\r")) || (buf_ == "\r" && seg.empty());
        buf_.clear();
        pos = lf + 1;
        if (empty_line) phase_ = Phase::kDone;
        break;
      }
    }
  }
  *consumed = pos;
  return produced ? Result::kBody : Result::kNeedMore;
}

// --- Request -------------------------------------------------------------------

std::optional<std::string> Request::queryParam(const std::string& key) const {
  auto it = query_.find(key);
  if (it == query_.end()) return std::nullopt;
  return it->second;
}

bool Request::queryBool(const std::string& key, bool def) const {
  auto it = query_.find(key);
  if (it == query_.end()) return def;
  std::string v(trimSpace(it->second));
  for (char& c : v) c = lowerAscii(c);
  return !(v.empty() || v == "0" || v == "no" || v == "false" || v == "none");
}

StatusOr<std::string> Request::readAll(size_t limit) {
  constexpr size_t kStep = 64 << 10;
  std::string out;
  if (auto cl = head_.contentLength(); cl && *cl <= limit) out.reserve(static_cast<size_t>(*cl));
  for (;;) {
    size_t old = out.size();
    // Read up to limit + 1 bytes in total so an oversized body is detected.
    size_t step = std::min(kStep, limit + 1 - old);
    out.resize(old + step);
    long n = read(out.data() + old, step);
    if (n < 0) return InvalidArgument("error reading request body");
    out.resize(old + static_cast<size_t>(n));
    if (n == 0) return out;
    if (out.size() > limit) {
      return InvalidArgument("request body is too large (limit " + std::to_string(limit) +
                             " bytes)");
    }
  }
}

bool Request::parseTarget() {
  path_.clear();
  api_version_.clear();
  query_.clear();
  std::string_view t = head_.target;
  // absolute-form (RFC 9112 3.2.2): drop scheme and authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (t.size() >= scheme.size() && iequals(t.substr(0, scheme.size()), scheme)) {
      t.remove_prefix(scheme.size());
      size_t slash = t.find_first_of("/?");
      t = slash == kNpos ? std::string_view("/") : t.substr(slash);
      break;
    }
  }
  if (t.empty() || t.front() != '/') return false;
  if (size_t hash = t.find('#'); hash != kNpos) t = t.substr(0, hash);
  size_t q = t.find('?');
  std::string_view raw_path = t.substr(0, q);
  std::string_view raw_query = q == kNpos ? std::string_view() : t.substr(q + 1);

  if (!percentDecode(raw_path, false, &path_)) return false;
  // moby's "/v{version:[0-9.]+}" prefix.
  if (path_.size() >= 3 && path_[1] == 'v') {
    size_t i = 2;
    while (i < path_.size() && ((path_[i] >= '0' && path_[i] <= '9') || path_[i] == '.')) ++i;
    if (i > 2 && (i == path_.size() || path_[i] == '/')) {
      api_version_ = path_.substr(2, i - 2);
      path_.erase(0, i);
      if (path_.empty()) path_.push_back('/');
    }
  }

  std::string key;
  std::string value;
  while (!raw_query.empty()) {
    size_t amp = raw_query.find('&');
    std::string_view pair = raw_query.substr(0, amp);
    raw_query = amp == kNpos ? std::string_view() : raw_query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    if (!percentDecode(pair.substr(0, eq), true, &key)) return false;
    if (!percentDecode(eq == kNpos ? std::string_view() : pair.substr(eq + 1), true, &value)) {
      return false;
    }
    query_.emplace(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace arca::api
