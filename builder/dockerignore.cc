#include "builder/dockerignore.h"

#include <algorithm>

#include "builder/shell_lex.h"

namespace arca::builder {
namespace {

constexpr char kBadPattern[] = "syntax error in pattern";  // Go's filepath.ErrBadPattern

std::string_view trimSpace(std::string_view s) {
  auto sp = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

// One class element of filepath.Match (its getEsc): a rune, `\` escaping
// the next one. Fails on a missing element, a leading '-' or ']', invalid
// UTF-8, or when nothing follows it.
bool matchClassElem(std::string_view p, size_t* i) {
  if (*i >= p.size() || p[*i] == '-' || p[*i] == ']') return false;
  if (p[*i] == '\\') {
    ++*i;
    if (*i >= p.size()) return false;
  }
  auto [r, n] = decodeUtf8(p, *i);
  if (r == 0xFFFD && n == 1) return false;
  *i += n;
  return *i < p.size();
}

// Whether filepath.Match accepts the pattern's syntax (New checks it by
// matching "."; Go validates every chunk of the pattern).
bool validMatchSyntax(std::string_view p) {
  for (size_t i = 0; i < p.size();) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return false;
      i += 2;
    } else if (c == '[') {
      ++i;
      if (i < p.size() && p[i] == '^') ++i;
      for (int n = 0;; ++n) {
        if (i < p.size() && p[i] == ']' && n > 0) {
          ++i;
          break;
        }
        if (!matchClassElem(p, &i)) return false;
        if (p[i] == '-') {
          ++i;
          if (!matchClassElem(p, &i)) return false;
        }
      }
    } else {
      ++i;
    }
  }
  return true;
}

// Regexp escapes Docker's translation passes through: `\` + punctuation is
// the character; Perl classes and control escapes have their regexp
// meaning; any other letter or digit is an error of Go's regexp (Arca also
// refuses \x, \p, \Q, octal, \b, \A and \z, which Go would accept).
bool escapeToken(int32_t r, IgnorePattern::Token* t) {
  using K = IgnorePattern::Token::Kind;
  t->kind = K::kLit;
  bool alnum = (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  if (!alnum) {
    t->rune = r;
    return true;
  }
  switch (r) {
    case 'a':
      t->rune = '\a';
      return true;
    case 'f':
      t->rune = '\f';
      return true;
    case 'n':
      t->rune = '\n';
      return true;
    case 'r':
      t->rune = '\r';
      return true;
    case 't':
      t->rune = '\t';
      return true;
    case 'v':
      t->rune = '\v';
      return true;
    default:
      break;
  }
  t->kind = K::kClass;
  switch (r) {
    case 'd':
    case 'D':
      t->ranges = {{'0', '9'}};
      break;
    case 's':
    case 'S':
      t->ranges = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};
      break;
    case 'w':
    case 'W':
      t->ranges = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
      break;
    default:
      return false;
  }
  t->negated = r == 'D' || r == 'S' || r == 'W';
  return true;
}

// A `[...]` class starting after the '[' at p[*i]: regexp semantics, which
// agree with filepath.Match for the patterns it accepts.
bool parseClass(std::string_view p, size_t* i, IgnorePattern::Token* t) {
  t->kind = IgnorePattern::Token::Kind::kClass;
  if (*i < p.size() && p[*i] == '^') {
    t->negated = true;
    ++*i;
  }
  auto elem = [&](int32_t* out) {
    auto [r, n] = decodeUtf8(p, *i);
    *i += n;
    if (r != '\\') {
      *out = r;
      return true;
    }
    auto [e, m] = decodeUtf8(p, *i);
    *i += m;
    IgnorePattern::Token esc;
    if (!escapeToken(e, &esc)) return false;
    if (esc.kind == IgnorePattern::Token::Kind::kClass) {
      if (esc.negated) return false;  // \D \S \W inside a class: not supported
      t->ranges.insert(t->ranges.end(), esc.ranges.begin(), esc.ranges.end());
      *out = -1;
      return true;
    }
    *out = esc.rune;
    return true;
  };
  for (bool first = true; *i < p.size(); first = false) {
    if (p[*i] == ']' && !first) {
      ++*i;
      return true;
    }
    int32_t lo = 0;
    if (!elem(&lo)) return false;
    if (lo < 0) continue;
    int32_t hi = lo;
    if (*i + 1 < p.size() && p[*i] == '-' && p[*i + 1] != ']') {
      ++*i;
      if (!elem(&hi) || hi < 0) return false;
      if (hi < lo) return false;  // Go: invalid character class range
    }
    t->ranges.emplace_back(lo, hi);
  }
  return false;  // missing ']'
}

IgnorePattern::Token tokenOf(IgnorePattern::Token::Kind kind) {
  IgnorePattern::Token t;
  t.kind = kind;
  return t;
}

// Docker's pattern compilation (patternmatcher's compile): the match type
// and, for regexp patterns, the tokens of the regexp it would build.
void compilePattern(IgnorePattern& p) {
  using K = IgnorePattern::Token::Kind;
  using T = IgnorePattern::Type;
  const std::string& s = p.cleaned;
  T type = T::kExact;
  for (size_t i = 0, iter = 0; i < s.size(); ++iter) {
    auto [ch, n] = decodeUtf8(s, i);
    i += n;
    IgnorePattern::Token t = tokenOf(K::kLit);
    if (ch == '*') {
      if (i < s.size() && s[i] == '*') {
        ++i;
        if (i < s.size() && s[i] == '/') ++i;
        if (i >= s.size()) {
          if (type == T::kExact) {
            type = T::kPrefix;
          } else {
            p.tokens.push_back(tokenOf(K::kAnyStar));
            type = T::kRegexp;
          }
        } else {
          p.tokens.push_back(tokenOf(K::kOptDirs));
          type = T::kRegexp;
        }
        if (iter == 0) type = T::kSuffix;
        continue;
      }
      t.kind = K::kStarNoSlash;
      type = T::kRegexp;
    } else if (ch == '?') {
      t.kind = K::kClass;
      t.negated = true;
      t.ranges = {{'/', '/'}};
      type = T::kRegexp;
    } else if (ch == '\\') {
      if (i < s.size()) {
        auto [e, m] = decodeUtf8(s, i);
        i += m;
        if (!escapeToken(e, &t)) p.compile_error = true;
        type = T::kRegexp;
      } else {
        t.rune = '\\';  // unreachable: filepath.Match refuses a trailing `\`
      }
    } else if (ch == '[') {
      if (!parseClass(s, &i, &t)) p.compile_error = true;
      type = T::kRegexp;
    } else if (ch == ']') {
      t.rune = ch;
      type = T::kRegexp;
    } else if (ch == '^') {
      t.kind = K::kBegin;  // a regexp assertion; literal in exact/prefix/suffix tests
    } else {
      t.rune = ch;
    }
    p.tokens.push_back(std::move(t));
  }
  p.type = type;
  if (type != T::kRegexp) p.tokens.clear();
}

// Full-match of the regexp tokens against the runes of a path (memoised
// backtracking: the answer is a set property, so any order is right).
class TokenMatcher {
 public:
  TokenMatcher(const std::vector<IgnorePattern::Token>& toks, std::string_view path) : toks_(toks) {
    for (size_t i = 0; i < path.size();) {
      auto [r, n] = decodeUtf8(path, i);
      runes_.push_back(r);
      i += n;
    }
    memo_.assign((toks.size() + 1) * (runes_.size() + 1), 0);
  }

