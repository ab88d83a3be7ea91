// Reading Docker json-file logs (written by the agent) and stdcopy framing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace arca::api {

struct LogEntry {
  int stream = 1;  // 1 stdout, 2 stderr
  std::string text;
  int64_t time_ns = 0;
};

// Parses one json-file line: {"log":"..","stream":"stdout","time":"RFC3339Nano"}.
bool parseLogLine(const char* data, size_t len, LogEntry* out);

// Incremental reader over an open log file descriptor: returns complete
// entries appended since the last call (a partially written last line is kept
// for the next call).
class LogTail {
 public:
  explicit LogTail(int fd) : fd_(fd) {}
  // Reads up to ~1 MiB more; appends parsed entries. Returns false on error.
  bool poll(std::vector<LogEntry>* out);
  // Skips to the current end of file (attach without logs=1).
  void seekEnd();

 private:
  int fd_;
  std::string partial_;
};

// Docker's multiplexed frame: [stream,0,0,0,len BE32] + payload.
std::string muxFrame(int stream, const std::string& payload);

}  // namespace arca::api
