// Mount request parsing (issue #6 groundwork).
#include "api/mount_config.h"

#include <gtest/gtest.h>

namespace arca::api {
namespace {

using T = MountRequest::Type;

TEST(MountConfig, VolumeNamesAndPaths) {
  EXPECT_TRUE(validVolumeName("data"));
  EXPECT_TRUE(validVolumeName("my_vol.1-x"));
  EXPECT_FALSE(validVolumeName("a"));
  EXPECT_FALSE(validVolumeName("_x"));
  EXPECT_FALSE(validVolumeName("a!b"));
  EXPECT_EQ(cleanAbsolutePath("/a/./b//c/.."), "/a/b");
  EXPECT_EQ(cleanAbsolutePath("/.."), "/");
  EXPECT_EQ(cleanAbsolutePath("rel"), "");
}

TEST(MountConfig, Binds) {
  auto named = parseBind("data:/d:ro");
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_EQ(named->type, T::kVolume);
  EXPECT_EQ(named->source, "data");
  EXPECT_EQ(named->target, "/d");
  EXPECT_TRUE(named->readonly);
  auto bind = parseBind("/src/../src:/src:rw,rshared");
  ASSERT_TRUE(bind.ok());
  EXPECT_EQ(bind->type, T::kBind);
  EXPECT_EQ(bind->source, "/src");
  EXPECT_EQ(bind->propagation, "rshared");
  EXPECT_TRUE(bind->create_source);
  EXPECT_FALSE(bind->readonly);
  auto anon = parseBind("/data");
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(anon->type, T::kVolume);
  EXPECT_TRUE(anon->source.empty());
  auto nocopy = parseBind("v1:/x:nocopy");
  ASSERT_TRUE(nocopy.ok());
  EXPECT_TRUE(nocopy->nocopy);

  auto rel = parseBind("data:rel");
  EXPECT_EQ(rel.status().message(),
            "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": "
            "invalid mount path: 'rel' mount path must be absolute");
  EXPECT_EQ(parseBind("/x:/").status().message(), "invalid specification: destination can't be '/'");
  EXPECT_NE(parseBind("a!b:/x").status().message().find("includes invalid characters for a local volume name"),
            std::string::npos);
  EXPECT_FALSE(parseBind("a:/b:c:d").ok());
  EXPECT_FALSE(parseBind("/a:/b:bogus").ok());
  EXPECT_FALSE(parseBind("/a:/b:ro,rw").ok());
  EXPECT_FALSE(parseBind("vol:/b:rshared").ok());  // propagation is for binds
  EXPECT_FALSE(parseBind("").ok());
}

TEST(MountConfig, MountObjects) {
  rapidjson::Document d;
  d.Parse(R"({"Type":"volume","Source":"fresh","Target":"/etc","VolumeOptions":{"NoCopy":true,
              "Labels":{"a":"b"}}})");
  auto v = parseMountObject(d);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->type, T::kVolume);
  EXPECT_TRUE(v->nocopy);
  EXPECT_EQ(v->volume_labels.at("a"), "b");
  d.Parse(R"({"Type":"bind","Source":"/host","Target":"/c","ReadOnly":true,
              "BindOptions":{"Propagation":"rslave","NonRecursive":true}})");
  auto b = parseMountObject(d);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->readonly);
  EXPECT_TRUE(b->non_recursive);
  EXPECT_FALSE(b->create_source);  // --mount does not create a missing source
  d.Parse(R"({"Type":"tmpfs","Target":"/scratch","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}})");
  auto t = parseMountObject(d);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->tmpfs_size, 1048576);
  EXPECT_EQ(t->tmpfs_mode, 0700u);
  for (const char* bad : {
           R"({"Type":"bind","Target":"/c"})",
           R"({"Type":"bind","Source":"rel","Target":"/c"})",
           R"({"Type":"volume","Source":"v1","Target":"rel"})",
           R"({"Type":"volume","Source":"v1"})",
           R"({"Type":"tmpfs","Source":"x","Target":"/t"})",
           R"({"Type":"volume","Target":"/t","BindOptions":{}})",
           R"({"Type":"bind","Source":"/a","Target":"/t","BindOptions":{"Propagation":"weird"}})",
           R"({"Type":"weird","Target":"/t"})",
           R"({"Target":"/t"})",
           R"([])",
       }) {
    d.Parse(bad);
    EXPECT_FALSE(parseMountObject(d).ok()) << bad;
  }
  d.Parse(R"({"Type":"volume","Source":"v1","Target":"/t","VolumeOptions":{"DriverConfig":{"Name":"nfs"}}})");
  EXPECT_EQ(parseMountObject(d).status().code(), Code::kNotFound);
}

