#include "builder/shell_lex.h"

#include <cstdint>
#include <utility>

namespace arca::builder {
namespace {

constexpr int32_t kEof = -1;
constexpr int32_t kRuneError = 0xFFFD;

}  // namespace

std::pair<int32_t, size_t> decodeUtf8(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  if (b < 0x80) return {b, 1};
  size_t n = 0;
  int32_t r = 0;
  int32_t min = 0;
  if ((b & 0xE0) == 0xC0) {
    n = 2, r = b & 0x1F, min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    n = 3, r = b & 0x0F, min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    n = 4, r = b & 0x07, min = 0x10000;
  } else {
    return {kRuneError, 1};
  }
  if (i + n > s.size()) return {kRuneError, 1};
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return {kRuneError, 1};
    r = (r << 6) | (c & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return {kRuneError, 1};
  return {r, n};
}

void appendUtf8(std::string& out, int32_t r) {
  if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = kRuneError;
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

namespace {

constexpr auto decodeRune = decodeUtf8;
constexpr auto appendRune = appendUtf8;

std::vector<int32_t> toRunes(std::string_view s) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    auto [r, n] = decodeRune(s, i);
    out.push_back(r);
    i += n;
  }
  return out;
}

std::string fromRunes(const std::vector<int32_t>& runes) {
  std::string out;
  for (int32_t r : runes) appendRune(out, r);
  return out;
}


// Go's unicode.IsDigit, for ASCII and the common decimal-digit blocks.
bool isGoDigit(int32_t r) {
  if (r < 0x80) return r >= '0' && r <= '9';
  static constexpr int32_t kZeros[] = {0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66,
                                       0xBE6, 0xC66, 0xCE6, 0xD66, 0xE50, 0xED0, 0xF20, 0xFF10};
  for (int32_t z : kZeros) {
    if (r >= z && r <= z + 9) return true;
  }
  return false;
}

// Go's unicode.IsLetter, approximated by the main alphabetic blocks (Latin,
// Greek, Cyrillic, Armenian, Hebrew, Arabic, Indic, Thai, kana, CJK, Hangul).
bool isGoLetter(int32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  if (r == 0xAA || r == 0xB5 || r == 0xBA) return true;
  if (r >= 0xC0 && r <= 0x24F) return r != 0xD7 && r != 0xF7;
  static constexpr std::pair<int32_t, int32_t> kRanges[] = {
      {0x250, 0x2C1},   {0x370, 0x373},   {0x376, 0x377},   {0x37B, 0x37D},   {0x386, 0x386},
      {0x388, 0x3FF},   {0x400, 0x481},   {0x48A, 0x52F},   {0x531, 0x556},   {0x561, 0x587},
      {0x5D0, 0x5EA},   {0x620, 0x64A},   {0x671, 0x6D3},   {0x904, 0x939},   {0x985, 0x9B9},
      {0xE01, 0xE30},   {0x1E00, 0x1FBC}, {0x3041, 0x3096}, {0x30A1, 0x30FA}, {0x3400, 0x4DBF},
      {0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}};
  for (auto [lo, hi] : kRanges) {
    if (r >= lo && r <= hi) return r != 0x3F6 && r != 0x482;
  }
  return false;
}

bool isNameRune(int32_t r) { return isGoLetter(r) || isGoDigit(r) || r == '_'; }

// POSIX special parameters: never set in a Dockerfile.
bool isSpecialParam(int32_t r) {
  switch (r) {
    case '@':
    case '*':
    case '#':
    case '?':
    case '-':
    case '$':
    case '!':
    case '0':
      return true;
    default:
      return false;
  }
}

// Go's fmt "%s" of string(rune): the end-of-input rune prints as U+FFFD.
std::string runeText(int32_t r) {
  std::string s;
  appendRune(s, r);
  return s;
}

// ---- Patterns of ${V#pat}, ${V%pat}, ${V/pat/repl} ----
// buildkit turns them into a Go regexp: `*` is .* (lazy for the shortest
// forms), `?` is `.`, `\` escapes `*`, `?` and `\` (and is dropped before
// `}` and `/`); everything else is literal. `.` does not match a newline.

struct PatTok {
  enum Kind { kLit, kAny, kStar } kind;
  int32_t rune = 0;
};

StatusOr<std::vector<PatTok>> compilePattern(const std::vector<int32_t>& pat) {
  std::vector<PatTok> out;
  for (size_t i = 0; i < pat.size(); ++i) {
    int32_t r = pat[i];
    if (r == '*') {
      out.push_back({PatTok::kStar});
    } else if (r == '?') {
      out.push_back({PatTok::kAny});
    } else if (r == '\\') {
      int32_t nx = i + 1 < pat.size() ? pat[i + 1] : kEof;
      if (nx == '}' || nx == '/') continue;  // the escape is not part of the pattern
      ++i;
      if (nx != '*' && nx != '?' && nx != '\\') {
        return InvalidArgument("invalid escape '\\" + runeText(nx) + "'");
      }
      out.push_back({PatTok::kLit, nx});
    } else {
      out.push_back({PatTok::kLit, r});
    }
  }
  return out;
}

// Leftmost-first (Perl) matching of `toks` anchored at `start` of `s`, not
// anchored at the end: the end of the first match in backtracking order,
// stars lazy or greedy. -1 when there is none. Results are memoised per
// (token, position), which keeps it polynomial.
class PatMatcher {
 public:
  PatMatcher(const std::vector<PatTok>& toks, const std::vector<int32_t>& s, bool greedy)
      : toks_(toks), s_(s), greedy_(greedy), memo_((toks.size() + 1) * (s.size() + 1), -2) {}

  int matchAt(size_t ti, size_t pos) {
    if (ti == toks_.size()) return static_cast<int>(pos);
    int& m = memo_[ti * (s_.size() + 1) + pos];
    if (m != -2) return m;
    m = -1;
    const PatTok& t = toks_[ti];
    if (t.kind == PatTok::kStar) {
      size_t max = pos;
      while (max < s_.size() && s_[max] != '\n') ++max;
      if (greedy_) {
        for (size_t k = max + 1; k-- > pos;) {
          if ((m = matchAt(ti + 1, k)) >= 0) break;
        }
      } else {
        for (size_t k = pos; k <= max; ++k) {
          if ((m = matchAt(ti + 1, k)) >= 0) break;
        }
      }
    } else if (pos < s_.size() && (t.kind == PatTok::kAny ? s_[pos] != '\n' : s_[pos] == t.rune)) {
      m = matchAt(ti + 1, pos + 1);
    }
    return m;
  }

 private:
  const std::vector<PatTok>& toks_;
  const std::vector<int32_t>& s_;
  bool greedy_;
  std::vector<int> memo_;
};

// ${V#pat} / ${V##pat}: how many runes of `value` the pattern removes.
StatusOr<size_t> prefixLength(const std::vector<int32_t>& pat, const std::vector<int32_t>& value,
                              bool greedy) {
  auto toks = compilePattern(pat);
  if (!toks.ok()) {
    return InvalidArgument("invalid pattern (" + fromRunes(pat) +
                           ") in substitution: " + toks.status().message());
  }
  PatMatcher m(*toks, value, greedy);
  int end = m.matchAt(0, 0);
  return end < 0 ? 0 : static_cast<size_t>(end);
}

// Reverses a pattern keeping each `\x` pair in order (buildkit's
// reversePattern), so a suffix search becomes a prefix search.
std::vector<int32_t> reversePattern(const std::vector<int32_t>& p) {
  std::vector<int32_t> out(p.size());
  size_t last = p.empty() ? 0 : p.size() - 1;
  for (size_t i = 0; i < p.size();) {
    size_t o = last - i;
    if (p[i] == '\\' && i != last) {
      out[o - 1] = p[i];
      out[o] = p[i + 1];
      i += 2;
    } else {
      out[o] = p[i];
      ++i;
    }
  }
  return out;
}

// ${V%pat} / ${V%%pat}: how many runes at the end of `value` the pattern
// removes (the pattern and value are reversed, Docker's way).
StatusOr<size_t> suffixLength(const std::vector<int32_t>& pat, const std::vector<int32_t>& value,
                              bool greedy) {
  std::vector<int32_t> rev(value.rbegin(), value.rend());
  return prefixLength(reversePattern(pat), rev, greedy);
}

// Go's Regexp.Expand for a regexp without groups: "$$" is "$", "$0" and
// "${0}" are the match, other well-formed names are empty, a malformed "$"
// stays.
void expandTemplate(std::string& out, const std::vector<int32_t>& tmpl,
                    const std::vector<int32_t>& match) {
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '$') {
      appendRune(out, tmpl[i++]);
      continue;
    }
    ++i;
    if (i < tmpl.size() && tmpl[i] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t j = i;
    bool brace = j < tmpl.size() && tmpl[j] == '{';
    if (brace) ++j;
    size_t name_start = j;
    while (j < tmpl.size() && isNameRune(tmpl[j])) ++j;
    size_t name_end = j;
    bool ok = name_end > name_start;
    if (ok && brace) {
      ok = j < tmpl.size() && tmpl[j] == '}';
      ++j;
    }
    if (!ok) {
      out += '$';
      continue;
    }
    if (name_end - name_start == 1 && tmpl[name_start] == '0') {
      for (int32_t r : match) appendRune(out, r);
    }
    i = j;
  }
}

// ${V/pat/repl} and ${V//pat/repl}: Go's regexp ReplaceAllString /
// first-match replacement with a greedy, unanchored pattern.
StatusOr<std::string> replacePattern(const std::vector<int32_t>& pat,
                                     const std::vector<int32_t>& repl,
                                     const std::vector<int32_t>& value, bool all) {
  auto toks = compilePattern(pat);
  if (!toks.ok()) {
    return InvalidArgument("invalid pattern (" + fromRunes(pat) +
                           ") in substitution: " + toks.status().message());
  }
  PatMatcher m(*toks, value, /*greedy=*/true);
  auto find = [&](size_t from, size_t* start, size_t* end) {
    for (size_t s = from; s <= value.size(); ++s) {
      int e = m.matchAt(0, s);
      if (e >= 0) {
        *start = s;
        *end = static_cast<size_t>(e);
        return true;
      }
    }
    return false;
  };
  std::string out;
  auto copy = [&](size_t a, size_t b) {
    for (size_t k = a; k < b; ++k) appendRune(out, value[k]);
  };
  size_t last_end = 0;
  size_t search = 0;
  size_t a = 0, b = 0;
  while (search <= value.size() && find(search, &a, &b)) {
    copy(last_end, a);
    if (!all) {  // the first match: the replacement is literal
      for (int32_t r : repl) appendRune(out, r);
    } else if (b > last_end || a == 0) {
      // Not for an empty match right after the previous one (Go's rule).
      expandTemplate(out, repl, std::vector<int32_t>(value.begin() + a, value.begin() + b));
    }
    last_end = b;
    search = b > search ? b : search + 1;
    if (!all) break;
  }
  copy(last_end, value.size());
  return out;
}

// ---- The lexer proper (mirrors buildkit's shellWord) ----

// The split result being built: white space from plain characters and
// variable values ends a word; quoted and escaped text never does.
struct Words {
  std::string buf;
  std::vector<std::string> words;
  bool in_word = false;

