// Docker's json-file log format, as the agent writes it.
//
// One JSON object per line: {"log":"<text>","stream":"stdout","time":"<RFC3339Nano>"}.
// The escaping, the time format (Go's RFC3339Nano: UTC, trailing zeros of the
// fraction trimmed) and the line splitting follow moby's json-file driver and
// its log copier: a line is one entry including its "\n"; a line longer than
// 16 KiB is cut into 16 KiB partial entries (no "\n") that share the first
// piece's timestamp, the last piece carrying the "\n"; bytes left without a
// newline are flushed as a partial entry at EOF (and, unlike moby, after a
// short quiet period, so `printf` prompts show up in `docker logs`).
//
// Header-only: the agent and the unit tests both include it. Not thread-safe;
// one LineSplitter per stream, owned by the agent's relay loop.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

namespace arca::agent {

// Go's time.RFC3339Nano of a UTC instant: "2026-11-29T18:00:00.12345Z".
inline std::string formatRfc3339Nano(int64_t unix_ns) {
  int64_t secs = unix_ns / 1000000000;
  int64_t nanos = unix_ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    secs -= 1;
  }
  time_t t = static_cast<time_t>(secs);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string out(buf, static_cast<size_t>(n));
  if (nanos != 0) {
    char frac[16];
    snprintf(frac, sizeof frac, "%09lld", static_cast<long long>(nanos));
    std::string f(frac);
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
  out += 'Z';
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid
// (overlong, surrogate, above U+10FFFF or truncated), like Go's DecodeRune.
inline size_t utf8SequenceLength(std::string_view s, size_t i, uint32_t* rune) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t len = 0;
  uint32_t r = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    r = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    r = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    r = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    r = (r << 6) | (b(i + k) & 0x3F);
  }
  if ((len == 3 && r < 0x800) || (len == 4 && (r < 0x10000 || r > 0x10FFFF)) ||
      (r >= 0xD800 && r <= 0xDFFF)) {
    return 0;
  }
  *rune = r;
  return len;
}

// Appends `s` as a JSON string with moby's escaping: \" \\ \n \r, other control
// bytes and < > & as \u00XX, invalid UTF-8 as \ufffd, U+2028/U+2029 escaped.
inline void appendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t start = 0;
  size_t i = 0;
  auto flush = [&](size_t end) {
    if (start < end) out->append(s.data() + start, end - start);
  };
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c >= 0x20 && c != '\\' && c != '"' && c != '<' && c != '>' && c != '&') {
        ++i;
        continue;
      }
      flush(i);
      switch (c) {
        case '\\':
        case '"':
          out->push_back('\\');
          out->push_back(static_cast<char>(c));
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        default:
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
      }
      start = ++i;
      continue;
    }
    uint32_t rune = 0;
    size_t len = utf8SequenceLength(s, i, &rune);
    if (len == 0) {
      flush(i);
      out->append("\\ufffd");
      start = ++i;
      continue;
    }
    if (rune == 0x2028 || rune == 0x2029) {
      flush(i);
      out->append(rune == 0x2028 ? "\\u2028" : "\\u2029");
      i += len;
      start = i;
      continue;
    }
    i += len;
  }
  flush(s.size());
  out->push_back('"');
}

// One serialized json-file entry, including the trailing newline.
inline void appendJsonLogEntry(std::string* out, std::string_view log, std::string_view stream,
                               int64_t ts_ns) {
  out->append("{\"log\":");
  appendJsonString(out, log);
  out->append(",\"stream\":");
  appendJsonString(out, stream);
  out->append(",\"time\":\"");
  out->append(formatRfc3339Nano(ts_ns));
  out->append("\"}\n");
}

// Turns the bytes of one stream into json-file entries (see the file comment).
class LineSplitter {
 public:
  static constexpr size_t kMaxLine = 16 * 1024;

  explicit LineSplitter(std::string stream) : stream_(std::move(stream)) {}

  // Feeds bytes read at `now_ns`; appends finished entries to *out.
  void feed(std::string_view data, int64_t now_ns, std::string* out) {
    buf_.append(data);
    size_t p = 0;
    for (;;) {
      size_t q = buf_.find('\n', p);
      if (q == std::string::npos) break;
      // Cut a line longer than kMaxLine into partial pieces, as moby's copier
      // does when its 16 KiB buffer fills without a newline.
      while (q - p >= kMaxLine) {
        emitPartial(std::string_view(buf_).substr(p, kMaxLine), now_ns, out);
        p += kMaxLine;
      }
      int64_t ts = in_partial_ ? partial_ts_ : now_ns;
      in_partial_ = false;
      appendJsonLogEntry(out, std::string_view(buf_).substr(p, q + 1 - p), stream_, ts);
      p = q + 1;
    }
    while (buf_.size() - p >= kMaxLine) {
      emitPartial(std::string_view(buf_).substr(p, kMaxLine), now_ns, out);
      p += kMaxLine;
    }
    buf_.erase(0, p);
  }

  // Emits the buffered bytes without a newline as a partial entry (quiet
  // period over, or EOF).
  void flushPartial(int64_t now_ns, std::string* out) {
    if (buf_.empty()) return;
    emitPartial(buf_, now_ns, out);
    buf_.clear();
  }

  bool hasPending() const { return !buf_.empty(); }

 private:
  void emitPartial(std::string_view piece, int64_t now_ns, std::string* out) {
    if (!in_partial_) {
      in_partial_ = true;
      partial_ts_ = now_ns;
    }
    appendJsonLogEntry(out, piece, stream_, partial_ts_);
  }

  std::string stream_;
  std::string buf_;
  bool in_partial_ = false;  // a partial entry was emitted; the line's end is still to come
  int64_t partial_ts_ = 0;   // timestamp shared by all pieces of that line
};

}  // namespace arca::agent
