#include "runtime/distribution/progress.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdio>

namespace arca::distribution {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

std::string done(rapidjson::StringBuffer& sb) { return std::string(sb.GetString(), sb.GetSize()) + "\n"; }

}  // namespace

std::string statusMessage(const std::string& status, const std::string& id) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  str(w, "status", status);
  if (!id.empty()) {
    w.Key("progressDetail");
    w.StartObject();
    w.EndObject();
    str(w, "id", id);
  }
  w.EndObject();
  return done(sb);
}

std::string progressMessage(const std::string& status, const std::string& id, int64_t current,
                            int64_t total) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  str(w, "status", status);
  w.Key("progressDetail");
  w.StartObject();
  if (current || total) {
    w.Key("current");
    w.Int64(current);
    if (total > 0) {
      w.Key("total");
      w.Int64(total);
    }
  }
  w.EndObject();
  str(w, "progress", progressBar(current, total));
  str(w, "id", id);
  w.EndObject();
  return done(sb);
}

std::string errorMessage(const std::string& message) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("errorDetail");
  w.StartObject();
  str(w, "message", message);
  w.EndObject();
  str(w, "error", message);
  w.EndObject();
  return done(sb);
}

std::string auxMessage(const std::string& json) {
  std::string out = "{\"aux\":";
  out += json;
  out += "}\n";
  return out;
}

std::string humanSize(double bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 6) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", bytes, kUnits[u]);
  return buf;
}

std::string progressBar(int64_t current, int64_t total) {
  if (total <= 0) return humanSize(static_cast<double>(current));
  constexpr int kWidth = 50;
  int64_t c = current > total ? total : current;
  int filled = static_cast<int>(kWidth * static_cast<double>(c) / static_cast<double>(total));
  std::string bar = "[";
  for (int i = 0; i < kWidth; ++i) {
    if (i < filled) {
      bar += '=';
    } else if (i == filled) {
      bar += '>';
    } else {
      bar += ' ';
    }
  }
  bar += "] ";
  std::string nums = humanSize(static_cast<double>(current)) + "/" + humanSize(static_cast<double>(total));
  // Docker right-aligns the numbers in 18 columns.
  if (nums.size() < 18) bar += std::string(18 - nums.size(), ' ');
  return bar + nums;
}

std::string shortDigest(const std::string& digest) {
  auto colon = digest.find(':');
  std::string hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
  return hex.substr(0, 12);
}

void Progress::status(const std::string& status, const std::string& id) { raw(statusMessage(status, id)); }

void Progress::bytes(const std::string& status, const std::string& id, int64_t current, int64_t total) {
  {
    std::lock_guard lk(mu_);
    int64_t& last = last_[id];
    int64_t step = std::max<int64_t>(512 * 1024, total / 100);
    bool final = total > 0 && current >= total;
    if (!final && current - last < step && last != 0) return;
    if (current == last && last != 0) return;
    last = current;
  }
  raw(progressMessage(status, id, current, total));
}

void Progress::raw(const std::string& line) {
  std::lock_guard lk(mu_);
  if (out_) out_(line);
}

}  // namespace arca::distribution
