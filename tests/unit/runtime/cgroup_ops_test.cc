// The agent's stats/top parsing (runtime/agent/cgroup_ops.h).
#include "runtime/agent/cgroup_ops.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace arca::agent {
namespace {

TEST(CgroupOps, FlatKeyed) {
  auto m = parseFlatKeyed("cache 245760\nrss 53248\nbogus\nhierarchical_memory_limit 67108864\n");
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m["cache"], 245760u);
  EXPECT_EQ(m["hierarchical_memory_limit"], 67108864u);
}

TEST(CgroupOps, BlkioSkipsTotals) {
  auto e = parseBlkio("8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].major(), 8u);
  EXPECT_EQ(e[0].minor(), 0u);
  EXPECT_EQ(e[0].op(), "Read");
  EXPECT_EQ(e[1].value(), 8192u);
  EXPECT_TRUE(parseBlkio("Total 0\n").empty());
}

TEST(CgroupOps, IoStatV2) {
  std::vector<v1::BlkioEntry> bytes, ops;
  parseIoStat("259:0 rbytes=100 wbytes=200 rios=3 wios=4 dbytes=0 dios=0\n", &bytes, &ops);
  ASSERT_EQ(bytes.size(), 2u);
  EXPECT_EQ(bytes[0].op(), "read");
  EXPECT_EQ(bytes[0].value(), 100u);
  EXPECT_EQ(bytes[1].op(), "write");
  EXPECT_EQ(bytes[1].value(), 200u);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[1].value(), 4u);
  EXPECT_EQ(ops[0].major(), 259u);
}

TEST(CgroupOps, NetDev) {
  const char* text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n"
      "    lo:     120       2    0    0    0     0          0         0      120       2    0 "
      "   0    0     0       0          0\n"
      "  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n";
  auto n = parseNetDev(text);
  ASSERT_EQ(n.size(), 2u);
  EXPECT_EQ(n[0].name(), "lo");
  EXPECT_EQ(n[1].name(), "eth0");
  EXPECT_EQ(n[1].rx_bytes(), 1000u);
  EXPECT_EQ(n[1].rx_packets(), 10u);
  EXPECT_EQ(n[1].rx_errors(), 1u);
  EXPECT_EQ(n[1].rx_dropped(), 2u);
  EXPECT_EQ(n[1].tx_bytes(), 2000u);
  EXPECT_EQ(n[1].tx_packets(), 20u);
  EXPECT_EQ(n[1].tx_errors(), 3u);
  EXPECT_EQ(n[1].tx_dropped(), 4u);
}

TEST(CgroupOps, ProcStat) {
  uint64_t sys = 0;
  uint32_t cpus = 0;
  parseProcStat("cpu  100 0 50 800 40 5 5 7 0 0\ncpu0 50 0 25 400 20 2 3 0 0 0\n"
                "cpu1 50 0 25 400 20 3 2 0 0 0\nintr 1 2 3\nctxt 5\n",
                &sys, &cpus);
  const uint64_t tick = 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  EXPECT_EQ(sys, 1000 * tick);  // first 7 fields (steal excluded), as moby
  EXPECT_EQ(cpus, 2u);
}

