#include "api/logs.h"

#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <rapidjson/document.h>

#include "engine/clock.h"

namespace arca::api {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void appendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the JSON string body at p (after its opening quote) up to the
// closing quote; returns the position after it, or nullptr when the text is
// not what the fast path handles (the caller falls back to a full parser).
const char* decodeJsonString(const char* p, const char* end, std::string* out) {
  while (p < end) {
    const char* q = p;
    while (q < end && *q != '"' && *q != '\\' && static_cast<unsigned char>(*q) >= 0x20) ++q;
    out->append(p, q);
    if (q >= end) return nullptr;
    if (*q == '"') return q + 1;
    if (*q != '\\' || q + 1 >= end) return nullptr;
    char c = q[1];
    p = q + 2;
    switch (c) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        if (end - p < 4) return nullptr;
        uint32_t cp = 0;
        for (int i = 0; i < 4; ++i) {
          int h = hexValue(p[i]);
          if (h < 0) return nullptr;
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDFFF) return nullptr;  // surrogates: the full parser
        appendUtf8(out, cp);
        break;
      }
      default:
        return nullptr;
    }
  }
  return nullptr;
}

bool consume(const char** p, const char* end, std::string_view lit) {
  if (static_cast<size_t>(end - *p) < lit.size() || std::string_view(*p, lit.size()) != lit) {
    return false;
  }
  *p += lit.size();
  return true;
}

// The exact shape the agent (and dockerd) writes:
// {"log":"...","stream":"stdout|stderr","time":"RFC3339Nano"}
bool parseFast(const char* data, size_t len, LogEntry* out) {
  const char* p = data;
  const char* end = data + len;
  while (end > p && (end[-1] == '\n' || end[-1] == '\r')) --end;
  out->text.clear();
  if (!consume(&p, end, "{\"log\":\"")) return false;
  p = decodeJsonString(p, end, &out->text);
  if (p == nullptr || !consume(&p, end, ",\"stream\":\"")) return false;
  if (consume(&p, end, "stdout\"")) {
    out->stream = 1;
  } else if (consume(&p, end, "stderr\"")) {
    out->stream = 2;
  } else {
    return false;
  }
  if (!consume(&p, end, ",\"time\":\"")) return false;
  const char* t = p;
  while (p < end && *p != '"') ++p;
  if (p >= end || end - p != 2 || p[1] != '}') return false;
  out->time_ns = 0;
  return engine::parseRfc3339(std::string(t, p), &out->time_ns);
}

}  // namespace

bool parseLogLine(const char* data, size_t len, LogEntry* out) {
  if (parseFast(data, len, out)) return true;
  rapidjson::Document d;
  d.Parse(data, len);
  if (d.HasParseError() || !d.IsObject()) return false;
  auto log = d.FindMember("log");
  auto stream = d.FindMember("stream");
  auto time = d.FindMember("time");
  if (log == d.MemberEnd() || !log->value.IsString()) return false;
  out->text.assign(log->value.GetString(), log->value.GetStringLength());
  out->stream = (stream != d.MemberEnd() && stream->value.IsString() &&
                 std::string(stream->value.GetString()) == "stderr")
                    ? 2
                    : 1;
  out->time_ns = 0;
  if (time != d.MemberEnd() && time->value.IsString()) {
    engine::parseRfc3339(time->value.GetString(), &out->time_ns);
  }
  return true;
}

