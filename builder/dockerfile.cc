// The Dockerfile parser of the classic builder: see dockerfile.h for the
// phases and the error texts. The Go behaviours dockerd inherits (Unicode
// white space, byte-wise flag scanning, encoding/json's decoder, %q quoting)
// are reproduced where they change what users see.
#include "builder/dockerfile.h"
#include "builder/shell_lex.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <variant>

namespace arca::builder {
namespace {

// ---------------------------------------------------------------------------
// Go string helpers

constexpr std::string_view kRuneError = "\xEF\xBF\xBD";

// utf8.DecodeRune: the rune at the start of `s` and its width; an invalid
// sequence gives (0xFFFD, 1) and `valid` false.
struct Rune {
  uint32_t r = 0;
  size_t width = 0;
  bool valid = false;
};

Rune decodeRune(std::string_view s) {
  if (s.empty()) return {0xFFFD, 0, false};
  auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) return {b0, 1, true};
  auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    if (i >= s.size()) return false;
    auto b = static_cast<unsigned char>(s[i]);
    return b >= lo && b <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (cont(1)) return {((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[1]) & 0x3Fu), 2, true};
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (cont(1, lo, hi) && cont(2)) {
      return {((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[1]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[2]) & 0x3Fu),
              3, true};
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (cont(1, lo, hi) && cont(2) && cont(3)) {
      return {((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[1]) & 0x3Fu) << 12) |
                  ((static_cast<unsigned char>(s[2]) & 0x3Fu) << 6) |
                  (static_cast<unsigned char>(s[3]) & 0x3Fu),
              4, true};
    }
  }
  return {0xFFFD, 1, false};
}

