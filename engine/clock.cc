#include "engine/clock.h"

#include <sys/random.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace arca::engine {

int64_t SystemClock::nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

static void randomBytes(unsigned char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
}

std::string RandomIdSource::newId() {
  unsigned char b[32];
  randomBytes(b, sizeof b);
  static const char* hex = "0123456789abcdef";
  std::string s(64, '0');
  for (int i = 0; i < 32; ++i) {
    s[2 * i] = hex[b[i] >> 4];
    s[2 * i + 1] = hex[b[i] & 15];
  }
  // Docker never hands out an all-numeric short id (it would read as a number).
  bool numeric = true;
  for (int i = 0; i < 12; ++i) numeric = numeric && s[i] >= '0' && s[i] <= '9';
  if (numeric) return newId();
  return s;
}

namespace {
// Our own word lists (Docker's name generator style: adjective_surname).
const char* kAdjectives[] = {
    "agile",   "amber",   "bold",    "brave",   "bright",  "calm",    "clever",  "cosmic",
    "crisp",   "daring",  "eager",   "elated",  "fervent", "gentle",  "happy",   "humble",
    "jolly",   "keen",    "kind",    "lively",  "lucid",   "merry",   "modest",  "nimble",
    "noble",   "patient", "placid",  "proud",   "quiet",   "rapid",   "serene",  "sharp",
    "steady",  "sunny",   "swift",   "tender",  "upbeat",  "vivid",   "witty",   "zealous"};
const char* kNames[] = {
    "agnesi",   "babbage",  "banach",   "bohr",     "cantor",   "curie",    "darwin",
    "dijkstra", "euclid",   "euler",    "faraday",  "fermat",   "feynman",  "gauss",
    "hamilton", "hopper",   "hypatia",  "kepler",   "knuth",    "lamarr",   "leibniz",
    "lovelace", "maxwell",  "meitner",  "mendel",   "newton",   "noether",  "pascal",
    "planck",   "ramanujan", "riemann", "shannon",  "somerville", "tesla",  "thompson",
    "turing",   "volta",    "wiles",    "wright",   "yalow"};
}  // namespace

std::string RandomIdSource::newName(const std::function<bool(const std::string&)>& taken) {
  for (int attempt = 0;; ++attempt) {
    unsigned char b[3];
    randomBytes(b, sizeof b);
    std::string n = std::string(kAdjectives[b[0] % std::size(kAdjectives)]) + "_" +
                     kNames[b[1] % std::size(kNames)];
    if (attempt >= 10) n += std::to_string(b[2] % 10);
    if (!taken(n)) return n;
  }
}

std::string rfc3339Nano(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (frac == 0) {
    snprintf(buf + n, sizeof buf - n, "Z");
  } else {
    // Go's RFC3339Nano trims trailing zeros.
    char f[16];
    snprintf(f, sizeof f, "%09ld", frac);
    int len = 9;
    while (len > 0 && f[len - 1] == '0') --len;
    f[len] = '\0';
    snprintf(buf + n, sizeof buf - n, ".%sZ", f);
  }
  return buf;
}

bool parseRfc3339(const std::string& s, int64_t* ns) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char* p = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!p) return false;
  int64_t frac = 0;
  if (*p == '.') {
    ++p;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (*p - '0');
        ++digits;
      }
      ++p;
    }
    while (digits++ < 9) frac *= 10;
  }
  int64_t offset = 0;
  if (*p == 'Z') {
    ++p;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset = sign * (hh * 3600 + mm * 60);
    p += 6;
  } else {
    return false;
  }
  if (*p) return false;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset;
  *ns = secs * 1000000000 + frac;
  return true;
}

}  // namespace arca::engine
