// The event log: RocksDB, the single source of truth.
//
// Key layout (STYLE 8):
//   column family "default":   key = big-endian u64 seq (seq starts at 1),
//                              value = arca.v1.Envelope {seq, time_ns, schema_version, event}
//   column family "snapshots": key = big-endian u64 seq, value = arca.v1.Snapshot
//                              (a cache of the fold at that seq, never a second truth)
//   column family "meta":      "schema_version" -> decimal string
//
// Concurrency:
//  - enqueue() may be called from any thread; it assigns consecutive seqs
//    under an internal lock, so the order of enqueue() calls is the log order.
//    The engine calls it while holding its own lock so that decide/reduce order
//    equals log order.
//  - One appender thread group-commits: it takes every queued record, writes
//    them in one WriteBatch with sync=true, then advances the durable seq,
//    wakes waitDurable() callers and delivers the records to subscribers (on
//    the appender thread, in seq order). Subscribers must not block.
//  - A failed synced write aborts the process: an acknowledged event must never
//    be lost, and the in-memory State already includes the failed records.
//
// Recovery: RocksDB's WAL recovers a torn last write (kPointInTimeRecovery);
// an undecodable record in the middle of the log makes open() fail unless the
// operator passes salvage=true (then the log is truncated before it).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/status.h"
#include "eventlog/events.pb.h"
#include "reducers/state.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace arca::eventlog {

// Bumped whenever an event type is added (an older daemon refuses newer logs).
inline constexpr uint32_t kSchemaVersion = 3;

struct Options {
  std::string path;          // RocksDB directory
  bool sync = true;          // fsync each group commit (tests/benches may turn it off)
  bool read_only = false;    // arca-replay opens read-only (the daemon may be running)
  bool salvage = false;      // truncate at the first undecodable record
  size_t keep_snapshots = 2;
};

class EventLog {
 public:
  static StatusOr<std::unique_ptr<EventLog>> open(const Options& opts);
  ~EventLog();

  // Assigns seqs to `envs` (each must have time_ns and event set) and queues
  // them for the appender. Returns the last seq assigned. Any thread.
  uint64_t enqueue(std::vector<v1::Envelope>&& envs);
  // Blocks until every seq <= `seq` is durable. Any thread.
  void waitDurable(uint64_t seq);
  uint64_t lastSeq() const;     // last assigned
  uint64_t durableSeq() const;  // last durable

  // Calls `fn` for each durable envelope with from <= seq <= to, in order,
  // until it returns false. Any thread (RocksDB snapshots make it consistent).
  Status read(uint64_t from, uint64_t to, const std::function<bool(const v1::Envelope&)>& fn) const;
  // Same, handing over the raw value bytes (replay fast path).
  Status readRaw(uint64_t from, uint64_t to,
                 const std::function<bool(uint64_t seq, const char* data, size_t len)>& fn) const;

  // Registers a live subscriber. Atomically with the registration, stores in
  // *durable_at the durable seq D: `fn` receives every envelope with seq > D,
  // in order, on the appender thread; read(from, D) gives the history. So a
  // reader that reads history up to D and then consumes the subscription sees
  // every event exactly once. `fn` returning false unsubscribes.
  using SubscriberFn = std::function<bool(const v1::Envelope&)>;
  uint64_t subscribe(SubscriberFn fn, uint64_t* durable_at);
  void unsubscribe(uint64_t handle);

  // Stores a snapshot of the fold at state.seq() (must be durable). Keeps the
  // newest `keep_snapshots`.
  Status writeSnapshot(const v1::State& state);
  // The newest snapshot, if any.
  StatusOr<std::optional<v1::Snapshot>> latestSnapshot() const;
  // All snapshot seqs, oldest first.
  std::vector<uint64_t> snapshotSeqs() const;

  // Flushes and stops the appender (pending records are written first).
  void close();

 private:
  explicit EventLog(const Options& opts);
  void appenderLoop();

  Options opts_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_events_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_snapshots_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_meta_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable queue_cv_;    // appender waits for records
  std::condition_variable durable_cv_;  // waitDurable() callers
  std::vector<v1::Envelope> queue_;
  uint64_t last_seq_ = 0;
  std::atomic<uint64_t> durable_seq_{0};
  bool stopping_ = false;
  std::thread appender_;

  std::mutex sub_mu_;  // guards subscribers_; held while delivering
  std::map<uint64_t, SubscriberFn> subscribers_;
  uint64_t next_sub_ = 1;
};

// Big-endian u64 key encoding.
std::string seqKey(uint64_t seq);
uint64_t decodeSeqKey(const char* data, size_t len);

}  // namespace arca::eventlog