void appendRune(std::string& out, uint32_t r) {
  if (r < 0x80) {
    out += static_cast<char>(r);
  } else if (r < 0x800) {
    out += static_cast<char>(0xC0 | (r >> 6));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else if (r < 0x10000) {
    out += static_cast<char>(0xE0 | (r >> 12));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (r >> 18));
    out += static_cast<char>(0x80 | ((r >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((r >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (r & 0x3F));
  }
}

// Go's `word += string(ch)` for a decoded rune: invalid bytes become U+FFFD.
void appendDecoded(std::string& out, std::string_view s, const Rune& r) {
  if (r.valid) {
    out.append(s.substr(0, r.width));
  } else {
    out.append(kRuneError);
  }
}

// Go's `word += string(rune(b))` on a byte: Latin-1 to UTF-8.
void appendLatin1(std::string& out, unsigned char b) { appendRune(out, b); }


// unicode.IsSpace(rune(b)) on a single byte, as Go code that indexes bytes does.
bool isSpaceByte(unsigned char b) {
  return b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r' || b == ' ' || b == 0x85 ||
         b == 0xA0;
}

// The regexp class [\t\v\f\r ] of buildkit's reWhitespace.
bool isReWhitespace(char c) { return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }

// The UTF-8 encodings of the runes unicode.IsSpace accepts beyond ASCII.
constexpr std::array<std::string_view, 17> kWideSpaces = {
    "\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82",
    "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x87", "\xE2\x80\x88",
    "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF"};
constexpr std::array<std::string_view, 2> kWideSpaces2 = {"\xE2\x81\x9F", "\xE3\x80\x80"};

size_t leadingSpaceLen(std::string_view s) {
  if (s.empty()) return 0;
  if (static_cast<unsigned char>(s[0]) < 0x80) return isSpaceByte(s[0]) ? 1 : 0;
  for (auto w : kWideSpaces)
    if (s.starts_with(w)) return w.size();
  for (auto w : kWideSpaces2)
    if (s.starts_with(w)) return w.size();
  return 0;
}

// DecodeLastRune's view: a valid encoding at the end is found by its suffix.
size_t trailingSpaceLen(std::string_view s) {
  if (s.empty()) return 0;
  if (static_cast<unsigned char>(s.back()) < 0x80) return isSpaceByte(s.back()) ? 1 : 0;
  for (auto w : kWideSpaces)
    if (s.ends_with(w)) return w.size();
  for (auto w : kWideSpaces2)
    if (s.ends_with(w)) return w.size();
  return 0;
}

// bytes.TrimLeftFunc(s, unicode.IsSpace).
std::string_view trimLeftSpace(std::string_view s) {
  while (size_t n = leadingSpaceLen(s)) s.remove_prefix(n);
  return s;
}

// strings.TrimSpace.
std::string_view trimSpace(std::string_view s) {
  s = trimLeftSpace(s);
  while (size_t n = trailingSpaceLen(s)) s.remove_suffix(n);
  return s;
}

std::string asciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string asciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool equalFold(std::string_view a, std::string_view b) { return asciiLower(a) == asciiLower(b); }

constexpr char kHex[] = "0123456789abcdef";

void appendHexEscape(std::string& out, unsigned char b) {
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xF];
}

// Close to unicode.IsPrint beyond ASCII: format and control characters,
// separators other than ' ', private use and non-characters are not.
bool isPrintRune(uint32_t r) {
  if (r < 0x20 || r == 0x7F) return false;
  if (r < 0x7F) return true;
  if (r < 0xA0 || r == 0xAD) return false;
  if (isGoSpace(static_cast<int32_t>(r))) return false;
  if ((r >= 0x200B && r <= 0x200F) || (r >= 0x202A && r <= 0x202E) || (r >= 0x2060 && r <= 0x206F))
    return false;
  if (r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) || (r >= 0xE000 && r <= 0xF8FF)) return false;
  if ((r & 0xFFFE) == 0xFFFE || (r >= 0xFDD0 && r <= 0xFDEF)) return false;
  return r <= 0x10FFFF;
}

// strconv.Quote (Go's %q and %#v for strings).
std::string goQuote(std::string_view s) {
  std::string out = "\"";
  while (!s.empty()) {
    Rune r = decodeRune(s);
    if (!r.valid) {
      appendHexEscape(out, static_cast<unsigned char>(s[0]));
      s.remove_prefix(1);
      continue;
    }
    static constexpr std::string_view kEscapes[][2] = {
        {"\"", "\\\""}, {"\\", "\\\\"}, {"\a", "\\a"}, {"\b", "\\b"}, {"\f", "\\f"},
        {"\n", "\\n"},  {"\r", "\\r"},  {"\t", "\\t"}, {"\v", "\\v"}};
    const auto* esc = std::find_if(std::begin(kEscapes), std::end(kEscapes),
                                   [&](const auto& e) { return r.width == 1 && e[0][0] == s[0]; });
    if (esc != std::end(kEscapes)) {
      out += (*esc)[1];
      s.remove_prefix(1);
      continue;
    }
    if (isPrintRune(r.r)) {
      out.append(s.substr(0, r.width));
    } else if (r.r < 0x20 || r.r == 0x7F) {
      appendHexEscape(out, static_cast<unsigned char>(r.r));
    } else {
      bool wide = r.r > 0xFFFF;
      out += wide ? "\\U" : "\\u";
      for (int shift = wide ? 28 : 12; shift >= 0; shift -= 4) out += kHex[(r.r >> shift) & 0xF];
    }
    s.remove_prefix(r.width);
  }
  out += '"';
  return out;
}

// The quote() of Go's time package: bytes outside ASCII printables as \xNN.
std::string timeQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if (b >= 0x80 || b < 0x20) {
      appendHexEscape(out, b);
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  out += '"';
  return out;
}

// strconv.ParseInt(s, 10, 32).
StatusOr<int64_t> parseInt32(std::string_view s) {
  auto syntax = [&] {
    return InvalidArgument("strconv.ParseInt: parsing " + goQuote(s) + ": invalid syntax");
  };
  auto range = [&] {
    return InvalidArgument("strconv.ParseInt: parsing " + goQuote(s) + ": value out of range");
  };
  std::string_view d = s;
  bool neg = false;
  if (!d.empty() && (d[0] == '+' || d[0] == '-')) {
    neg = d[0] == '-';
    d.remove_prefix(1);
  }
  if (d.empty()) return syntax();
  uint64_t n = 0;
  for (char c : d) {
    if (c < '0' || c > '9') return syntax();
    n = n * 10 + static_cast<uint64_t>(c - '0');
    if (n > 0xFFFFFFFFull) return range();  // ParseUint's 32-bit cutoff
  }
  if (!neg && n > 0x7FFFFFFFull) return range();
  if (neg && n > 0x80000000ull) return range();
  return neg ? -static_cast<int64_t>(n) : static_cast<int64_t>(n);
}

// ---------------------------------------------------------------------------
// JSON arrays, as encoding/json's Decoder reads the first value of a stream
// into []interface{}: syntax errors make Docker fall back to the shell form,
// valid arrays with a non-string element are an error.

enum class JsonResult { kStrings, kNotStrings, kInvalid };

class JsonArrayReader {
 public:
  explicit JsonArrayReader(std::string_view s) : s_(s) {}

  JsonResult read(std::vector<std::string>* out) {
    bool all_strings = true;
    if (!consume('[')) return JsonResult::kInvalid;
    skipWs();
    if (consume(']')) return JsonResult::kStrings;  // the rest of the stream is never read
    while (true) {
      skipWs();
      if (peek() == '"') {
        std::string v;
        if (!readString(&v)) return JsonResult::kInvalid;
        out->push_back(std::move(v));
      } else {
        all_strings = false;
        if (!skipValue(1)) return JsonResult::kInvalid;
      }
      skipWs();
      if (consume(',')) continue;
      if (consume(']')) break;
      return JsonResult::kInvalid;
    }
    return all_strings ? JsonResult::kStrings : JsonResult::kNotStrings;
  }

 private:
  int peek() const { return pos_ < s_.size() ? static_cast<unsigned char>(s_[pos_]) : -1; }
  bool consume(char c) {
    if (peek() != static_cast<unsigned char>(c)) return false;
    ++pos_;
    return true;
  }
  void skipWs() {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') ++pos_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool digits() {
    size_t start = pos_;
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }
  bool number() {
    consume('-');
    if (consume('0')) {
      // no leading zeros
    } else if (peek() >= '1' && peek() <= '9') {
      digits();
    } else {
      return false;
    }
    if (consume('.') && !digits()) return false;
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (!consume('+')) consume('-');
      if (!digits()) return false;
    }
    return true;
  }
  int hex4() {
    if (pos_ + 4 > s_.size()) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return -1;
    }
    pos_ += 4;
    return v;
  }
  // A string at pos_; its decoded value (invalid UTF-8 and lone surrogates
  // become U+FFFD, as encoding/json does).
  bool readString(std::string* v) {
    if (!consume('"')) return false;
    while (true) {
      int c = peek();
      if (c < 0 || c < 0x20) return false;
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        ++pos_;
        int e = peek();
        ++pos_;
        switch (e) {
          case '"':
            *v += '"';
            break;
          case '\\':
            *v += '\\';
            break;
          case '/':
            *v += '/';
            break;
          case 'b':
            *v += '\b';
            break;
          case 'f':
            *v += '\f';
            break;
          case 'n':
            *v += '\n';
            break;
          case 'r':
            *v += '\r';
            break;
          case 't':
            *v += '\t';
            break;
          case 'u': {
            int r = hex4();
            if (r < 0) return false;
            if (r >= 0xD800 && r < 0xE000) {
              // A high surrogate followed by \u low surrogate pairs up;
              // anything else is U+FFFD and the next escape stands alone.
              if (r < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
                size_t save = pos_;
                pos_ += 2;
                int r2 = hex4();
                if (r2 >= 0xDC00 && r2 < 0xE000) {
                  appendRune(*v, 0x10000 + ((static_cast<uint32_t>(r) - 0xD800) << 10) +
                                     (static_cast<uint32_t>(r2) - 0xDC00));
                  break;
                }
                pos_ = save;  // an invalid escape there is rejected by the main loop
              }
              v->append(kRuneError);
              break;
            }
            appendRune(*v, static_cast<uint32_t>(r));
            break;
          }
          default:
            return false;
        }
        continue;
      }
      Rune r = decodeRune(s_.substr(pos_));
      appendDecoded(*v, s_.substr(pos_), r);
      pos_ += r.width;
    }
  }
  bool skipValue(int depth) {
    if (depth > 10000) return false;
    skipWs();
    int c = peek();
    if (c == '"') {
      std::string ignored;
      return readString(&ignored);
    }
    if (c == '[') {
      ++pos_;
      skipWs();
      if (consume(']')) return true;
      while (true) {
        if (!skipValue(depth + 1)) return false;
        skipWs();
        if (consume(',')) continue;
        return consume(']');
      }
    }
    if (c == '{') {
      ++pos_;
      skipWs();
      if (consume('}')) return true;
      while (true) {
        skipWs();
        std::string key;
        if (!readString(&key)) return false;
        skipWs();
        if (!consume(':')) return false;
        if (!skipValue(depth + 1)) return false;
        skipWs();
        if (consume(',')) continue;
        return consume('}');
      }
    }
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Phase 1: the syntax tree (buildkit's parser package).

constexpr std::string_view kNotStringArray =
    "when using JSON array syntax, arrays must be comprised of strings only";

struct Node {
  std::string keyword;
  std::string name;  // lower case
  std::vector<std::string> flags;
  std::vector<std::string> args;  // nodeArgs(): a sub-command contributes its name and args
  bool json = false;
  std::string original;
  int start_line = 0;
  int end_line = 0;
  std::vector<Node> child;  // ONBUILD's trigger
};

struct SyntaxError {
  std::string message;
};

// extractBuilderFlags: leading words starting with "--", read byte by byte
// with \ escapes and quotes; "--" ends them. Returns the rest of the line.
std::string_view extractFlags(std::string_view line, std::vector<std::string>* words) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  unsigned char quote = 0;
  bool blank_ok = false;
  unsigned char ch = 0;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    if (pos != line.size()) ch = static_cast<unsigned char>(line[pos]);
    if (phase == kSpaces) {
      if (pos == line.size()) break;
      if (isSpaceByte(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return line.substr(pos);
      phase = kWord;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) words->push_back(word);
      break;
    }
    if (phase == kWord) {
      if (isSpaceByte(ch)) {
        phase = kSpaces;
        if (word == "--") return line.substr(pos);
        if (blank_ok || !word.empty()) words->push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = static_cast<unsigned char>(line[++pos]);
      }
      appendLatin1(word, ch);
      continue;
    }
    // kQuote
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ch = static_cast<unsigned char>(line[++pos]);
    }
    appendLatin1(word, ch);
  }
  return {};
}