  void addChar(int32_t r) {
    if (isGoSpace(r) && in_word) {
      if (!buf.empty()) {
        words.push_back(std::move(buf));
        buf.clear();
        in_word = false;
      }
    } else if (!isGoSpace(r)) {
      addRawChar(r);
    }
  }
  void addRawChar(int32_t r) {
    appendRune(buf, r);
    in_word = true;
  }
  void addString(const std::string& s) {
    for (size_t i = 0; i < s.size();) {
      auto [r, n] = decodeRune(s, i);
      addChar(r);
      i += n;
    }
  }
  void addRawString(const std::string& s) {
    buf += s;
    in_word = true;
  }
  std::vector<std::string> take() {
    if (!buf.empty()) {
      words.push_back(std::move(buf));
      buf.clear();
      in_word = false;
    }
    return std::move(words);
  }
};

class Lexer {
 public:
  Lexer(int32_t escape, std::string_view word, const ShellEnv& env, ShellWord& out)
      : escape_(escape), runes_(toRunes(word)), env_(env), out_(out) {
    if (!runes_.empty() && runes_[0] == 0xFEFF) pos_ = 1;  // text/scanner skips a leading BOM
  }

  // Returns the error reason ("" when none) and fills `out_`.
  std::string run() {
    std::string err;
    auto r = processStopOn(kEof, false, &err);
    if (!err.empty()) return err;
    out_.value = std::move(r.first);
    out_.words = std::move(r.second);
    return "";
  }

