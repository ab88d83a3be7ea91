#include "engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "reducers/reduce.h"

namespace arca {
namespace {

class TestClock : public engine::Clock {
 public:
  int64_t nowNs() override { return t_ += 1000; }
  int64_t t_ = 1700000000000000000;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-engine-XXXXXX";
    dir_ = mkdtemp(tmpl);
    eventlog::Options o;
    o.path = dir_ + "/log";
    o.sync = false;
    log_ = std::move(*eventlog::EventLog::open(o));
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }
  static v1::Event created(const std::string& id) {
    v1::Event e;
    e.mutable_container_created()->set_id(id);
    e.mutable_container_created()->set_name("n" + id);
    return e;
  }
  std::string dir_;
  std::unique_ptr<eventlog::EventLog> log_;
  TestClock clock_;
  engine::RandomIdSource ids_;
};

TEST_F(EngineTest, ExecuteAppendsFoldsAndAnswersAfterDurability) {
  engine::Engine eng(log_.get(), {}, &clock_, &ids_, {});
  auto seq = eng.execute([](const v1::State&, std::vector<v1::Event>* out) {
    out->push_back(created("a"));
    return Status::Ok();
  });
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 1u);
  EXPECT_GE(log_->durableSeq(), 1u);
  EXPECT_TRUE(eng.read([](const v1::State& s) { return s.containers().count("a") == 1; }));
  // A refusing decider appends nothing.
  auto bad = eng.execute([](const v1::State&, std::vector<v1::Event>*) {
    return Conflict("no");
  });
  EXPECT_EQ(bad.status().code(), Code::kConflict);
  EXPECT_EQ(log_->lastSeq(), 1u);
}

TEST_F(EngineTest, WaitUntilWakesOnRecord) {
  engine::Engine eng(log_.get(), {}, &clock_, &ids_, {});
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    eng.record({created("late")});
  });
  bool ok = eng.waitUntil([](const v1::State& s) { return s.containers().count("late") == 1; },
                          nullptr, 5000);
  t.join();
  EXPECT_TRUE(ok);
  EXPECT_FALSE(eng.waitUntil([](const v1::State&) { return false; }, nullptr, 50));
  EXPECT_FALSE(eng.waitUntil([](const v1::State&) { return false; }, [] { return true; }));
}

TEST_F(EngineTest, SnapshotsEveryNEventsAndRecoveryMatches) {
  engine::Engine::Options o;
  o.snapshot_every = 10;
  {
    engine::Engine eng(log_.get(), {}, &clock_, &ids_, o);
    for (int i = 0; i < 35; ++i) eng.record({created(std::to_string(i))});
  }
  auto seqs = log_->snapshotSeqs();
  ASSERT_FALSE(seqs.empty());
  EXPECT_GE(seqs.back(), 30u);
  auto rec = engine::recoverState(*log_);
  auto zero = engine::foldLog(*log_, {});
  ASSERT_TRUE(rec.ok() && zero.ok());
  EXPECT_EQ(rec->containers_size(), 35);
  EXPECT_EQ(reducers::serializeState(*rec), reducers::serializeState(*zero));
}

TEST_F(EngineTest, ConcurrentExecutesKeepLogOrderEqualToFoldOrder) {
  engine::Engine eng(log_.get(), {}, &clock_, &ids_, {});
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) eng.record({created(std::to_string(t * 1000 + i))});
    });
  }
  for (auto& t : ts) t.join();
  auto zero = engine::foldLog(*log_, {});
  ASSERT_TRUE(zero.ok());
  std::string live = eng.read([](const v1::State& s) { return reducers::serializeState(s); });
  EXPECT_EQ(reducers::serializeState(*zero), live);
}

}  // namespace
}  // namespace arca