// parseWords: white-space separated words keeping quotes and escapes.
std::vector<std::string> parseWords(std::string_view rest, char escape) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  uint32_t quote = 0;
  bool blank_ok = false;
  Rune ch;
  auto esc = static_cast<uint32_t>(static_cast<unsigned char>(escape));
  for (size_t pos = 0; pos <= rest.size(); pos += ch.width) {
    if (pos != rest.size()) ch = decodeRune(rest.substr(pos));
    if (phase == kSpaces) {
      if (pos == rest.size()) break;
      if (isGoSpace(static_cast<int32_t>(ch.r))) continue;
      phase = kWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (isGoSpace(static_cast<int32_t>(ch.r))) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch.r == '\'' || ch.r == '"') {
        quote = ch.r;
        blank_ok = true;
        phase = kQuote;
      }
      if (ch.r == esc) {
        if (pos + ch.width == rest.size()) continue;  // an escape ending the text is dropped
        appendDecoded(word, rest.substr(pos), ch);
        pos += ch.width;
        ch = decodeRune(rest.substr(pos));
      }
      appendDecoded(word, rest.substr(pos), ch);
      continue;
    }
    // kQuote
    if (ch.r == quote) phase = kWord;
    if (ch.r == esc && quote != '\'') {
      if (pos + ch.width == rest.size()) {
        phase = kWord;
        continue;
      }
      appendDecoded(word, rest.substr(pos), ch);
      pos += ch.width;
      ch = decodeRune(rest.substr(pos));
    }
    appendDecoded(word, rest.substr(pos), ch);
  }
  return words;
}

