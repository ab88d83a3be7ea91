#include "api/container_resources.h"

#include <gtest/gtest.h>

#include "api/container_config.h"

namespace arca::api {
namespace {

HostFacts facts() {
  HostFacts f;
  f.ncpus = 2;
  f.cpus = "0-1";
  f.mems = "0";
  f.swap_limit = true;
  f.blkio_weight = false;
  f.capabilities = {"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_KILL"};
  return f;
}

// Parses a create body's HostConfig and runs the create-time validation.
StatusOr<v1::HostConfig> create(const std::string& hostconfig,
                                std::vector<std::string>* warnings = nullptr) {
  auto c = parseCreateContainer(R"({"Image":"busybox","HostConfig":{"NetworkMode":"none",)" +
                                hostconfig + "}}");
  if (!c.ok()) return c.status();
  std::vector<std::string> w;
  Status st = validateHostResources(&c->host_config, facts(), warnings ? warnings : &w);
  if (!st.ok()) return st;
  return c->host_config;
}

std::string error(const std::string& hostconfig) {
  auto r = create(hostconfig);
  EXPECT_FALSE(r.ok()) << hostconfig;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << hostconfig;
  return r.status().message();
}

TEST(HostResources, DockerCliBodyWithEverything) {
  std::vector<std::string> warnings;
  auto h = create(R"("Memory":67108864,"MemorySwap":0,"MemoryReservation":33554432,
    "MemorySwappiness":10,"NanoCpus":500000000,"CpuShares":512,"CpusetCpus":"0","CpusetMems":"0",
    "PidsLimit":20,"BlkioWeight":300,"Ulimits":[{"Name":"nofile","Hard":200,"Soft":100}],
    "CapAdd":["net_admin"],"CapDrop":["CAP_chown"],"ReadonlyRootfs":true,
    "SecurityOpt":["no-new-privileges"],"Init":true,"ShmSize":10485760,
    "Sysctls":{"net.ipv4.ip_forward":"1"},"ExtraHosts":["a:1.2.3.4"],"Dns":["1.1.1.1"],
    "DnsOptions":["ndots:2"],"DnsSearch":["x"],"GroupAdd":["10","daemon"],"OomKillDisable":true,
    "Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rwm"}])",
                  &warnings);
  ASSERT_TRUE(h.ok()) << h.status().toString();
  EXPECT_EQ(h->memory(), 64 << 20);
  EXPECT_EQ(h->memory_swap(), 128 << 20);  // Docker's default: twice the memory
  EXPECT_EQ(h->memory_reservation(), 32 << 20);
  EXPECT_EQ(h->memory_swappiness(), 10);
  EXPECT_EQ(h->nano_cpus(), 500000000);
  EXPECT_EQ(h->pids_limit(), 20);
  EXPECT_EQ(h->blkio_weight(), 0);  // discarded: no blkio.weight on this host
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("Block I/O weight"), std::string::npos);
  EXPECT_EQ(h->cap_add(0), "CAP_NET_ADMIN");
  EXPECT_EQ(h->cap_drop(0), "CAP_CHOWN");
  EXPECT_TRUE(h->init());
  EXPECT_EQ(h->shm_size(), 10 << 20);
  EXPECT_TRUE(h->oom_kill_disable());
  EXPECT_EQ(h->ulimits(0).soft(), 100);
  EXPECT_EQ(h->devices(0).path_in_container(), "/dev/xnull");
  EXPECT_EQ(h->group_add_size(), 2);
}

TEST(HostResources, DefaultsWhenUnset) {
  auto h = create(R"("Memory":0,"PidsLimit":null,"MemorySwappiness":-1,"Ulimits":[],"Devices":[])");
  ASSERT_TRUE(h.ok()) << h.status().toString();
  EXPECT_EQ(h->shm_size(), 64 << 20);
  EXPECT_TRUE(h->has_oom_kill_disable());
  EXPECT_FALSE(h->oom_kill_disable());
  EXPECT_FALSE(h->has_pids_limit());
  auto zero = create(R"("PidsLimit":0)");
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(zero->has_pids_limit());  // 0 or below at create: no limit (null)
  EXPECT_FALSE(h->has_memory_swappiness());
  EXPECT_EQ(h->memory_swap(), 0);
}