  bool run() { return at(0, 0); }

 private:
  bool at(size_t ti, size_t pos) {
    if (ti == toks_.size()) return pos == runes_.size();
    char& m = memo_[ti * (runes_.size() + 1) + pos];
    if (m != 0) return m == 1;
    bool ok = false;
    const auto& t = toks_[ti];
    using K = IgnorePattern::Token::Kind;
    switch (t.kind) {
      case K::kLit:
        ok = pos < runes_.size() && runes_[pos] == t.rune && at(ti + 1, pos + 1);
        break;
      case K::kClass:
        ok = pos < runes_.size() && inClass(t, runes_[pos]) && at(ti + 1, pos + 1);
        break;
      case K::kBegin:
        ok = pos == 0 && at(ti + 1, pos);
        break;
      case K::kStarNoSlash:
        for (size_t k = pos; !ok; ++k) {
          ok = at(ti + 1, k);
          if (k >= runes_.size() || runes_[k] == '/') break;
        }
        break;
      case K::kAnyStar:
        for (size_t k = pos; !ok; ++k) {
          ok = at(ti + 1, k);
          if (k >= runes_.size() || runes_[k] == '\n') break;
        }
        break;
      case K::kOptDirs:  // (.*/)?
        ok = at(ti + 1, pos);
        for (size_t k = pos; !ok && k < runes_.size() && runes_[k] != '\n'; ++k) {
          if (runes_[k] == '/') ok = at(ti + 1, k + 1);
        }
        break;
    }
    m = ok ? 1 : 2;
    return ok;
  }