// regexp `[\t\v\f\r ]+` Split(s, n) (n = -1 for all).
std::vector<std::string> splitReWhitespace(std::string_view s, int n) {
  std::vector<std::string> out;
  size_t start = 0;
  size_t i = 0;
  while (i < s.size() && (n < 0 || static_cast<int>(out.size()) < n - 1)) {
    if (isReWhitespace(s[i])) {
      size_t j = i;
      while (j < s.size() && isReWhitespace(s[j])) ++j;
      out.emplace_back(s.substr(start, i - start));
      start = i = j;
    } else {
      ++i;
    }
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::vector<std::string> whitespaceDelimited(std::string_view rest) {
  if (rest.empty()) return {};
  return splitReWhitespace(rest, -1);
}

// parseJSON: kStrings fills `out`.
JsonResult parseJsonArray(std::string_view rest, std::vector<std::string>* out) {
  rest = trimLeftSpace(rest);
  if (!rest.starts_with('[')) return JsonResult::kInvalid;
  std::vector<std::string> v;
  JsonResult r = JsonArrayReader(rest).read(&v);
  if (r == JsonResult::kStrings) *out = std::move(v);
  return r;
}

// parseMaybeJSON (the shell form is the whole rest; nothing when empty) and,
// with `to_list`, parseMaybeJSONToList (white-space separated words).
std::optional<SyntaxError> maybeJson(std::string_view rest, Node* n, bool to_list = false) {
  if (rest.empty() && !to_list) return std::nullopt;
  switch (parseJsonArray(rest, &n->args)) {
    case JsonResult::kStrings:
      n->json = true;
      return std::nullopt;
    case JsonResult::kNotStrings:
      return SyntaxError{std::string(kNotStringArray)};
    case JsonResult::kInvalid:
      break;
  }
  n->args = to_list ? whitespaceDelimited(rest) : std::vector<std::string>{std::string(rest)};
  return std::nullopt;
}

// ENV and LABEL: `K V` (one pair, the value the raw rest) or `K=V K2="v 2"`.
std::optional<SyntaxError> nameVal(std::string_view rest, std::string_view key, char escape,
                                   Node* n) {
  std::vector<std::string> words = parseWords(rest, escape);
  if (words.empty()) return std::nullopt;
  if (words[0].find('=') == std::string::npos) {
    std::vector<std::string> parts = splitReWhitespace(rest, 2);
    if (parts.size() < 2) return SyntaxError{std::string(key) + " must have two arguments"};
    n->args = std::move(parts);
    return std::nullopt;
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      return SyntaxError{"Syntax error - can't find = in " + goQuote(word) +
                         ". Must be of the form: name=value"};
    }
    n->args.push_back(word.substr(0, eq));
    n->args.push_back(word.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<SyntaxError> nodeFromLine(std::string_view line, char escape, Node* n);

std::optional<SyntaxError> healthConfig(std::string_view rest, Node* n) {
  size_t sep = 0;
  while (sep < rest.size() && !isSpaceByte(static_cast<unsigned char>(rest[sep]))) ++sep;
  size_t next = sep;
  while (next < rest.size() && isSpaceByte(static_cast<unsigned char>(rest[next]))) ++next;
  if (sep == 0) return std::nullopt;
  Node cmd;
  if (auto err = maybeJson(rest.substr(next), &cmd)) return err;
  n->args.emplace_back(rest.substr(0, sep));
  n->args.insert(n->args.end(), cmd.args.begin(), cmd.args.end());
  n->json = cmd.json;
  return std::nullopt;
}

// newNodeFromLine: keyword, flags, then the instruction's argument rule.
std::optional<SyntaxError> nodeFromLine(std::string_view line, char escape, Node* n) {
  std::vector<std::string> cmdline = splitReWhitespace(trimSpace(line), 2);
  n->keyword = cmdline[0];
  n->name = asciiLower(cmdline[0]);
  n->original = std::string(line);
  std::string_view rest;
  if (cmdline.size() == 2) rest = trimSpace(extractFlags(cmdline[1], &n->flags));
  const std::string& c = n->name;
  if (c == "add" || c == "copy" || c == "volume") return maybeJson(rest, n, true);
  if (c == "cmd" || c == "entrypoint" || c == "run" || c == "shell") return maybeJson(rest, n);
  if (c == "arg") {
    n->args = parseWords(rest, escape);
    return std::nullopt;
  }
  if (c == "env") return nameVal(rest, "ENV", escape, n);
  if (c == "label") return nameVal(rest, "LABEL", escape, n);
  if (c == "expose" || c == "from") {
    n->args = whitespaceDelimited(rest);
    return std::nullopt;
  }
  if (c == "healthcheck") return healthConfig(rest, n);
  if (c == "maintainer" || c == "stopsignal" || c == "user" || c == "workdir") {
    if (!rest.empty()) n->args.emplace_back(rest);
    return std::nullopt;
  }
  if (c == "onbuild") {
    if (rest.empty()) return std::nullopt;
    Node child;
    if (auto err = nodeFromLine(rest, escape, &child)) return err;
    n->args.push_back(child.name);
    n->args.insert(n->args.end(), child.args.begin(), child.args.end());
    n->child.push_back(std::move(child));
    return std::nullopt;
  }
  return std::nullopt;  // unknown: arguments ignored, refused in phase 2
}

// bufio.Scanner with ScanLines: lines without "\n" and one trailing "\r";
// a line of 64 KiB or more stops the scan with ErrTooLong.
class LineScanner {
 public:
  explicit LineScanner(std::string_view text) : text_(text) {}
  bool next(std::string_view* line) {
    if (pos_ >= text_.size() || too_long_) return false;
    size_t nl = text_.find('\n', pos_);
    size_t raw_len = nl == std::string_view::npos ? text_.size() - pos_ : nl - pos_ + 1;
    if (raw_len > kMaxToken || (nl == std::string_view::npos && raw_len >= kMaxToken)) {
      too_long_ = true;
      return false;
    }
    std::string_view l = text_.substr(pos_, nl == std::string_view::npos ? raw_len : raw_len - 1);
    if (l.ends_with('\r')) l.remove_suffix(1);
    pos_ += raw_len;
    *line = l;
    return true;
  }
  bool tooLong() const { return too_long_; }

 private:
  static constexpr size_t kMaxToken = 64 * 1024;
  std::string_view text_;
  size_t pos_ = 0;
  bool too_long_ = false;
};

// Parser directives: `# key = value` lines before anything else.
class Directives {
 public:
  // Looks at one line (left-trimmed); a directive error is a syntax error.
  std::optional<SyntaxError> see(std::string_view line) {
    if (done_) return std::nullopt;
    // ^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$ with \s = [\t\n\f\r ]
    auto ws = [](char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; };
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    size_t i = 0;
    if (line.empty() || line[0] != '#') return finish();
    ++i;
    while (i < line.size() && ws(line[i])) ++i;
    size_t key_start = i;
    if (i >= line.size() || !alpha(line[i])) return finish();
    while (i < line.size() && (alpha(line[i]) || (line[i] >= '0' && line[i] <= '9'))) ++i;
    std::string key = asciiLower(line.substr(key_start, i - key_start));
    while (i < line.size() && ws(line[i])) ++i;
    if (i >= line.size() || line[i] != '=') return finish();
    ++i;
    size_t value_start = i;
    while (i < line.size() && ws(line[i])) ++i;
    std::string_view value = line.substr(i);
    while (!value.empty() && ws(value.back())) value.remove_suffix(1);
    if (value.empty()) {
      // (.+?) needs one character: the last blank when only blanks follow "=".
      if (line.size() == value_start) return finish();
      value = line.substr(line.size() - 1);
    }
    if (key != "escape" && key != "syntax") return finish();
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
      return SyntaxError{"only one " + key + " parser directive can be used"};
    }
    seen_.push_back(key);
    if (key == "escape") {
      if (value != "`" && value != "\\") {
        return SyntaxError{"invalid escape token '" + std::string(value) +
                           "' does not match ` or \\"};
      }
      escape_ = value[0];
    } else {
      syntax_ = std::string(value);
    }
    return std::nullopt;
  }
  char escape() const { return escape_; }
  const std::string& syntax() const { return syntax_; }

 private:
  std::optional<SyntaxError> finish() {
    done_ = true;
    return std::nullopt;
  }
  bool done_ = false;
  std::vector<std::string> seen_;
  char escape_ = '\\';
  std::string syntax_;
};

bool isCommentLine(std::string_view line) {
  std::string_view t = trimLeftSpace(line);
  return !t.empty() && t[0] == '#';
}

// The line-continuation rule: an escape as the last non-blank character
// (spaces and tabs only), unless itself escaped; removes it and the blanks.
bool trimContinuation(std::string_view* line, char escape) {
  std::string_view l = *line;
  size_t end = l.size();
  while (end > 0 && (l[end - 1] == ' ' || l[end - 1] == '\t')) --end;
  if (end == 0 || l[end - 1] != escape) return false;
  if (end >= 2 && l[end - 2] == escape) return false;
  *line = l.substr(0, end - 1);
  return true;
}

struct Tree {
  std::vector<Node> nodes;
  char escape = '\\';
  std::string syntax;
  std::vector<std::string> warnings;
};

struct TreeError {
  std::string message;
  int line = 0;
};

// buildkit's parser.Parse.
std::variant<Tree, TreeError> parseTree(std::string_view text) {
  Tree tree;
  Directives d;
  LineScanner scanner(text);
  int current = 0;
  std::string_view raw;
  while (scanner.next(&raw)) {
    if (current == 0 && raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);
    std::string_view first = trimLeftSpace(raw);
    if (auto err = d.see(first)) return TreeError{err->message, current + 1};
    if (!first.empty() && first[0] == '#') first = {};
    ++current;
    int start = current;
    std::string line;
    bool continued = trimContinuation(&first, d.escape());
    if (!continued && first.empty()) continue;
    line.assign(first);
    bool empty_continuation = false;
    std::string_view more;
    while (continued && scanner.next(&more)) {
      ++current;
      if (isCommentLine(more)) continue;
      if (trimLeftSpace(more).empty()) {
        empty_continuation = true;
        continue;
      }
      continued = trimContinuation(&more, d.escape());
      line.append(more);
    }
    if (empty_continuation) {
      tree.warnings.push_back("[WARNING]: Empty continuation line found in:\n    " + line);
    }
    Node n;
    if (auto err = nodeFromLine(line, d.escape(), &n)) return TreeError{err->message, start};
    n.start_line = start;
    n.end_line = current;
    tree.nodes.push_back(std::move(n));
  }
  if (!tree.warnings.empty()) {
    tree.warnings.emplace_back(
        "[WARNING]: Empty continuation lines will become errors in a future release.");
  }
  if (tree.nodes.empty()) return TreeError{"file with no instructions", current};
  if (scanner.tooLong()) {
    return TreeError{"dockerfile line greater than max allowed size of 65535", current + 1};
  }
  tree.escape = d.escape();
  tree.syntax = d.syntax();
  return tree;
}

// ---------------------------------------------------------------------------
// Phase 2: instructions (buildkit's instructions package).

// BFlags: the flags an instruction declares, then Parse() over the words.
class FlagSet {
 public:
  enum class Type { kBool, kString, kStrings };
  explicit FlagSet(const std::vector<std::string>& args) : args_(args) {}

  void add(std::string name, Type type, std::string def = "") {
    defs_.push_back(
        {std::move(name), type, type == Type::kBool ? "false" : std::move(def), {}, false});
  }

  Status parse() {
    for (const std::string& word : args_) {
      if (!word.starts_with("--")) return InvalidArgument("Arg should start with -- : " + word);
      if (word == "--") return Status::Ok();
      std::string arg = word.substr(2);
      std::string value;
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg.resize(eq);
      }
      Def* f = find(arg);
      if (f == nullptr) return InvalidArgument("Unknown flag: " + arg);
      if (f->used && f->type != Type::kStrings) {
        return InvalidArgument("Duplicate flag specified: " + arg);
      }
      f->used = true;
      switch (f->type) {
        case Type::kBool: {
          if (eq != std::string::npos && value.empty()) {
            return InvalidArgument("Missing a value on flag: " + arg);
          }
          std::string lower = asciiLower(value);
          if (lower.empty()) {
            f->value = "true";
          } else if (lower == "true" || lower == "false") {
            f->value = lower;
          } else {
            return InvalidArgument("Expecting boolean value for flag " + arg + ", not: " + value);
          }
          break;
        }
        case Type::kString:
          if (eq == std::string::npos) return InvalidArgument("Missing a value on flag: " + arg);
          f->value = value;
          break;
        case Type::kStrings:
          if (eq == std::string::npos) return InvalidArgument("Missing a value on flag: " + arg);
          f->values.push_back(value);
          break;
      }
    }
    return Status::Ok();
  }

  const std::string& value(std::string_view name) { return find(name)->value; }
  const std::vector<std::string>& values(std::string_view name) { return find(name)->values; }

 private:
  struct Def {
    std::string name;
    Type type;
    std::string value;
    std::vector<std::string> values;
    bool used;
  };
  Def* find(std::string_view name) {
    for (Def& d : defs_)
      if (d.name == name) return &d;
    return nullptr;
  }
  const std::vector<std::string>& args_;
  std::vector<Def> defs_;
};

Status errAtLeastOne(std::string_view cmd) {
  return InvalidArgument(std::string(cmd) + " requires at least one argument");
}
Status errExactlyOne(std::string_view cmd) {
  return InvalidArgument(std::string(cmd) + " requires exactly one argument");
}
Status errNoDestination(std::string_view cmd) {
  return InvalidArgument(std::string(cmd) +
                         " requires at least two arguments, but only one was provided. "
                         "Destination could not be determined");
}

// handleJSONArgs: exec args, or the words joined as one shell command.
std::vector<std::string> jsonArgs(const std::vector<std::string>& args, bool json) {
  if (args.empty()) return {};
  if (json) return args;
  std::string joined;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) joined += ' ';
    joined += args[i];
  }
  return {joined};
}

