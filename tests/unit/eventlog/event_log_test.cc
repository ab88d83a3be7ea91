#include "eventlog/event_log.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "engine/engine.h"
#include "reducers/reduce.h"
#include "tests/unit/reducers/event_gen.h"

namespace arca {
namespace {

namespace fs = std::filesystem;

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-eventlog-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<eventlog::EventLog> open(bool salvage = false, bool ro = false) {
    eventlog::Options o;
    o.path = dir_ + "/log";
    o.salvage = salvage;
    o.read_only = ro;
    auto l = eventlog::EventLog::open(o);
    EXPECT_TRUE(l.ok()) << l.status().toString();
    return l.ok() ? std::move(*l) : nullptr;
  }
  static v1::Envelope ev(const std::string& id) {
    v1::Envelope e;
    e.set_time_ns(1);
    e.mutable_event()->mutable_container_removed()->set_id(id);
    return e;
  }
  std::string dir_;
};

TEST_F(EventLogTest, AppendAssignsSeqsAndIsDurableAcrossReopen) {
  {
    auto log = open();
    std::vector<v1::Envelope> b = {ev("a"), ev("b"), ev("c")};
    uint64_t last = log->enqueue(std::move(b));
    EXPECT_EQ(last, 3u);
    log->waitDurable(last);
    EXPECT_EQ(log->durableSeq(), 3u);
  }
  auto log = open();
  EXPECT_EQ(log->lastSeq(), 3u);
  std::vector<std::string> ids;
  ASSERT_TRUE(log->read(1, UINT64_MAX, [&](const v1::Envelope& e) {
    ids.push_back(e.event().container_removed().id());
    EXPECT_EQ(e.seq(), ids.size());
    EXPECT_EQ(e.schema_version(), eventlog::kSchemaVersion);
    return true;
  }).ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
  uint64_t next = log->enqueue({ev("d")});
  EXPECT_EQ(next, 4u);
}

TEST_F(EventLogTest, ConcurrentAppendsAreGroupCommittedWithoutGapsOrDuplicates) {
  auto log = open();
  constexpr int kThreads = 8, kPer = 200;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        uint64_t s = log->enqueue({ev(std::to_string(t) + ":" + std::to_string(i))});
        log->waitDurable(s);
      }
    });
  }
  for (auto& t : ts) t.join();
  std::set<std::string> seen;
  uint64_t expect = 1;
  ASSERT_TRUE(log->read(1, UINT64_MAX, [&](const v1::Envelope& e) {
    EXPECT_EQ(e.seq(), expect++);
    seen.insert(e.event().container_removed().id());
    return true;
  }).ok());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kPer));
}

TEST_F(EventLogTest, SubscribeDeliversEveryEventOnceAfterHistory) {
  auto log = open();
  for (int i = 0; i < 50; ++i) log->enqueue({ev("h" + std::to_string(i))});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 300 && !stop; ++i) log->enqueue({ev("l" + std::to_string(i))});
  });
  std::mutex mu;
  std::vector<uint64_t> live;
  uint64_t durable_at = 0;
  uint64_t h = log->subscribe(
      [&](const v1::Envelope& e) {
        std::lock_guard<std::mutex> lk(mu);
        live.push_back(e.seq());
        return true;
      },
      &durable_at);
  std::vector<uint64_t> all;
  ASSERT_TRUE(log->read(1, durable_at, [&](const v1::Envelope& e) {
    all.push_back(e.seq());
    return true;
  }).ok());
  writer.join();
  log->waitDurable(log->lastSeq());
  log->unsubscribe(h);
  {
    std::lock_guard<std::mutex> lk(mu);
    all.insert(all.end(), live.begin(), live.end());
  }
  ASSERT_EQ(all.size(), 350u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i + 1);
}

TEST_F(EventLogTest, SnapshotsKeepTheNewestAndRecoverEqualsFullFold) {
  auto evs = testing::randomEvents(7, 500);
  v1::State full;
  {
    auto log = open();
    v1::State s;
    for (size_t i = 0; i < evs.size(); ++i) {
      v1::Envelope e = evs[i];
      uint64_t seq = log->enqueue({e});
      e.set_seq(seq);
      reducers::reduce(s, e);
      if ((i + 1) % 100 == 0) {
        log->waitDurable(seq);
        ASSERT_TRUE(log->writeSnapshot(s).ok());
      }
    }
    log->waitDurable(log->lastSeq());
    full = s;
    EXPECT_EQ(log->snapshotSeqs(), (std::vector<uint64_t>{400, 500}));
  }
  auto log = open(false, true);
  auto snap = log->latestSnapshot();
  ASSERT_TRUE(snap.ok() && snap->has_value());
  EXPECT_EQ((*snap)->seq(), 500u);
  auto rec = engine::recoverState(*log);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(reducers::serializeState(*rec), reducers::serializeState(full));
  auto zero = engine::foldLog(*log, v1::State());
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(reducers::serializeState(*zero), reducers::serializeState(full));
}

TEST_F(EventLogTest, CorruptRecordRefusedUnlessSalvaging) {
  {
    auto log = open();
    log->waitDurable(log->enqueue({ev("a"), ev("b")}));
  }
  {
    // Write garbage as record 3 behind the log's back.
    rocksdb::DB* db = nullptr;
    rocksdb::DBOptions o;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"snapshots", {}}, {"meta", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_ + "/log", cfs, &hs, &db).ok());
    ASSERT_TRUE(db->Put({}, hs[0], eventlog::seqKey(3), "\xff\xff garbage").ok());
    for (auto* h : hs) db->DestroyColumnFamilyHandle(h);
    delete db;
  }
  eventlog::Options o;
  o.path = dir_ + "/log";
  auto bad = eventlog::EventLog::open(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kDataLoss);
  auto log = open(true);
  EXPECT_EQ(log->lastSeq(), 2u);
}

TEST(SeqKey, BigEndianOrderMatchesNumericOrder) {
  EXPECT_LT(eventlog::seqKey(255), eventlog::seqKey(256));
  EXPECT_EQ(eventlog::decodeSeqKey(eventlog::seqKey(123456789).data(), 8), 123456789u);
}

}  // namespace
}  // namespace arca
