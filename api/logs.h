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

// Incremental reader over a container's json-file log and its rotated files
// (<path>.N-1 ... <path>.1, oldest first, then <path>): returns complete
// entries appended since the last call (a partially written last line is kept
// for the next call). Follows the live file across rotations (a new <path>;
// files rotated meanwhile are read in order) and truncation (max-file 1).
// One thread at a time.
class LogReader {
 public:
  // Takes ownership of `live_fd`, the open <path>.
  LogReader(std::string path, int live_fd);
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;
  // Reads up to ~1 MiB more; appends parsed entries. Returns false on error.
  bool poll(std::vector<LogEntry>* out);
  // Skips everything written so far (attach without logs=1).
  void seekEnd();

 private:
  struct File {
    int fd;
    uint64_t ino;
  };
  // Reads `f` to EOF or until `*budget` is spent; false on a read error.
  bool drain(const File& f, size_t* budget);
  // After the live file was rotated away: the files written since, in order.
  void followRotation();
  void parse(std::vector<LogEntry>* out);

  std::string path_;
  std::vector<File> files_;  // files_[0] is read now; back() is the live file
  std::string partial_;
};

// Docker's multiplexed frame: [stream,0,0,0,len BE32] + payload.
std::string muxFrame(int stream, const std::string& payload);

}  // namespace arca::api