 private:
  int32_t peek() const { return pos_ < runes_.size() ? runes_[pos_] : kEof; }
  int32_t next() { return pos_ < runes_.size() ? runes_[pos_++] : kEof; }

  std::optional<std::string> getEnv(const std::string& name) {
    auto v = env_.lookup(name);
    (v ? out_.matched : out_.unmatched).insert(name);
    return v;
  }

  // Processes up to `stop` (consumed) or the end; `raw` keeps escape
  // characters in the result (the #, % and / patterns need them).
  std::pair<std::string, std::vector<std::string>> processStopOn(int32_t stop, bool raw,
                                                                 std::string* err) {
    std::string result;
    Words words;
    while (peek() != kEof) {
      int32_t ch = peek();
      if (stop != kEof && ch == stop) {
        next();
        return {std::move(result), words.take()};
      }
      if (ch == '$' || ch == '<' || ch == '\'' || ch == '"') {
        std::string tmp;
        if (ch == '$') {
          tmp = processDollar(err);
        } else if (ch == '<') {
          tmp = processPossibleHeredoc();
        } else if (ch == '\'') {
          tmp = processSingleQuote(err);
        } else {
          tmp = processDoubleQuote(raw, err);
        }
        if (!err->empty()) return {};
        result += tmp;
        if (ch == '$') {
          words.addString(tmp);
        } else {
          words.addRawString(tmp);
        }
        continue;
      }
      ch = next();
      if (ch == escape_) {
        if (raw) {
          words.addRawChar(ch);
          appendRune(result, ch);
        }
        ch = next();
        if (ch == kEof) break;  // a trailing escape character vanishes
        words.addRawChar(ch);
      } else {
        words.addChar(ch);
      }
      appendRune(result, ch);
    }
    if (stop != kEof) {
      *err = "unexpected end of statement while looking for matching " + runeText(stop);
      return {};
    }
    return {std::move(result), words.take()};
  }

