// Health checks (Config.Healthcheck and the image's HEALTHCHECK), run the
// way dockerd runs them: an exec of the test command in the running
// container every Interval (StartInterval during StartPeriod), killed after
// Timeout; `Retries` consecutive failures after the start period make the
// container unhealthy, one success healthy.
//
// Status changes are events (ContainerHealthChanged: `health_status` in
// /events, State.Health.Status, the "(healthy)" of docker ps); the probe log
// (the last 5 results) and the live failing streak are kept in memory, as
// dockerd keeps them, and start again empty after an arcad restart.
//
// One scanner thread follows State; each probe runs on a thread of its own,
// at most one per container at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "api/json.h"
#include "reducers/state.pb.h"

namespace arca::api {

struct ApiContext;

struct HealthResult {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int exit_code = 0;  // -1: the probe could not run or timed out
  std::string output;
};

// Docker's defaults for what a HealthConfig leaves at 0.
struct HealthTiming {
  int64_t interval_ns;
  int64_t timeout_ns;
  int64_t start_period_ns;
  int64_t start_interval_ns;
  int retries;
};
HealthTiming healthTiming(const v1::Healthcheck& hc);

// The next status after a probe result (pure): `streak` is updated.
// `in_start_period`: failures do not count yet.
std::string nextHealthStatus(const std::string& status, bool ok, bool in_start_period,
                             int retries, int* streak);

class HealthMonitor {
 public:
  explicit HealthMonitor(ApiContext* ctx) : ctx_(ctx) {}
  ~HealthMonitor() { stop(); }
  void start();
  void stop();

  // State.Health of a container: {"Status","FailingStreak","Log":[...]}.
  void writeHealth(JsonWriter& j, const v1::Container& c);

 private:
  struct Tracked {
    uint64_t start_count = 0;
    int64_t started_ns = 0;
    int64_t next_ns = 0;
    bool probing = false;
    int streak = 0;
    std::string status = "starting";
    std::deque<HealthResult> log;
  };
  void scan();
  void probe(const std::string& id, v1::Container c);
  HealthResult runProbe(const v1::Container& c, int64_t timeout_ns);

  ApiContext* ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Tracked> tracked_;
  int probes_running_ = 0;
  bool stopping_ = false;
  std::thread scanner_;
  uint64_t seq_ = 0;
};

}  // namespace arca::api
