// Dockerfile `changes` for import and commit. Four passes, in the order
// dockerd reports errors: (1) split into instructions and their arguments
// (ENV/LABEL pairs are checked here), (2) only allowed instructions,
// (3) per-instruction argument checks, (4) apply in order, expanding
// variables from the Env as it stands before each instruction.
#include "api/image_changes.h"

#include "api/mount_config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "api/time_util.h"
#include "engine/commands.h"

namespace arca::api {
namespace {

using Alloc = rapidjson::Document::AllocatorType;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string trimLeft(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && isSpace(s[i])) ++i;
  return s.substr(i);
}

std::string trim(const std::string& s) {
  std::string t = trimLeft(s);
  while (!t.empty() && isSpace(t.back())) t.pop_back();
  return t;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Fields separated by whitespace runs.
std::vector<std::string> fields(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isSpace(s[i])) ++i;
    size_t j = i;
    while (j < s.size() && !isSpace(s[j])) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// "first rest": splits at the first whitespace run.
std::pair<std::string, std::string> splitFirst(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && !isSpace(s[i])) ++i;
  return {s.substr(0, i), trimLeft(s.substr(i))};
}

// Go's %q for the strings that appear in error texts.
std::string quoted(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// ---------------------------------------------------------------------------
// Word processing (quotes, escapes, variables)

class WordLexer {
 public:
  WordLexer(const std::string& s, const std::vector<std::string>& env, bool split)
      : s_(s), env_(env), split_(split) {}

  // Processes the whole input; the words (split mode) or the one string.
  Status run() {
    auto r = until('\0', true);
    if (!r.ok()) return r.status();
    endWord();
    return Status::Ok();
  }
  std::string text() const { return text_; }
  const std::vector<std::string>& words() const { return words_; }

 private:
  // Reads up to `stop` (consumed) or the end. `top`: the outermost level,
  // whose characters go to the result (split into words in split mode);
  // nested levels (the word of ${x:-word}) return their text.
  StatusOr<std::string> until(char stop, bool top) {
    std::string out;
    auto put = [&](const std::string& piece, bool splittable) {
      if (!top) {
        out += piece;
        return;
      }
      text_ += piece;
      if (!split_) return;
      if (!splittable) {
        cur_ += piece;
        have_word_ = true;
        return;
      }
      for (char c : piece) {
        if (isSpace(c)) {
          endWord();
        } else {
          cur_ += c;
          have_word_ = true;
        }
      }
    };
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (stop && c == stop) {
        ++i_;
        return out;
      }
      if (c == '\'') {
        ++i_;
        size_t end = s_.find('\'', i_);
        if (end == std::string::npos) {
          return InvalidArgument("unexpected end of statement while looking for matching single-quote");
        }
        put(s_.substr(i_, end - i_), false);
        if (top) have_word_ = true;
        i_ = end + 1;
      } else if (c == '"') {
        ++i_;
        std::string q;
        bool closed = false;
        while (i_ < s_.size()) {
          char d = s_[i_];
          if (d == '"') {
            ++i_;
            closed = true;
            break;
          }
          if (d == '$') {
            ARCA_ASSIGN_OR_RETURN(std::string v, dollar());
            q += v;
            continue;
          }
          if (d == '\\' && i_ + 1 < s_.size() &&
              (s_[i_ + 1] == '"' || s_[i_ + 1] == '$' || s_[i_ + 1] == '\\')) {
            q += s_[i_ + 1];
            i_ += 2;
            continue;
          }
          q += d;
          ++i_;
        }
        if (!closed) {
          return InvalidArgument("unexpected end of statement while looking for matching double-quote");
        }
        put(q, false);
        if (top) have_word_ = true;
      } else if (c == '$') {
        ARCA_ASSIGN_OR_RETURN(std::string v, dollar());
        put(v, true);
      } else if (c == '\\') {
        if (i_ + 1 < s_.size()) put(std::string(1, s_[i_ + 1]), false);
        i_ += 2;
      } else {
        put(std::string(1, c), true);
        ++i_;
      }
    }
    if (stop) {
      return InvalidArgument(std::string("unexpected end of statement while looking for matching ") + stop);
    }
    return out;
  }

  void endWord() {
    if (have_word_) words_.push_back(cur_);
    cur_.clear();
    have_word_ = false;
  }

  std::optional<std::string> lookup(const std::string& name) const {
    for (const auto& e : env_) {
      auto eq = e.find('=');
      if (eq == std::string::npos) {
        if (e == name) return std::string();
      } else if (e.compare(0, eq, name) == 0 && eq == name.size()) {
        return e.substr(eq + 1);
      }
    }
    return std::nullopt;
  }

  std::string name() {
    std::string n;
    if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) n += s_[i_++];
      return n;
    }
    if (i_ < s_.size() && std::string_view("@*#?-$!").find(s_[i_]) != std::string_view::npos) {
      return std::string(1, s_[i_++]);
    }
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) {
      n += s_[i_++];
    }
    return n;
  }

  // At a '$': the expansion.
  StatusOr<std::string> dollar() {
    ++i_;
    if (i_ >= s_.size() || s_[i_] != '{') {
      std::string n = name();
      if (n.empty()) return std::string("$");
      return lookup(n).value_or("");
    }
    ++i_;
    std::string n = name();
    if (n.empty()) return InvalidArgument("syntax error: bad substitution");
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return lookup(n).value_or("");
    }
    if (i_ >= s_.size() || s_[i_] != ':') return InvalidArgument("missing ':' in substitution");
    ++i_;
    char mod = i_ < s_.size() ? s_[i_++] : '\0';
    ARCA_ASSIGN_OR_RETURN(std::string word, until('}', false));
    auto v = lookup(n);
    bool set = v && !v->empty();
    switch (mod) {
      case '-':
        return set ? *v : word;
      case '+':
        return set ? word : std::string();
      case '?':
        if (set) return *v;
        return InvalidArgument(n + ": " + (word.empty() ? "is not allowed to be unset" : word));
      default:
        return InvalidArgument(std::string("unsupported modifier (") + mod + ") in substitution");
    }
  }

  const std::string& s_;
  const std::vector<std::string>& env_;
  bool split_;
  size_t i_ = 0;
  std::string text_;
  std::vector<std::string> words_;
  std::string cur_;
  bool have_word_ = false;
};

