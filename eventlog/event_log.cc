#include "eventlog/event_log.h"

#include <algorithm>
#include <cstdlib>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

namespace arca::eventlog {

std::string seqKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return k;
}

uint64_t decodeSeqKey(const char* data, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(data[i]);
  return v;
}

EventLog::EventLog(const Options& opts) : opts_(opts) {}

StatusOr<std::unique_ptr<EventLog>> EventLog::open(const Options& opts) {
  std::unique_ptr<EventLog> log(new EventLog(opts));
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  dbo.max_background_jobs = 2;
  dbo.keep_log_file_num = 4;
  dbo.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::ColumnFamilyOptions cfo;
  cfo.compression = rocksdb::kNoCompression;
  // Small memtables bound the WAL that a start-up after a crash must replay
  // (start-up time stays flat as the log grows); a clean close flushes them.
  cfo.write_buffer_size = 8 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, cfo}, {"snapshots", cfo}, {"meta", cfo}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s;
  if (opts.read_only) {
    s = rocksdb::DB::OpenForReadOnly(dbo, opts.path, cfs, &handles, &log->db_);
  } else {
    s = rocksdb::DB::Open(dbo, opts.path, cfs, &handles, &log->db_);
  }
  if (!s.ok()) return Unavailable("event log " + opts.path + ": " + s.ToString());
  log->cf_events_ = handles[0];
  log->cf_snapshots_ = handles[1];
  log->cf_meta_ = handles[2];

  // Schema version check: refuse a log written by a newer daemon.
  std::string v;
  s = log->db_->Get(rocksdb::ReadOptions(), log->cf_meta_, "schema_version", &v);
  if (s.ok()) {
    if (static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10)) > kSchemaVersion) {
      return FailedPrecondition("event log schema version " + v + " is newer than this daemon's " +
                                std::to_string(kSchemaVersion));
    }
  } else if (!opts.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = opts.sync;
    log->db_->Put(wo, log->cf_meta_, "schema_version", std::to_string(kSchemaVersion));
  }

  // Find the last seq; check the last record decodes (a torn tail is handled
  // by the WAL; a corrupt record is refused unless salvaging).
  std::unique_ptr<rocksdb::Iterator> it(log->db_->NewIterator(rocksdb::ReadOptions(), log->cf_events_));
  it->SeekToLast();
  while (it->Valid()) {
    v1::Envelope env;
    uint64_t seq = decodeSeqKey(it->key().data(), it->key().size());
    if (env.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
        env.seq() == seq) {
      log->last_seq_ = seq;
      break;
    }
    if (!opts.salvage || opts.read_only) {
      return DataLoss("event log record " + std::to_string(seq) +
                      " is corrupt; start with --salvage to truncate the log before it");
    }
    spdlog::warn("eventlog: salvage: dropping corrupt record {}", seq);
    log->db_->Delete(rocksdb::WriteOptions(), log->cf_events_, it->key());
    it->Prev();
  }
  if (!it->status().ok()) return DataLoss("event log scan: " + it->status().ToString());
  log->durable_seq_ = log->last_seq_;
  if (!opts.read_only) log->appender_ = std::thread([l = log.get()] { l->appenderLoop(); });
  return log;
}

EventLog::~EventLog() {
  close();
  if (db_) {
    for (auto* h : {cf_events_, cf_snapshots_, cf_meta_}) {
      if (h) db_->DestroyColumnFamilyHandle(h);
    }
    delete db_;
  }
}

void EventLog::close() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (appender_.joinable()) {
    appender_.join();
    // Clean shutdown: persist memtables so the next open replays no WAL.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    if (db_) db_->Flush(fo, {cf_events_, cf_snapshots_, cf_meta_});
  }
}

uint64_t EventLog::enqueue(std::vector<v1::Envelope>&& envs) {
  std::lock_guard<std::mutex> lk(mu_);
  // Invariant: nobody enqueues after close() (the daemon stops the API first).
  for (auto& e : envs) {
    e.set_seq(++last_seq_);
    e.set_schema_version(kSchemaVersion);
    queue_.push_back(std::move(e));
  }
  queue_cv_.notify_one();
  return last_seq_;
}

void EventLog::waitDurable(uint64_t seq) {
  if (durable_seq_.load(std::memory_order_acquire) >= seq) return;
  std::unique_lock<std::mutex> lk(mu_);
  durable_cv_.wait(lk, [&] { return durable_seq_.load() >= seq; });
}

uint64_t EventLog::lastSeq() const {
  std::lock_guard<std::mutex> lk(mu_);
  return last_seq_;
}

uint64_t EventLog::durableSeq() const { return durable_seq_.load(std::memory_order_acquire); }

