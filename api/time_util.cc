#include "api/time_util.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>
#include <vector>

#include "engine/clock.h"

namespace arca::api {

bool parseTimestamp(const std::string& v, int64_t now_ns, int64_t* out) {
  (void)now_ns;
  if (v.empty()) return false;
  if (v.find_first_not_of("0123456789.-") == std::string::npos) {
    auto dot = v.find('.');
    const std::string whole = v.substr(0, dot);
    if (whole.empty()) return false;
    char* end = nullptr;
    long long secs = std::strtoll(whole.c_str(), &end, 10);
    if (*end) return false;
    int64_t frac = 0;
    if (dot != std::string::npos) {
      std::string f = v.substr(dot + 1);
      if (f.empty() || f.size() > 9 || f.find_first_not_of("0123456789") != std::string::npos) return false;
      while (f.size() < 9) f += '0';
      frac = std::strtoll(f.c_str(), nullptr, 10);
    }
    *out = static_cast<int64_t>(secs) * 1000000000 + frac;
    return true;
  }
  return engine::parseRfc3339(v, out);
}

bool parseTimestampOrDuration(const std::string& v, int64_t now_ns, int64_t* out) {
  if (parseTimestamp(v, now_ns, out)) return true;
  auto d = parseGoDuration(v);
  if (!d.ok()) return false;
  *out = now_ns - *d;
  return true;
}

StatusOr<int64_t> parseGoDuration(const std::string& orig) {
  auto q = [](const std::string& x) { return "\"" + x + "\""; };
  auto bad = [&] { return InvalidArgument("time: invalid duration " + q(orig)); };
  std::string s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s = s.substr(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return bad();
  static const std::vector<std::pair<std::string, double>> kUnits = {
      {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
      {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    std::string num = s.substr(i, j - i);
    if (num.empty() || num == "." || std::count(num.begin(), num.end(), '.') > 1) return bad();
    size_t k = j;
    while (k < s.size() && !std::isdigit(static_cast<unsigned char>(s[k])) && s[k] != '.') ++k;
    std::string unit = s.substr(j, k - j);
    if (unit.empty()) return InvalidArgument("time: missing unit in duration " + q(orig));
    auto u = std::find_if(kUnits.begin(), kUnits.end(), [&](const auto& x) { return x.first == unit; });
    if (u == kUnits.end()) {
      return InvalidArgument("time: unknown unit " + q(unit) + " in duration " + q(orig));
    }
    total += std::strtod(num.c_str(), nullptr) * u->second;
    if (total > 9.2e18) return bad();
    i = k;
  }
  return static_cast<int64_t>(neg ? -total : total);
}

std::string rfc3339(int64_t ns) { return engine::rfc3339Nano(ns); }

std::string rfc3339Local(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  localtime_r(&secs, &tm);
  char buf[64], off[8];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  strftime(off, sizeof off, "%z", &tm);
  char out[96];
  snprintf(out, sizeof out, "%s.%09lld%c%c%c:%c%c", buf, static_cast<long long>(ns % 1000000000),
           off[0], off[1], off[2], off[3], off[4]);
  return out;
}

std::string humanDuration(int64_t ns) {
  int64_t secs = ns / 1000000000;
  auto plural = [](int64_t n, const char* unit) {
    return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
  };
  if (secs < 1) return "Less than a second";
  if (secs == 1) return "1 second";
  if (secs < 60) return plural(secs, "second");
  int64_t mins = secs / 60;
  if (mins == 1) return "About a minute";
  if (mins < 60) return plural(mins, "minute");
  int64_t hours = static_cast<int64_t>(static_cast<double>(secs) / 3600 + 0.5);
  if (hours == 1) return "About an hour";
  if (hours < 48) return plural(hours, "hour");
  if (hours < 24 * 7 * 2) return plural(hours / 24, "day");
  if (hours < 24 * 30 * 2) return plural(hours / 24 / 7, "week");
  if (hours < 24 * 365 * 2) return plural(hours / 24 / 30, "month");
  return plural(hours / 24 / 365, "year");
}

}  // namespace arca::api