Status processFailed(const std::string& word, const Status& st) {
  return InvalidArgument("failed to process " + quoted(word) + ": " + st.message());
}

// ---------------------------------------------------------------------------
// Pass 1: instructions

struct Instruction {
  std::string cmd;       // lower case
  std::string rest;      // arguments after the flags, trimmed
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::pair<std::string, std::string>> pairs;  // ENV / LABEL, raw
};

// Logical lines: continuations joined, comments and blank lines dropped.
std::vector<std::string> logicalLines(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool continuing = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    std::string t = trimLeft(line);
    if (t.empty() || t[0] == '#') continue;  // also inside a continuation
    // A line ending in "\" (trailing blanks allowed) goes on on the next line.
    size_t end = line.size();
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
    if (end > 0 && line[end - 1] == '\\') {
      cur += line.substr(0, end - 1);
      continuing = true;
      continue;
    }
    cur += line;
    out.push_back(cur);
    cur.clear();
    continuing = false;
  }
  if (continuing && !trim(cur).empty()) out.push_back(cur);
  return out;
}

// Docker's splitting of ENV/LABEL arguments into words: on whitespace
// outside quotes, quotes and escapes kept for the word processing later.
std::vector<std::string> rawWords(const std::string& s) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false, blank_ok = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote != '\'') {
        if (i + 1 == s.size()) continue;  // a trailing escape is dropped
        word += c;
        c = s[++i];
      }
      word += c;
      continue;
    }
    if (isSpace(c)) {
      if (in_word && (blank_ok || !word.empty())) out.push_back(word);
      word.clear();
      in_word = blank_ok = false;
      continue;
    }
    in_word = true;
    if (c == '\'' || c == '"') {
      quote = c;
      blank_ok = true;
    } else if (c == '\\') {
      if (i + 1 == s.size()) continue;
      word += c;
      c = s[++i];
    }
    word += c;
  }
  if (in_word && (blank_ok || !word.empty())) out.push_back(word);
  return out;
}