namespace {

uint64_t inodeOf(int fd) {
  struct stat st {};
  return fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

constexpr int kMaxRotatedFiles = 10000;

// A log file, never through a symlink or into a FIFO (a VM guest writes the
// log's directory over its share, issue #8): -1 unless a regular file.
int openLogFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

}  // namespace

LogReader::LogReader(std::string path, int live_fd) : path_(std::move(path)) {
  // Rotated files first, oldest (highest suffix) first; a file seen twice
  // (rotated while we opened them) is read once.
  std::vector<File> rotated;
  for (int k = 1; k < kMaxRotatedFiles; ++k) {
    int fd = openLogFile(path_ + "." + std::to_string(k));
    if (fd < 0) break;
    rotated.push_back({fd, inodeOf(fd)});
  }
  const uint64_t live_ino = inodeOf(live_fd);
  for (auto it = rotated.rbegin(); it != rotated.rend(); ++it) {
    bool dup = it->ino == live_ino || std::any_of(files_.begin(), files_.end(),
                                                  [&](const File& f) { return f.ino == it->ino; });
    if (dup) {
      ::close(it->fd);
    } else {
      files_.push_back(*it);
    }
  }
  files_.push_back({live_fd, live_ino});
}

LogReader::~LogReader() {
  for (const auto& f : files_) ::close(f.fd);
}

bool LogReader::drain(const File& f, size_t* budget) {
  char buf[65536];
  while (*budget > 0) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) return errno == EINTR ? true : false;
    if (n == 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    *budget = static_cast<size_t>(n) >= *budget ? 0 : *budget - static_cast<size_t>(n);
  }
  return true;
}

void LogReader::followRotation() {
  // The live file was renamed to <path>.K (K = 1 unless it rotated again
  // since): <path>.K-1 ... <path>.1, then the new <path>, follow it.
  const uint64_t old_ino = files_.back().ino;
  std::vector<File> newer;
  bool found = false;
  for (int k = 1; k < kMaxRotatedFiles && !found; ++k) {
    int fd = openLogFile(path_ + "." + std::to_string(k));
    if (fd < 0) break;
    uint64_t ino = inodeOf(fd);
    if (ino == old_ino) {
      found = true;
      ::close(fd);
    } else {
      newer.push_back({fd, ino});
    }
  }
  if (!found) {  // rotated out of reach already: only the new live file
    for (const auto& f : newer) ::close(f.fd);
    newer.clear();
  }
  for (auto it = newer.rbegin(); it != newer.rend(); ++it) files_.push_back(*it);
  int live = openLogFile(path_);
  if (live >= 0) files_.push_back({live, inodeOf(live)});
}

bool LogReader::poll(std::vector<LogEntry>* out) {
  size_t budget = 1u << 20;
  while (budget > 0) {
    if (!drain(files_.front(), &budget)) return false;
    if (budget == 0) break;
    if (files_.size() > 1) {  // an older file is done: on to the next
      ::close(files_.front().fd);
      files_.erase(files_.begin());
      parse(out);
      partial_.clear();  // a torn last line does not continue in the next file
      continue;
    }
    // The live file at EOF: rotated away (a new <path>) or truncated?
    struct stat st {};
    const File live = files_.front();
    if (::stat(path_.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_ino) != live.ino) {
      if (!drain(live, &budget)) return false;  // its last lines, written before the rename
      followRotation();
      if (files_.size() > 1) continue;
      break;
    }
    struct stat fst {};
    off_t pos = ::lseek(live.fd, 0, SEEK_CUR);
    if (fstat(live.fd, &fst) == 0 && fst.st_size < pos) {
      ::lseek(live.fd, 0, SEEK_SET);
      partial_.clear();
      continue;
    }
    break;
  }
  parse(out);
  return true;
}

void LogReader::parse(std::vector<LogEntry>* out) {
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    LogEntry e;
    if (parseLogLine(partial_.data() + start, nl - start, &e)) out->push_back(std::move(e));
    start = nl + 1;
  }
  partial_.erase(0, start);
}

void LogReader::seekEnd() {
  while (files_.size() > 1) {
    ::close(files_.front().fd);
    files_.erase(files_.begin());
  }
  ::lseek(files_.front().fd, 0, SEEK_END);
  partial_.clear();
}

std::string muxFrame(int stream, const std::string& payload) {
  std::string f(8, '\0');
  f[0] = static_cast<char>(stream);
  uint32_t n = static_cast<uint32_t>(payload.size());
  f[4] = static_cast<char>((n >> 24) & 0xff);
  f[5] = static_cast<char>((n >> 16) & 0xff);
  f[6] = static_cast<char>((n >> 8) & 0xff);
  f[7] = static_cast<char>(n & 0xff);
  f += payload;
  return f;
}

}  // namespace arca::api
