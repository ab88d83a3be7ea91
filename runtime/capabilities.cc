#include "runtime/capabilities.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>

namespace arca::runtime {
namespace {

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

const std::vector<std::string>& knownCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",           "CAP_DAC_OVERRIDE",  "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
      "CAP_FSETID",          "CAP_KILL",          "CAP_SETGID",          "CAP_SETUID",
      "CAP_SETPCAP",         "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
      "CAP_NET_ADMIN",       "CAP_NET_RAW",       "CAP_IPC_LOCK",        "CAP_IPC_OWNER",
      "CAP_SYS_MODULE",      "CAP_SYS_RAWIO",     "CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",     "CAP_SYS_BOOT",        "CAP_SYS_NICE",
      "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",      "CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
      "CAP_LEASE",           "CAP_AUDIT_WRITE",   "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
      "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",     "CAP_SYSLOG",          "CAP_WAKE_ALARM",
      "CAP_BLOCK_SUSPEND",   "CAP_AUDIT_READ",    "CAP_PERFMON",         "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE"};
  return caps;
}

std::vector<std::string> currentCapabilities() {
  std::ifstream in("/proc/self/status");
  std::string line;
  uint64_t eff = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) == 0) {
      eff = strtoull(line.c_str() + 7, nullptr, 16);
      found = true;
      break;
    }
  }
  const auto& known = knownCapabilities();
  if (!found) return known;  // as Docker: assume all when it cannot tell
  std::vector<std::string> out;
  for (size_t i = 0; i < known.size() && i < 64; ++i) {
    if (eff & (uint64_t{1} << i)) out.push_back(known[i]);
  }
  return out;
}

StatusOr<std::vector<std::string>> normalizeCapabilities(const std::vector<std::string>& caps,
                                                         const std::vector<std::string>& available) {
  std::vector<std::string> out;
  for (std::string c : caps) {
    std::transform(c.begin(), c.end(), c.begin(), [](unsigned char ch) { return std::toupper(ch); });
    if (c == "ALL") {
      out.push_back(c);
      continue;
    }
    if (c.rfind("CAP_", 0) != 0) c = "CAP_" + c;
    if (!contains(knownCapabilities(), c)) {
      return InvalidArgument("unknown capability: \"" + c + "\"");
    }
    if (!contains(available, c)) {
      return InvalidArgument(
          "capability not supported by your kernel or not available in the current "
          "environment: \"" + c + "\"");
    }
    out.push_back(c);
  }
  return out;
}

std::vector<std::string> containerCapabilities(const std::vector<std::string>& defaults,
                                               const std::vector<std::string>& add,
                                               const std::vector<std::string>& drop,
                                               bool privileged,
                                               const std::vector<std::string>& available) {
  if (privileged) return available;
  if (add.empty() && drop.empty()) return defaults;
  std::vector<std::string> out;
  auto push = [&](const std::string& c) {
    if (!contains(out, c)) out.push_back(c);
  };
  if (contains(add, "ALL")) {
    for (const auto& c : available) {
      if (!contains(drop, c)) push(c);
    }
  } else if (contains(drop, "ALL")) {
    for (const auto& c : add) push(c);
  } else {
    for (const auto& c : defaults) {
      if (!contains(drop, c)) push(c);
    }
    for (const auto& c : add) push(c);
  }
  return out;
}

}  // namespace arca::runtime