StatusOr<Instruction> parseLine(const std::string& line) {
  Instruction in;
  auto [cmd, rest] = splitFirst(trim(line));
  in.cmd = lower(cmd);
  // Builder flags (--name[=value]) lead the arguments of every instruction.
  while (rest.rfind("--", 0) == 0) {
    auto [flag, after] = splitFirst(rest);
    rest = after;
    if (flag == "--") break;
    auto eq = flag.find('=');
    in.flags.emplace_back(flag.substr(2, eq == std::string::npos ? std::string::npos : eq - 2),
                          eq == std::string::npos ? "" : flag.substr(eq + 1));
  }
  in.rest = trim(rest);
  if ((in.cmd == "env" || in.cmd == "label") && !in.rest.empty()) {
    const std::string key = upper(in.cmd);
    auto words = rawWords(in.rest);
    if (!words.empty() && words[0].find('=') == std::string::npos) {
      auto [name, value] = splitFirst(in.rest);  // legacy form: KEY name value
      if (value.empty()) return InvalidArgument(key + " must have two arguments");
      in.pairs.emplace_back(name, value);
    } else {
      for (const auto& w : words) {
        auto eq = w.find('=');
        if (eq == std::string::npos) {
          return InvalidArgument("Syntax error - can't find = in " + quoted(w) +
                                 ". Must be of the form: name=value");
        }
        in.pairs.emplace_back(w.substr(0, eq), w.substr(eq + 1));
      }
    }
  }
  return in;
}

// ---------------------------------------------------------------------------
// Pass 3: argument checks

// A JSON array of strings at the start of `s` (what follows it is ignored,
// as dockerd's decoder does); nullopt when `s` is not one (shell form).
std::optional<std::vector<std::string>> jsonForm(const std::string& s) {
  if (s.empty() || s[0] != '[') return std::nullopt;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseStopWhenDoneFlag>(s.c_str(), s.size());
  if (d.HasParseError() || !d.IsArray()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : d.GetArray()) {
    if (!v.IsString()) return std::nullopt;
    out.emplace_back(v.GetString(), v.GetStringLength());
  }
  return out;
}

struct Health {
  std::vector<std::string> test;
  int64_t interval = 0, timeout = 0, start_period = 0, start_interval = 0;
  int64_t retries = 0;
};

StatusOr<Health> parseHealthcheck(const Instruction& in) {
  if (in.rest.empty()) return InvalidArgument("HEALTHCHECK requires at least one argument");
  Health h;
  std::map<std::string, std::string> flags;
  for (const auto& [k, v] : in.flags) {
    static const std::set<std::string> kKnown = {"interval", "timeout", "start-period",
                                                 "start-interval", "retries"};
    if (!kKnown.count(k)) return InvalidArgument("Unknown flag: " + k);
    flags[k] = v;
  }
  auto [type_word, args] = splitFirst(in.rest);
  std::string type = upper(type_word);
  if (type == "NONE") {
    if (!args.empty()) return InvalidArgument("HEALTHCHECK NONE takes no arguments");
    h.test = {"NONE"};
    return h;
  }
  if (type != "CMD") return InvalidArgument("Unknown type " + quoted(type) + " in HEALTHCHECK (try CMD)");
  if (args.empty()) return InvalidArgument("Missing command after HEALTHCHECK CMD");
  if (auto j = jsonForm(args)) {
    h.test = {"CMD"};
    h.test.insert(h.test.end(), j->begin(), j->end());
  } else {
    h.test = {"CMD-SHELL", args};
  }
  auto duration = [&](const char* name, int64_t* out) -> Status {
    auto it = flags.find(name);
    if (it == flags.end() || it->second.empty()) return Status::Ok();
    ARCA_ASSIGN_OR_RETURN(int64_t d, parseGoDuration(it->second));
    if (d < 1000000) {
      return InvalidArgument(std::string("Interval ") + quoted(name) + " cannot be less than 1ms");
    }
    *out = d;
    return Status::Ok();
  };
  ARCA_RETURN_IF_ERROR(duration("interval", &h.interval));
  ARCA_RETURN_IF_ERROR(duration("timeout", &h.timeout));
  ARCA_RETURN_IF_ERROR(duration("start-period", &h.start_period));
  ARCA_RETURN_IF_ERROR(duration("start-interval", &h.start_interval));
  if (auto it = flags.find("retries"); it != flags.end() && !it->second.empty()) {
    const std::string& r = it->second;
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(r.c_str(), &end, 10);
    if (r.empty() || *end || errno == ERANGE || isSpace(r[0])) {
      return InvalidArgument("strconv.ParseInt: parsing " + quoted(r) + ": invalid syntax");
    }
    if (n < 1) return InvalidArgument("--retries must be at least 1 (not " + std::to_string(n) + ")");
    h.retries = n;
  }
  return h;
}