Status parseKvps(const std::vector<std::string>& args, std::string_view cmd,
                 std::vector<KeyValue>* out) {
  if (args.empty()) return errAtLeastOne(cmd);
  if (args.size() % 2 != 0) {
    return InvalidArgument("Bad input to " + std::string(cmd) + ", too many arguments");
  }
  for (size_t i = 0; i < args.size(); i += 2) {
    if (args[i].empty()) return InvalidArgument(std::string(cmd) + " names can not be blank");
    out->push_back({args[i], args[i + 1], true});
  }
  return Status::Ok();
}

// parseOptInterval (dockerd 20.10: zero is refused like any value below 1ms).
Status parseInterval(const std::string& value, std::string_view name, int64_t* out) {
  if (value.empty()) return Status::Ok();
  ARCA_ASSIGN_OR_RETURN(int64_t d, parseGoDuration(value));
  if (d < 1000000) {
    return InvalidArgument("Interval " + goQuote(name) + " cannot be less than 1ms");
  }
  *out = d;
  return Status::Ok();
}

Status parseHealthcheck(Instruction& in, FlagSet& flags) {
  if (in.args.empty()) return errAtLeastOne("HEALTHCHECK");
  std::string type = asciiUpper(in.args[0]);
  std::vector<std::string> rest(in.args.begin() + 1, in.args.end());
  Healthcheck hc;
  if (type == "NONE") {  // Docker reads no flag here, not even unknown ones
    if (!rest.empty()) return InvalidArgument("HEALTHCHECK NONE takes no arguments");
    hc.test = {type};
    in.healthcheck = hc;
    return Status::Ok();
  }
  flags.add("interval", FlagSet::Type::kString);
  flags.add("timeout", FlagSet::Type::kString);
  flags.add("start-period", FlagSet::Type::kString);
  flags.add("retries", FlagSet::Type::kString);
  ARCA_RETURN_IF_ERROR(flags.parse());
  if (type != "CMD") {
    return InvalidArgument("Unknown type " + goQuote(type) + " in HEALTHCHECK (try CMD)");
  }
  std::vector<std::string> cmd = jsonArgs(rest, in.json);
  if (cmd.empty()) return InvalidArgument("Missing command after HEALTHCHECK CMD");
  hc.test.push_back(in.json ? "CMD" : "CMD-SHELL");
  hc.test.insert(hc.test.end(), cmd.begin(), cmd.end());
  ARCA_RETURN_IF_ERROR(parseInterval(flags.value("interval"), "interval", &hc.interval_ns));
  ARCA_RETURN_IF_ERROR(parseInterval(flags.value("timeout"), "timeout", &hc.timeout_ns));
  ARCA_RETURN_IF_ERROR(
      parseInterval(flags.value("start-period"), "start-period", &hc.start_period_ns));
  if (const std::string& r = flags.value("retries"); !r.empty()) {
    ARCA_ASSIGN_OR_RETURN(int64_t retries, parseInt32(r));
    if (retries < 1) {
      return InvalidArgument("--retries must be at least 1 (not " + std::to_string(retries) + ")");
    }
    hc.retries = static_cast<int>(retries);
  }
  in.healthcheck = hc;
  return Status::Ok();
}

