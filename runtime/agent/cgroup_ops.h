// What the agent reads for `docker stats` and `docker top`: the container's
// cgroup counters (v1, or v2 when /sys/fs/cgroup is the unified hierarchy),
// the system CPU time and memory of the machine the agent runs on (the host
// for the namespace sandbox, the guest in a VM), the container's network
// counters, and `ps` output filtered to the container's processes.
//
// Reading functions take the cgroup root as a parameter so that tests can
// point them at a fake tree; parse functions are pure. Any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"
#include "runtime/agent.pb.h"

namespace arca::agent {

// "key value" lines (memory.stat, cpu.stat, cpuacct.stat). Unparsable lines are skipped.
std::map<std::string, uint64_t> parseFlatKeyed(std::string_view text);
// blkio.* files of cgroup v1: "8:0 Read 4096" lines ("Total N" lines skipped).
std::vector<v1::BlkioEntry> parseBlkio(std::string_view text);
// io.stat of cgroup v2: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." -> Docker's
// "read"/"write" entries for bytes and for operations.
void parseIoStat(std::string_view text, std::vector<v1::BlkioEntry>* bytes,
                 std::vector<v1::BlkioEntry>* ops);
// /proc/<pid>/net/dev: one entry per interface (lo included).
std::vector<v1::NetworkCounters> parseNetDev(std::string_view text);
// /proc/stat: the "cpu" line's first 7 fields in ns (moby's system_cpu_usage)
// and the number of "cpuN" lines.
void parseProcStat(std::string_view text, uint64_t* system_ns, uint32_t* online_cpus);

// Fills `out` (running = true) from the cgroup at `cgroup_root` + `cgroups_path`
// ("/sys/fs/cgroup" and "/arca/<id>" on the host) and the init's /proc entry.
// Missing files leave their counters at 0.
void readStats(const std::string& cgroup_root, const std::string& cgroups_path, pid_t init_pid,
               v1::StatsResponse* out);

// Every pid in the container's cgroup (and its sub-cgroups).
std::vector<int> cgroupPids(const std::string& cgroup_root, const std::string& cgroups_path);

// dockerd's ps invocation: the args split on single spaces ("" -> "-ef"),
// then "-q<pid>,<pid>,..." (the retry without it drops the last element).
std::vector<std::string> psArgv(const std::string& ps_args, const std::vector<int>& pids);
// The first line of ps's stderr as dockerd reports it: "ps: <line>".
std::string psError(std::string_view stderr_text, int exit_code);
// Titles from the first line; rows whose PID is one of `pids` (thread lines
// "-" follow their process), the overhanging fields joined into the last
// column. InvalidArgument-free: Internal("Couldn't find PID field in ps
// output") or Internal("Unexpected pid ...") like dockerd.
StatusOr<v1::TopResponse> parsePsOutput(std::string_view output, const std::vector<int>& pids);

}  // namespace arca::agent