  static bool inClass(const IgnorePattern::Token& t, int32_t r) {
    bool in = std::any_of(t.ranges.begin(), t.ranges.end(),
                          [r](auto& rg) { return r >= rg.first && r <= rg.second; });
    return in != t.negated;
  }

  const std::vector<IgnorePattern::Token>& toks_;
  std::vector<int32_t> runes_;
  std::vector<char> memo_;
};

// filepath.Dir split on '/': the parent directories of `file`, shortest
// first ("a/b/c" -> "a", "a/b"); none for a top-level name.
std::vector<std::string> parentPaths(const std::string& file) {
  size_t slash = file.rfind('/');
  std::string dir = cleanPath(slash == std::string::npos ? "." : file.substr(0, slash + 1));
  std::vector<std::string> out;
  if (dir == ".") return out;
  for (size_t i = 0;; ++i) {
    i = dir.find('/', i);
    out.push_back(dir.substr(0, i));
    if (i == std::string::npos) break;
  }
  return out;
}

}  // namespace

std::string cleanPath(std::string_view path) {
  if (path.empty()) return ".";
  bool rooted = path[0] == '/';
  size_t n = path.size();
  std::string out;
  size_t r = 0;
  size_t dotdot = 0;
  if (rooted) {
    out = "/";
    r = dotdot = 1;
  }
  while (r < n) {
    if (path[r] == '/') {
      ++r;
    } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
      r += 2;
      if (out.size() > dotdot) {
        out.pop_back();
        while (out.size() > dotdot && out.back() != '/') out.pop_back();
        if (out.size() > dotdot && out.back() == '/') out.pop_back();
      } else if (!rooted) {
        if (!out.empty()) out += '/';
        out += "..";
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out += '/';
      for (; r < n && path[r] != '/'; ++r) out += path[r];
    }
  }
  return out.empty() ? "." : out;
}

StatusOr<std::vector<std::string>> parseDockerignore(std::string_view text) {
  std::vector<std::string> out;
  bool first = true;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.size() >= 64 * 1024) return InvalidArgument("bufio.Scanner: token too long");
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    first = false;
    if (!line.empty() && line[0] == '#') continue;
    line = trimSpace(line);
    if (line.empty()) continue;
    bool invert = line[0] == '!';
    if (invert) line = trimSpace(line.substr(1));
    std::string pattern(line);
    if (!pattern.empty()) {
      pattern = cleanPath(pattern);
      if (pattern.size() > 1 && pattern[0] == '/') pattern.erase(0, 1);
    }
    out.push_back(invert ? "!" + pattern : pattern);
  }
  return out;
}

