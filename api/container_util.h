// Small pieces of api/container_handlers.cc that the other container handler
// files share (attach and exec, and those of later issues).
#pragma once

#include <string>

#include "api/api.h"
#include "api/logs.h"
#include "engine/commands.h"
#include "api/time_util.h"

namespace arca::api {

// "application/vnd.docker.multiplexed-stream" (raw-stream before API 1.42).
std::string attachContentType(const Request& req);
// Resolves {id} to a full container id, or sends 404 and returns false.
bool resolveContainerId(ApiContext& ctx, Request& req, ResponseWriter& w, std::string* id);
// Creates a container from a parsed create command (POST /containers/create,
// and docker build's step containers): the image's defaults merged, the
// engine's decision recorded, empty volumes populated. Returns the new id.
StatusOr<std::string> createFromCommand(ApiContext& ctx, engine::CreateContainer cmd);
// The container's json-file log, opened for reading (created if missing).
int openContainerLog(ApiContext& ctx, const std::string& id);
// Batches log entries into writes of ~64 KiB. Consecutive entries of one
// stream share a multiplexed frame: a client demultiplexes the same bytes,
// with a frame (and a write on its side) per batch instead of per line.
class LogBatcher {
 public:
  LogBatcher(ResponseWriter& w, bool timestamps, bool tty) : w_(w), ts_(timestamps), tty_(tty) {}
  bool add(const LogEntry& e) {
    if (!tty_ && stream_ != e.stream) closeFrame();
    stream_ = e.stream;
    std::string& to = tty_ ? buf_ : frame_;
    if (ts_) {
      to += rfc3339(e.time_ns);
      to += ' ';
    }
    to += e.text;
    return buf_.size() + frame_.size() < kBatch || flush();
  }
  bool flush() {
    closeFrame();
    if (buf_.empty()) return true;
    bool ok = w_.write(buf_);
    buf_.clear();
    return ok;
  }

 private:
  static constexpr size_t kBatch = 64 * 1024;
  void closeFrame() {
    if (frame_.empty()) return;
    buf_ += muxFrame(stream_, frame_);
    frame_.clear();
  }
  ResponseWriter& w_;
  bool ts_, tty_;
  int stream_ = 0;
  std::string frame_;
  std::string buf_;
};


}  // namespace arca::api