Status checkArguments(const Instruction& in) {
  const std::string key = upper(in.cmd);
  if (in.cmd != "healthcheck" && !in.flags.empty()) {
    return InvalidArgument("Unknown flag: " + in.flags.front().first);
  }
  if (in.cmd == "env" || in.cmd == "label") {
    if (in.pairs.empty()) return InvalidArgument(key + " requires at least one argument");
    for (const auto& [k, v] : in.pairs) {
      if (k.empty()) return InvalidArgument(key + " names can not be blank");
    }
  } else if (in.cmd == "expose") {
    if (in.rest.empty()) return InvalidArgument("EXPOSE requires at least one argument");
  } else if (in.cmd == "volume") {
    auto j = jsonForm(in.rest);
    if (j ? j->empty() : in.rest.empty()) return InvalidArgument("VOLUME requires at least one argument");
  } else if (in.cmd == "user" || in.cmd == "workdir" || in.cmd == "stopsignal") {
    if (in.rest.empty()) return InvalidArgument(key + " requires exactly one argument");
  } else if (in.cmd == "onbuild") {
    if (in.rest.empty()) return InvalidArgument("ONBUILD requires at least one argument");
    std::string trigger = upper(splitFirst(in.rest).first);
    if (trigger == "ONBUILD") return InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger == "FROM" || trigger == "MAINTAINER") {
      return InvalidArgument(trigger + " isn't allowed as an ONBUILD trigger");
    }
  } else if (in.cmd == "healthcheck") {
    return parseHealthcheck(in).status();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Pass 4: apply

StatusOr<uint64_t> portNumber(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("bad port");
  }
  uint64_t n = std::stoull(s);
  if (n > 65535) return InvalidArgument("bad port");
  return n;
}

StatusOr<std::pair<uint64_t, uint64_t>> portRange(const std::string& s) {
  auto dash = s.find('-');
  if (dash == std::string::npos) {
    ARCA_ASSIGN_OR_RETURN(uint64_t p, portNumber(s));
    return std::make_pair(p, p);
  }
  ARCA_ASSIGN_OR_RETURN(uint64_t a, portNumber(s.substr(0, dash)));
  std::string tail = s.substr(dash + 1);
  ARCA_ASSIGN_OR_RETURN(uint64_t b, portNumber(tail.substr(0, tail.find('-'))));
  if (b < a) return InvalidArgument("bad range");
  return std::make_pair(a, b);
}

// EXPOSE's "[ip:[hostPort:]]containerPort[-end][/proto]" -> "80/tcp" keys.
StatusOr<std::vector<std::string>> exposedPorts(const std::string& raw) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t c = raw.find(':', start);
    parts.push_back(raw.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) break;
    start = c + 1;
  }
  std::string container = parts.back(), host, ip;
  if (parts.size() >= 2) host = parts[parts.size() - 2];
  if (parts.size() >= 3) {
    for (size_t i = 0; i + 2 < parts.size(); ++i) ip += (i ? ":" : "") + parts[i];
  }
  std::string proto = "tcp";
  if (container.empty() || container[0] == '/') {
    container.clear();
  } else if (auto slash = container.find('/'); slash != std::string::npos) {
    std::string p = container.substr(slash + 1);
    p = p.substr(0, p.find('/'));
    if (!p.empty()) proto = p;
    container.resize(slash);
  }
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (!ip.empty()) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      return InvalidArgument("Invalid ip address: " + ip);
    }
  }
  if (container.empty()) return InvalidArgument("No port specified: " + raw + "<empty>");
  auto range = portRange(container);
  if (!range.ok()) return InvalidArgument("Invalid containerPort: " + container);
  if (!host.empty()) {
    auto hr = portRange(host);
    if (!hr.ok()) return InvalidArgument("Invalid hostPort: " + host);
    if (hr->second - hr->first != range->second - range->first) {
      return InvalidArgument("Invalid ranges specified for container and host Ports: " + container +
                             " and " + host);
    }
  }
  std::string lp = lower(proto);
  if (lp != "tcp" && lp != "udp" && lp != "sctp") return InvalidArgument("Invalid proto: " + proto);
  std::vector<std::string> out;
  for (uint64_t p = range->first; p <= range->second; ++p) out.push_back(std::to_string(p) + "/" + lp);
  return out;
}

// Go's path.Clean for an absolute path (api/mount_config.h).
std::string cleanAbs(const std::string& p) {
  return cleanAbsolutePath(!p.empty() && p[0] == '/' ? p : "/" + p);
}

// The config, edited through a few typed accessors.
class ConfigEditor {
 public:
  ConfigEditor(rapidjson::Value& c, Alloc& a) : c_(c), a_(a) {}