StatusOr<bool> IgnorePattern::match(std::string_view path) const {
  if (compile_error) return InvalidArgument(kBadPattern);
  switch (type) {
    case Type::kExact:
      return path == cleaned;
    case Type::kPrefix: {
      std::string_view pre = std::string_view(cleaned).substr(0, cleaned.size() - 2);
      return path.substr(0, pre.size()) == pre;
    }
    case Type::kSuffix: {
      std::string_view suffix = std::string_view(cleaned).substr(2);
      if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) {
        return true;
      }
      return suffix[0] == '/' && path == suffix.substr(1);
    }
    case Type::kRegexp:
      return TokenMatcher(tokens, path).run();
  }
  return false;
}

StatusOr<IgnoreMatcher> IgnoreMatcher::create(const std::vector<std::string>& patterns) {
  IgnoreMatcher m;
  for (const auto& raw : patterns) {
    std::string_view t = trimSpace(raw);
    if (t.empty()) continue;
    IgnorePattern p;
    std::string c = cleanPath(t);
    if (c[0] == '!') {
      if (c.size() == 1) return InvalidArgument("illegal exclusion pattern: \"!\"");
      p.exclusion = true;
      m.exclusions_ = true;
      c.erase(0, 1);
    }
    if (!validMatchSyntax(c)) return InvalidArgument(kBadPattern);
    p.cleaned = std::move(c);
    compilePattern(p);
    m.patterns_.push_back(std::move(p));
  }
  return m;
}

StatusOr<bool> IgnoreMatcher::excluded(std::string_view path) const {
  std::string file = cleanPath(path);
  if (file == ".") return false;  // "Don't let them exclude everything"
  std::vector<std::string> parents = parentPaths(file);
  bool matched = false;
  for (const auto& p : patterns_) {
    if (p.exclusion != matched) continue;  // cannot change the outcome
    ARCA_ASSIGN_OR_RETURN(bool match, p.match(file));
    for (size_t i = 0; !match && i < parents.size(); ++i) {
      auto pm = p.match(parents[i]);
      match = pm.ok() && *pm;
    }
    if (match) matched = !p.exclusion;
  }
  return matched;
}

StatusOr<bool> IgnoreMatcher::walkMatch(std::string_view path, const MatchInfo& parent,
                                        MatchInfo* info) const {
  const auto& pm = parent.parent_matched;
  if (!pm.empty() && pm.size() != patterns_.size()) {
    return InvalidArgument("wrong number of values in parentMatched");
  }
  std::string file(path);
  info->parent_matched.assign(patterns_.size(), false);
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const auto& p = patterns_[i];
    bool match = !pm.empty() && pm[i];
    if (!match) {
      if (p.exclusion != matched) continue;
      ARCA_ASSIGN_OR_RETURN(match, p.match(file));
      if (!match && pm.empty()) {
        for (const auto& dir : parentPaths(file)) {
          auto r = p.match(dir);
          if ((match = r.ok() && *r)) break;
        }
      }
    }
    info->parent_matched[i] = match;
    if (match) matched = !p.exclusion;
  }
  return matched;
}

bool IgnoreMatcher::mustWalkExcludedDir(std::string_view dir) const {
  std::string prefix = std::string(dir) + "/";
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const IgnorePattern& p) {
    return p.exclusion && (p.cleaned + "/").compare(0, prefix.size(), prefix) == 0;
  });
}

std::vector<std::string> contextFilesToRemove(const std::vector<std::string>& patterns,
                                              std::string_view dockerfile_path) {
  std::vector<std::string> out;
  auto m = IgnoreMatcher::create(patterns);
  if (!m.ok()) return out;
  for (std::string_view f : {std::string_view(".dockerignore"), dockerfile_path}) {
    auto ex = m->excluded(f);
    if (ex.ok() && *ex) out.emplace_back(f);
  }
  return out;
}

}  // namespace arca::builder
