// Docker image references, after github.com/distribution/reference (v0.6):
//
//   reference       := name [ ":" tag ] [ "@" digest ]
//   name            := [domain "/"] path-component ["/" path-component]*
//   domain          := host [":" port-number]
//   host            := domain-name | "[" IPv6 hex digits and colons "]"
//   domain-name     := domain-component ["." domain-component]*
//   domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   path-component  := alnum [separator alnum]*
//   alnum           := /[a-z0-9]+/
//   separator       := /[_.]|__|[-]+/
//   tag             := /[\w][\w.-]{0,127}/
//   digest          := algorithm ":" hex, algorithm :=
//   /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*/
//
// A hand-written parser: no std::regex (slow, and this runs on fuzzed input).
#include "runtime/image/reference.h"

#include <cstddef>

namespace arca::image {
namespace {

constexpr std::string_view kDefaultDomain = "docker.io";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kOfficialRepoPrefix = "library/";
constexpr size_t kNameTotalLengthMax = 255;
constexpr size_t kTagMax = 128;

bool isLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isWord(char c) { return isAlnum(c) || c == '_'; }
bool isXDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isLowerHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

bool hasUpper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// path-component := alnum [separator alnum]*
bool validPathComponent(std::string_view c) {
  size_t i = 0;
  const size_t n = c.size();
  if (n == 0 || !isLowerAlnum(c[0])) return false;
  while (i < n) {
    if (isLowerAlnum(c[i])) {
      ++i;
      continue;
    }
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < n && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < n && c[i] == '-') ++i;
    } else {
      return false;
    }
    if (i >= n || !isLowerAlnum(c[i])) return false;  // a separator is followed by alnum
  }
  return true;
}

