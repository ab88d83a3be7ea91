#include "runtime/agent/cgroup_ops.h"

#include <dirent.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace arca::agent {
namespace {

constexpr long kCgroup2Magic = 0x63677270;

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string_view> splitWs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n' ||
                               line[i] == '\r' || line[i] == '\f')) {
      ++i;
    }
    size_t start = i;
    while (i < line.size() && !(line[i] == ' ' || line[i] == '\t' || line[i] == '\n' ||
                                line[i] == '\r' || line[i] == '\f')) {
      ++i;
    }
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool toU64(std::string_view s, uint64_t* v) {
  if (s.empty()) return false;
  uint64_t r = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    r = r * 10 + static_cast<uint64_t>(c - '0');
  }
  *v = r;
  return true;
}

// A file holding one number ("max" and unreadable files give 0).
uint64_t readU64(const std::string& path) {
  auto text = slurp(path);
  if (!text) return 0;
  auto f = splitWs(*text);
  uint64_t v = 0;
  if (f.empty() || !toU64(f[0], &v)) return 0;
  return v;
}

bool parseMajorMinor(std::string_view dev, uint64_t* major, uint64_t* minor) {
  size_t colon = dev.find(':');
  return colon != std::string_view::npos && toU64(dev.substr(0, colon), major) &&
         toU64(dev.substr(colon + 1), minor);
}

void addEntry(std::vector<v1::BlkioEntry>* out, uint64_t major, uint64_t minor, const char* op,
              uint64_t value) {
  v1::BlkioEntry e;
  e.set_major(major);
  e.set_minor(minor);
  e.set_op(op);
  e.set_value(value);
  out->push_back(std::move(e));
}

int64_t realtimeNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void readMachine(v1::StatsResponse* out) {
  if (auto stat = slurp("/proc/stat")) {
    uint64_t sys = 0;
    uint32_t cpus = 0;
    parseProcStat(*stat, &sys, &cpus);
    out->set_system_cpu_ns(sys);
    out->set_online_cpus(cpus);
  }
  if (auto mem = slurp("/proc/meminfo")) {
    for (auto line : lines(*mem)) {
      auto f = splitWs(line);
      uint64_t kb = 0;
      if (f.size() >= 2 && f[0] == "MemTotal:" && toU64(f[1], &kb)) {
        out->set_machine_memory(kb * 1024);
      }
    }
  }
}

void readV1(const std::string& root, const std::string& path, v1::StatsResponse* out) {
  const std::string cpuacct = root + "/cpuacct" + path;
  out->set_cpu_total_ns(readU64(cpuacct + "/cpuacct.usage"));
  if (auto percpu = slurp(cpuacct + "/cpuacct.usage_percpu")) {
    for (auto f : splitWs(*percpu)) {
      uint64_t v = 0;
      if (toU64(f, &v)) out->add_cpu_percpu_ns(v);
    }
  }
  if (auto st = slurp(cpuacct + "/cpuacct.stat")) {
    // USER_HZ ticks, as containerd converts them.
    const uint64_t tick_ns = 1000000000ULL / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    auto m = parseFlatKeyed(*st);
    out->set_cpu_user_ns(m["user"] * tick_ns);
    out->set_cpu_system_ns(m["system"] * tick_ns);
  }
  if (auto st = slurp(root + "/cpu" + path + "/cpu.stat")) {
    auto m = parseFlatKeyed(*st);
    out->set_throttling_periods(m["nr_periods"]);
    out->set_throttled_periods(m["nr_throttled"]);
    out->set_throttled_time_ns(m["throttled_time"]);
  }
  const std::string mem = root + "/memory" + path;
  out->set_memory_usage(readU64(mem + "/memory.usage_in_bytes"));
  out->set_memory_max_usage(readU64(mem + "/memory.max_usage_in_bytes"));
  out->set_memory_limit(readU64(mem + "/memory.limit_in_bytes"));
  out->set_memory_failcnt(readU64(mem + "/memory.failcnt"));
  if (auto st = slurp(mem + "/memory.stat")) {
    for (const auto& [k, v] : parseFlatKeyed(*st)) (*out->mutable_memory_stat())[k] = v;
  }
  out->set_pids_current(readU64(root + "/pids" + path + "/pids.current"));
  out->set_pids_limit(readU64(root + "/pids" + path + "/pids.max"));
  // As containerd: the CFQ/BFQ recursive files first, the throttle files otherwise.
  const std::string blkio = root + "/blkio" + path;
  std::vector<v1::BlkioEntry> bytes, ops;
  if (auto t = slurp(blkio + "/blkio.io_service_bytes_recursive")) bytes = parseBlkio(*t);
  if (auto t = slurp(blkio + "/blkio.io_serviced_recursive")) ops = parseBlkio(*t);
  if (bytes.empty() && ops.empty()) {
    if (auto t = slurp(blkio + "/blkio.throttle.io_service_bytes")) bytes = parseBlkio(*t);
    if (auto t = slurp(blkio + "/blkio.throttle.io_serviced")) ops = parseBlkio(*t);
  }
  for (auto& e : bytes) *out->add_io_service_bytes() = std::move(e);
  for (auto& e : ops) *out->add_io_serviced() = std::move(e);
}