  std::string processSingleQuote(std::string* err) {
    std::string result;
    next();
    for (;;) {
      int32_t ch = next();
      if (ch == kEof) {
        *err = "unexpected end of statement while looking for matching single-quote";
        return "";
      }
      if (ch == '\'') return result;
      appendRune(result, ch);
    }
  }

  std::string processDoubleQuote(bool raw, std::string* err) {
    std::string result;
    next();
    for (;;) {
      int32_t pk = peek();
      if (pk == kEof) {
        *err = "unexpected end of statement while looking for matching double-quote";
        return "";
      }
      if (pk == '"') {
        next();
        return result;
      }
      if (pk == '$') {
        std::string v = processDollar(err);
        if (!err->empty()) return "";
        result += v;
        continue;
      }
      int32_t ch = next();
      if (ch == escape_) {
        if (raw) appendRune(result, ch);
        int32_t nx = peek();
        if (nx == kEof) continue;  // then fails on the missing quote
        if (nx == '"' || nx == '$' || nx == escape_) ch = next();
      }
      appendRune(result, ch);
    }
  }

  // "<<" and the blanks after it stay together (heredoc markers).
  std::string processPossibleHeredoc() {
    next();
    if (peek() != '<') return "<";
    next();
    std::string result = "<<";
    while (peek() == ' ' || peek() == '\t' || peek() == '\r') appendRune(result, next());
    return result;
  }

  std::string processName() {
    std::string name;
    while (peek() != kEof) {
      int32_t ch = peek();
      if (name.empty() && isGoDigit(ch)) {
        while (peek() != kEof && isGoDigit(peek())) appendRune(name, next());
        return name;
      }
      if (name.empty() && isSpecialParam(ch)) {
        appendRune(name, next());
        return name;
      }
      if (!isNameRune(ch)) break;
      appendRune(name, next());
    }
    return name;
  }

  // The word of ${V<op>word}, up to the closing `}` (or `/`).
  std::vector<int32_t> subWord(int32_t stop, bool raw, const char* missing, std::string* err) {
    auto r = processStopOn(stop, raw, err);
    if (!err->empty()) {
      if (peek() == kEof) *err = missing;
      return {};
    }
    return toRunes(r.first);
  }

