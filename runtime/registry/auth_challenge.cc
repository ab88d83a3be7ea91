// RFC 7235 challenges:
//   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param = token BWS "=" BWS ( token / quoted-string )
// Challenges and their parameters are both comma-separated, so a comma is
// followed either by another "name=" (same challenge) or by a new scheme.
// The parser looks ahead to tell the two apart. It is lenient where servers
// are known to be sloppy (unquoted URLs as values, missing commas between
// parameters, an unterminated quoted string at the end) and skips to the
// next comma when something does not parse, so one bad challenge does not
// hide the others.
#include "runtime/registry/auth_challenge.h"

#include <algorithm>
#include <cstring>

namespace arca::registry {
namespace {

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isTchar(char c) { return c != '\0' && (isAlnum(c) || std::strchr("!#$%&'*+-.^_`|~", c)); }

bool isToken68Char(char c) { return c != '\0' && (isAlnum(c) || std::strchr("-._~+/", c)); }

bool isWs(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s), n_(s.size()) {}

  std::vector<Challenge> run() {
    std::vector<Challenge> out;
    while (true) {
      while (i_ < n_ && (isWs(s_[i_]) || s_[i_] == ',')) ++i_;
      if (i_ >= n_) break;
      std::string_view scheme = token();
      if (scheme.empty() || (i_ < n_ && !isWs(s_[i_]) && s_[i_] != ',')) {
        // Not a scheme (or one with garbage glued to it): drop up to the next comma.
        skipToComma();
        continue;
      }
      Challenge c;
      c.scheme = lower(scheme);
      size_t before = i_;
      skipWs();
      if (i_ > before && i_ < n_ && s_[i_] != ',') {
        if (!token68(&c.token68)) params(&c);
      }
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  void skipWs() {
    while (i_ < n_ && isWs(s_[i_])) ++i_;
  }

  std::string_view token() {
    size_t b = i_;
    while (i_ < n_ && isTchar(s_[i_])) ++i_;
    return s_.substr(b, i_ - b);
  }

  // Error recovery: moves to the next comma that is not inside a quoted string.
  void skipToComma() {
    while (i_ < n_ && s_[i_] != ',') {
      if (s_[i_] != '"') {
        ++i_;
        continue;
      }
      ++i_;
      while (i_ < n_ && s_[i_] != '"') i_ += s_[i_] == '\\' ? 2 : 1;
      i_ = std::min(i_ + 1, n_);
    }
  }

  // True when "name =" starts at the current position (nothing consumed).
  bool paramAhead() const {
    size_t j = i_;
    while (j < n_ && isTchar(s_[j])) ++j;
    if (j == i_) return false;
    while (j < n_ && isWs(s_[j])) ++j;
    return j < n_ && s_[j] == '=';
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  // Only when it is all there is before the next comma: "realm=x" is a parameter.
  bool token68(std::string* out) {
    size_t save = i_;
    while (i_ < n_ && isToken68Char(s_[i_])) ++i_;
    if (i_ == save) return false;
    while (i_ < n_ && s_[i_] == '=') ++i_;
    size_t end = i_;
    skipWs();
    if (i_ >= n_ || s_[i_] == ',') {
      *out = std::string(s_.substr(save, end - save));
      return true;
    }
    i_ = save;
    return false;
  }

  // A quoted string (backslash escapes) or a bare value. Bare values are read
  // up to whitespace or a comma rather than as strict tokens: registries have
  // been seen sending realm=https://host/token unquoted.
  bool value(std::string* out) {
    if (i_ < n_ && s_[i_] == '"') {
      ++i_;
      while (i_ < n_) {
        char c = s_[i_++];
        if (c == '"') return true;
        if (c == '\\') {
          if (i_ < n_) out->push_back(s_[i_++]);
          continue;
        }
        out->push_back(c);
      }
      return true;  // unterminated at the end of the header: keep what was there
    }
    size_t b = i_;
    while (i_ < n_ && !isWs(s_[i_]) && s_[i_] != ',' && s_[i_] != '"') ++i_;
    if (i_ == b) return false;
    *out = std::string(s_.substr(b, i_ - b));
    return true;
  }

  // The auth-params of one challenge; returns at the end of the header or at
  // the comma before the next challenge.
  void params(Challenge* c) {
    while (true) {
      skipWs();
      if (i_ >= n_) return;
      if (s_[i_] == ',') {
        size_t comma = i_;
        while (i_ < n_ && (isWs(s_[i_]) || s_[i_] == ',')) ++i_;
        if (i_ >= n_) return;
        if (!paramAhead()) {
          i_ = comma;  // a new challenge starts after this comma
          return;
        }
        continue;
      }
      std::string_view name = token();
      skipWs();
      std::string v;
      bool ok = !name.empty() && i_ < n_ && s_[i_] == '=';
      if (ok) {
        ++i_;
        skipWs();
        ok = value(&v);
      }
      if (!ok) {
        // Progress is certain: either the name was consumed or the current character is
        // not a comma, and skipToComma moves past anything but a comma.
        skipToComma();
        continue;
      }
      c->params.emplace(lower(name), std::move(v));
    }
  }

  std::string_view s_;
  size_t n_;
  size_t i_ = 0;
};

}  // namespace

std::vector<Challenge> parseChallenges(std::string_view header) { return Parser(header).run(); }

}  // namespace arca::registry
