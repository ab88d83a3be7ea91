#include "runtime/namespace/etc_files.h"

#include <sstream>

namespace arca::runtime {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::string resolvConfWithOptions(const std::string& base, const std::vector<std::string>& dns,
                                  const std::vector<std::string>& search,
                                  const std::vector<std::string>& options) {
  if (dns.empty() && search.empty() && options.empty()) return base;
  std::vector<std::string> base_ns, base_search, base_opts;
  std::istringstream lines(base);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string k, v;
    f >> k;
    std::vector<std::string>* dst = k == "nameserver"                 ? &base_ns
                                    : (k == "search" || k == "domain") ? &base_search
                                    : k == "options"                   ? &base_opts
                                                                       : nullptr;
    if (!dst) continue;
    if (k != "nameserver") dst->clear();  // the last search/domain/options line wins
    while (f >> v) dst->push_back(v);
  }
  std::string out;
  const auto& s = search.empty() ? base_search : search;
  std::string sj = join(s);
  if (!sj.empty() && sj != ".") out += "search " + sj + "\n";
  for (const auto& n : dns.empty() ? base_ns : dns) out += "nameserver " + n + "\n";
  std::string oj = join(options.empty() ? base_opts : options);
  if (!oj.empty()) out += "options " + oj + "\n";
  return out;
}

std::string hostsWithExtra(const std::string& base, const std::vector<std::string>& extra_hosts) {
  std::string out = base;
  for (const auto& h : extra_hosts) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;  // validated at create
    std::string ip = h.substr(colon + 1);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    out += ip + "\t" + h.substr(0, colon) + "\n";
  }
  return out;
}

}  // namespace arca::runtime
