// The json-file log writer of the agent, with dockerd's size-based rotation
// (json-file's max-size / max-file): before an entry is written, a file that
// already holds max-size bytes or more is rotated — <log>.N-2 becomes
// <log>.N-1 (the oldest is dropped), ..., <log> becomes <log>.1 and a new
// <log> is started; with max-file 1 the file is truncated instead.
//
// Self-contained (no agent state): the agent's relay loop owns one and calls
// write() with complete lines. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/status.h"

namespace arca::agent {

class LogWriter {
 public:
  // Opens (creates, appends to) `path`. `max_size` < 0: never rotate;
  // `max_files` counts the live file (1: truncate in place).
  static StatusOr<std::unique_ptr<LogWriter>> open(std::string path, int64_t max_size,
                                                   int max_files);
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Appends `lines` (each ending in '\n'), rotating between lines as needed.
  // On a write or rotation error the rest of the batch is dropped.
  Status write(std::string_view lines);

  int64_t size() const { return size_; }  // bytes in the live file

 private:
  LogWriter(std::string path, int64_t max_size, int max_files)
      : path_(std::move(path)), max_size_(max_size), max_files_(max_files) {}
  Status rotate();
  Status append(std::string_view data);

  std::string path_;
  int64_t max_size_;
  int max_files_;
  int fd_ = -1;
  int64_t size_ = 0;
};

}  // namespace arca::agent