  std::vector<std::string> strings(const char* k) const {
    std::vector<std::string> out;
    auto it = c_.FindMember(k);
    if (it == c_.MemberEnd() || !it->value.IsArray()) return out;
    for (const auto& v : it->value.GetArray()) {
      if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
    }
    return out;
  }
  bool has(const char* k) const { return c_.HasMember(k); }
  std::string string(const char* k) const {
    auto it = c_.FindMember(k);
    return it != c_.MemberEnd() && it->value.IsString()
               ? std::string(it->value.GetString(), it->value.GetStringLength())
               : "";
  }
  void set(const char* k, rapidjson::Value v) {
    auto it = c_.FindMember(k);
    if (it != c_.MemberEnd()) {
      it->value = v;
    } else {
      c_.AddMember(rapidjson::Value(k, a_), v, a_);
    }
  }
  void setString(const char* k, const std::string& s) { set(k, str(s)); }
  void setStrings(const char* k, const std::vector<std::string>& list, bool null_if_empty) {
    if (null_if_empty && list.empty()) return set(k, rapidjson::Value(rapidjson::kNullType));
    rapidjson::Value arr(rapidjson::kArrayType);
    for (const auto& s : list) arr.PushBack(str(s), a_);
    set(k, std::move(arr));
  }
  // Members of an object-valued key ({"80/tcp":{}}, Volumes) or a string map (Labels).
  rapidjson::Value& object(const char* k) {
    auto it = c_.FindMember(k);
    if (it == c_.MemberEnd() || !it->value.IsObject()) {
      set(k, rapidjson::Value(rapidjson::kObjectType));
      it = c_.FindMember(k);
    }
    return it->value;
  }
  void putMember(const char* obj, const std::string& k, rapidjson::Value v) {
    rapidjson::Value& o = object(obj);
    auto it = o.FindMember(rapidjson::StringRef(k.c_str(), static_cast<rapidjson::SizeType>(k.size())));
    if (it != o.MemberEnd()) {
      it->value = v;
    } else {
      o.AddMember(str(k), v, a_);
    }
  }
  rapidjson::Value str(const std::string& s) {
    return rapidjson::Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a_);
  }
  Alloc& alloc() { return a_; }

 private:
  rapidjson::Value& c_;
  Alloc& a_;
};

