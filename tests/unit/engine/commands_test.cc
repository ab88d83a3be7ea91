#include "engine/commands.h"

#include <gtest/gtest.h>

#include "tests/unit/support/fixed_ids.h"
#include "tests/unit/support/states.h"

#include <csignal>

#include "engine/lookup.h"
#include "reducers/reduce.h"

namespace arca {
namespace {

using FixedIds = testing::FixedIds;

void apply(v1::State& s, std::vector<v1::Event>& evs) {
  for (auto& e : evs) {
    v1::Envelope env;
    env.set_seq(s.seq() + 1);
    env.set_time_ns(1);
    *env.mutable_event() = e;
    reducers::reduce(s, env);
  }
  evs.clear();
}

v1::State withImage() { return testing::withBusybox(); }

engine::CreateContainer cmd(const std::string& name) {
  engine::CreateContainer c;
  c.name = name;
  c.config.set_image("busybox");
  c.config.add_cmd("true");
  c.host_config.set_network_mode("none");
  return c;
}

TEST(Commands, CreateResolvesImageAndRefusesDuplicateNames) {
  v1::State s = withImage();
  FixedIds ids;
  std::vector<v1::Event> evs;
  std::string id;
  ASSERT_TRUE(engine::decideCreate(s, cmd("tk"), ids, &evs, &id).ok());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].container_created().image_id(), "sha256:" + std::string(64, 'a'));
  EXPECT_EQ(evs[0].container_created().path(), "true");
  apply(s, evs);
  Status st = engine::decideCreate(s, cmd("/tk"), ids, &evs, &id);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_NE(st.message().find("The container name \"/tk\" is already in use"), std::string::npos);
  EXPECT_TRUE(evs.empty());
}

TEST(Commands, CreateErrors) {
  v1::State s = withImage();
  FixedIds ids;
  std::vector<v1::Event> evs;
  std::string id;
  auto bad = cmd("-bad");
  EXPECT_EQ(engine::decideCreate(s, bad, ids, &evs, &id).code(), Code::kInvalidArgument);
  auto noimg = cmd("x1");
  noimg.config.set_image("nope");
  Status st = engine::decideCreate(s, noimg, ids, &evs, &id);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message(), "No such image: nope:latest");
  auto nocmd = cmd("x2");
  nocmd.config.clear_cmd();
  EXPECT_EQ(engine::decideCreate(s, nocmd, ids, &evs, &id).code(), Code::kInvalidArgument);
  auto gen = cmd("");
  ASSERT_TRUE(engine::decideCreate(s, gen, ids, &evs, &id).ok());
  EXPECT_EQ(evs[0].container_created().name().rfind("gen_", 0), 0u);
}

TEST(Commands, StartStopKillRules) {
  v1::State s = withImage();
  FixedIds ids;
  std::vector<v1::Event> evs;
  std::string id, got;
  ASSERT_TRUE(engine::decideCreate(s, cmd("tk"), ids, &evs, &id).ok());
  apply(s, evs);
  // Stop / kill of a created container.
  EXPECT_EQ(engine::decideStop(s, "tk", "", -2, false, &evs, &got).code(), Code::kNotModified);
  Status k = engine::decideKill(s, "tk", "", &evs, &got);
  EXPECT_EQ(k.code(), Code::kConflict);
  EXPECT_NE(k.message().find("is not running"), std::string::npos);
  // Start by short id prefix.
  ASSERT_TRUE(engine::decideStart(s, id.substr(0, 6), false, &evs, &got).ok());
  EXPECT_EQ(got, id);
  apply(s, evs);
  EXPECT_EQ(engine::decideStart(s, "tk", false, &evs, &got).code(), Code::kConflict);
  std::vector<v1::Event> started(1);
  started[0].mutable_container_started()->set_id(id);
  apply(s, started);
  EXPECT_EQ(engine::decideStart(s, "tk", false, &evs, &got).code(), Code::kNotModified);
  ASSERT_TRUE(engine::decideStop(s, "tk", "", -2, false, &evs, &got).ok());
  EXPECT_EQ(evs[0].container_stop_requested().signal(), "SIGTERM");
  EXPECT_EQ(evs[0].container_stop_requested().timeout_s(), 10);
  evs.clear();
  EXPECT_EQ(engine::decideKill(s, "tk", "NOPE", &evs, &got).code(), Code::kInvalidArgument);
  ASSERT_TRUE(engine::decideKill(s, "tk", "USR1", &evs, &got).ok());
  EXPECT_EQ(evs.back().container_kill_requested().signal(), SIGUSR1);  // after ContainerStopMarked
  evs.clear();
  bool running = false;
  Status rm = engine::checkRemove(s, "tk", false, &got, &running);
  EXPECT_EQ(rm.code(), Code::kConflict);
  EXPECT_TRUE(engine::checkRemove(s, "tk", true, &got, &running).ok());
  EXPECT_TRUE(running);
  EXPECT_EQ(engine::findContainer(s, "nope").status().message(), "No such container: nope");
  // Removal is decided under the lock: refused while running ...
  EXPECT_EQ(engine::decideRemove(s, "tk", &evs, &got).code(), Code::kConflict);
  std::vector<v1::Event> exited(1);
  exited[0].mutable_container_exited()->set_id(id);
  apply(s, exited);
  // ... accepted once stopped, after which neither a start nor a second removal goes through.
  ASSERT_TRUE(engine::decideRemove(s, "tk", &evs, &got).ok());
  ASSERT_EQ(evs.size(), 1u);
  apply(s, evs);
  EXPECT_EQ(s.containers().at(id).status(), "removing");
  EXPECT_EQ(engine::decideStart(s, "tk", false, &evs, &got).code(), Code::kConflict);
  Status again = engine::decideRemove(s, "tk", &evs, &got);
  EXPECT_EQ(again.code(), Code::kConflict);
  EXPECT_NE(again.message().find("already in progress"), std::string::npos);
  EXPECT_TRUE(evs.empty());
}

TEST(Commands, Signals) {
  EXPECT_EQ(engine::parseSignal("KILL"), SIGKILL);
  EXPECT_EQ(engine::parseSignal("sigterm"), SIGTERM);
  EXPECT_EQ(engine::parseSignal("9"), 9);
  EXPECT_EQ(engine::parseSignal("0"), 0);
  EXPECT_EQ(engine::parseSignal("FOO"), 0);
  EXPECT_EQ(engine::signalName(SIGTERM), "SIGTERM");
}

TEST(Commands, ContainerNames) {
  EXPECT_TRUE(engine::validContainerName("tk"));
  EXPECT_TRUE(engine::validContainerName("a_b.c-d"));
  EXPECT_FALSE(engine::validContainerName("a"));
  EXPECT_FALSE(engine::validContainerName("_a"));
  EXPECT_FALSE(engine::validContainerName("a b"));
}

TEST(Clock, Rfc3339RoundTrip) {
  int64_t ns = 1764439200123456789;
  std::string s = engine::rfc3339Nano(ns);
  EXPECT_EQ(s, "2025-11-29T18:00:00.123456789Z");
  int64_t back = 0;
  ASSERT_TRUE(engine::parseRfc3339(s, &back));
  EXPECT_EQ(back, ns);
  EXPECT_EQ(engine::rfc3339Nano(1764439200000000000), "2025-11-29T18:00:00Z");
  ASSERT_TRUE(engine::parseRfc3339("2025-11-29T19:00:00+01:00", &back));
  EXPECT_EQ(back, 1764439200000000000);
}

}  // namespace
}  // namespace arca