TEST(CgroupOps, ReadStatsFromAFakeV1Tree) {
  namespace fs = std::filesystem;
  fs::path root = fs::temp_directory_path() / ("cgroup_ops_test_" + std::to_string(getpid()));
  auto put = [&](const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  };
  put("cpuacct/arca/x/cpuacct.usage", "43362140\n");
  put("cpuacct/arca/x/cpuacct.usage_percpu", "27117312 16244828 \n");
  put("cpuacct/arca/x/cpuacct.stat", "user 2\nsystem 1\n");
  put("cpu/arca/x/cpu.stat", "nr_periods 5\nnr_throttled 2\nthrottled_time 900\n");
  put("memory/arca/x/memory.usage_in_bytes", "385024\n");
  put("memory/arca/x/memory.max_usage_in_bytes", "3833856\n");
  put("memory/arca/x/memory.limit_in_bytes", "67108864\n");
  put("memory/arca/x/memory.failcnt", "0\n");
  put("memory/arca/x/memory.stat", "cache 0\nrss 53248\nshmem 0\n");
  put("pids/arca/x/pids.current", "1\n");
  put("pids/arca/x/pids.max", "20\n");
  put("pids/arca/x/cgroup.procs", "42\n7\n");
  put("pids/arca/x/sub/cgroup.procs", "99\n");
  put("blkio/arca/x/blkio.throttle.io_service_bytes", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
  put("blkio/arca/x/blkio.throttle.io_serviced", "8:0 Read 1\nTotal 1\n");
  v1::StatsResponse s;
  readStats(root.string(), "/arca/x", 0, &s);
  EXPECT_TRUE(s.running());
  EXPECT_EQ(s.cgroup_version(), 1u);
  EXPECT_EQ(s.cpu_total_ns(), 43362140u);
  ASSERT_EQ(s.cpu_percpu_ns_size(), 2);
  EXPECT_EQ(s.cpu_percpu_ns(1), 16244828u);
  const uint64_t tick = 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  EXPECT_EQ(s.cpu_user_ns(), 2 * tick);
  EXPECT_EQ(s.cpu_system_ns(), 1 * tick);
  EXPECT_EQ(s.throttled_periods(), 2u);
  EXPECT_EQ(s.throttled_time_ns(), 900u);
  EXPECT_EQ(s.memory_usage(), 385024u);
  EXPECT_EQ(s.memory_max_usage(), 3833856u);
  EXPECT_EQ(s.memory_limit(), 67108864u);
  EXPECT_EQ(s.memory_stat().at("rss"), 53248u);
  EXPECT_EQ(s.pids_current(), 1u);
  EXPECT_EQ(s.pids_limit(), 20u);
  ASSERT_EQ(s.io_service_bytes_size(), 2);
  EXPECT_EQ(s.io_service_bytes(0).value(), 4096u);
  ASSERT_EQ(s.io_serviced_size(), 1);
  EXPECT_GT(s.online_cpus(), 0u);
  EXPECT_GT(s.machine_memory(), 0u);
  EXPECT_EQ(cgroupPids(root.string(), "/arca/x"), (std::vector<int>{7, 42, 99}));
  fs::remove_all(root);
}

TEST(CgroupOps, PsArgvAsDockerd) {
  EXPECT_EQ(psArgv("", {1, 22}), (std::vector<std::string>{"-ef", "-q1,22"}));
  EXPECT_EQ(psArgv("-o pid,comm", {5}), (std::vector<std::string>{"-o", "pid,comm", "-q5"}));
  EXPECT_EQ(psArgv("aux", {}), (std::vector<std::string>{"aux", "-q"}));
  EXPECT_EQ(psError("error: unknown gnu long option\n\nUsage:\n", 1),
            "ps: error: unknown gnu long option");
  EXPECT_EQ(psError("", 1), "ps: exit status 1");
}

TEST(CgroupOps, PsOutputKeepsOnlyTheContainersProcesses) {
  const char* out =
      "UID          PID    PPID  C STIME TTY          TIME CMD\n"
      "root           1       0  0 23:00 ?        00:00:01 /sbin/init splash\n"
      "root       25757   25736  0 23:48 ?        00:00:00 sleep 1000\n"
      "root       25800   25757  0 23:48 ?        00:00:00 sh -c echo a  b\n";
  auto r = parsePsOutput(out, {25757, 25800});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->titles_size(), 8);
  EXPECT_EQ(r->titles(7), "CMD");
  ASSERT_EQ(r->processes_size(), 2);
  EXPECT_EQ(r->processes(0).fields(1), "25757");
  EXPECT_EQ(r->processes(0).fields(7), "sleep 1000");
  // Overhanging fields are joined with single spaces into the last column.
  EXPECT_EQ(r->processes(1).fields(7), "sh -c echo a b");
  EXPECT_EQ(r->processes(1).fields_size(), 8);
}

TEST(CgroupOps, PsOutputThreadLinesFollowTheirProcess) {
  const char* out =
      "PID TID CMD\n"
      "10 - app\n"
      "- 10 -\n"
      "- 11 -\n"
      "20 - other\n"
      "- 20 -\n";
  auto r = parsePsOutput(out, {10});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->processes_size(), 3);
  EXPECT_EQ(r->processes(2).fields(1), "11");
}

TEST(CgroupOps, PsOutputErrorsAsDockerd) {
  auto no_pid = parsePsOutput("COMMAND\nsleep\n", {1});
  ASSERT_FALSE(no_pid.ok());
  EXPECT_EQ(no_pid.status().message(), "Couldn't find PID field in ps output");
  auto bad = parsePsOutput("PID CMD\nabc sleep\n", {1});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("Unexpected pid 'abc'"), std::string::npos);
  auto empty = parsePsOutput("PID CMD\n", {1});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->processes_size(), 0);
}

}  // namespace
}  // namespace arca::agent