void EventLog::appenderLoop() {
  std::vector<v1::Envelope> batch;
  std::string buf;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      queue_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      batch.swap(queue_);
    }
    rocksdb::WriteBatch wb;
    for (const auto& e : batch) {
      buf.clear();
      e.SerializeToString(&buf);
      wb.Put(cf_events_, seqKey(e.seq()), buf);
    }
    rocksdb::WriteOptions wo;
    wo.sync = opts_.sync;
    rocksdb::Status s = db_->Write(wo, &wb);
    if (!s.ok()) {
      // Invariant: State already folded these records; continuing would answer
      // clients with facts that are not durable. Crash and recover from the log.
      spdlog::critical("eventlog: durable append failed: {}", s.ToString());
      std::abort();
    }
    {
      std::lock_guard<std::mutex> sl(sub_mu_);
      durable_seq_.store(batch.back().seq(), std::memory_order_release);
      for (const auto& e : batch) {
        for (auto it = subscribers_.begin(); it != subscribers_.end();) {
          if (!it->second(e)) {
            it = subscribers_.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      durable_cv_.notify_all();
    }
    batch.clear();
  }
}

Status EventLog::readRaw(uint64_t from, uint64_t to,
                         const std::function<bool(uint64_t, const char*, size_t)>& fn) const {
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::string upper = seqKey(to == UINT64_MAX ? to : to + 1);
  rocksdb::Slice ub(upper);
  if (to != UINT64_MAX) ro.iterate_upper_bound = &ub;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_events_));
  uint64_t durable = durable_seq_.load(std::memory_order_acquire);
  for (it->Seek(seqKey(from)); it->Valid(); it->Next()) {
    uint64_t seq = decodeSeqKey(it->key().data(), it->key().size());
    if (seq > to || seq > durable) break;
    if (!fn(seq, it->value().data(), it->value().size())) break;
  }
  if (!it->status().ok()) return DataLoss("event log read: " + it->status().ToString());
  return Status::Ok();
}

Status EventLog::read(uint64_t from, uint64_t to,
                      const std::function<bool(const v1::Envelope&)>& fn) const {
  v1::Envelope env;
  Status bad;
  Status st = readRaw(from, to, [&](uint64_t seq, const char* d, size_t n) {
    env.Clear();
    if (!env.ParseFromArray(d, static_cast<int>(n))) {
      bad = DataLoss("event log record " + std::to_string(seq) + " does not decode");
      return false;
    }
    return fn(env);
  });
  if (!bad.ok()) return bad;
  return st;
}

uint64_t EventLog::subscribe(SubscriberFn fn, uint64_t* durable_at) {
  std::lock_guard<std::mutex> sl(sub_mu_);
  *durable_at = durable_seq_.load(std::memory_order_acquire);
  uint64_t h = next_sub_++;
  subscribers_.emplace(h, std::move(fn));
  return h;
}

void EventLog::unsubscribe(uint64_t handle) {
  std::lock_guard<std::mutex> sl(sub_mu_);
  subscribers_.erase(handle);
}

Status EventLog::writeSnapshot(const v1::State& state) {
  v1::Snapshot snap;
  snap.set_seq(state.seq());
  snap.set_schema_version(kSchemaVersion);
  *snap.mutable_state() = state;
  std::string buf;
  snap.SerializeToString(&buf);
  rocksdb::WriteBatch wb;
  wb.Put(cf_snapshots_, seqKey(state.seq()), buf);
  // Keep the newest keep_snapshots (including this one).
  std::vector<uint64_t> seqs = snapshotSeqs();
  seqs.push_back(state.seq());
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  while (seqs.size() > opts_.keep_snapshots) {
    wb.Delete(cf_snapshots_, seqKey(seqs.front()));
    seqs.erase(seqs.begin());
  }
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync;
  rocksdb::Status s = db_->Write(wo, &wb);
  if (!s.ok()) return Internal("snapshot write: " + s.ToString());
  return Status::Ok();
}

std::vector<uint64_t> EventLog::snapshotSeqs() const {
  std::vector<uint64_t> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_snapshots_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.push_back(decodeSeqKey(it->key().data(), it->key().size()));
  }
  return out;
}

StatusOr<std::optional<v1::Snapshot>> EventLog::latestSnapshot() const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_snapshots_));
  it->SeekToLast();
  if (!it->Valid()) return std::optional<v1::Snapshot>();
  v1::Snapshot snap;
  if (!snap.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
    return DataLoss("snapshot does not decode");
  }
  return std::optional<v1::Snapshot>(std::move(snap));
}

}  // namespace arca::eventlog
