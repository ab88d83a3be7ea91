// Volume deciders (issue #6).
#include "engine/volume_commands.h"

#include <gtest/gtest.h>

#include "reducers/reduce.h"
#include "tests/unit/support/fixed_ids.h"
#include "tests/unit/support/fold.h"

namespace arca {
namespace {

using testing::apply;

TEST(VolumeCommands, CreateIsIdempotentAndValidated) {
  v1::State s;
  testing::FixedIds ids;
  std::vector<v1::Event> evs;
  std::string name;
  engine::CreateVolume c;
  c.name = "data";
  c.labels["k"] = "v";
  ASSERT_TRUE(engine::decideCreateVolume(s, c, ids, &evs, &name).ok());
  apply(s, evs);
  EXPECT_EQ(s.volumes().at("data").labels().at("k"), "v");
  EXPECT_EQ(s.volumes().at("data").driver(), "local");
  ASSERT_TRUE(engine::decideCreateVolume(s, c, ids, &evs, &name).ok());
  EXPECT_TRUE(evs.empty());  // the existing volume, nothing recorded
  engine::CreateVolume anon;
  anon.anonymous = true;
  ASSERT_TRUE(engine::decideCreateVolume(s, anon, ids, &evs, &name).ok());
  EXPECT_EQ(name.size(), 64u);
  apply(s, evs);
  EXPECT_TRUE(s.volumes().at(name).anonymous());
  engine::CreateVolume bad;
  bad.name = "a!b";
  EXPECT_EQ(engine::decideCreateVolume(s, bad, ids, &evs, &name).code(), Code::kInvalidArgument);
  bad.name = "ok1";
  bad.driver = "nfs";
  EXPECT_EQ(engine::decideCreateVolume(s, bad, ids, &evs, &name).code(), Code::kNotFound);
  bad.driver = "";
  bad.options["bogus"] = "1";
  EXPECT_EQ(engine::decideCreateVolume(s, bad, ids, &evs, &name).code(), Code::kInvalidArgument);
  bad.options = {{"type", "none"}};
  EXPECT_EQ(engine::decideCreateVolume(s, bad, ids, &evs, &name).code(), Code::kInvalidArgument);
  EXPECT_TRUE(evs.empty());
}

TEST(VolumeCommands, RemoveAndPrune) {
  v1::State s;
  testing::FixedIds ids;
  std::vector<v1::Event> evs;
  std::string named, anon;
  engine::CreateVolume c;
  c.name = "keep";
  ASSERT_TRUE(engine::decideCreateVolume(s, c, ids, &evs, &named).ok());
  engine::CreateVolume a;
  a.anonymous = true;
  apply(s, evs);
  ASSERT_TRUE(engine::decideCreateVolume(s, a, ids, &evs, &anon).ok());
  apply(s, evs);
  EXPECT_EQ(engine::pruneableVolumes(s, false, nullptr), std::vector<std::string>{anon});
  EXPECT_EQ(engine::pruneableVolumes(s, true, nullptr).size(), 2u);
  EXPECT_EQ(engine::decideRemoveVolume(s, "nope", false, &evs).message(), "get nope: no such volume");
  EXPECT_TRUE(engine::decideRemoveVolume(s, "nope", true, &evs).ok());
  ASSERT_TRUE(engine::decideRemoveVolume(s, "keep", false, &evs).ok());
  apply(s, evs);
  EXPECT_EQ(s.volumes().count("keep"), 0u);
}

}  // namespace
}  // namespace arca