bool validPath(std::string_view p) {
  if (p.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    std::string_view comp =
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!validPathComponent(comp)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool validDomainComponent(std::string_view c) {
  if (c.empty() || !isAlnum(c.front()) || !isAlnum(c.back())) return false;
  for (char ch : c) {
    if (!isAlnum(ch) && ch != '-') return false;
  }
  return true;
}

bool validPort(std::string_view p) {
  if (p.empty()) return false;
  for (char c : p) {
    if (!isDigit(c)) return false;
  }
  return true;
}

// domain := host [":" port]
bool validDomain(std::string_view d) {
  std::string_view host = d;
  std::string_view rest;
  if (!d.empty() && d[0] == '[') {
    size_t close = d.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : d.substr(1, close - 1)) {
      if (!isXDigit(c) && c != ':') return false;
    }
    rest = d.substr(close + 1);
    if (rest.empty()) return true;
    return rest[0] == ':' && validPort(rest.substr(1));
  }
  size_t colon = d.find(':');
  if (colon != std::string_view::npos) {
    host = d.substr(0, colon);
    if (!validPort(d.substr(colon + 1))) return false;
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    std::string_view comp =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!validDomainComponent(comp)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool validTag(std::string_view t) {
  if (t.empty() || t.size() > kTagMax || !isWord(t[0])) return false;
  for (char c : t) {
    if (!isWord(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// The digest shape the reference grammar accepts (go-digest validates it further).
bool digestShape(std::string_view d) {
  size_t colon = d.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view alg = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  // algorithm := component ([-_+.] component)*, component := [A-Za-z][A-Za-z0-9]*
  bool expect_alpha = true;
  for (char c : alg) {
    if (expect_alpha) {
      if (!isAlpha(c)) return false;
      expect_alpha = false;
    } else if (c == '-' || c == '_' || c == '+' || c == '.') {
      expect_alpha = true;
    } else if (!isAlnum(c)) {
      return false;
    }
  }
  if (expect_alpha) return false;  // empty, or ends with a separator
  if (hex.size() < 32) return false;
  for (char c : hex) {
    if (!isXDigit(c)) return false;
  }
  return true;
}

// go-digest's Digest.Validate, with its error texts.
Status validateDigest(std::string_view d) {
  size_t colon = d.find(':');
  std::string_view alg = d.substr(0, colon);
  std::string_view hex = d.substr(colon + 1);
  size_t want = 0;
  if (alg == "sha256") {
    want = 64;
  } else if (alg == "sha384") {
    want = 96;
  } else if (alg == "sha512") {
    want = 128;
  } else {
    return InvalidArgument("unsupported digest algorithm");
  }
  if (hex.size() != want) return InvalidArgument("invalid checksum digest length");
  for (char c : hex) {
    if (!isLowerHex(c)) return InvalidArgument("invalid checksum digest format");
  }
  return Status::Ok();
}

// Splits "path[:tag][@digest]" and checks the shape of each part.
bool splitRemainder(std::string_view rem, Reference* out) {
  size_t end = rem.find_first_of(":@");
  std::string_view path = rem.substr(0, end);
  if (!validPath(path)) return false;
  out->path = std::string(path);
  if (end == std::string_view::npos) return true;
  rem = rem.substr(end);
  if (rem[0] == ':') {
    size_t at = rem.find('@');
    std::string_view tag =
        rem.substr(1, at == std::string_view::npos ? std::string_view::npos : at - 1);
    if (!validTag(tag)) return false;
    out->tag = std::string(tag);
    if (at == std::string_view::npos) return true;
    rem = rem.substr(at);
  }
  // rem[0] == '@'
  std::string_view digest = rem.substr(1);
  if (!digestShape(digest)) return false;
  out->digest = std::string(digest);
  return true;
}

// distribution/reference's splitDockerDomain.
void splitDockerDomain(std::string_view name, std::string* domain, std::string* remainder) {
  size_t i = name.find('/');
  std::string_view first = i == std::string_view::npos ? std::string_view() : name.substr(0, i);
  if (i == std::string_view::npos || (first.find_first_of(".:") == std::string_view::npos &&
                                      first != "localhost" && !hasUpper(first))) {
    *domain = kDefaultDomain;
    *remainder = std::string(name);
  } else {
    *domain = std::string(first);
    *remainder = std::string(name.substr(i + 1));
  }
  if (*domain == kLegacyDefaultDomain) *domain = kDefaultDomain;
  if (*domain == kDefaultDomain && remainder->find('/') == std::string::npos) {
    *remainder = std::string(kOfficialRepoPrefix) + *remainder;
  }
}

bool isFullHexId(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!isLowerHex(c)) return false;
  }
  return true;
}

// "library/busybox" -> "busybox" on docker.io; other domains keep everything.
std::string familiarNameOf(const std::string& domain, const std::string& path) {
  if (domain != kDefaultDomain) return domain + "/" + path;
  if (path.compare(0, kOfficialRepoPrefix.size(), kOfficialRepoPrefix) == 0) {
    std::string rest = path.substr(kOfficialRepoPrefix.size());
    if (rest.find('/') == std::string::npos) return rest;
  }
  return path;
}

std::string suffix(const Reference& r, bool default_latest) {
  std::string s;
  if (!r.tag.empty()) s += ":" + r.tag;
  if (!r.digest.empty()) s += "@" + r.digest;
  if (s.empty() && default_latest) s = ":latest";
  return s;
}

}  // namespace

std::string Reference::name() const { return domain + "/" + path; }

std::string Reference::full() const { return name() + suffix(*this, true); }

std::string Reference::familiarName() const { return familiarNameOf(domain, path); }

std::string Reference::familiar() const { return familiarName() + suffix(*this, true); }

StatusOr<Reference> parseReference(std::string_view s) {
  if (isFullHexId(s)) {
    return InvalidArgument("invalid repository name (" + std::string(s) +
                           "), cannot specify 64-byte hexadecimal strings");
  }
  Reference ref;
  std::string remainder;
  splitDockerDomain(s, &ref.domain, &remainder);
  std::string remote = remainder.substr(0, remainder.find(':'));
  if (hasUpper(remote)) {
    return InvalidArgument("invalid reference format: repository name (" + remote +
                           ") must be lowercase");
  }
  if (!validDomain(ref.domain) || !splitRemainder(remainder, &ref)) {
    Reference lower;
    if (validDomain(ref.domain) && splitRemainder(toLower(remainder), &lower)) {
      return InvalidArgument("repository name must be lowercase");
    }
    return InvalidArgument("invalid reference format");
  }
  if (ref.domain.size() + 1 + ref.path.size() > kNameTotalLengthMax) {
    return InvalidArgument("repository name must not be more than 255 characters");
  }
  if (!ref.digest.empty()) ARCA_RETURN_IF_ERROR(validateDigest(ref.digest));
  return ref;
}

StatusOr<Reference> parseNormalizedNamed(std::string_view s) {
  ARCA_ASSIGN_OR_RETURN(Reference ref, parseReference(s));
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string familiarString(std::string_view full_ref) {
  auto ref = parseReference(full_ref);
  if (ref.ok()) return ref->familiarName() + suffix(*ref, false);
  // Not a valid reference: strip the default prefixes textually.
  std::string s(full_ref);
  std::string lib = std::string(kDefaultDomain) + "/" + std::string(kOfficialRepoPrefix);
  if (s.compare(0, lib.size(), lib) == 0) {
    std::string rest = s.substr(lib.size());
    if (rest.substr(0, rest.find_first_of(":@")).find('/') == std::string::npos) return rest;
  }
  std::string dom = std::string(kDefaultDomain) + "/";
  if (s.compare(0, dom.size(), dom) == 0) return s.substr(dom.size());
  return s;
}

bool looksLikeIdPrefix(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.substr(0, kPrefix.size()) == kPrefix) s.remove_prefix(kPrefix.size());
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!isLowerHex(c)) return false;
  }
  return true;
}

}  // namespace arca::image