void readV2(const std::string& root, const std::string& path, v1::StatsResponse* out) {
  const std::string dir = root + path;
  if (auto st = slurp(dir + "/cpu.stat")) {
    auto m = parseFlatKeyed(*st);
    out->set_cpu_total_ns(m["usage_usec"] * 1000);
    out->set_cpu_user_ns(m["user_usec"] * 1000);
    out->set_cpu_system_ns(m["system_usec"] * 1000);
    out->set_throttling_periods(m["nr_periods"]);
    out->set_throttled_periods(m["nr_throttled"]);
    out->set_throttled_time_ns(m["throttled_usec"] * 1000);
  }
  out->set_memory_usage(readU64(dir + "/memory.current"));
  out->set_memory_limit(readU64(dir + "/memory.max"));
  if (auto st = slurp(dir + "/memory.stat")) {
    for (const auto& [k, v] : parseFlatKeyed(*st)) (*out->mutable_memory_stat())[k] = v;
  }
  out->set_pids_current(readU64(dir + "/pids.current"));
  out->set_pids_limit(readU64(dir + "/pids.max"));
  if (auto io = slurp(dir + "/io.stat")) {
    std::vector<v1::BlkioEntry> bytes, ops;
    parseIoStat(*io, &bytes, &ops);
    for (auto& e : bytes) *out->add_io_service_bytes() = std::move(e);
    for (auto& e : ops) *out->add_io_serviced() = std::move(e);
  }
}

bool isCgroup2(const std::string& root) {
  struct statfs fs {};
  return statfs(root.c_str(), &fs) == 0 && fs.f_type == kCgroup2Magic;
}

void collectPids(const std::string& dir, std::vector<int>* out, int depth) {
  if (auto procs = slurp(dir + "/cgroup.procs")) {
    for (auto f : splitWs(*procs)) {
      uint64_t v = 0;
      if (toU64(f, &v) && v > 0) out->push_back(static_cast<int>(v));
    }
  }
  if (depth > 16) return;
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
    collectPids(dir + "/" + e->d_name, out, depth + 1);
  }
  closedir(d);
}

}  // namespace

std::map<std::string, uint64_t> parseFlatKeyed(std::string_view text) {
  std::map<std::string, uint64_t> out;
  for (auto line : lines(text)) {
    auto f = splitWs(line);
    uint64_t v = 0;
    if (f.size() == 2 && toU64(f[1], &v)) out[std::string(f[0])] = v;
  }
  return out;
}

std::vector<v1::BlkioEntry> parseBlkio(std::string_view text) {
  std::vector<v1::BlkioEntry> out;
  for (auto line : lines(text)) {
    auto f = splitWs(line);
    uint64_t major = 0, minor = 0, v = 0;
    if (f.size() != 3 || !parseMajorMinor(f[0], &major, &minor) || !toU64(f[2], &v)) continue;
    v1::BlkioEntry e;
    e.set_major(major);
    e.set_minor(minor);
    e.set_op(std::string(f[1]));
    e.set_value(v);
    out.push_back(std::move(e));
  }
  return out;
}

void parseIoStat(std::string_view text, std::vector<v1::BlkioEntry>* bytes,
                 std::vector<v1::BlkioEntry>* ops) {
  for (auto line : lines(text)) {
    auto f = splitWs(line);
    uint64_t major = 0, minor = 0;
    if (f.empty() || !parseMajorMinor(f[0], &major, &minor)) continue;
    std::map<std::string_view, uint64_t> kv;
    for (size_t i = 1; i < f.size(); ++i) {
      size_t eq = f[i].find('=');
      uint64_t v = 0;
      if (eq != std::string_view::npos && toU64(f[i].substr(eq + 1), &v)) kv[f[i].substr(0, eq)] = v;
    }
    addEntry(bytes, major, minor, "read", kv["rbytes"]);
    addEntry(bytes, major, minor, "write", kv["wbytes"]);
    addEntry(ops, major, minor, "read", kv["rios"]);
    addEntry(ops, major, minor, "write", kv["wios"]);
  }
}

std::vector<v1::NetworkCounters> parseNetDev(std::string_view text) {
  std::vector<v1::NetworkCounters> out;
  for (auto line : lines(text)) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the two header lines
    auto name = splitWs(line.substr(0, colon));
    auto f = splitWs(line.substr(colon + 1));
    if (name.size() != 1 || f.size() < 16) continue;
    uint64_t v[16] = {};
    bool ok = true;
    for (int i = 0; i < 16; ++i) ok = ok && toU64(f[i], &v[i]);
    if (!ok) continue;
    v1::NetworkCounters n;
    n.set_name(std::string(name[0]));
    n.set_rx_bytes(v[0]);
    n.set_rx_packets(v[1]);
    n.set_rx_errors(v[2]);
    n.set_rx_dropped(v[3]);
    n.set_tx_bytes(v[8]);
    n.set_tx_packets(v[9]);
    n.set_tx_errors(v[10]);
    n.set_tx_dropped(v[11]);
    out.push_back(std::move(n));
  }
  return out;
}

