#include "engine/engine.h"

#include <chrono>

#include <google/protobuf/arena.h>
#include <spdlog/spdlog.h>

#include "reducers/reduce.h"

namespace arca::engine {

StatusOr<v1::State> foldLog(const eventlog::EventLog& log, v1::State start, uint64_t to) {
  // Envelopes are decoded into an arena that is reset every few thousand
  // events: replay does no malloc/free per event for the decoded records.
  google::protobuf::ArenaOptions ao;
  ao.start_block_size = 256 << 10;
  ao.max_block_size = 1 << 20;
  google::protobuf::Arena arena(ao);
  Status bad;
  uint64_t from = start.seq() + 1;
  uint64_t n = 0;
  Status st = log.readRaw(from, to, [&](uint64_t seq, const char* d, size_t len) {
    if (++n % 4096 == 0) arena.Reset();
    auto* env = google::protobuf::Arena::CreateMessage<v1::Envelope>(&arena);
    if (!env->ParseFromArray(d, static_cast<int>(len))) {
      bad = DataLoss("event " + std::to_string(seq) + " does not decode");
      return false;
    }
    reducers::reduce(start, *env);
    return true;
  });
  if (!bad.ok()) return bad;
  if (!st.ok()) return st;
  return start;
}

StatusOr<v1::State> recoverState(const eventlog::EventLog& log) {
  auto snap = log.latestSnapshot();
  if (!snap.ok()) return snap.status();
  v1::State start;
  if (snap->has_value()) start = (*snap)->state();
  return foldLog(log, std::move(start));
}

Engine::Engine(eventlog::EventLog* log, v1::State initial, Clock* clock, IdSource* ids,
               Options opts)
    : log_(log), clock_(clock), ids_(ids), opts_(opts), state_(std::move(initial)) {
  last_snapshot_seq_ = state_.seq();
}

uint64_t Engine::appendLocked(std::vector<v1::Event>& events) {
  std::vector<v1::Envelope> envs;
  envs.reserve(events.size());
  int64_t now = clock_->nowNs();
  // Time never goes backwards in the log (replay relies on monotonic times).
  if (now < state_.last_time_ns()) now = state_.last_time_ns();
  for (auto& e : events) {
    v1::Envelope env;
    env.set_time_ns(now);
    *env.mutable_event() = std::move(e);
    envs.push_back(std::move(env));
  }
  std::vector<v1::Envelope> copy = envs;
  uint64_t last = log_->enqueue(std::move(copy));
  uint64_t seq = last - envs.size() + 1;
  for (auto& env : envs) {
    env.set_seq(seq++);
    reducers::reduce(state_, env);
  }
  cv_.notify_all();
  return last;
}

StatusOr<uint64_t> Engine::execute(const Decider& decide) {
  uint64_t last = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::vector<v1::Event> events;
    Status st = decide(state_, &events);
    if (!st.ok()) return st;
    if (events.empty()) return uint64_t{0};
    last = appendLocked(events);
  }
  log_->waitDurable(last);
  maybeSnapshot(last);
  return last;
}

uint64_t Engine::record(std::vector<v1::Event> events) {
  if (events.empty()) return 0;
  uint64_t last;
  {
    std::lock_guard<std::mutex> lk(mu_);
    last = appendLocked(events);
  }
  log_->waitDurable(last);
  maybeSnapshot(last);
  return last;
}

bool Engine::waitUntil(const std::function<bool(const v1::State&)>& pred,
                       const std::function<bool()>& cancelled, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  uint64_t seen = 0;
  {
    std::unique_lock<std::mutex> lk(mu_);
    while (!pred(state_)) {
      if (cancelled && cancelled()) return false;
      auto step = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
      if (timeout_ms >= 0) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        if (deadline < step) step = deadline;
      }
      cv_.wait_until(lk, step);
    }
    seen = state_.seq();
  }
  log_->waitDurable(seen);
  return true;
}

void Engine::maybeSnapshot(uint64_t seq) {
  if (seq < last_snapshot_seq_.load() + opts_.snapshot_every) return;
  bool expected = false;
  if (!snapshotting_.compare_exchange_strong(expected, true)) return;
  Status st = snapshot();
  if (!st.ok()) spdlog::warn("engine: snapshot failed: {}", st.toString());
  snapshotting_ = false;
}

Status Engine::snapshot() {
  v1::State copy;
  {
    std::lock_guard<std::mutex> lk(mu_);
    copy = state_;
  }
  log_->waitDurable(copy.seq());
  if (copy.seq() == 0) return Status::Ok();
  Status st = log_->writeSnapshot(copy);
  if (st.ok()) last_snapshot_seq_ = copy.seq();
  return st;
}

}  // namespace arca::engine