bool validStageName(std::string_view n) {
  if (n.empty() || n[0] < 'a' || n[0] > 'z') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

Status parseFrom(Instruction& in, FlagSet& flags) {
  const auto& a = in.args;
  if (a.size() == 3 && equalFold(a[1], "as")) {
    in.stage_name = asciiLower(a[2]);
    if (!validStageName(in.stage_name)) {
      return InvalidArgument("invalid name for build stage: " + goQuote(a[2]) +
                             ", name can't start with a number or contain symbols");
    }
  } else if (a.size() != 1) {
    return InvalidArgument("FROM requires either one or three arguments");
  }
  flags.add("platform", FlagSet::Type::kString);
  ARCA_RETURN_IF_ERROR(flags.parse());
  in.base_name = a[0];
  in.platform = flags.value("platform");
  return Status::Ok();
}

Status parseOnbuild(Instruction& in, FlagSet& flags) {
  if (in.args.empty()) return errAtLeastOne("ONBUILD");
  ARCA_RETURN_IF_ERROR(flags.parse());
  std::string trigger = asciiUpper(trimSpace(in.args[0]));
  if (trigger == "ONBUILD") {
    return InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  }
  if (trigger == "MAINTAINER" || trigger == "FROM") {
    return InvalidArgument(trigger + " isn't allowed as an ONBUILD trigger");
  }
  // (?i)^\s*ONBUILD\s* removed from the original line.
  auto ws = [](char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; };
  std::string_view o = in.original;
  while (!o.empty() && ws(o[0])) o.remove_prefix(1);
  if (o.size() >= 7 && equalFold(o.substr(0, 7), "onbuild")) {
    o.remove_prefix(7);
    while (!o.empty() && ws(o[0])) o.remove_prefix(1);
    in.onbuild_expression = std::string(o);
  } else {
    in.onbuild_expression = in.original;
  }
  return Status::Ok();
}

Status parseCopyOrAdd(Instruction& in, FlagSet& flags, bool copy) {
  if (in.args.size() < 2) return errNoDestination(copy ? "COPY" : "ADD");
  flags.add("chown", FlagSet::Type::kString);
  if (copy) flags.add("from", FlagSet::Type::kString);
  flags.add("chmod", FlagSet::Type::kString);
  flags.add("link", FlagSet::Type::kBool);
  ARCA_RETURN_IF_ERROR(flags.parse());
  in.sources.assign(in.args.begin(), in.args.end() - 1);
  in.dest = in.args.back();
  in.chown = flags.value("chown");
  in.chmod = flags.value("chmod");
  if (copy) in.from_flag = flags.value("from");
  in.link = flags.value("link") == "true";
  return Status::Ok();
}

// The typed fields of one instruction, with Docker's check order.
Status parseInstruction(Instruction& in) {
  FlagSet flags(in.flags);
  const std::string& c = in.name;
  if (c == "env" || c == "label") {
    in.kind = c == "env" ? InstructionKind::kEnv : InstructionKind::kLabel;
    ARCA_RETURN_IF_ERROR(flags.parse());
    return parseKvps(in.args, c == "env" ? "ENV" : "LABEL", &in.pairs);
  }
  if (c == "maintainer") {
    in.kind = InstructionKind::kMaintainer;
    if (in.args.size() != 1) return errExactlyOne("MAINTAINER");
    ARCA_RETURN_IF_ERROR(flags.parse());
    in.value = in.args[0];
    return Status::Ok();
  }
  if (c == "add" || c == "copy") {
    in.kind = c == "copy" ? InstructionKind::kCopy : InstructionKind::kAdd;
    return parseCopyOrAdd(in, flags, c == "copy");
  }
  if (c == "from") {
    in.kind = InstructionKind::kFrom;
    return parseFrom(in, flags);
  }
  if (c == "onbuild") {
    in.kind = InstructionKind::kOnbuild;
    return parseOnbuild(in, flags);
  }
  if (c == "workdir" || c == "user") {
    in.kind = c == "user" ? InstructionKind::kUser : InstructionKind::kWorkdir;
    if (in.args.size() != 1) return errExactlyOne(c == "user" ? "USER" : "WORKDIR");
    ARCA_RETURN_IF_ERROR(flags.parse());
    in.value = in.args[0];
    return Status::Ok();
  }
  if (c == "run") {
    in.kind = InstructionKind::kRun;
    flags.add("mount", FlagSet::Type::kStrings);
    flags.add("network", FlagSet::Type::kString, "default");
    ARCA_RETURN_IF_ERROR(flags.parse());
    in.cmdline = jsonArgs(in.args, in.json);
    in.mounts = flags.values("mount");
    in.network = flags.value("network");
    if (in.network != "default" && in.network != "none" && in.network != "host") {
      return InvalidArgument("invalid network mode " + goQuote(in.network));
    }
    return Status::Ok();
  }
  if (c == "cmd" || c == "entrypoint") {
    in.kind = c == "cmd" ? InstructionKind::kCmd : InstructionKind::kEntrypoint;
    ARCA_RETURN_IF_ERROR(flags.parse());
    in.cmdline = jsonArgs(in.args, in.json);
    return Status::Ok();
  }
  if (c == "healthcheck") {
    in.kind = InstructionKind::kHealthcheck;
    return parseHealthcheck(in, flags);
  }
  if (c == "expose") {
    in.kind = InstructionKind::kExpose;
    if (in.args.empty()) return errAtLeastOne("EXPOSE");
    ARCA_RETURN_IF_ERROR(flags.parse());
    in.list = in.args;
    std::sort(in.list.begin(), in.list.end());
    return Status::Ok();
  }
  if (c == "volume") {
    in.kind = InstructionKind::kVolume;
    if (in.args.empty()) return errAtLeastOne("VOLUME");
    ARCA_RETURN_IF_ERROR(flags.parse());
    for (const std::string& v : in.args) {
      std::string_view t = trimSpace(v);
      if (t.empty()) return InvalidArgument("VOLUME specified can not be an empty string");
      in.list.emplace_back(t);
    }
    return Status::Ok();
  }
  if (c == "stopsignal") {  // Docker reads no flag here
    in.kind = InstructionKind::kStopsignal;
    if (in.args.size() != 1) return errExactlyOne("STOPSIGNAL");
    in.value = in.args[0];
    return Status::Ok();
  }
  if (c == "arg") {  // nor here
    in.kind = InstructionKind::kArg;
    if (in.args.empty()) return errAtLeastOne("ARG");
    for (const std::string& a : in.args) {
      size_t eq = a.find('=');
      if (eq == std::string::npos) {
        in.pairs.push_back({a, "", false});
        continue;
      }
      if (eq == 0) return InvalidArgument("ARG names can not be blank");
      in.pairs.push_back({a.substr(0, eq), a.substr(eq + 1), true});
    }
    return Status::Ok();
  }
  if (c == "shell") {
    in.kind = InstructionKind::kShell;
    ARCA_RETURN_IF_ERROR(flags.parse());
    std::vector<std::string> shell = jsonArgs(in.args, in.json);
    if (shell.empty()) return errAtLeastOne("SHELL");
    if (!in.json) return InvalidArgument("SHELL requires the arguments to be in JSON form");
    in.list = std::move(shell);
    return Status::Ok();
  }
  return InvalidArgument("unknown instruction: " + asciiUpper(in.keyword));
}

InstructionKind kindOf(std::string_view name) {
  static constexpr std::pair<std::string_view, InstructionKind> kKinds[] = {
      {"add", InstructionKind::kAdd},
      {"arg", InstructionKind::kArg},
      {"cmd", InstructionKind::kCmd},
      {"copy", InstructionKind::kCopy},
      {"entrypoint", InstructionKind::kEntrypoint},
      {"env", InstructionKind::kEnv},
      {"expose", InstructionKind::kExpose},
      {"from", InstructionKind::kFrom},
      {"healthcheck", InstructionKind::kHealthcheck},
      {"label", InstructionKind::kLabel},
      {"maintainer", InstructionKind::kMaintainer},
      {"onbuild", InstructionKind::kOnbuild},
      {"run", InstructionKind::kRun},
      {"shell", InstructionKind::kShell},
      {"stopsignal", InstructionKind::kStopsignal},
      {"user", InstructionKind::kUser},
      {"volume", InstructionKind::kVolume},
      {"workdir", InstructionKind::kWorkdir},
  };
  for (const auto& [n, k] : kKinds)
    if (n == name) return k;
  return InstructionKind::kUnknown;
}

// Phase-1 fields of an instruction (the trigger of an ONBUILD gets only these).
Instruction fromNode(const Node& n) {
  Instruction in;
  in.kind = kindOf(n.name);
  in.keyword = n.keyword;
  in.name = n.name;
  in.start_line = n.start_line;
  in.end_line = n.end_line;
  in.original = n.original;
  in.code = std::string(trimSpace(n.original));
  in.flags = n.flags;
  in.args = n.args;
  in.json = n.json;
  for (const Node& child : n.child) {
    Instruction t = fromNode(child);
    t.start_line = n.start_line;
    t.end_line = n.end_line;
    in.onbuild.push_back(std::move(t));
  }
  return in;
}

}  // namespace

