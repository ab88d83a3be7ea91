// Time and identity sources for deciders (STYLE 3): injected so that tests are
// deterministic; only the engine calls them, never a reducer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace arca::engine {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t nowNs() = 0;  // UTC, ns since the epoch
};

class SystemClock : public Clock {
 public:
  int64_t nowNs() override;
};

class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string newId() = 0;  // 64 lower-case hex chars
  // A Docker-style "adjective_surname" name for which taken() is false.
  virtual std::string newName(const std::function<bool(const std::string&)>& taken) = 0;
};

class RandomIdSource : public IdSource {
 public:
  std::string newId() override;
  std::string newName(const std::function<bool(const std::string&)>& taken) override;
};

// Formats ns-since-epoch as RFC 3339 with nanoseconds, UTC ("...T...Z").
std::string rfc3339Nano(int64_t ns);
// Parses RFC 3339 (with optional fraction and offset). Returns false if malformed.
bool parseRfc3339(const std::string& s, int64_t* ns);

}  // namespace arca::engine
