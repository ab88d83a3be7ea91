#include "api/logs.h"

#include <unistd.h>

#include <rapidjson/document.h>

#include "engine/clock.h"

namespace arca::api {

bool parseLogLine(const char* data, size_t len, LogEntry* out) {
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

bool LogTail::poll(std::vector<LogEntry>* out) {
  char buf[65536];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    total += static_cast<size_t>(n);
    if (total >= (1u << 20)) break;
  }
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    LogEntry e;
    if (parseLogLine(partial_.data() + start, nl - start, &e)) out->push_back(std::move(e));
    start = nl + 1;
  }
  partial_.erase(0, start);
  return true;
}

void LogTail::seekEnd() {
  ::lseek(fd_, 0, SEEK_END);
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
