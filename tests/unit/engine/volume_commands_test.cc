// Volume deciders (issue #6).
#include "engine/volume_commands.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "engine/commands.h"
#include "reducers/reduce.h"
#include "tests/unit/support/fixed_ids.h"
#include "tests/unit/support/fold.h"
#include "tests/unit/support/states.h"

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

using testing::withBusybox;

v1::MountPoint mount(const std::string& type, const std::string& src, const std::string& dst,
                     bool ro = false) {
  v1::MountPoint m;
  m.set_type(type);
  m.set_source(src);
  m.set_destination(dst);
  m.set_read_only(ro);
  m.set_origin("binds");
  return m;
}

engine::CreateContainer create(const std::string& name, std::vector<v1::MountPoint> mounts) {
  engine::CreateContainer c;
  c.name = name;
  c.config.set_image("busybox");
  c.config.add_cmd("true");
  c.host_config.set_network_mode("none");
  for (auto& m : mounts) *c.host_config.add_mounts() = m;
  return c;
}

std::string createOk(v1::State& s, testing::FixedIds& ids, const engine::CreateContainer& c) {
  std::vector<v1::Event> evs;
  std::string id;
  Status st = engine::decideCreate(s, c, ids, &evs, &id);
  EXPECT_TRUE(st.ok()) << st.toString();
  apply(s, evs);
  return id;
}

TEST(VolumeCommands, CreateNamesAnonymousVolumesAndCreatesMissingOnesFirst) {
  v1::State s = withBusybox();
  testing::FixedIds ids;
  auto c = create("c1", {mount("volume", "data", "/d"), mount("volume", "", "/anon"),
                         mount("bind", "/host", "/h", true), mount("volume", "data", "/d2")});
  c.config.add_volumes("/img");   // an image VOLUME
  c.config.add_volumes("/d");     // covered by -v data:/d
  std::vector<v1::Event> evs;
  std::string id;
  ASSERT_TRUE(engine::decideCreate(s, c, ids, &evs, &id).ok());
  // data (once), the anonymous /anon, the image's /img; then the container
  ASSERT_EQ(evs.size(), 4u);
  EXPECT_EQ(evs[0].volume_created().name(), "data");
  EXPECT_FALSE(evs[0].volume_created().anonymous());
  EXPECT_TRUE(evs[1].volume_created().anonymous());
  EXPECT_EQ(evs[1].volume_created().labels().count("com.docker.volume.anonymous"), 1u);
  EXPECT_TRUE(evs[2].volume_created().anonymous());
  const auto& mounts = evs[3].container_created().host_config().mounts();
  ASSERT_EQ(mounts.size(), 5);
  EXPECT_EQ(mounts[1].source(), evs[1].volume_created().name());
  EXPECT_EQ(mounts[4].destination(), "/img");
  EXPECT_EQ(mounts[4].origin(), "volumes");
  EXPECT_EQ(mounts[4].source(), evs[2].volume_created().name());
  apply(s, evs);
  EXPECT_EQ(engine::volumeUsers(s, "data"), std::vector<std::string>{id});
  EXPECT_EQ(engine::decideRemoveVolume(s, "data", true, &evs).code(), Code::kConflict);
  EXPECT_EQ(engine::pruneableVolumes(s, true, nullptr), std::vector<std::string>{});
  // an existing volume is not created again
  createOk(s, ids, create("c2", {mount("volume", "data", "/d")}));
  EXPECT_EQ(engine::volumeUsers(s, "data").size(), 2u);
}

TEST(VolumeCommands, VolumesFromCopiesVolumesAndBindsWithTheirMode) {
  v1::State s = withBusybox();
  testing::FixedIds ids;
  v1::MountPoint tmpfs;
  tmpfs.set_type("tmpfs");
  tmpfs.set_destination("/t");
  createOk(s, ids, create("src", {mount("volume", "data", "/d"), mount("bind", "/host", "/h", true),
                                  mount("volume", "", "/a"), tmpfs}));
  auto c = create("dst", {mount("volume", "mine", "/a")});  // its own /a wins
  c.host_config.add_volumes_from("src:rw");
  std::string id = createOk(s, ids, c);
  const auto& m = s.containers().at(id).host_config().mounts();
  ASSERT_EQ(m.size(), 3);  // /a (own), /d, /h; never the tmpfs
  EXPECT_EQ(m[0].source(), "mine");
  EXPECT_EQ(m[1].destination(), "/d");
  EXPECT_EQ(m[1].origin(), "volumes-from");
  EXPECT_TRUE(m[2].read_only());  // ":rw" never makes a read-only mount writable
  EXPECT_TRUE(m[1].no_copy());     // nor is an inherited volume copied up into
  auto ro = create("ro", {});
  ro.host_config.add_volumes_from("src:ro");
  std::string rid = createOk(s, ids, ro);
  for (const auto& x : s.containers().at(rid).host_config().mounts()) EXPECT_TRUE(x.read_only());
  std::vector<v1::Event> evs;
  auto bad = create("bad", {});
  bad.host_config.add_volumes_from("src:xx");
  EXPECT_EQ(engine::decideCreate(s, bad, ids, &evs, &id).message(), "invalid mode: xx");
  auto missing = create("missing", {});
  missing.host_config.add_volumes_from("nope");
  EXPECT_EQ(engine::decideCreate(s, missing, ids, &evs, &id).code(), Code::kNotFound);
}

TEST(VolumeCommands, RemoveWithVolumesTakesUnsharedAnonymousOnes) {
  v1::State s = withBusybox();
  testing::FixedIds ids;
  std::string a = createOk(s, ids, create("ca", {mount("volume", "named", "/n"), mount("volume", "", "/x"),
                                                mount("volume", "", "/y")}));
  std::string x = s.containers().at(a).host_config().mounts(1).source();
  std::string y = s.containers().at(a).host_config().mounts(2).source();
  auto b = create("cb", {});
  b.host_config.add_volumes_from("ca");
  std::string bid = createOk(s, ids, b);
  EXPECT_TRUE(engine::anonymousVolumesOf(s, a).empty());  // b shares both
  std::vector<v1::Event> evs;
  std::string id;
  ASSERT_TRUE(engine::decideRemove(s, "cb", &evs, &id, true).ok());
  EXPECT_TRUE(evs[0].container_removal_started().remove_volumes());
  apply(s, evs);
  EXPECT_TRUE(s.containers().at(bid).remove_volumes());
  evs.resize(1);
  evs[0].mutable_container_removed()->set_id(bid);
  apply(s, evs);
  auto gone = engine::anonymousVolumesOf(s, a);  // named stays; both anonymous go
  std::sort(gone.begin(), gone.end());
  std::vector<std::string> want = {x, y};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(gone, want);
}

TEST(VolumeCommands, PruneKeepsVolumesWithDriverOptions) {
  v1::State s;
  testing::FixedIds ids;
  std::vector<v1::Event> evs;
  std::string name;
  engine::CreateVolume c;
  c.name = "tv";
  c.options = {{"type", "tmpfs"}, {"device", "tmpfs"}};
  ASSERT_TRUE(engine::decideCreateVolume(s, c, ids, &evs, &name).ok());
  apply(s, evs);
  EXPECT_TRUE(engine::pruneableVolumes(s, true, nullptr).empty());
}

}  // namespace
}  // namespace arca
