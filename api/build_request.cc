#include "api/build_request.h"

#include <openssl/evp.h>
#include <rapidjson/document.h>
#include <rapidjson/error/error.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "api/router.h"
#include "runtime/agent/json_log.h"
#include "runtime/distribution/progress.h"

namespace arca::api {
namespace {

using Query = std::multimap<std::string, std::string>;
using JsonValue = rapidjson::Value;

// r.FormValue: the first value of `key`, "" when absent.
std::string formValue(const Query& q, const std::string& key) {
  auto it = q.lower_bound(key);
  return it != q.end() && it->first == key ? it->second : std::string();
}

// r.Form[key]: every value, nullopt when the key is absent.
std::optional<std::vector<std::string>> formValues(const Query& q, const std::string& key) {
  auto [b, e] = q.equal_range(key);
  if (b == e) return std::nullopt;
  std::vector<std::string> out;
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::string lowerTrimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// httputils.BoolValue.
bool boolValue(const Query& q, const std::string& key) {
  std::string v = lowerTrimmed(formValue(q, key));
  return !(v.empty() || v == "0" || v == "no" || v == "false" || v == "none");
}

enum class IntError { kNone, kSyntax, kRange };

// strconv.ParseInt(s, 10, 64): an optional sign, then decimal digits.
IntError parseGoInt64(const std::string& s, int64_t* out) {
  std::string_view digits = s;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return IntError::kSyntax;
  uint64_t mag = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), mag);
  if (ec == std::errc::result_out_of_range) return IntError::kRange;
  if (ec != std::errc() || p != digits.data() + digits.size()) return IntError::kSyntax;
  constexpr uint64_t kMax = static_cast<uint64_t>(INT64_MAX);
  if (mag > kMax + (negative ? 1 : 0)) return IntError::kRange;
  *out = negative ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return IntError::kNone;
}

// httputils.Int64ValueOrZero.
int64_t int64OrZero(const Query& q, const std::string& key) {
  int64_t v = 0;
  return parseGoInt64(formValue(q, key), &v) == IntError::kNone ? v : 0;
}

// Go's %q of an ASCII-ish string (enough for error texts).
std::string goQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Go's quoteChar, used by the JSON scanner's error texts.
std::string quoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  static const std::pair<unsigned char, const char*> kEscapes[] = {
      {'\a', "\\a"}, {'\b', "\\b"}, {'\f', "\\f"}, {'\n', "\\n"},
      {'\r', "\\r"}, {'\t', "\\t"}, {'\v', "\\v"}, {'\\', "\\\\"}};
  for (const auto& [ch, text] : kEscapes) {
    if (c == ch) return std::string("'") + text + "'";
  }
  char buf[16];
  if (c < 0x20 || c == 0x7f) {
    snprintf(buf, sizeof buf, "'\\x%02x'", c);
    return buf;
  }
  if (c >= 0x80 && c < 0xa0) {
    snprintf(buf, sizeof buf, "'\\u%04x'", c);
    return buf;
  }
  if (c >= 0xa0) {  // string(byte) is the rune U+00XX, printed as UTF-8
    std::string out = "'";
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
    return out + "'";
  }
  return std::string("'") + static_cast<char>(c) + "'";
}

StatusOr<rapidjson::Document> parseJson(std::string_view text) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (d.HasParseError()) return InvalidArgument(goJsonSyntaxError(text));
  return d;
}

const char* goKind(const JsonValue& v) {
  if (v.IsBool()) return "bool";
  if (v.IsNumber()) return "number";
  if (v.IsArray()) return "array";
  if (v.IsObject()) return "object";
  return "string";
}

std::string str(const JsonValue& v) { return std::string(v.GetString(), v.GetStringLength()); }

// Go's UnmarshalTypeError texts. `field` is "Struct.Field" or "".
Status typeError(const std::string& value, const std::string& field, const std::string& type) {
  if (field.empty()) {
    return InvalidArgument("json: cannot unmarshal " + value + " into Go value of type " + type);
  }
  return InvalidArgument("json: cannot unmarshal " + value + " into Go struct field " + field +
                         " of type " + type);
}
Status typeError(const JsonValue& v, const std::string& field, const std::string& type) {
  return typeError(goKind(v), field, type);
}

