#include "engine/log_options.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace arca::engine {
namespace {

// Go's strconv.ParseBool.
bool parseGoBool(const std::string& s, bool* v) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return *v = true, true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return *v = false, true;
  }
  return false;
}

// Go's strconv.ParseFloat for the plain decimal forms a size uses.
bool parseDecimal(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return false;
  for (char c : s) {
    if (!isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+') return false;
  }
  return true;
}

}  // namespace

StatusOr<int64_t> parseHumanSize(const std::string& in) {
  size_t sep = in.find_last_of("0123456789. ");
  if (sep == std::string::npos) return InvalidArgument("invalid size: '" + in + "'");
  std::string num = in[sep] == ' ' ? in.substr(0, sep) : in.substr(0, sep + 1);
  std::string sfx = in.substr(sep + 1);
  double size = 0;
  if (!parseDecimal(num, &size)) {
    return InvalidArgument("strconv.ParseFloat: parsing \"" + num + "\": invalid syntax");
  }
  if (size < 0) return InvalidArgument("invalid size: '" + in + "'");
  if (sfx.empty()) return static_cast<int64_t>(size);
  for (char& c : sfx) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  auto bad = [&] { return InvalidArgument("invalid suffix: '" + sfx + "'"); };
  if (sfx.size() > 3) return bad();
  if (sfx[0] == 'b') {
    if (sfx.size() > 1) return bad();
    return static_cast<int64_t>(size);
  }
  static const std::string kUnits = "kmgtp";
  size_t u = kUnits.find(sfx[0]);
  if (u == std::string::npos) return bad();
  size *= std::pow(1000.0, static_cast<double>(u + 1));
  if ((sfx.size() == 2 && sfx[1] != 'b') || (sfx.size() == 3 && sfx.substr(1) != "ib")) return bad();
  return static_cast<int64_t>(size);
}

Status validateLogOptions(const std::map<std::string, std::string>& opts) {
  for (const auto& [k, v] : opts) {
    if (k == "max-size" || k == "max-file") continue;
    if (k == "compress") {
      bool on = false;
      if (parseGoBool(v, &on) && on) {
        return InvalidArgument(
            "log option compress=true is not supported yet by arca (see docs/LIMITATIONS.md)");
      }
      continue;
    }
    if (k == "labels" || k == "labels-regex" || k == "env" || k == "env-regex" || k == "tag") {
      return InvalidArgument("log option '" + k +
                             "' is not supported yet by arca (see docs/LIMITATIONS.md)");
    }
    return InvalidArgument("unknown log opt '" + k + "' for json-file log driver");
  }
  return Status::Ok();
}

StatusOr<JsonFileOptions> parseJsonFileOptions(const std::map<std::string, std::string>& opts) {
  JsonFileOptions o;
  if (auto it = opts.find("max-size"); it != opts.end()) {
    auto n = parseHumanSize(it->second);
    if (!n.ok()) return n.status();
    if (*n <= 0) return InvalidArgument("max-size must be a positive number");
    o.max_size = *n;
  }
  if (auto it = opts.find("max-file"); it != opts.end()) {
    const std::string& v = it->second;
    size_t i = (!v.empty() && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
    if (i == v.size() || v.find_first_not_of("0123456789", i) != std::string::npos) {
      return InvalidArgument("strconv.Atoi: parsing \"" + v + "\": invalid syntax");
    }
    if (v.size() - i > 9) return InvalidArgument("strconv.Atoi: parsing \"" + v + "\": value out of range");
    long n = std::strtol(v.c_str(), nullptr, 10);
    if (n < 1) return InvalidArgument("max-file cannot be less than 1");
    o.max_files = static_cast<int>(n);
  }
  if (auto it = opts.find("compress"); it != opts.end()) {
    bool on = false;
    if (!parseGoBool(it->second, &on)) {
      return InvalidArgument("strconv.ParseBool: parsing \"" + it->second + "\": invalid syntax");
    }
    if (on && (o.max_files == 1 || o.max_size == -1)) {
      return InvalidArgument(
          "compress cannot be true when max-file is less than 2 or max-size is not set");
    }
    if (on) return InvalidArgument("log option compress=true is not supported yet by arca");
  }
  return o;
}

}  // namespace arca::engine
