// Docker's JSON progress stream (the messages `docker pull`/`push` draw):
//   {"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[==>  ] 1B/2B","id":"0123456789ab"}
// Every function returns one serialized message ending in "\n".
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace arca::distribution {

// Receives serialized messages; may be called from several threads at once
// only through a Progress (which serializes them).
using MessageFn = std::function<void(const std::string& line)>;

std::string statusMessage(const std::string& status, const std::string& id = "");
// With progressDetail; an empty detail ({}) when total and current are both 0.
std::string progressMessage(const std::string& status, const std::string& id, int64_t current,
                            int64_t total);
std::string errorMessage(const std::string& message);
// {"aux":<json>} with `json` already serialized.
std::string auxMessage(const std::string& json);

// Docker's bar text: "[=====>        ]  1.51MB/3.02MB".
std::string progressBar(int64_t current, int64_t total);
// Docker's decimal human size with 3 significant digits: "1.51MB", "977B".
std::string humanSize(double bytes);

// The 12-hex short id Docker shows for a digest.
std::string shortDigest(const std::string& digest);

// A thread-safe sink with per-id throttling of progress lines.
class Progress {
 public:
  explicit Progress(MessageFn out) : out_(std::move(out)) {}
  void status(const std::string& status, const std::string& id = "");
  // Emits at most one "Downloading"/"Pushing" line per ~1% (and 512 KiB) per id,
  // always the last one.
  void bytes(const std::string& status, const std::string& id, int64_t current, int64_t total);
  void raw(const std::string& line);

 private:
  std::mutex mu_;
  MessageFn out_;
  std::map<std::string, int64_t> last_;
};

}  // namespace arca::distribution