// A JSON string into a Go string; null leaves `out` alone.
Status intoString(const JsonValue& v, const std::string& field, std::string* out) {
  if (v.IsNull()) return Status::Ok();
  if (!v.IsString()) return typeError(v, field, "string");
  *out = str(v);
  return Status::Ok();
}

// A JSON number into a Go int64 ("number 1.5" when it is not one).
Status intoInt64(const JsonValue& v, const std::string& field, int64_t* out) {
  if (v.IsNull()) return Status::Ok();
  if (!v.IsNumber()) return typeError(v, field, "int64");
  if (!v.IsInt64()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    v.Accept(w);
    return typeError(std::string("number ") + sb.GetString(), field, "int64");
  }
  *out = v.GetInt64();
  return Status::Ok();
}

// map[string]string (labels; an output's Attrs).
Status intoStringMap(const JsonValue& v, const std::string& field, const std::string& type,
                     std::map<std::string, std::string>* out) {
  if (v.IsNull()) return Status::Ok();
  if (!v.IsObject()) return typeError(v, field, type);
  for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
    std::string& slot = (*out)[str(it->name)];
    ARCA_RETURN_IF_ERROR(intoString(it->value, field, &slot));
  }
  return Status::Ok();
}

// Go's case-insensitive struct field match.
bool fieldIs(const JsonValue& name, std::string_view field) {
  std::string_view n(name.GetString(), name.GetStringLength());
  return n.size() == field.size() &&
         std::equal(n.begin(), n.end(), field.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

Status parseBuildArgs(std::string_view text, BuildRequest* r) {
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document d, parseJson(text));
  if (d.IsNull()) return Status::Ok();
  if (!d.IsObject()) return typeError(d, "", "map[string]*string");
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    auto& slot = r->build_args[str(it->name)];
    if (it->value.IsNull()) {
      slot.reset();
      continue;
    }
    if (!it->value.IsString()) return typeError(it->value, "", "string");
    slot = str(it->value);
  }
  return Status::Ok();
}

Status parseCacheFrom(std::string_view text, BuildRequest* r) {
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document d, parseJson(text));
  if (d.IsNull()) return Status::Ok();
  if (!d.IsArray()) return typeError(d, "", "[]string");
  for (const auto& e : d.GetArray()) {
    std::string s;
    ARCA_RETURN_IF_ERROR(intoString(e, "", &s));
    r->cache_from.push_back(std::move(s));
  }
  return Status::Ok();
}

Status parseUlimits(std::string_view text, BuildRequest* r) {
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document d, parseJson(text));
  if (d.IsNull()) return Status::Ok();
  if (!d.IsArray()) return typeError(d, "", "[]*container.Ulimit");
  for (const auto& e : d.GetArray()) {
    if (e.IsNull()) continue;  // a nil *Ulimit
    if (!e.IsObject()) return typeError(e, "", "container.Ulimit");
    BuildUlimit u;
    for (auto it = e.MemberBegin(); it != e.MemberEnd(); ++it) {
      if (fieldIs(it->name, "Name")) {
        ARCA_RETURN_IF_ERROR(intoString(it->value, "Ulimit.Name", &u.name));
      } else if (fieldIs(it->name, "Hard")) {
        ARCA_RETURN_IF_ERROR(intoInt64(it->value, "Ulimit.Hard", &u.hard));
      } else if (fieldIs(it->name, "Soft")) {
        ARCA_RETURN_IF_ERROR(intoInt64(it->value, "Ulimit.Soft", &u.soft));
      }
    }
    r->ulimits.push_back(std::move(u));
  }
  return Status::Ok();
}