Status apply(const Instruction& in, ConfigEditor& cfg, bool* cmd_set) {
  const std::vector<std::string> env = cfg.strings("Env");
  auto word = [&](const std::string& w) -> StatusOr<std::string> {
    auto r = processWord(w, env);
    if (!r.ok()) return processFailed(w, r.status());
    return r;
  };
  auto shellForm = [&](const std::string& rest) {
    std::vector<std::string> shell = cfg.strings("Shell");
    if (shell.empty()) shell = {"/bin/sh", "-c"};
    if (!rest.empty()) shell.push_back(rest);
    return shell;
  };
  const std::string& c = in.cmd;
  if (c == "env" || c == "label") {
    std::vector<std::pair<std::string, std::string>> done;
    for (const auto& [k, v] : in.pairs) {
      ARCA_ASSIGN_OR_RETURN(std::string name, word(k));
      ARCA_ASSIGN_OR_RETURN(std::string value, word(v));
      done.emplace_back(name, value);
    }
    if (c == "label") {
      for (const auto& [k, v] : done) cfg.putMember("Labels", k, cfg.str(v));
      return Status::Ok();
    }
    std::vector<std::string> out = env;
    for (const auto& kv : done) {
      const std::string& k = kv.first;  // (clang 14 cannot capture structured bindings)
      const std::string& v = kv.second;
      auto same = std::find_if(out.begin(), out.end(), [&](const std::string& e) {
        return e.compare(0, e.find('='), k) == 0 && e.find('=') == k.size();
      });
      if (same != out.end()) {
        *same = k + "=" + v;
      } else {
        out.push_back(k + "=" + v);
      }
    }
    cfg.setStrings("Env", out, true);
  } else if (c == "cmd") {
    auto j = jsonForm(in.rest);
    cfg.setStrings("Cmd", j ? *j : shellForm(in.rest), true);
    *cmd_set = true;
  } else if (c == "entrypoint") {
    auto j = jsonForm(in.rest);
    cfg.setStrings("Entrypoint", j ? *j : in.rest.empty() ? std::vector<std::string>{} : shellForm(in.rest),
                   true);
    if (!*cmd_set && cfg.has("Cmd")) cfg.setStrings("Cmd", {}, true);  // dockerd drops an inherited CMD
  } else if (c == "expose") {
    for (const auto& f : fields(in.rest)) {
      auto words = processWords(f, env);
      if (!words.ok()) return processFailed(f, words.status());
      for (const auto& w : *words) {
        ARCA_ASSIGN_OR_RETURN(auto ports, exposedPorts(w));
        for (const auto& p : ports) cfg.putMember("ExposedPorts", p, rapidjson::Value(rapidjson::kObjectType));
      }
    }
  } else if (c == "volume") {
    auto j = jsonForm(in.rest);
    for (const auto& v : j ? *j : fields(in.rest)) {
      ARCA_ASSIGN_OR_RETURN(std::string path, word(v));
      if (path.empty()) return InvalidArgument("VOLUME specified can not be an empty string");
      cfg.putMember("Volumes", path, rapidjson::Value(rapidjson::kObjectType));
    }
  } else if (c == "user") {
    ARCA_ASSIGN_OR_RETURN(std::string user, word(in.rest));
    cfg.setString("User", user);
  } else if (c == "workdir") {
    ARCA_ASSIGN_OR_RETURN(std::string dir, word(in.rest));
    if (dir.empty()) return InvalidArgument("cannot normalize nothing");
    if (dir[0] != '/') dir = cleanAbs("/" + cfg.string("WorkingDir") + "/" + dir);
    cfg.setString("WorkingDir", dir);
  } else if (c == "stopsignal") {
    ARCA_ASSIGN_OR_RETURN(std::string sig, word(in.rest));
    if (engine::parseSignal(sig) == 0) return InvalidArgument("Invalid signal: " + sig);
    cfg.setString("StopSignal", sig);
  } else if (c == "onbuild") {
    std::vector<std::string> list = cfg.strings("OnBuild");
    list.push_back(in.rest);
    cfg.setStrings("OnBuild", list, true);
  } else if (c == "healthcheck") {
    ARCA_ASSIGN_OR_RETURN(Health h, parseHealthcheck(in));
    rapidjson::Value o(rapidjson::kObjectType);
    rapidjson::Value test(rapidjson::kArrayType);
    for (const auto& t : h.test) test.PushBack(cfg.str(t), cfg.alloc());
    o.AddMember("Test", test, cfg.alloc());
    if (h.interval) o.AddMember("Interval", h.interval, cfg.alloc());
    if (h.timeout) o.AddMember("Timeout", h.timeout, cfg.alloc());
    if (h.start_period) o.AddMember("StartPeriod", h.start_period, cfg.alloc());
    if (h.start_interval) o.AddMember("StartInterval", h.start_interval, cfg.alloc());
    if (h.retries) o.AddMember("Retries", h.retries, cfg.alloc());
    cfg.set("Healthcheck", std::move(o));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> processWord(const std::string& word, const std::vector<std::string>& env) {
  WordLexer lx(word, env, false);
  ARCA_RETURN_IF_ERROR(lx.run());
  return lx.text();
}

StatusOr<std::vector<std::string>> processWords(const std::string& word,
                                                const std::vector<std::string>& env) {
  WordLexer lx(word, env, true);
  ARCA_RETURN_IF_ERROR(lx.run());
  return lx.words();
}

Status applyChanges(const std::vector<std::string>& changes, rapidjson::Value* config, Alloc& alloc) {
  if (changes.empty()) return Status::Ok();
  if (!config || !config->IsObject()) return InvalidArgument("invalid image config");
  std::string text;
  for (size_t i = 0; i < changes.size(); ++i) text += (i ? "\n" : "") + changes[i];
  std::vector<Instruction> list;
  for (const auto& line : logicalLines(text)) {
    ARCA_ASSIGN_OR_RETURN(Instruction in, parseLine(line));
    list.push_back(std::move(in));
  }
  if (list.empty()) return InvalidArgument("file with no instructions");
  static const std::set<std::string> kAllowed = {"cmd", "entrypoint", "env", "expose",
                                                 "healthcheck", "label", "onbuild", "stopsignal",
                                                 "user", "volume", "workdir"};
  for (const auto& in : list) {
    if (!kAllowed.count(in.cmd)) return InvalidArgument(in.cmd + " is not a valid change command");
  }
  for (const auto& in : list) ARCA_RETURN_IF_ERROR(checkArguments(in));
  rapidjson::Value copy(*config, alloc);
  ConfigEditor cfg(copy, alloc);
  bool cmd_set = false;
  for (const auto& in : list) ARCA_RETURN_IF_ERROR(apply(in, cfg, &cmd_set));
  *config = copy;
  return Status::Ok();
}

}  // namespace arca::api