void parseProcStat(std::string_view text, uint64_t* system_ns, uint32_t* online_cpus) {
  *system_ns = 0;
  *online_cpus = 0;
  const uint64_t ticks = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  for (auto line : lines(text)) {
    auto f = splitWs(line);
    if (f.empty()) continue;
    if (f[0] == "cpu") {
      uint64_t sum = 0;
      for (size_t i = 1; i < f.size() && i <= 7; ++i) {
        uint64_t v = 0;
        if (toU64(f[i], &v)) sum += v;
      }
      *system_ns = sum * (1000000000ULL / ticks);
    } else if (f[0].size() > 3 && f[0].substr(0, 3) == "cpu") {
      ++*online_cpus;
    }
  }
}

void readStats(const std::string& cgroup_root, const std::string& cgroups_path, pid_t init_pid,
               v1::StatsResponse* out) {
  out->set_running(true);
  out->set_read_ns(realtimeNs());
  if (isCgroup2(cgroup_root)) {
    out->set_cgroup_version(2);
    readV2(cgroup_root, cgroups_path, out);
  } else {
    out->set_cgroup_version(1);
    readV1(cgroup_root, cgroups_path, out);
  }
  readMachine(out);
  if (init_pid > 0) {
    if (auto dev = slurp("/proc/" + std::to_string(init_pid) + "/net/dev")) {
      for (auto& n : parseNetDev(*dev)) *out->add_networks() = std::move(n);
    }
  }
}

std::vector<int> cgroupPids(const std::string& cgroup_root, const std::string& cgroups_path) {
  std::vector<int> out;
  if (isCgroup2(cgroup_root)) {
    collectPids(cgroup_root + cgroups_path, &out, 0);
  } else {
    collectPids(cgroup_root + "/pids" + cgroups_path, &out, 0);
    if (out.empty()) collectPids(cgroup_root + "/memory" + cgroups_path, &out, 0);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> psArgv(const std::string& ps_args, const std::vector<int>& pids) {
  const std::string args = ps_args.empty() ? "-ef" : ps_args;
  std::vector<std::string> argv;
  size_t start = 0;
  for (;;) {  // Go's strings.Split(args, " "): empty elements kept
    size_t sp = args.find(' ', start);
    argv.push_back(args.substr(start, sp == std::string::npos ? std::string::npos : sp - start));
    if (sp == std::string::npos) break;
    start = sp + 1;
  }
  std::string q = "-q";
  for (size_t i = 0; i < pids.size(); ++i) {
    if (i) q += ',';
    q += std::to_string(pids[i]);
  }
  argv.push_back(q);
  return argv;
}

std::string psError(std::string_view stderr_text, int exit_code) {
  std::string_view first = stderr_text.substr(0, stderr_text.find('\n'));
  if (first.empty()) return "ps: exit status " + std::to_string(exit_code);
  return "ps: " + std::string(first);
}

StatusOr<v1::TopResponse> parsePsOutput(std::string_view output, const std::vector<int>& pids) {
  v1::TopResponse resp;
  auto all = lines(output);
  if (all.empty()) return Internal("Couldn't find PID field in ps output");
  for (auto t : splitWs(all[0])) resp.add_titles(std::string(t));
  int pid_index = -1;
  for (int i = 0; i < resp.titles_size(); ++i) {
    if (resp.titles(i) == "PID") {
      pid_index = i;
      break;
    }
  }
  if (pid_index < 0) return Internal("Couldn't find PID field in ps output");
  const size_t ncols = static_cast<size_t>(resp.titles_size());
  auto append = [&](const std::vector<std::string_view>& fields) {
    auto* row = resp.add_processes();
    size_t fixed = std::min(fields.size(), ncols - 1);
    for (size_t i = 0; i < fixed; ++i) row->add_fields(std::string(fields[i]));
    std::string rest;
    for (size_t i = fixed; i < fields.size(); ++i) {
      if (!rest.empty()) rest += ' ';
      rest.append(fields[i]);
    }
    row->add_fields(rest);
  };
  bool prev_in_container = false;  // thread lines ("-" as PID) follow their process
  for (size_t l = 1; l < all.size(); ++l) {
    if (all[l].empty()) continue;
    auto fields = splitWs(all[l]);
    if (fields.size() <= static_cast<size_t>(pid_index)) continue;
    std::string_view p = fields[static_cast<size_t>(pid_index)];
    if (p == "-") {
      if (prev_in_container) append(fields);
      continue;
    }
    uint64_t pid = 0;
    if (!toU64(p, &pid)) {
      return Internal("Unexpected pid '" + std::string(p) + "': strconv.Atoi: parsing \"" +
                      std::string(p) + "\": invalid syntax");
    }
    prev_in_container = std::binary_search(pids.begin(), pids.end(), static_cast<int>(pid));
    if (prev_in_container) append(fields);
  }
  return resp;
}

}  // namespace arca::agent