Status parseOutputs(std::string_view text, BuildRequest* r) {
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document d, parseJson(text));
  if (d.IsNull()) return Status::Ok();
  if (!d.IsArray()) return typeError(d, "", "[]build.ImageBuildOutput");
  for (const auto& e : d.GetArray()) {
    BuildOutputSpec o;
    if (!e.IsNull() && !e.IsObject()) return typeError(e, "", "build.ImageBuildOutput");
    if (e.IsObject()) {
      for (auto it = e.MemberBegin(); it != e.MemberEnd(); ++it) {
        if (fieldIs(it->name, "Type")) {
          ARCA_RETURN_IF_ERROR(intoString(it->value, "ImageBuildOutput.Type", &o.type));
        } else if (fieldIs(it->name, "Attrs")) {
          ARCA_RETURN_IF_ERROR(intoStringMap(it->value, "ImageBuildOutput.Attrs",
                                             "map[string]string", &o.attrs));
        }
      }
    }
    r->outputs.push_back(std::move(o));
  }
  return Status::Ok();
}

// errors.Wrap(err, prefix) of an invalidParam.
Status wrapped(const Status& st, const std::string& prefix) {
  return InvalidArgument(prefix + ": " + st.message());
}

// getAuthConfigs: base64url (padded) JSON map of registry -> AuthConfig.
// Whatever does not decode is dropped, as dockerd ignores decode errors.
std::map<std::string, registry::AuthConfig> parseAuthConfigs(std::string_view encoded) {
  std::map<std::string, registry::AuthConfig> out;
  std::string b64;
  for (char c : encoded) {
    if (c == '\r' || c == '\n') continue;
    if (c == '+' || c == '/') return out;  // not in the URL alphabet
    b64 += c == '-' ? '+' : c == '_' ? '/' : c;
  }
  if (b64.empty() || b64.size() % 4 != 0) return out;
  std::string json(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(json.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return out;
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  json.resize(static_cast<size_t>(n) - std::min(pad, static_cast<size_t>(n)));
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag>(json.data(),
                                                                              json.size());
  if (d.HasParseError() || !d.IsObject()) return out;
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    if (!it->value.IsObject()) continue;
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    it->value.Accept(w);
    auto a = registry::parseAuthJson(std::string_view(sb.GetString(), sb.GetSize()));
    if (a.ok()) out[str(it->name)] = std::move(a).value();
  }
  return out;
}

// urlutil.IsURL / IsGitURL.
bool isUrl(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }
bool isGitUrl(const std::string& s) {
  if (isUrl(s) && s.size() >= 4 && s.compare(s.size() - 4, 4, ".git") == 0) return true;
  for (const char* p : {"git://", "github.com/", "git@"}) {
    if (s.rfind(p, 0) == 0) return true;
  }
  return false;
}

bool versionAtLeast(const std::string& v, const char* min) {
  return v.empty() || compareVersions(v, min) >= 0;
}

// newImageBuildOptions: the route's own checks, in its order.
Status parseRouteOptions(const Query& q, const std::string& version, BuildRequest* r) {
  std::string dockerfile = formValue(q, "dockerfile");
  if (!dockerfile.empty()) r->dockerfile = dockerfile;
  r->quiet = boolValue(q, "q");
  r->no_cache = boolValue(q, "nocache");
  r->force_remove = boolValue(q, "forcerm");
  r->pull = boolValue(q, "pull");
  r->memory_swap = int64OrZero(q, "memswap");
  r->memory = int64OrZero(q, "memory");
  r->cpu_shares = int64OrZero(q, "cpushares");
  r->cpu_period = int64OrZero(q, "cpuperiod");
  r->cpu_quota = int64OrZero(q, "cpuquota");
  r->cpuset_cpus = formValue(q, "cpusetcpus");
  r->cpuset_mems = formValue(q, "cpusetmems");
  r->cgroup_parent = formValue(q, "cgroupparent");
  r->network_mode = formValue(q, "networkmode");
  r->extra_hosts = formValues(q, "extrahosts").value_or(std::vector<std::string>{});
  r->squash = boolValue(q, "squash");
  r->target = formValue(q, "target");
  r->session_id = formValue(q, "session");
  r->build_id = formValue(q, "buildid");

  if (formValues(q, "securityopt")) {
    return InvalidArgument("security options are not supported on linux");
  }
  if (r->force_remove || formValue(q, "rm").empty()) {
    r->remove = true;
  } else {
    r->remove = boolValue(q, "rm");
  }
  if (versionAtLeast(version, "1.32")) r->platform_text = formValue(q, "platform");
  if (versionAtLeast(version, "1.40")) {
    if (std::string o = formValue(q, "outputs"); !o.empty()) {
      Status st = parseOutputs(o, r);
      if (!st.ok()) return wrapped(st, "invalid outputs specified");
    }
  }
  if (std::string s = formValue(q, "shmsize"); !s.empty()) {
    IntError e = parseGoInt64(s, &r->shm_size);
    if (e != IntError::kNone) {
      // A bare strconv error: dockerd answers 500.
      return Internal("strconv.ParseInt: parsing " + goQuote(s) +
                      (e == IntError::kSyntax ? ": invalid syntax" : ": value out of range"));
    }
  }
  if (std::string i = formValue(q, "isolation"); !i.empty()) {
    std::string l = lowerTrimmed(i);
    if (l != "default" || l.size() != i.size()) {
      return InvalidArgument("unsupported isolation: " + goQuote(i));
    }
    r->isolation = i;
  }
  if (std::string u = formValue(q, "ulimits"); !u.empty()) {
    Status st = parseUlimits(u, r);
    if (!st.ok()) return wrapped(st, "error reading ulimit settings");
  }
  if (std::string b = formValue(q, "buildargs"); !b.empty()) {
    Status st = parseBuildArgs(b, r);
    if (!st.ok()) return wrapped(st, "error reading build args");
  }
  if (std::string l = formValue(q, "labels"); !l.empty()) {
    auto d = parseJson(l);
    Status st = d.ok() ? intoStringMap(*d, "", "map[string]string", &r->labels) : d.status();
    if (!st.ok()) return wrapped(st, "error reading labels");
  }
  if (std::string c = formValue(q, "cachefrom"); !c.empty()) {
    Status st = parseCacheFrom(c, r);
    if (!st.ok()) return wrapped(st, "error reading cache-from");
  }
  if (std::string v = formValue(q, "version"); !v.empty() && v != "1") {
    if (v != "2") return InvalidArgument("invalid version " + goQuote(v));
    // dockerd hands version 2 to BuildKit, which Arca does not have.
    return NotImplemented(
        "BuildKit (builder version 2) is not supported by this daemon; use the classic builder: "
        "unset DOCKER_BUILDKIT or set DOCKER_BUILDKIT=0");
  }
  return Status::Ok();
}

// backend/build's sanitizeRepoAndTags.
Status parseTags(const Query& q, BuildRequest* r) {
  for (const std::string& t : formValues(q, "t").value_or(std::vector<std::string>{})) {
    if (t.empty()) continue;
    auto ref = image::parseNormalizedNamed(t);
    // Plain errors in dockerd: 500.
    if (!ref.ok()) return Internal(ref.status().message());
    if (!ref->digest.empty()) return Internal("build tag cannot contain a digest");
    bool dup = std::any_of(r->tags.begin(), r->tags.end(),
                           [&](const image::Reference& o) { return o.full() == ref->full(); });
    if (!dup) r->tags.push_back(std::move(ref).value());
  }
  return Status::Ok();
}

// remotecontext.Detect, for what Arca supports (a tar body only).
Status checkRemote(const std::string& remote) {
  if (remote.empty()) return Status::Ok();
  if (remote == "client-session") {
    return InvalidArgument(
        "experimental session with v1 builder is no longer supported, use builder version v2 "
        "(BuildKit) instead");
  }
  if (isGitUrl(remote) || isUrl(remote)) {
    return NotImplemented("remote build contexts (git repositories and URLs) are not supported: " +
                          remote + ": send the build context as a tar archive");
  }
  return Internal("remoteURL (" + remote + ") could not be recognized as URL");
}

// Go's encoding/json string: agent::appendJsonString's escaping, except that
// Go 1.22+ writes \t, \b and \f short (the json-file log driver does not).
void appendGoJsonString(std::string* out, std::string_view s) {
  std::string tmp;
  agent::appendJsonString(&tmp, s);
  for (size_t i = 0; i < tmp.size(); ++i) {
    if (tmp[i] != '\\') {
      out->push_back(tmp[i]);
      continue;
    }
    std::string_view esc = std::string_view(tmp).substr(i, 6);
    const char* shortForm = esc == "\\u0009" ? "\\t"
                            : esc == "\\u0008" ? "\\b"
                            : esc == "\\u000c" ? "\\f"
                                               : nullptr;
    if (shortForm) {
      out->append(shortForm);
      i += 5;
    } else {
      out->append(tmp, i, 2);  // the escape's two first bytes; the rest is plain
      ++i;
    }
  }
}

constexpr const char* kLineEnd = "\r\n";

std::string shortId(std::string_view id) { return distribution::shortDigest(std::string(id)); }

}  // namespace

