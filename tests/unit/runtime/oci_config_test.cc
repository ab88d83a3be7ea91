#include "runtime/namespace/oci_config.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace arca::runtime {
namespace {

std::vector<std::string> strings(const rapidjson::Value& a) {
  std::vector<std::string> out;
  for (const auto& v : a.GetArray()) out.push_back(v.GetString());
  return out;
}

TEST(DockerEnvironment, DefaultsThenOverrides) {
  EXPECT_EQ(
      dockerEnvironment({}, "h"),
      (std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                "HOSTNAME=h"}));
  EXPECT_EQ(dockerEnvironment({"A=1", "PATH=/x", "B=2"}, "h"),
            (std::vector<std::string>{"PATH=/x", "HOSTNAME=h", "A=1", "B=2"}));
  // "K" without '=' unsets a default; unknown ones are dropped.
  EXPECT_EQ(dockerEnvironment({"HOSTNAME", "C"}, "h"),
            (std::vector<std::string>{
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(envValue({"A=1", "PATH=/p:/q"}, "PATH"), "/p:/q");
  EXPECT_EQ(envValue({"PATHX=1"}, "PATH"), "");
}

TEST(BuildOciConfig, DockerDefaults) {
  OciConfigInput in;
  in.args = {"sh", "-c", "echo hi"};
  in.env = {"PATH=/bin"};
  in.cwd = "/work";
  in.uid = 1000;
  in.gid = 1000;
  in.additional_gids = {10, 50};
  in.hostname = "box";
  in.readonly_rootfs = true;
  in.cgroups_path = "/arca/abc";
  in.binds = {{"/run/x/hosts", "/etc/hosts", true}};
  std::string text = buildOciConfig(in);
  rapidjson::Document doc;
  doc.Parse(text.c_str());
  ASSERT_FALSE(doc.HasParseError()) << text;
  EXPECT_STREQ(doc["ociVersion"].GetString(), "1.0.2");
  const auto& p = doc["process"];
  EXPECT_FALSE(p["terminal"].GetBool());
  EXPECT_EQ(strings(p["args"]), in.args);
  EXPECT_EQ(strings(p["env"]), in.env);
  EXPECT_STREQ(p["cwd"].GetString(), "/work");
  EXPECT_EQ(p["user"]["uid"].GetUint(), 1000u);
  EXPECT_EQ(p["user"]["additionalGids"].Size(), 2u);
  EXPECT_EQ(strings(p["capabilities"]["bounding"]).size(), 14u);
  EXPECT_EQ(strings(p["capabilities"]["effective"]), dockerDefaultCapabilities());
  EXPECT_STREQ(p["rlimits"][0]["type"].GetString(), "RLIMIT_NOFILE");
  EXPECT_EQ(p["rlimits"][0]["hard"].GetUint64(), 1048576u);
  EXPECT_TRUE(doc["root"]["readonly"].GetBool());
  EXPECT_STREQ(doc["root"]["path"].GetString(), "rootfs");
  EXPECT_STREQ(doc["hostname"].GetString(), "box");
  std::vector<std::string> dests;
  for (const auto& m : doc["mounts"].GetArray()) dests.push_back(m["destination"].GetString());
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup",
                                             "/dev/mqueue", "/dev/shm", "/etc/hosts"}));
  const auto& bind = doc["mounts"][7];
  EXPECT_STREQ(bind["type"].GetString(), "bind");
  EXPECT_EQ(strings(bind["options"]), (std::vector<std::string>{"rbind", "rprivate", "ro"}));
  const auto& linux = doc["linux"];
  EXPECT_STREQ(linux["cgroupsPath"].GetString(), "/arca/abc");
  std::vector<std::string> ns;
  for (const auto& n : linux["namespaces"].GetArray()) ns.push_back(n["type"].GetString());
  EXPECT_EQ(ns, (std::vector<std::string>{"mount", "network", "uts", "pid", "ipc"}));
  EXPECT_FALSE(linux["resources"]["devices"][0]["allow"].GetBool());
  EXPECT_NE(std::find(linux["maskedPaths"].Begin(), linux["maskedPaths"].End(),
                      rapidjson::Value("/proc/kcore")),
            linux["maskedPaths"].End());
  EXPECT_EQ(strings(linux["readonlyPaths"]).size(), 5u);
}

}  // namespace
}  // namespace arca::runtime

namespace arca::runtime {
namespace {

// issue #6: volumes and binds with their own options, tmpfs mounts.
TEST(BuildOciConfig, UserMountsKeepTheirOptions) {
  OciConfigInput in;
  in.args = {"true"};
  OciBindMount vol;
  vol.source = "/var/lib/arca/volumes/data/_data";
  vol.destination = "/d";
  vol.options = {"rbind", "rslave", "ro"};
  OciBindMount tmp;
  tmp.type = "tmpfs";
  tmp.destination = "/t";
  tmp.options = {"noexec", "nosuid", "nodev", "rprivate", "size=1048576", "mode=1777"};
  in.binds = {vol, tmp};
  rapidjson::Document d;
  d.Parse(buildOciConfig(in).c_str());
  ASSERT_FALSE(d.HasParseError());
  const auto& mounts = d["mounts"].GetArray();
  const auto& v = mounts[mounts.Size() - 2];
  EXPECT_STREQ(v["type"].GetString(), "bind");
  EXPECT_STREQ(v["source"].GetString(), "/var/lib/arca/volumes/data/_data");
  EXPECT_EQ(strings(v["options"]), (std::vector<std::string>{"rbind", "rslave", "ro"}));
  const auto& t = mounts[mounts.Size() - 1];
  EXPECT_STREQ(t["type"].GetString(), "tmpfs");
  EXPECT_STREQ(t["source"].GetString(), "tmpfs");
  EXPECT_STREQ(t["destination"].GetString(), "/t");
  EXPECT_EQ(strings(t["options"]).back(), "mode=1777");
}

}  // namespace
}  // namespace arca::runtime