// ---------------------------------------------------------------------------

StatusOr<int64_t> parseGoDuration(std::string_view orig) {
  auto invalid = [&] { return InvalidArgument("time: invalid duration " + timeQuote(orig)); };
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  constexpr uint64_t kMax = uint64_t{1} << 63;
  uint64_t d = 0;
  auto isDigit = [](char c) { return c >= '0' && c <= '9'; };
  while (!s.empty()) {
    if (!(s[0] == '.' || isDigit(s[0]))) return invalid();
    // leadingInt
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && isDigit(s[i]); ++i) {
      if (v > kMax / 10) return invalid();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kMax) return invalid();
    }
    bool pre = i > 0;
    s.remove_prefix(i);
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflow = false;
      for (; j < s.size() && isDigit(s[j]); ++j) {
        if (overflow) continue;
        if (f > (kMax - 1) / 10) {
          overflow = true;
          continue;
        }
        uint64_t y = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (y > kMax) {
          overflow = true;
          continue;
        }
        f = y;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid();
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !isDigit(s[u])) ++u;
    if (u == 0) return InvalidArgument("time: missing unit in duration " + timeQuote(orig));
    std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns")
      unit = 1;
    else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs")
      unit = 1000;
    else if (unit_name == "ms")
      unit = 1000000;
    else if (unit_name == "s")
      unit = 1000000000;
    else if (unit_name == "m")
      unit = 60ull * 1000000000;
    else if (unit_name == "h")
      unit = 3600ull * 1000000000;
    else {
      return InvalidArgument("time: unknown unit " + timeQuote(unit_name) + " in duration " +
                             timeQuote(orig));
    }
    if (v > kMax / unit) return invalid();
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kMax) return invalid();
    }
    d += v;
    if (d > kMax) return invalid();
  }
  if (neg) return d == kMax ? INT64_MIN : -static_cast<int64_t>(d);
  if (d > kMax - 1) return invalid();
  return static_cast<int64_t>(d);
}