std::string goJsonSyntaxError(std::string_view json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  if (!d.HasParseError()) return "";
  size_t off = d.GetErrorOffset();
  if (d.GetParseError() == rapidjson::kParseErrorDocumentEmpty || off >= json.size()) {
    return "unexpected end of JSON input";
  }
  const char* context = "looking for beginning of value";
  switch (d.GetParseError()) {
    case rapidjson::kParseErrorDocumentRootNotSingular:
      context = "after top-level value";
      break;
    case rapidjson::kParseErrorObjectMissName:
      context = "looking for beginning of object key string";
      break;
    case rapidjson::kParseErrorObjectMissColon:
      context = "after object key";
      break;
    case rapidjson::kParseErrorObjectMissCommaOrCurlyBracket:
      context = "after object key:value pair";
      break;
    case rapidjson::kParseErrorArrayMissCommaOrSquareBracket:
      context = "after array element";
      break;
    case rapidjson::kParseErrorStringEscapeInvalid:
      // rapidjson reports a raw control character this way too. For an
      // escape it points at the backslash, Go at the letter after it.
      if (json[off] != '\\') {
        context = "in string literal";
        break;
      }
      if (++off >= json.size()) return "unexpected end of JSON input";
      context = "in string escape code";
      break;
    case rapidjson::kParseErrorStringUnicodeEscapeInvalidHex:
      if (json.compare(off, 2, "\\u") == 0) {
        off += 2;
        while (off < json.size() && std::isxdigit(static_cast<unsigned char>(json[off]))) ++off;
        if (off >= json.size()) return "unexpected end of JSON input";
      }
      context = "in \\u hexadecimal character escape";
      break;
    case rapidjson::kParseErrorStringInvalidEncoding:
    case rapidjson::kParseErrorStringMissQuotationMark:
      context = "in string literal";
      break;
    case rapidjson::kParseErrorNumberMissFraction:
      context = "after decimal point in numeric literal";
      break;
    case rapidjson::kParseErrorNumberMissExponent:
      context = "in exponent of numeric literal";
      break;
    default:
      break;
  }
  return "invalid character " + quoteChar(static_cast<unsigned char>(json[off])) + " " + context;
}