TEST(MountConfig, TmpfsAndSizes) {
  auto t = parseTmpfs("/scratch", "size=1m,mode=1770,noexec");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->tmpfs_size, 1 << 20);
  EXPECT_EQ(t->tmpfs_mode, 01770u);
  EXPECT_EQ(t->tmpfs_options, (std::vector<std::string>{"noexec"}));
  EXPECT_FALSE(parseTmpfs("/s", "size=lots").ok());
  EXPECT_FALSE(parseTmpfs("/s", "mode=99").ok());
  EXPECT_FALSE(parseTmpfs("/s", "evil").ok());
  EXPECT_FALSE(parseTmpfs("rel", "").ok());
  EXPECT_EQ(*parseByteSize("64m"), 64 << 20);
  EXPECT_EQ(*parseByteSize("1GB"), int64_t{1} << 30);
  EXPECT_EQ(*parseByteSize("1024"), 1024);
  EXPECT_EQ(*parseByteSize("2kib"), 2048);
  EXPECT_FALSE(parseByteSize("m").ok());
  EXPECT_FALSE(parseByteSize("1x").ok());
}

TEST(MountConfig, HostConfigOrderAndDuplicates) {
  rapidjson::Document d;
  d.Parse(R"({"Binds":["data:/d","/h:/h:ro"],"Mounts":[{"Type":"tmpfs","Target":"/m"}],
              "Tmpfs":{"/t":"size=1k"}})");
  auto all = parseHostConfigMounts(d);
  ASSERT_TRUE(all.ok()) << all.status().message();
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[0].target, "/d");
  EXPECT_EQ((*all)[3].target, "/t");
  d.Parse(R"({"Binds":["data:/d"],"Tmpfs":{"/d/":""}})");
  EXPECT_EQ(parseHostConfigMounts(d).status().message(), "Duplicate mount point: /d");
}

// issue #6: the event log's form, with the fields as given for inspect.
TEST(MountConfig, ContainerMountsIntoHostConfig) {
  rapidjson::Document d;
  d.Parse(R"({"Binds":["data:/d","/tmp:/h:ro"],
             "Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"NoCopy":true,"Labels":{"k":"v"}}}],
             "Tmpfs":{"/t":"size=1m,exec"},"VolumesFrom":["other:ro"]})");
  v1::HostConfig hc;
  Status st = parseContainerMounts(d, &hc);
  ASSERT_TRUE(st.ok()) << st.toString();
  ASSERT_EQ(hc.mounts_size(), 4);
  EXPECT_EQ(hc.mounts(0).origin(), "binds");
  EXPECT_EQ(hc.mounts(0).type(), "volume");
  EXPECT_EQ(hc.mounts(1).type(), "bind");
  EXPECT_TRUE(hc.mounts(1).create_source());
  EXPECT_TRUE(hc.mounts(1).read_only());
  EXPECT_EQ(hc.mounts(1).mode(), "ro");
  EXPECT_EQ(hc.mounts(2).origin(), "mounts");
  EXPECT_TRUE(hc.mounts(2).no_copy());
  EXPECT_EQ(hc.mounts(2).source(), "");  // anonymous: the decider names it
  EXPECT_EQ(hc.mounts(2).volume_labels().at("k"), "v");
  EXPECT_EQ(hc.mounts(3).origin(), "tmpfs");
  EXPECT_EQ(hc.mounts(3).tmpfs_size(), 1 << 20);
  EXPECT_EQ(hc.mounts(3).tmpfs_options(0), "exec");
  EXPECT_EQ(hc.binds_size(), 2);
  EXPECT_EQ(hc.mounts_json().front(), '[');
  EXPECT_EQ(hc.tmpfs().at("/t"), "size=1m,exec");
  EXPECT_EQ(hc.volumes_from(0), "other:ro");
  rapidjson::Document missing;
  missing.Parse(R"({"Mounts":[{"Type":"bind","Source":"/nonexistent-arca-src","Target":"/x"}]})");
  v1::HostConfig h2;
  EXPECT_EQ(parseContainerMounts(missing, &h2).message(),
            "invalid mount config for type \"bind\": bind source path does not exist: "
            "/nonexistent-arca-src");
}

}  // namespace
}  // namespace arca::api
