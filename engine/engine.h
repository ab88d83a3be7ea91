// The engine: decide, append, reduce, then answer (STYLE 1).
//
// Concurrency model (STYLE 16), written down once for the daemon:
//  - API handler threads (api/) parse requests and call Engine::execute() with
//    a decider. The engine lock (mu_) serializes deciders, seq assignment
//    (EventLog::enqueue) and reducers, so the log order is the decision order
//    and State is always the fold of the log prefix enqueued so far.
//  - The caller then waits, *outside* the lock, until its events are durable
//    (EventLog group-commits concurrent appends), and only then answers.
//  - Executors (runtime/) receive durable events from the log's tail on the
//    appender thread, queue work to their own threads, and report outcomes
//    through Engine::record() (same path: lock, enqueue, reduce, wait durable).
//  - Readers take a consistent view with read(); waiters block in waitUntil()
//    on a condition variable signalled after every fold.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/clock.h"
#include "engine/status.h"
#include "eventlog/event_log.h"
#include "reducers/state.pb.h"

namespace arca::engine {

// Folds the log from `start` (a snapshot's state, or empty) up to `to`.
StatusOr<v1::State> foldLog(const eventlog::EventLog& log, v1::State start, uint64_t to = UINT64_MAX);
// Latest snapshot + tail (the daemon's start-up path).
StatusOr<v1::State> recoverState(const eventlog::EventLog& log);

class Engine {
 public:
  struct Options {
    uint64_t snapshot_every = 10000;  // events between snapshots
  };
  Engine(eventlog::EventLog* log, v1::State initial, Clock* clock, IdSource* ids, Options opts);

  using Decider = std::function<Status(const v1::State&, std::vector<v1::Event>*)>;

  // Runs `decide` under the engine lock against the current State; appends the
  // events it produced (one batch, one timestamp), folds them and waits until
  // they are durable. Returns the seq of the last event (0 if none). Any thread.
  StatusOr<uint64_t> execute(const Decider& decide);
  // Appends outcome events (executors). Returns the last seq once durable.
  uint64_t record(std::vector<v1::Event> events);

  // Runs `f` with the current State under the lock. `f` must not block.
  template <typename F>
  auto read(F&& f) const {
    std::lock_guard<std::mutex> lk(mu_);
    return f(state_);
  }

  // Blocks until pred(State) holds (then waits until what it saw is durable),
  // `cancelled()` returns true (polled every 100 ms), or `timeout_ms` passes
  // (-1: forever). Returns true when pred held.
  bool waitUntil(const std::function<bool(const v1::State&)>& pred,
                 const std::function<bool()>& cancelled = nullptr, int timeout_ms = -1);

  // Writes a snapshot of the current (durable) State. Called at shutdown and
  // every `snapshot_every` events.
  Status snapshot();

  eventlog::EventLog* log() const { return log_; }
  Clock* clock() const { return clock_; }
  IdSource* ids() const { return ids_; }

 private:
  uint64_t appendLocked(std::vector<v1::Event>& events);
  void maybeSnapshot(uint64_t seq);

  eventlog::EventLog* log_;
  Clock* clock_;
  IdSource* ids_;
  Options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  v1::State state_;
  std::atomic<uint64_t> last_snapshot_seq_{0};
  std::atomic<bool> snapshotting_{false};
};

}  // namespace arca::engine