StatusOr<BuildRequest> parseBuildRequest(const Query& query, const Headers& headers,
                                         const BuildRequestOptions& opts) {
  BuildRequest r;
  ARCA_RETURN_IF_ERROR(parseRouteOptions(query, opts.api_version, &r));
  if (auto h = headers.find("x-registry-config"); h != headers.end()) {
    r.auth_configs = parseAuthConfigs(h->second);
  }
  if (r.squash && !opts.experimental) {
    return InvalidArgument("squash is only supported with experimental mode");
  }
  ARCA_RETURN_IF_ERROR(parseTags(query, &r));
  ARCA_RETURN_IF_ERROR(checkRemote(formValue(query, "remote")));
  if (!r.platform_text.empty()) {
    ARCA_ASSIGN_OR_RETURN(r.platform, registry::parsePlatform(r.platform_text));
  }
  return r;
}

StatusOr<BuildRequest> parseBuildRequest(const Request& req, bool experimental) {
  return parseBuildRequest(req.query(), req.head().headers,
                           BuildRequestOptions{req.apiVersion(), experimental});
}

std::string buildStreamMessage(std::string_view text) {
  std::string out = "{\"stream\":";
  appendGoJsonString(&out, text);
  out += "}";
  out += kLineEnd;
  return out;
}