TEST(HostResources, DockerMessages) {
  EXPECT_EQ(error(R"("Memory":1024)"), "Minimum memory limit allowed is 6MB");
  EXPECT_EQ(error(R"("Memory":-5)"), "Minimum memory limit allowed is 6MB");
  EXPECT_EQ(error(R"("NanoCpus":5000000000)"),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
  EXPECT_EQ(error(R"("NanoCpus":500000000,"CpuPeriod":10000)"),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  EXPECT_EQ(error(R"("NanoCpus":500000000,"CpuQuota":10000)"),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  EXPECT_EQ(error(R"("Memory":20971520,"MemorySwap":10485760)"),
            "Minimum memoryswap limit should be larger than memory limit, see usage");
  EXPECT_EQ(error(R"("MemorySwap":10485760)"),
            "You should always set the Memory limit when using Memoryswap limit, see usage");
  EXPECT_EQ(error(R"("MemoryReservation":1048576)"), "Minimum memory reservation allowed is 6MB");
  EXPECT_EQ(error(R"("Memory":10485760,"MemoryReservation":20971520)"),
            "Minimum memory limit can not be less than memory reservation limit, see usage");
  EXPECT_EQ(error(R"("MemorySwappiness":101)"),
            "Invalid value: 101, valid memory swappiness range is 0-100");
  EXPECT_EQ(error(R"("CpuPeriod":100)"),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  EXPECT_EQ(error(R"("CpuQuota":100)"), "CPU cfs quota can not be less than 1ms (i.e. 1000)");
  EXPECT_EQ(error(R"("CpuShares":-1)"),
            "invalid CPU shares (-1): value must be a positive integer");
  EXPECT_EQ(error(R"("CpusetCpus":"7")"),
            "Requested CPUs are not available - requested 7, available: 0-1");
  EXPECT_EQ(error(R"("CpusetCpus":"x")"), "Invalid value x for cpuset cpus: invalid format: x");
  EXPECT_EQ(error(R"("CpusetMems":"3")"),
            "Requested memory nodes are not available - requested 3, available: 0");
  EXPECT_EQ(error(R"("ShmSize":-1)"), "SHM size can not be less than 0");
  EXPECT_EQ(error(R"("CapAdd":["NOPE"])"), "invalid CapAdd: unknown capability: \"CAP_NOPE\"");
  EXPECT_EQ(error(R"("CapDrop":["nope"])"), "invalid CapDrop: unknown capability: \"CAP_NOPE\"");
  EXPECT_EQ(error(R"("CapAdd":["SYS_TIME"])"),
            "invalid CapAdd: capability not supported by your kernel or not available in the "
            "current environment: \"CAP_SYS_TIME\"");
  EXPECT_EQ(error(R"("SecurityOpt":["no-new-privileges:maybe"])"),
            "invalid --security-opt 2: \"no-new-privileges:maybe\"");
  EXPECT_EQ(error(R"("SecurityOpt":["foo"])"), "invalid --security-opt 1: \"foo\"");
  EXPECT_EQ(error(R"("SecurityOpt":["unknown=x"])"), "invalid --security-opt 2: \"unknown=x\"");
  EXPECT_NE(error(R"("SecurityOpt":["label=user:x"])").find("not supported yet by arca"),
            std::string::npos);
  EXPECT_NE(error(R"("SecurityOpt":["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"])")
                .find("seccomp=<profile>"),
            std::string::npos);
  EXPECT_EQ(error(R"("Sysctls":{"kernel.foo":"1"})"), "sysctl 'kernel.foo=1' is not allowed");
  EXPECT_EQ(error(R"("Sysctls":{"vm.swappiness":"1"})"), "sysctl 'vm.swappiness=1' is not allowed");
  EXPECT_EQ(error(R"("Ulimits":[{"Name":"nofile","Soft":200,"Hard":100}])"),
            "ulimit soft limit must be less than or equal to hard limit: 200 > 100");
  EXPECT_EQ(error(R"("Ulimits":[{"Name":"foo","Soft":1,"Hard":1}])"), "invalid ulimit type: foo");
  EXPECT_EQ(error(R"("ExtraHosts":["nohost"])"), "bad format for add-host: \"nohost\"");
  EXPECT_EQ(error(R"("ExtraHosts":["a:1.2.3"])"), "invalid IP address in add-host: \"1.2.3\"");
  EXPECT_EQ(error(R"("Dns":["x.y"])"), "x.y is not an ip address");
  EXPECT_EQ(error(R"("Devices":[{"PathOnHost":"/dev/null","CgroupPermissions":"rwx"}])"),
            "invalid device mode: rwx");
  EXPECT_NE(error(R"("MaskedPaths":[],"ReadonlyPaths":[])").find("systempaths=unconfined"),
            std::string::npos);
  EXPECT_NE(error(R"("CgroupParent":"foo")").find("CgroupParent is not supported"),
            std::string::npos);
  EXPECT_NE(error(R"("CpuRealtimePeriod":1000)").find("HostConfig.CpuRealtimePeriod"),
            std::string::npos);
  EXPECT_NE(error(R"("Memory":"x")").find("invalid type"), std::string::npos);
}

TEST(HostResources, AcceptedSecurityOptions) {
  for (const char* o : {"no-new-privileges", "no-new-privileges=true", "no-new-privileges:false",
                        "seccomp=unconfined", "apparmor=unconfined", "label=disable"}) {
    auto h = create(std::string(R"("SecurityOpt":[")") + o + "\"]");
    EXPECT_TRUE(h.ok()) << o << ": " << h.status().toString();
  }
  auto all = create(R"("CapAdd":["all"],"CapDrop":["ALL"],"Sysctls":{"kernel.shmmax":"1",
    "fs.mqueue.msg_max":"20","net.core.somaxconn":"10"})");
  ASSERT_TRUE(all.ok()) << all.status().toString();
  EXPECT_EQ(all->cap_add(0), "ALL");
}

ResourcesUpdate update(const std::string& body) {
  auto u = parseResourcesUpdate(body);
  EXPECT_TRUE(u.ok()) << u.status().toString();
  std::vector<std::string> w;
  Status st = validateResourcesUpdate(&*u, facts(), &w);
  EXPECT_TRUE(st.ok()) << st.toString();
  return *u;
}

TEST(ResourcesUpdate, MergesLikeDocker) {
  v1::HostConfig c;
  c.set_memory(64 << 20);
  c.set_memory_swap(128 << 20);
  // Above the existing swap without a new swap: Docker's conflict.
  v1::HostConfig c1 = c;
  Status st = mergeResourcesUpdate(update(R"({"Memory":268435456})"), &c1);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_EQ(st.message(),
            "Memory limit should be smaller than already set memoryswap limit, update the "
            "memoryswap at the same time");
  v1::HostConfig c2 = c;
  ASSERT_TRUE(mergeResourcesUpdate(
                  update(R"({"Memory":134217728,"MemorySwap":268435456,"PidsLimit":7,
                             "RestartPolicy":{"Name":"always"}})"),
                  &c2)
                  .ok());
  EXPECT_EQ(c2.memory(), 128 << 20);
  EXPECT_EQ(c2.memory_swap(), 256 << 20);
  EXPECT_EQ(c2.pids_limit(), 7);
  EXPECT_EQ(c2.restart_policy().name(), "always");
  v1::HostConfig unlimited = c2;
  ASSERT_TRUE(mergeResourcesUpdate(update(R"({"PidsLimit":-1})"), &unlimited).ok());
  EXPECT_TRUE(unlimited.has_pids_limit());
  EXPECT_EQ(unlimited.pids_limit(), 0);  // "unlimited", as dockerd records it
  // Zero values keep what is there.
  v1::HostConfig c3 = c2;
  ASSERT_TRUE(mergeResourcesUpdate(update(R"({"Memory":0,"CpuShares":0})"), &c3).ok());
  EXPECT_EQ(c3.memory(), 128 << 20);
  EXPECT_EQ(c3.restart_policy().name(), "always");

  v1::HostConfig nano;
  nano.set_cpu_period(10000);
  EXPECT_EQ(mergeResourcesUpdate(update(R"({"NanoCpus":500000000})"), &nano).message(),
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  v1::HostConfig rm;
  rm.set_auto_remove(true);
  EXPECT_EQ(mergeResourcesUpdate(update(R"({"RestartPolicy":{"Name":"always"}})"), &rm).message(),
            "Restart policy cannot be updated because AutoRemove is enabled for the container");
}

TEST(ResourcesUpdate, Validation) {
  auto bad = [](const std::string& body) {
    auto u = parseResourcesUpdate(body);
    if (!u.ok()) return u.status().message();
    std::vector<std::string> w;
    return validateResourcesUpdate(&*u, facts(), &w).message();
  };
  EXPECT_EQ(bad(R"({"Memory":1024})"), "Minimum memory limit allowed is 6MB");
  EXPECT_EQ(bad(R"({"RestartPolicy":{"Name":"bogus"}})"),
            "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'");
  EXPECT_EQ(bad(R"({"RestartPolicy":{"Name":"always","MaximumRetryCount":3}})"),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'");
  EXPECT_EQ(bad(R"({"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}})"),
            "invalid restart policy: maximum retry count cannot be negative");
  EXPECT_EQ(bad(R"({"MemorySwap":268435456})"), "");  // allowed on update
  EXPECT_NE(bad(R"({"Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}]})").find("cannot be changed"),
            std::string::npos);
  EXPECT_EQ(bad("{"), "invalid JSON body for container update");
}

}  // namespace
}  // namespace arca::api