  std::string processDollar(std::string* err) {
    next();
    if (peek() != '{') {
      std::string name = processName();
      if (name.empty()) return "$";
      return getEnv(name).value_or("");
    }
    next();
    switch (peek()) {
      case kEof:
        *err = "syntax error: missing '}'";
        return "";
      case '{':
      case '}':
      case ':':
        *err = "syntax error: bad substitution";
        return "";
      default:
        break;
    }
    std::string name = processName();
    int32_t ch = next();
    std::string chs = runeText(ch);
    bool null_is_unset = false;
    if (ch == '}') return getEnv(name).value_or("");
    if (ch == ':') {
      null_is_unset = true;
      ch = next();
      chs += runeText(ch);
    } else if (ch == '/') {
      return processReplace(name, err);
    } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
      *err = "unsupported modifier (" + chs + ") in substitution";
      return "";
    }
    bool raw = ch == '#' || ch == '%';
    if (null_is_unset && raw) {
      *err = "unsupported modifier (" + chs + ") in substitution";
      return "";
    }
    std::string word = fromRunes(subWord('}', raw, "syntax error: missing '}'", err));
    if (!err->empty()) return "";
    auto value = getEnv(name);
    bool unset = !value || (null_is_unset && value->empty());
    switch (ch) {
      case '-':
        return unset ? word : *value;
      case '+':
        return unset ? "" : word;
      case '?':
        if (!value) {
          *err = name + ": " + (word.empty() ? "is not allowed to be unset" : word);
          return "";
        }
        if (unset) {
          *err = name + ": " + (word.empty() ? "is not allowed to be empty" : word);
          return "";
        }
        return *value;
      case '#':
      case '%': {
        auto pat = toRunes(word);
        bool greedy = !pat.empty() && pat[0] == ch;
        if (greedy) pat.erase(pat.begin());
        auto v = toRunes(value.value_or(""));
        auto n = ch == '%' ? suffixLength(pat, v, greedy) : prefixLength(pat, v, greedy);
        if (!n.ok()) {
          *err = n.status().message();
          return "";
        }
        if (ch == '%') {  // Go goes through []rune here: invalid bytes become U+FFFD
          v.resize(v.size() - *n);
          return fromRunes(v);
        }
        std::string bytes = value.value_or("");  // the prefix removal keeps the value's bytes
        size_t off = 0;
        for (size_t k = 0; k < *n; ++k) off += decodeRune(bytes, off).second;
        return bytes.substr(off);
      }
      default:
        *err = "unsupported modifier (" + chs + ") in substitution";
        return "";
    }
  }

  std::string processReplace(const std::string& name, std::string* err) {
    bool all = peek() == '/';
    if (all) next();
    auto pattern = subWord('/', true, "syntax error: missing '/' in ${}", err);
    if (!err->empty()) return "";
    auto repl = subWord('}', true, "syntax error: missing '}'", err);
    if (!err->empty()) return "";
    auto value = getEnv(name);
    auto res = replacePattern(pattern, repl, toRunes(value.value_or("")), all);
    if (!res.ok()) {
      *err = res.status().message();
      return "";
    }
    return *res;
  }

  int32_t escape_;
  std::vector<int32_t> runes_;
  size_t pos_ = 0;
  const ShellEnv& env_;
  ShellWord& out_;
};

}  // namespace

std::optional<std::string> ShellEnv::lookup(std::string_view name) const {
  for (auto it = env.rbegin(); it != env.rend(); ++it) {
    std::string_view e = *it;
    size_t eq = e.find('=');
    if (e.substr(0, eq) == name) {
      return std::string(eq == std::string_view::npos ? std::string_view() : e.substr(eq + 1));
    }
  }
  if (build_arg) return build_arg(name);
  return std::nullopt;
}

StatusOr<ShellWord> ShellLex::process(std::string_view word, const ShellEnv& env) const {
  ShellWord out;
  Lexer lx(static_cast<unsigned char>(escape_), word, env, out);
  std::string err = lx.run();
  if (!err.empty()) return InvalidArgument("failed to process " + goQuote(word) + ": " + err);
  return out;
}

StatusOr<std::string> ShellLex::processWord(std::string_view word, const ShellEnv& env) const {
  ARCA_ASSIGN_OR_RETURN(auto r, process(word, env));
  return std::move(r.value);
}

StatusOr<std::vector<std::string>> ShellLex::processWords(std::string_view word,
                                                          const ShellEnv& env) const {
  ARCA_ASSIGN_OR_RETURN(auto r, process(word, env));
  return std::move(r.words);
}

std::string goQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto [r, n] = decodeRune(s, i);
    if (r == kRuneError && n == 1) {
      auto b = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
      i += n;
      continue;
    }
    i += n;
    switch (r) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    bool printable = r >= 0x20 && r != 0x7F && !(r >= 0x80 && r <= 0xA0) && r != 0xAD &&
                     !(isGoSpace(r) && r != ' ') && !(r >= 0x200B && r <= 0x200F) &&
                     !(r >= 0x2060 && r <= 0x206F) && r != 0xFEFF && !(r >= 0xD800 && r <= 0xF8FF);
    if (printable) {
      appendRune(out, r);
    } else if (r < 0x80) {
      out += "\\x";
      out += kHex[r >> 4];
      out += kHex[r & 15];
    } else {
      bool big = r > 0xFFFF;
      out += big ? "\\U" : "\\u";
      for (int shift = big ? 28 : 12; shift >= 0; shift -= 4) out += kHex[(r >> shift) & 15];
    }
  }
  out += '"';
  return out;
}

bool isGoSpace(int32_t r) {
  switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

}  // namespace arca::builder
