#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "eventlog/events.pb.h"
#include "runtime/capabilities.h"
#include "runtime/namespace/container_fs.h"
#include "runtime/namespace/etc_files.h"
#include "runtime/namespace/oci_config.h"
#include "runtime/sandbox_resources.h"

namespace arca::runtime {
namespace {

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

TEST(OciLinuxResources, DockerMapping) {
  SandboxResources r;
  EXPECT_EQ(ociLinuxResourcesJson(r), "{}");
  r.memory = 64 << 20;
  r.memory_swap = 128 << 20;
  r.memory_reservation = 32 << 20;
  r.memory_swappiness = 10;
  r.oom_kill_disable = false;
  r.nano_cpus = 500000000;
  r.cpu_shares = 512;
  r.cpuset_cpus = "0";
  r.pids_limit = 20;
  auto d = parse(ociLinuxResourcesJson(r));
  EXPECT_EQ(d["memory"]["limit"].GetInt64(), 64 << 20);
  EXPECT_EQ(d["memory"]["swap"].GetInt64(), 128 << 20);
  EXPECT_EQ(d["memory"]["reservation"].GetInt64(), 32 << 20);
  EXPECT_EQ(d["memory"]["swappiness"].GetInt(), 10);
  EXPECT_FALSE(d["memory"]["disableOOMKiller"].GetBool());
  EXPECT_EQ(d["cpu"]["period"].GetInt(), 100000);
  EXPECT_EQ(d["cpu"]["quota"].GetInt(), 50000);
  EXPECT_EQ(d["cpu"]["shares"].GetInt(), 512);
  EXPECT_STREQ(d["cpu"]["cpus"].GetString(), "0");
  EXPECT_EQ(d["pids"]["limit"].GetInt(), 20);
  EXPECT_FALSE(d.HasMember("blockIO"));
  r.pids_limit = 0;  // Docker: <= 0 unsets, which runc spells -1
  EXPECT_EQ(parse(ociLinuxResourcesJson(r))["pids"]["limit"].GetInt(), -1);
}

TEST(SandboxFromHostConfig, Security) {
  v1::HostConfig h;
  h.add_security_opt("seccomp=unconfined");
  h.add_security_opt("no-new-privileges:true");
  h.set_shm_size(0);
  h.set_init(true);
  h.add_ulimits()->set_name("nofile");
  auto s = sandboxSecurity(h);
  EXPECT_TRUE(s.no_new_privileges);
  EXPECT_TRUE(s.init);
  EXPECT_EQ(s.shm_size, kDefaultShmSize);  // old logs: no shm_size recorded
  ASSERT_EQ(s.ulimits.size(), 1u);
  h.add_security_opt("no-new-privileges=false");
  EXPECT_FALSE(sandboxSecurity(h).no_new_privileges);
}

TEST(Capabilities, DockerTweaks) {
  const std::vector<std::string> defaults = {"CAP_CHOWN", "CAP_KILL"};
  const std::vector<std::string> all = {"CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"};
  EXPECT_EQ(containerCapabilities(defaults, {}, {}, false, all), defaults);
  EXPECT_EQ(containerCapabilities(defaults, {}, {}, true, all), all);
  EXPECT_EQ(containerCapabilities(defaults, {"CAP_NET_ADMIN"}, {"CAP_CHOWN"}, false, all),
            (std::vector<std::string>{"CAP_KILL", "CAP_NET_ADMIN"}));
  EXPECT_EQ(containerCapabilities(defaults, {}, {"ALL"}, false, all), std::vector<std::string>{});
  EXPECT_EQ(containerCapabilities(defaults, {"CAP_KILL"}, {"ALL"}, false, all),
            std::vector<std::string>{"CAP_KILL"});
  EXPECT_EQ(containerCapabilities(defaults, {"ALL"}, {"CAP_KILL"}, false, all),
            (std::vector<std::string>{"CAP_CHOWN", "CAP_NET_ADMIN"}));
  auto n = normalizeCapabilities({"net_admin", "CAP_kill", "all"}, all);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_KILL", "ALL"}));
  EXPECT_EQ(normalizeCapabilities({"nope"}, all).status().message(),
            "unknown capability: \"CAP_NOPE\"");
  EXPECT_EQ(knownCapabilities()[21], "CAP_SYS_ADMIN");
}

TEST(EtcFiles, ResolvConfOptions) {
  const std::string base = "# comment\nnameserver 10.0.0.1\nsearch a b\noptions rotate\n";
  EXPECT_EQ(resolvConfWithOptions(base, {}, {}, {}), base);
  EXPECT_EQ(resolvConfWithOptions(base, {"1.1.1.1"}, {"x"}, {"ndots:2"}),
            "search x\nnameserver 1.1.1.1\noptions ndots:2\n");
  EXPECT_EQ(resolvConfWithOptions(base, {}, {"x"}, {}),
            "search x\nnameserver 10.0.0.1\noptions rotate\n");
  EXPECT_EQ(resolvConfWithOptions(base, {"1.1.1.1"}, {"."}, {}),
            "nameserver 1.1.1.1\noptions rotate\n");
  EXPECT_EQ(hostsWithExtra("127.0.0.1\tlocalhost\n", {"a:1.2.3.4", "b:[::1]"}),
            "127.0.0.1\tlocalhost\n1.2.3.4\ta\n::1\tb\n");
}

TEST(GroupAdd, NamesAndNumbers) {
  std::string group = "root:x:0:\ndaemon:x:1:\nstaff:x:50:\n";
  auto g = resolveAdditionalGroups({"daemon", "50", "4242"}, group);
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_EQ(*g, (std::vector<uint32_t>{1, 50, 4242}));
  EXPECT_EQ(resolveAdditionalGroups({"nope"}, group).status().message(),
            "Unable to find group nope: no matching entries in group file");
  EXPECT_FALSE(resolveAdditionalGroups({"daemon"}, std::nullopt).ok());
  EXPECT_TRUE(resolveAdditionalGroups({"10"}, std::nullopt).ok());
}

TEST(BuildOciConfig, ResourcesAndSecurity) {
  OciConfigInput in;
  in.args = {"/sbin/docker-init", "--", "sleep", "1"};
  in.cgroups_path = "/arca/abc";
  in.capabilities = {"CAP_KILL"};
  in.no_new_privileges = true;
  in.shm_size = 10 << 20;
  in.sysctls = {{"net.ipv4.ip_forward", "1"}};
  in.rlimits = {{"RLIMIT_NOFILE", 100, 200}, {"RLIMIT_NPROC", 5, 5}};
  in.devices = {{"/dev/xnull", 'c', 1, 3, 0666, 0, 0}};
  in.device_rules = {{true, "c", 1, 3, "rwm"}};
  in.resources_json = R"({"memory":{"limit":67108864},"pids":{"limit":20}})";
  auto d = parse(buildOciConfig(in));
  const auto& p = d["process"];
  EXPECT_TRUE(p["noNewPrivileges"].GetBool());
  EXPECT_STREQ(p["capabilities"]["bounding"][0].GetString(), "CAP_KILL");
  ASSERT_EQ(p["rlimits"].Size(), 2u);  // the given nofile replaces the default
  EXPECT_EQ(p["rlimits"][0]["soft"].GetInt(), 100);
  EXPECT_EQ(p["rlimits"][0]["hard"].GetInt(), 200);
  bool shm = false;
  for (const auto& m : d["mounts"].GetArray()) {
    if (std::string(m["destination"].GetString()) != "/dev/shm") continue;
    for (const auto& o : m["options"].GetArray()) {
      shm = shm || std::string(o.GetString()) == "size=10485760";
    }
  }
  EXPECT_TRUE(shm);
  const auto& l = d["linux"];
  EXPECT_STREQ(l["sysctl"]["net.ipv4.ip_forward"].GetString(), "1");
  EXPECT_EQ(l["resources"]["memory"]["limit"].GetInt(), 64 << 20);
  EXPECT_EQ(l["resources"]["pids"]["limit"].GetInt(), 20);
  ASSERT_EQ(l["resources"]["devices"].Size(), 2u);
  EXPECT_FALSE(l["resources"]["devices"][0]["allow"].GetBool());
  EXPECT_EQ(l["resources"]["devices"][1]["major"].GetInt(), 1);
  EXPECT_STREQ(l["devices"][0]["path"].GetString(), "/dev/xnull");
  EXPECT_STREQ(l["devices"][0]["type"].GetString(), "c");
  EXPECT_GT(l["maskedPaths"].Size(), 0u);

  in.privileged = true;
  auto priv = parse(buildOciConfig(in));
  EXPECT_EQ(priv["linux"]["maskedPaths"].Size(), 0u);
  EXPECT_EQ(priv["linux"]["readonlyPaths"].Size(), 0u);
  EXPECT_TRUE(priv["linux"]["resources"]["devices"][0]["allow"].GetBool());
  for (const auto& m : priv["mounts"].GetArray()) {
    if (std::string(m["destination"].GetString()) == "/sys") {
      EXPECT_STREQ(m["options"][3].GetString(), "rw");
    }
  }
}

}  // namespace
}  // namespace arca::runtime
