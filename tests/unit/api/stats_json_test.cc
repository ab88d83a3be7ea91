// Docker's stats document and the top body (api/stats_json.h, api/container_ops.h).
#include "api/stats_json.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "api/container_ops.h"

namespace arca::api {
namespace {

using runtime::SandboxStats;

rapidjson::Document parse(const std::string& s) {
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.back(), '\n');
  rapidjson::Document d;
  d.Parse(s.c_str());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

std::vector<std::string> keys(const rapidjson::Value& o) {
  std::vector<std::string> out;
  for (auto it = o.MemberBegin(); it != o.MemberEnd(); ++it) out.push_back(it->name.GetString());
  return out;
}

SandboxStats running(int64_t read_ns, uint64_t cpu) {
  SandboxStats s;
  s.running = true;
  s.read_ns = read_ns;
  s.cgroup_version = 1;
  s.cpu_total_ns = cpu;
  s.cpu_percpu_ns = {cpu / 2, cpu - cpu / 2};
  s.cpu_user_ns = 20000000;
  s.cpu_system_ns = 10000000;
  s.system_cpu_ns = 42129830000000;
  s.online_cpus = 2;
  s.memory_usage = 385024;
  s.memory_max_usage = 3833856;
  s.memory_limit = 67108864;
  s.machine_memory = 1ULL << 34;
  s.memory_stat = {{"rss", 53248}, {"shmem", 0}, {"total_rss", 53248},
                   {"hierarchical_memory_limit", 67108864}, {"swap", 0}};
  s.pids_current = 1;
  s.pids_limit = 20;
  s.io_service_bytes = {{8, 0, "Read", 4096}};
  s.networks = {{"lo", 1, 1, 0, 0, 1, 1, 0, 0}};
  return s;
}

TEST(StatsJson, RunningV1HasDockersKeys) {
  SandboxStats prev = running(1795976335000000000, 1000);
  SandboxStats cur = running(1795976336000000000, 3000);
  auto d = parse(statsJson(cur, &prev, "/lim", "abc"));
  EXPECT_EQ(keys(d), (std::vector<std::string>{"read", "preread", "pids_stats", "blkio_stats",
                                               "num_procs", "storage_stats", "cpu_stats",
                                               "precpu_stats", "memory_stats", "name", "id"}));
  EXPECT_STREQ(d["name"].GetString(), "/lim");
  EXPECT_STREQ(d["read"].GetString(), "2026-11-29T18:18:56Z");
  EXPECT_STREQ(d["preread"].GetString(), "2026-11-29T18:18:55Z");
  EXPECT_EQ(d["pids_stats"]["current"].GetUint64(), 1u);
  EXPECT_EQ(d["pids_stats"]["limit"].GetUint64(), 20u);
  const auto& blkio = d["blkio_stats"];
  EXPECT_EQ(keys(blkio).size(), 8u);
  ASSERT_TRUE(blkio["io_service_bytes_recursive"].IsArray());
  EXPECT_STREQ(blkio["io_service_bytes_recursive"][0]["op"].GetString(), "Read");
  EXPECT_TRUE(blkio["io_serviced_recursive"].IsArray());
  EXPECT_TRUE(blkio["sectors_recursive"].IsArray());
  const auto& cpu = d["cpu_stats"];
  EXPECT_EQ(keys(cpu), (std::vector<std::string>{"cpu_usage", "system_cpu_usage", "online_cpus",
                                                 "throttling_data"}));
  EXPECT_EQ(keys(cpu["cpu_usage"]), (std::vector<std::string>{"total_usage", "percpu_usage",
                                                              "usage_in_kernelmode",
                                                              "usage_in_usermode"}));
  EXPECT_EQ(cpu["cpu_usage"]["total_usage"].GetUint64(), 3000u);
  EXPECT_EQ(d["precpu_stats"]["cpu_usage"]["total_usage"].GetUint64(), 1000u);
  const auto& mem = d["memory_stats"];
  EXPECT_EQ(keys(mem), (std::vector<std::string>{"usage", "max_usage", "stats", "limit"}));
  EXPECT_EQ(mem["limit"].GetUint64(), 67108864u);
  // Only the keys dockerd reports on cgroup v1.
  EXPECT_EQ(keys(mem["stats"]), (std::vector<std::string>{"hierarchical_memory_limit", "rss",
                                                          "total_rss"}));
  EXPECT_FALSE(d.HasMember("networks"));  // lo only: --network none
}

TEST(StatsJson, UnlimitedMemoryIsTheMachines) {
  SandboxStats cur = running(1, 1);
  cur.memory_limit = 9223372036854771712ULL;
  cur.networks.push_back({"eth0", 10, 1, 0, 0, 20, 2, 0, 0});
  auto d = parse(statsJson(cur, nullptr, "/x", "id"));
  EXPECT_EQ(d["memory_stats"]["limit"].GetUint64(), 1ULL << 34);
  ASSERT_TRUE(d.HasMember("networks"));
  EXPECT_EQ(keys(d["networks"]), std::vector<std::string>{"eth0"});
  EXPECT_EQ(d["networks"]["eth0"]["tx_bytes"].GetUint64(), 20u);
  EXPECT_EQ(keys(d["networks"]["eth0"]).size(), 8u);
}

TEST(StatsJson, OneShotHasZeroPreCpu) {
  auto d = parse(statsJson(running(1, 1), nullptr, "/x", "id"));
  EXPECT_STREQ(d["preread"].GetString(), "0001-01-01T00:00:00Z");
  const auto& pre = d["precpu_stats"];
  EXPECT_EQ(keys(pre), (std::vector<std::string>{"cpu_usage", "throttling_data"}));
  EXPECT_EQ(keys(pre["cpu_usage"]), (std::vector<std::string>{"total_usage",
                                                              "usage_in_kernelmode",
                                                              "usage_in_usermode"}));
}

TEST(StatsJson, StoppedContainerIsDockersEmptyDocument) {
  SandboxStats prev = running(1, 1);
  auto s = statsJson(SandboxStats{}, &prev, "/lim", "abc");
  EXPECT_EQ(s,
            "{\"read\":\"0001-01-01T00:00:00Z\",\"preread\":\"0001-01-01T00:00:00Z\","
            "\"pids_stats\":{},\"blkio_stats\":{\"io_service_bytes_recursive\":null,"
            "\"io_serviced_recursive\":null,\"io_queue_recursive\":null,"
            "\"io_service_time_recursive\":null,\"io_wait_time_recursive\":null,"
            "\"io_merged_recursive\":null,\"io_time_recursive\":null,\"sectors_recursive\":null},"
            "\"num_procs\":0,\"storage_stats\":{},\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":0,"
            "\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},\"throttling_data\":{\"periods\":0,"
            "\"throttled_periods\":0,\"throttled_time\":0}},\"precpu_stats\":{\"cpu_usage\":{"
            "\"total_usage\":0,\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},"
            "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
            "\"memory_stats\":{},\"name\":\"/lim\",\"id\":\"abc\"}\n");
}

TEST(StatsJson, CgroupV2ListsOnlyWhatItHas) {
  SandboxStats cur = running(1, 1);
  cur.cgroup_version = 2;
  cur.cpu_percpu_ns.clear();
  cur.memory_max_usage = 0;
  cur.memory_stat = {{"anon", 4096}, {"file", 0}};
  auto d = parse(statsJson(cur, nullptr, "/x", "id"));
  EXPECT_TRUE(d["blkio_stats"]["io_service_bytes_recursive"].IsArray());
  EXPECT_TRUE(d["blkio_stats"]["sectors_recursive"].IsNull());
  EXPECT_FALSE(d["cpu_stats"]["cpu_usage"].HasMember("percpu_usage"));
  EXPECT_FALSE(d["memory_stats"].HasMember("max_usage"));
  EXPECT_EQ(keys(d["memory_stats"]["stats"]), (std::vector<std::string>{"anon", "file"}));
}

TEST(TopJson, ShapeAndPsArgsCheck) {
  runtime::ProcessList l;
  l.titles = {"PID", "COMMAND"};
  EXPECT_EQ(topJson(l), "{\"Processes\":null,\"Titles\":[\"PID\",\"COMMAND\"]}\n");
  l.processes = {{"25757", "sleep"}};
  EXPECT_EQ(topJson(l), "{\"Processes\":[[\"25757\",\"sleep\"]],\"Titles\":[\"PID\",\"COMMAND\"]}\n");
  EXPECT_TRUE(validatePsArgs("-ef").ok());
  EXPECT_TRUE(validatePsArgs("-o pid=PID,comm").ok());
  Status st = validatePsArgs("-o user=PID");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message(), "specifying \"user=PID\" is not allowed");
}

}  // namespace
}  // namespace arca::api