BuildOutput::BuildOutput(Sink sink, bool quiet, bool want_aux)
    : sink_(std::move(sink)), quiet_(quiet), want_aux_(want_aux) {}

bool BuildOutput::put(std::string_view msg) {
  if (gone_) return false;
  streaming_ = true;
  if (!sink_(msg)) gone_ = true;
  return !gone_;
}

bool BuildOutput::emit(std::string msg) {
  if (gone_) return false;
  if (quiet_) {
    kept_.push_back(std::move(msg));
    return true;
  }
  return put(msg);
}

bool BuildOutput::stream(std::string_view text) { return emit(buildStreamMessage(text)); }

bool BuildOutput::step(int index, int total, std::string_view instruction) {
  std::string head = "Step " + std::to_string(index) + "/" + std::to_string(total) + " : ";
  head += instruction;
  return stream(head) && stream("\n");
}

bool BuildOutput::imageId(std::string_view image_id) {
  return stream(" ---> " + shortId(image_id) + "\n");
}

bool BuildOutput::usingCache() { return stream(" ---> Using cache\n"); }

bool BuildOutput::runningIn(std::string_view container_id) {
  return stream(" ---> Running in " + shortId(container_id) + "\n");
}

bool BuildOutput::warning(std::string_view text) {
  std::string s = " ---> [Warning] ";
  s += text;
  return stream(s + "\n");
}

bool BuildOutput::removedIntermediate(std::string_view container_id) {
  return stream(" ---> Removed intermediate container " + shortId(container_id) + "\n");
}

bool BuildOutput::removeIntermediateFailed(std::string_view container_id, std::string_view error) {
  std::string s = "Removing intermediate container " + shortId(container_id) + ": ";
  s += error;
  return stream(s + "\n");
}

bool BuildOutput::executingTriggers(int count) {
  if (!stream("# Executing " + std::to_string(count) + " build trigger")) return false;
  if (count > 1 && !stream("s")) return false;
  return stream("\n");
}

bool BuildOutput::unusedBuildArgs(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : " ") + n;
  return stream("[Warning] One or more build-args [" + list + "] were not consumed\n");
}

bool BuildOutput::cancelled() { return stream("Build cancelled\n"); }

bool BuildOutput::stdoutChunk(std::string_view bytes) { return stream(bytes); }

bool BuildOutput::stderrChunk(std::string_view bytes) {
  std::string s = "\033[91m";
  s += bytes;
  return stream(s + "\033[0m");
}

bool BuildOutput::progress(std::string_view json_message) {
  std::string msg(json_message);
  if (msg.empty() || msg.back() != '\n') msg += kLineEnd;
  return emit(std::move(msg));
}

bool BuildOutput::stageImage(std::string_view image_id) {
  if (!want_aux_) return !gone_;
  std::string msg = "{\"aux\":{\"ID\":";
  appendGoJsonString(&msg, image_id);
  return emit(msg + "}}" + kLineEnd);
}

bool BuildOutput::successfullyBuilt(std::string_view image_id) {
  return stream("Successfully built " + shortId(image_id) + "\n");
}

bool BuildOutput::successfullyTagged(std::string_view name) {
  std::string s = "Successfully tagged ";
  s += name;
  return stream(s + "\n");
}

bool BuildOutput::succeeded(std::string_view image_id) {
  if (!quiet_) return !gone_;
  kept_.clear();
  std::string id(image_id);
  return put(buildStreamMessage(id + "\n"));
}

bool BuildOutput::fail(std::string_view message, int code) {
  for (const std::string& m : kept_) {
    if (!put(m)) return false;
  }
  kept_.clear();
  if (!streaming_ || gone_) return false;
  std::string msg = "{\"errorDetail\":{";
  if (code != 0) msg += "\"code\":" + std::to_string(code) + (message.empty() ? "" : ",");
  if (!message.empty()) {
    msg += "\"message\":";
    appendGoJsonString(&msg, message);
  }
  msg += "}";
  if (!message.empty()) {
    msg += ",\"error\":";
    appendGoJsonString(&msg, message);
  }
  msg += "}";
  return put(msg + kLineEnd);
}

}  // namespace arca::api