int Dockerfile::stageIndex(std::string_view name) const {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (equalFold(stages[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

StatusOr<Dockerfile> parseDockerfile(std::string_view text, std::string_view name,
                                     int* error_line) {
  auto fail = [&](int line, std::string msg) -> Status {
    if (error_line != nullptr) *error_line = line;
    return InvalidArgument(std::move(msg));
  };
  if (text.empty()) return fail(0, "the Dockerfile (" + std::string(name) + ") cannot be empty");
  auto parsed = parseTree(text);
  if (auto* err = std::get_if<TreeError>(&parsed)) {
    return fail(err->line, "failed to parse " + std::string(name) + ": " + err->message);
  }
  Tree& tree = std::get<Tree>(parsed);
  Dockerfile df;
  df.escape = tree.escape;
  df.syntax = std::move(tree.syntax);
  df.warnings = std::move(tree.warnings);
  for (const Node& n : tree.nodes) {
    Instruction in = fromNode(n);
    Status st = parseInstruction(in);
    if (!st.ok()) {
      return fail(n.start_line, "dockerfile parse error line " + std::to_string(n.start_line) +
                                    ": " + st.message());
    }
    if (df.stages.empty() && in.kind == InstructionKind::kArg) {
      df.meta_args.push_back(std::move(in));
    } else if (in.kind == InstructionKind::kFrom) {
      Stage stage;
      stage.name = in.stage_name;
      stage.from = std::move(in);
      df.stages.push_back(std::move(stage));
    } else if (df.stages.empty()) {
      return fail(n.start_line, "no build stage in current context");
    } else {
      df.stages.back().commands.push_back(std::move(in));
    }
  }
  return df;
}

StatusOr<int> targetStageIndex(const Dockerfile& df, std::string_view target) {
  if (target.empty()) return static_cast<int>(df.stages.size()) - 1;
  int i = df.stageIndex(target);
  if (i < 0) {
    return InvalidArgument("failed to reach build target " + std::string(target) +
                           " in Dockerfile");
  }
  return i;
}

StatusOr<std::vector<const Instruction*>> targetInstructions(const Dockerfile& df,
                                                             std::string_view target) {
  ARCA_ASSIGN_OR_RETURN(int last, targetStageIndex(df, target));
  std::vector<const Instruction*> steps;
  for (const Instruction& a : df.meta_args) steps.push_back(&a);
  for (int i = 0; i <= last; ++i) {
    const Stage& s = df.stages[static_cast<size_t>(i)];
    steps.push_back(&s.from);
    for (const Instruction& c : s.commands) steps.push_back(&c);
  }
  return steps;
}

StatusOr<Instruction> parseTrigger(std::string_view expression) {
  auto parsed = parseTree(expression);
  if (auto* err = std::get_if<TreeError>(&parsed)) return InvalidArgument(err->message);
  Tree& tree = std::get<Tree>(parsed);
  if (tree.nodes.size() != 1) {
    return InvalidArgument("onbuild trigger should be a single expression");
  }
  Instruction in = fromNode(tree.nodes[0]);
  ARCA_RETURN_IF_ERROR(parseInstruction(in));
  if (in.kind == InstructionKind::kFrom) {
    return InvalidArgument("*instructions.Stage is not a command type");
  }
  return in;
}

Instruction labelOption(std::string_view key, std::string_view value) {
  Instruction in;
  in.kind = InstructionKind::kLabel;
  in.keyword = "LABEL";
  in.name = "label";
  in.code = "LABEL " + std::string(key) + "=" + std::string(value);
  in.original = in.code;
  in.args = {std::string(key), std::string(value)};
  in.pairs.push_back({std::string(key), std::string(value), true});
  in.no_expand = true;
  return in;
}

}  // namespace arca::builder
