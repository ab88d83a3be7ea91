// The distribution API client on libcurl.
//
// Requests are plain blocking curl_easy_perform calls on handles taken from
// a small per-session pool (a handle keeps its connections between uses, so
// a push's many HEADs reuse one TLS connection). Blob downloads use curl's
// multi interface instead so that the caller can pull bytes at its own pace
// (BlobReader) without a thread per download. All handles share one
// process-wide CURLSH for the DNS cache and TLS sessions; connections are
// not shared that way because libcurl documents the shared connection cache
// as unsafe across threads.
//
// Authentication follows the registry's challenge to GET /v2/ (Docker's
// "ping"), the token being refreshed when it expires and once after a 401.
// Error texts copy what Docker prints, since users and scripts match on them.
#include "runtime/registry/client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "runtime/image/digest.h"
#include "runtime/registry/auth_challenge.h"
#include "runtime/registry/manifest.h"

namespace arca::registry {
namespace {

using Clock = std::chrono::steady_clock;
using JsonValue = rapidjson::Value;

constexpr size_t kMaxSmallBody = 1 << 20;      // token and error responses
constexpr size_t kMaxErrorBody = 64 * 1024;    // error bodies kept for the message
constexpr size_t kMaxBuffered = 1 << 20;       // BlobReader pauses the transfer beyond this
constexpr int64_t kProgressEvery = 64 * 1024;  // uploadBlob progress granularity
constexpr size_t kMaxPooledHandles = 8;
constexpr long kCommitWaitS = 600;  // registry silence allowed after an upload
constexpr char kClientId[] = "arca";

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::string bareContentType(std::string_view ct) { return lower(trim(ct.substr(0, ct.find(';')))); }

// ---------------------------------------------------------------------------
// base64 (both alphabets, padding optional) and the auth config JSON

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Decodes standard or URL-safe base64; padding may be present or not, line
// breaks are ignored (as Go's decoder does). False on anything else.
bool decodeBase64(std::string_view in, std::string* out) {
  std::string vals;
  size_t pad = 0;
  for (char c : in) {
    if (c == '\r' || c == '\n') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    int v = base64Value(c);
    if (v < 0) return false;
    vals.push_back(static_cast<char>(v));
  }
  if (pad > 2 || vals.size() % 4 == 1) return false;
  if (pad > 0 && (vals.size() + pad) % 4 != 0) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char v : vals) {
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string encodeBase64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(n >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

const char* jsonTypeName(const JsonValue& v) {
  if (v.IsBool()) return "bool";
  if (v.IsNumber()) return "number";
  if (v.IsArray()) return "array";
  if (v.IsObject()) return "object";
  return "string";
}

// The JSON form of types.AuthConfig. Keys match case-insensitively and the
// last duplicate wins, as with Go's encoding/json.
Status authFromJson(std::string_view json, bool stop_when_done, AuthConfig* out) {
  rapidjson::Document d;
  if (stop_when_done) {
    // Docker decodes the header with a json.Decoder, which ignores what
    // follows the first value.
    d.Parse<rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                json.size());
  } else {
    d.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  }
  if (d.HasParseError()) {
    return InvalidArgument(std::string(rapidjson::GetParseError_En(d.GetParseError())) +
                           " at offset " + std::to_string(d.GetErrorOffset()));
  }
  if (d.IsNull()) return Status::Ok();
  if (!d.IsObject()) {
    return InvalidArgument(std::string("json: cannot unmarshal ") + jsonTypeName(d) +
                           " into Go value of type registry.AuthConfig");
  }
  static const std::pair<const char*, std::string AuthConfig::*> kFields[] = {
      {"username", &AuthConfig::username},
      {"password", &AuthConfig::password},
      {"auth", &AuthConfig::auth},
      {"email", &AuthConfig::email},
      {"serveraddress", &AuthConfig::server_address},
      {"identitytoken", &AuthConfig::identity_token},
      {"registrytoken", &AuthConfig::registry_token},
  };
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    std::string key = lower(std::string_view(it->name.GetString(), it->name.GetStringLength()));
    for (const auto& [name, field] : kFields) {
      if (key != name) continue;
      if (it->value.IsNull()) break;
      if (!it->value.IsString()) {
        return InvalidArgument(std::string("json: cannot unmarshal ") + jsonTypeName(it->value) +
                               " into Go struct field AuthConfig." + name + " of type string");
      }
      out->*field = std::string(it->value.GetString(), it->value.GetStringLength());
      break;
    }
  }
  if (out->username.empty() && out->password.empty() && !out->auth.empty()) {
    std::string plain;
    if (!decodeBase64(trim(out->auth), &plain)) {
      return InvalidArgument("invalid auth configuration: auth is not valid base64");
    }
    size_t colon = plain.find(':');
    if (colon == std::string::npos) {
      return InvalidArgument("invalid auth configuration: auth is not \"username:password\"");
    }
    out->username = plain.substr(0, colon);
    out->password = plain.substr(colon + 1);
  }
  return Status::Ok();
}

// "Basic <base64 user:pass>" material, or "" without credentials.
std::string basicCredential(const AuthConfig& a) {
  if (!a.username.empty() || !a.password.empty())
    return encodeBase64(a.username + ":" + a.password);
  return a.auth;
}

// ---------------------------------------------------------------------------
// Names and URLs

// [A-Za-z0-9-._~] kept, everything else %XX: safe in a query value.
std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[static_cast<uint8_t>(c) >> 4]);
      out.push_back(kHex[static_cast<uint8_t>(c) & 15]);
    }
  }
  return out;
}

// "host:port", "[v6]:port", "host" -> host (no brackets).
std::string hostOf(std::string_view hostport) {
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    return std::string(hostport.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  size_t colon = hostport.find(':');
  if (colon != std::string_view::npos && hostport.find(':', colon + 1) == std::string_view::npos) {
    return std::string(hostport.substr(0, colon));
  }
  return std::string(hostport);  // no port, or a bare IPv6 address
}

struct CurluFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlPtr = std::unique_ptr<CURLU, CurluFree>;

std::string urlPart(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* v = nullptr;
  if (curl_url_get(u, part, &v, flags) != CURLUE_OK || !v) return "";
  std::string s(v);
  curl_free(v);
  return s;
}

// "host:port" of a URL with the scheme's default port filled in, for
// messages in Go's "dial tcp host:port" style.
std::string dialAddress(const std::string& url) {
  UrlPtr u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return url;
  std::string host = urlPart(u.get(), CURLUPART_HOST);
  std::string port = urlPart(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  return host + ":" + port;
}

// A Location header resolved against the URL it came from (it may be
// absolute, host-relative or path-relative).
StatusOr<std::string> resolveUrl(const std::string& base, const std::string& ref) {
  UrlPtr u(curl_url());
  if (!u || curl_url_set(u.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(u.get(), CURLUPART_URL, ref.c_str(), 0) != CURLUE_OK) {
    return Unavailable("registry returned an invalid upload location \"" + ref + "\"");
  }
  std::string scheme = urlPart(u.get(), CURLUPART_SCHEME);
  if (scheme != "http" && scheme != "https") {
    return Unavailable("registry returned an invalid upload location \"" + ref + "\"");
  }
  return urlPart(u.get(), CURLUPART_URL);
}

std::string appendQuery(const std::string& url, const std::string& param) {
  size_t hash = url.find('#');
  std::string base = url.substr(0, hash);
  return base + (base.find('?') == std::string::npos ? "?" : "&") + param;
}

bool isValidRepository(std::string_view r) {
  if (r.empty() || r.size() > 255 || r.front() == '/' || r.back() == '/') return false;
  size_t start = 0;
  while (start <= r.size()) {
    size_t slash = r.find('/', start);
    if (slash == std::string_view::npos) slash = r.size();
    std::string_view comp = r.substr(start, slash - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    for (char c : comp) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
    start = slash + 1;
  }
  return true;
}

bool isValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') return false;
  for (char c : t) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status checkReference(const std::string& ref) {
  if (ref.find(':') != std::string::npos) return image::sha256HexOf(ref).status();
  if (!isValidTag(ref)) return InvalidArgument("invalid tag \"" + ref.substr(0, 130) + "\"");
  return Status::Ok();
}

// A value placed in a request header (from a caller or a token server):
// nothing that could end the header line.
bool isHeaderSafe(std::string_view v) {
  return std::none_of(v.begin(), v.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// ---------------------------------------------------------------------------
// Insecure registries

struct Cidr {
  int family = 0;
  std::array<uint8_t, 16> addr{};
  int bits = 0;
};

bool parseIp(const std::string& s, int* family, std::array<uint8_t, 16>* out) {
  out->fill(0);
  if (inet_pton(AF_INET, s.c_str(), out->data()) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out->data()) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

bool parseCidr(const std::string& s, Cidr* out) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  if (!parseIp(s.substr(0, slash), &out->family, &out->addr)) return false;
  std::string bits = s.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 ||
      !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  out->bits = std::stoi(bits);
  return out->bits <= (out->family == AF_INET ? 32 : 128);
}

bool cidrContains(const Cidr& c, int family, const std::array<uint8_t, 16>& a) {
  if (family != c.family) return false;
  for (int i = 0; i < c.bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((a[byte] >> bit) & 1) != ((c.addr[byte] >> bit) & 1)) return false;
  }
  return true;
}

bool isLoopback(int family, const std::array<uint8_t, 16>& a) {
  if (family == AF_INET) return a[0] == 127;
  static constexpr std::array<uint8_t, 16> kV6Loopback = {0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0, 0, 0, 0, 0, 1};
  return a == kV6Loopback;
}

bool isDockerHub(const std::string& domain) {
  return domain == "docker.io" || domain == "index.docker.io" || domain == "registry-1.docker.io";
}

// ---------------------------------------------------------------------------
// curl plumbing

// One CURLSH for the process: DNS cache and TLS session ids. Never freed,
// so no handle can outlive it at exit.
class CurlShare {
 public:
  CurlShare() : sh_(curl_share_init()) {
    curl_share_setopt(sh_, CURLSHOPT_LOCKFUNC, &CurlShare::lock);
    curl_share_setopt(sh_, CURLSHOPT_UNLOCKFUNC, &CurlShare::unlock);
    curl_share_setopt(sh_, CURLSHOPT_USERDATA, this);
    curl_share_setopt(sh_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(sh_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  CURLSH* get() const { return sh_; }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<CurlShare*>(self)->mu_[static_cast<size_t>(data)].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<CurlShare*>(self)->mu_[static_cast<size_t>(data)].unlock();
  }
  CURLSH* sh_;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> mu_;
};

CurlShare* share() {
  static std::once_flag once;
  static CurlShare* s = nullptr;
  std::call_once(once, [] {
    // curl_global_init is not thread-safe and must run before any handle exists.
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s = new CurlShare();
  });
  return s;
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using EasyPtr = std::unique_ptr<CURL, EasyFree>;

struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

struct MultiFree {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
using MultiPtr = std::unique_ptr<CURLM, MultiFree>;

using ReadFn = std::function<long(char*, size_t)>;
using ProgressFn = std::function<void(int64_t)>;

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POST / PUT with a small body
  bool has_body = false;
  const ReadFn* reader = nullptr;  // PUT with a streamed body of upload_size bytes
  int64_t upload_size = 0;
  const ProgressFn* progress = nullptr;
  size_t max_body = kMaxSmallBody;
  bool follow = false;
  bool tls_verify = true;
};

using HeaderMap = std::map<std::string, std::vector<std::string>>;

struct Response {
  long status = 0;
  HeaderMap headers;  // lowercase names; the final response's only
  std::string body;
  bool too_large = false;
  std::string url;  // what was asked for (not where redirects led)
  std::string method;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() || it->second.empty() ? "" : it->second.front();
  }
};

// Collects the headers of the final response: curl passes those of every
// response (redirects, 100 Continue) to the same callback.
struct HeaderState {
  long status = 0;
  HeaderMap headers;
  bool final_done = false;
  bool follow = false;

  void line(std::string_view l) {
    if (l.rfind("HTTP/", 0) == 0) {
      headers.clear();
      final_done = false;
      size_t sp = l.find(' ');
      status =
          sp == std::string_view::npos ? 0 : std::atol(std::string(l.substr(sp + 1, 3)).c_str());
      return;
    }
    l = trim(l);
    if (l.empty()) {
      bool redirect =
          follow &&
          (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
          headers.count("location");
      if (status >= 200 && !redirect) final_done = true;
      return;
    }
    size_t colon = l.find(':');
    if (colon == std::string_view::npos) return;
    headers[lower(trim(l.substr(0, colon)))].push_back(std::string(trim(l.substr(colon + 1))));
  }

  static size_t callback(char* data, size_t size, size_t n, void* self) {
    static_cast<HeaderState*>(self)->line(std::string_view(data, size * n));
    return size * n;
  }
};

struct BodySink {
  std::string* out;
  size_t max;
  bool too_large = false;

  static size_t callback(char* data, size_t size, size_t n, void* self) {
    auto* s = static_cast<BodySink*>(self);
    if (s->out->size() + size * n > s->max) {
      s->too_large = true;
      return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
    }
    s->out->append(data, size * n);
    return size * n;
  }
};

struct UploadSource {
  const ReadFn* body;
  const ProgressFn* progress;
  int64_t size = 0;
  int64_t sent = 0;
  int64_t reported = 0;
  std::string error;

  static size_t callback(char* buf, size_t size, size_t n, void* self) {
    auto* s = static_cast<UploadSource*>(self);
    size_t want = static_cast<size_t>(std::min<int64_t>(size * n, s->size - s->sent));
    if (want == 0) return 0;
    long r = (*s->body)(buf, want);
    if (r < 0 || r > static_cast<long>(want)) {
      s->error = "reading the blob to upload failed after " + std::to_string(s->sent) + " bytes";
      return CURL_READFUNC_ABORT;
    }
    if (r == 0) {
      s->error = "the blob to upload ended after " + std::to_string(s->sent) + " of " +
                 std::to_string(s->size) + " bytes";
      return CURL_READFUNC_ABORT;
    }
    s->sent += r;
    if (s->progress && *s->progress &&
        (s->sent - s->reported >= kProgressEvery || s->sent == s->size)) {
      (*s->progress)(s->sent);
      s->reported = s->sent;
    }
    return static_cast<size_t>(r);
  }
};

// A registry or proxy that stops sending must not hang a pull forever.
// curl's LOW_SPEED_LIMIT/TIME would do, but it compares a speed averaged over
// the last ~5 s, so a transfer that got some bytes and then hung fails
// seconds after stall_timeout_s (7 s for 1 s, measured). This counts the
// time since the last byte moved instead; curl calls it at least once a
// second even when nothing happens.
struct StallGuard {
  long timeout_s = 0;
  curl_off_t dl = -1, ul = -1;
  Clock::time_point last = Clock::now();  // last progress, or when waiting began
  bool stalled = false;

  static int callback(void* self, curl_off_t, curl_off_t dlnow, curl_off_t ultotal,
                      curl_off_t ulnow) {
    auto* g = static_cast<StallGuard*>(self);
    Clock::time_point now = Clock::now();
    if (dlnow != g->dl || ulnow != g->ul) {
      g->dl = dlnow;
      g->ul = ulnow;
      g->last = now;
      return 0;
    }
    long limit = g->timeout_s;
    // After the last byte of an upload the registry commits the blob before
    // it answers, which on object storage means copying it: allow longer.
    if (ultotal > 0 && ulnow >= ultotal && dlnow == 0) limit = std::max(limit, kCommitWaitS);
    if (g->timeout_s > 0 && now - g->last >= std::chrono::seconds(limit)) {
      g->stalled = true;
      return 1;  // CURLE_ABORTED_BY_CALLBACK
    }
    return 0;
  }
};

// Options every request gets. Callbacks are set by the caller.
SlistPtr configureEasy(CURL* h, const Request& req, const RegistryOptions& opts, char* errbuf,
                       StallGuard* stall) {
  stall->timeout_s = opts.stall_timeout_s;
  stall->last = Clock::now();
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &StallGuard::callback);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, stall);
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_SHARE, share()->get());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, opts.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, opts.connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  // Blob GETs are redirected to storage (S3, a CDN); curl drops the
  // Authorization header when the host changes (UNRESTRICTED_AUTH off).
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, req.follow ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req.tls_verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req.tls_verify ? 2L : 0L);
  // Proxies: curl reads http_proxy / HTTPS_PROXY / NO_PROXY itself when
  // CURLOPT_PROXY is not set, which is what we want.
  curl_slist* list = nullptr;
  for (const std::string& hd : req.headers) list = curl_slist_append(list, hd.c_str());
  SlistPtr headers(list);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.reader) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);  // PUT
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
  } else if (req.method == "POST" || req.has_body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  return headers;
}

// "GET" -> "Get", as Go's net/http names methods in its errors.
std::string goMethod(const std::string& m) {
  if (m.empty()) return m;
  return m.substr(0, 1) + lower(m.substr(1));
}

// A transfer that failed below HTTP, worded like Go's net/http errors that
// Docker prints: Get "https://host/v2/": dial tcp host:443: connect: connection refused
Status transportError(CURL* h, CURLcode code, const char* errbuf, bool stalled,
                      const std::string& method, const std::string& url,
                      const RegistryOptions& opts) {
  std::string detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(code);
  if (stalled) code = CURLE_OPERATION_TIMEDOUT;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST: {
      UrlPtr u(curl_url());
      std::string host = u && curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) == CURLUE_OK
                             ? urlPart(u.get(), CURLUPART_HOST)
                             : url;
      detail = "dial tcp: lookup " + host + ": no such host";
      break;
    }
    case CURLE_COULDNT_CONNECT: {
      long os_errno = 0;
      curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
      if (os_errno != 0) {
        std::string e = std::strerror(static_cast<int>(os_errno));
        if (!e.empty()) e[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(e[0])));
        detail = "dial tcp " + dialAddress(url) + ": connect: " + e;
      }
      break;
    }
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connected = 0;
      curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
      detail = !stalled && connected == 0
                   ? "dial tcp " + dialAddress(url) + ": i/o timeout"
                   : "no data received for " + std::to_string(opts.stall_timeout_s) +
                         " s (the registry stalled)";
      break;
    }
    case CURLE_SSL_CONNECT_ERROR:
      // What OpenSSL reports when the other end answers a ClientHello in plain HTTP.
      if (detail.find("wrong version number") != std::string::npos) {
        detail = "http: server gave HTTP response to HTTPS client";
      } else {
        detail = "tls: " + detail;
      }
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
      detail = "tls: failed to verify certificate: " + detail;
      break;
    case CURLE_PARTIAL_FILE:
      detail = "unexpected EOF (" + detail + ")";
      break;
    default:
      break;
  }
  return Unavailable(goMethod(method) + " \"" + url + "\": " + detail);
}

// Runs one request to completion on handle `h`.
StatusOr<Response> performOn(CURL* h, const Request& req, const RegistryOptions& opts) {
  char errbuf[CURL_ERROR_SIZE] = {0};
  StallGuard stall;
  SlistPtr headers = configureEasy(h, req, opts, errbuf, &stall);
  Response resp;
  resp.url = req.url;
  resp.method = req.method;
  HeaderState hs;
  hs.follow = req.follow;
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &HeaderState::callback);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hs);
  BodySink sink{&resp.body, req.max_body};
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &BodySink::callback);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  UploadSource src{req.reader, req.progress, req.upload_size, 0, 0, {}};
  if (req.reader) {
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &UploadSource::callback);
    curl_easy_setopt(h, CURLOPT_READDATA, &src);
  }
  CURLcode rc = curl_easy_perform(h);
  // The handle goes back to a pool: nothing may keep pointing at this frame.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, nullptr);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
  if (!src.error.empty()) return Internal(src.error);
  if (sink.too_large) {
    resp.too_large = true;
    resp.status = hs.status;
    resp.headers = std::move(hs.headers);
    return resp;
  }
  if (rc != CURLE_OK)
    return transportError(h, rc, errbuf, stall.stalled, req.method, req.url, opts);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.headers = std::move(hs.headers);
  return resp;
}

StatusOr<Response> performOnce(const Request& req, const RegistryOptions& opts) {
  share();
  EasyPtr h(curl_easy_init());
  if (!h) return Internal("curl_easy_init failed");
  return performOn(h.get(), req, opts);
}

// ---------------------------------------------------------------------------
// Registry errors

std::string reasonPhrase(long status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Request Entity Too Large";
    case 416:
      return "Requested Range Not Satisfiable";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

std::string statusText(long status) {
  std::string r = reasonPhrase(status);
  return std::to_string(status) + (r.empty() ? "" : " " + r);
}

Code codeForStatus(long status) {
  switch (status) {
    case 401:
    case 403:
      return Code::kPermissionDenied;
    case 404:
      return Code::kNotFound;
    case 400:
    case 405:
    case 413:
    case 416:
      return Code::kInvalidArgument;
    case 409:
      return Code::kConflict;
    case 429:
      return Code::kUnavailable;
    default:
      return status >= 500 ? Code::kUnavailable : Code::kInternal;
  }
}

// The body's {"errors":[{"code","message"}]} as Docker's errcode package
// prints it ("manifest unknown: manifest unknown"); "" when there is none.
// *code is set to the first error's code.
std::string errcodeText(const std::string& body, std::string* first_code) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return "";
  auto errs = d.FindMember("errors");
  if (errs == d.MemberEnd() || !errs->value.IsArray() || errs->value.Empty()) return "";
  std::vector<std::string> texts;
  for (const auto& e : errs->value.GetArray()) {
    if (!e.IsObject()) continue;
    std::string code, message;
    if (auto c = e.FindMember("code"); c != e.MemberEnd() && c->value.IsString()) {
      code = c->value.GetString();
    }
    if (auto m = e.FindMember("message"); m != e.MemberEnd() && m->value.IsString()) {
      message = m->value.GetString();
    }
    if (first_code && first_code->empty()) *first_code = code;
    std::string t = lower(code);
    std::replace(t.begin(), t.end(), '_', ' ');
    if (t.empty()) t = "unknown";
    if (!message.empty()) t += ": " + message;
    texts.push_back(t);
  }
  if (texts.empty()) return "";
  if (texts.size() == 1) return texts[0];
  std::string out = "errors:\n";
  for (const auto& t : texts) out += t + "\n";
  return out;
}

// Token servers answer refused credentials with {"details": "..."}.
std::string detailsText(const std::string& body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return "";
  auto it = d.FindMember("details");
  return it != d.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// A non-success response as a Status, with the registry's own words.
Status errorFromResponse(const Response& r) {
  std::string code;
  std::string text = errcodeText(r.body, &code);
  Code c = codeForStatus(r.status);
  if (code == "MANIFEST_UNKNOWN" || code == "NAME_UNKNOWN" || code == "BLOB_UNKNOWN") {
    c = Code::kNotFound;
  }
  if (text.empty() && r.status == 401) {
    std::string details = detailsText(r.body);
    text = "unauthorized: " + (details.empty() ? "authentication required" : details);
  }
  if (text.empty() && r.status == 403) text = "denied: requested access to the resource is denied";
  if (text.empty()) {
    // containerd's wording for an error without a registry error body.
    text =
        "unexpected status from " + r.method + " request to " + r.url + ": " + statusText(r.status);
  }
  return Status(c, text);
}

// ---------------------------------------------------------------------------
// Token service

struct Token {
  std::string value;
  int64_t expires_in = 60;
};

// GET realm?service=&scope= (or the OAuth2 refresh-token POST with an
// identity token), as Docker's token handler does.
StatusOr<Token> fetchToken(const std::string& realm, const std::string& service,
                           const std::vector<std::string>& scopes, const AuthConfig& auth,
                           bool tls_verify, const RegistryOptions& opts) {
  if (realm.rfind("https://", 0) != 0 && realm.rfind("http://", 0) != 0) {
    return Unavailable("invalid token realm \"" + realm + "\" in the registry's challenge");
  }
  std::optional<Response> resp;
  if (!auth.identity_token.empty()) {
    Request post;
    post.method = "POST";
    post.url = realm;
    post.tls_verify = tls_verify;
    post.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    std::string scope;
    for (const auto& s : scopes) scope += (scope.empty() ? "" : " ") + s;
    post.body = "grant_type=refresh_token&refresh_token=" + urlEncode(auth.identity_token) +
                "&service=" + urlEncode(service) + "&client_id=" + kClientId +
                (scope.empty() ? "" : "&scope=" + urlEncode(scope));
    post.has_body = true;
    ARCA_ASSIGN_OR_RETURN(Response r, performOnce(post, opts));
    // Token servers without OAuth2 support: Docker falls back to GET.
    if (r.status != 404 && r.status != 405) resp = std::move(r);
  }
  if (!resp) {
    Request get;
    get.url = realm;
    if (!service.empty()) get.url = appendQuery(get.url, "service=" + urlEncode(service));
    for (const auto& s : scopes) get.url = appendQuery(get.url, "scope=" + urlEncode(s));
    if (!auth.username.empty())
      get.url = appendQuery(get.url, "account=" + urlEncode(auth.username));
    get.follow = true;
    get.tls_verify = tls_verify;
    std::string cred = basicCredential(auth);
    if (!cred.empty()) get.headers.push_back("Authorization: Basic " + cred);
    ARCA_ASSIGN_OR_RETURN(Response r, performOnce(get, opts));
    resp = std::move(r);
  }
  if (resp->too_large) return Unavailable("token server response from " + realm + " is too large");
  if (resp->status == 401 || resp->status == 403) {
    std::string text = errcodeText(resp->body, nullptr);
    if (text.empty()) {
      std::string details = detailsText(resp->body);
      text = "unauthorized: " + (details.empty() ? "authentication required" : details);
    }
    return PermissionDenied(text);
  }
  if (resp->status != 200) return errorFromResponse(*resp);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseIterativeFlag>(resp->body.data(), resp->body.size());
  if (d.HasParseError() || !d.IsObject()) {
    return Unavailable("token server " + realm + " returned invalid JSON");
  }
  Token t;
  for (const char* key : {"token", "access_token"}) {
    auto it = d.FindMember(key);
    if (it != d.MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0) {
      t.value = it->value.GetString();
      break;
    }
  }
  if (t.value.empty()) {
    return Unavailable("authorization server did not include a token in the response");
  }
  if (!isHeaderSafe(t.value))
    return Unavailable("token server " + realm + " returned an invalid token");
  // Docker treats a missing or shorter lifetime as 60 s.
  if (auto it = d.FindMember("expires_in"); it != d.MemberEnd() && it->value.IsInt64()) {
    t.expires_in = std::max<int64_t>(60, it->value.GetInt64());
  }
  return t;
}

std::vector<Challenge> challengesOf(const Response& r) {
  std::vector<Challenge> out;
  auto it = r.headers.find("www-authenticate");
  if (it == r.headers.end()) return out;
  for (const auto& v : it->second) {
    for (auto& c : parseChallenges(v)) out.push_back(std::move(c));
  }
  return out;
}

const Challenge* findChallenge(const std::vector<Challenge>& cs, const char* scheme) {
  for (const auto& c : cs) {
    if (c.scheme == scheme) return &c;
  }
  return nullptr;
}

std::string param(const Challenge& c, const char* key) {
  auto it = c.params.find(key);
  return it == c.params.end() ? "" : it->second;
}

// ---------------------------------------------------------------------------
// BlobReader on the multi interface

class CurlBlobReader final : public BlobReader {
 public:
  CurlBlobReader(Request req, const RegistryOptions& opts) : req_(std::move(req)), opts_(opts) {}

  ~CurlBlobReader() override {
    if (multi_ && easy_) curl_multi_remove_handle(multi_.get(), easy_.get());
  }

  // Starts the transfer and runs it until the final response's headers
  // are in (or it failed before that).
  Status start() {
    share();
    easy_.reset(curl_easy_init());
    multi_.reset(curl_multi_init());
    if (!easy_ || !multi_) return Internal("curl handle allocation failed");
    hs_.follow = req_.follow;
    headers_ = configureEasy(easy_.get(), req_, opts_, errbuf_, &stall_);
    curl_easy_setopt(easy_.get(), CURLOPT_HEADERFUNCTION, &HeaderState::callback);
    curl_easy_setopt(easy_.get(), CURLOPT_HEADERDATA, &hs_);
    curl_easy_setopt(easy_.get(), CURLOPT_WRITEFUNCTION, &CurlBlobReader::onWrite);
    curl_easy_setopt(easy_.get(), CURLOPT_WRITEDATA, this);
    curl_multi_add_handle(multi_.get(), easy_.get());
    while (!hs_.final_done && !done_) {
      step();
      if (!hs_.final_done && !done_) wait();
    }
    if (!hs_.final_done) {
      return transportError(easy_.get(), result_, errbuf_, stall_.stalled, req_.method, req_.url,
                            opts_);
    }
    curl_off_t cl = -1;
    if (curl_easy_getinfo(easy_.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK) {
      content_length_ = cl;
    }
    return Status::Ok();
  }

  long status() const { return hs_.status; }

  // For a failed response: the rest of its (small) body, for the message.
  Response finishError() {
    while (!done_) {
      if (paused_) unpause();
      step();
      if (!done_) wait();
    }
    Response r;
    r.status = hs_.status;
    r.headers = hs_.headers;
    r.body = buf_.substr(pos_, kMaxErrorBody);
    r.url = req_.url;
    r.method = req_.method;
    return r;
  }

  long read(char* buf, size_t len) override {
    if (!error_.empty()) return -1;
    if (len == 0) return 0;
    bool driving = false;
    while (true) {
      size_t avail = buf_.size() - pos_;
      if (avail > 0) {
        size_t n = std::min(len, avail);
        std::memcpy(buf, buf_.data() + pos_, n);
        pos_ += n;
        if (pos_ == buf_.size()) {
          buf_.clear();
          pos_ = 0;
        }
        return static_cast<long>(n);
      }
      if (paused_) {
        unpause();
        continue;
      }
      if (done_) {
        if (result_ == CURLE_OK) return 0;
        error_ = transportError(easy_.get(), result_, errbuf_, stall_.stalled, req_.method,
                                req_.url, opts_)
                     .message();
        return -1;
      }
      if (!driving) {
        // The stall clock runs only while a read() waits: time the caller
        // spent elsewhere (or the transfer spent paused) is not a stall.
        driving = true;
        stall_.last = Clock::now();
      }
      step();
      if (buf_.size() == pos_ && !done_ && !paused_) wait();
    }
  }

  const std::string& error() const override { return error_; }
  int64_t contentLength() const override { return content_length_; }

 private:
  static size_t onWrite(char* data, size_t size, size_t n, void* self) {
    auto* r = static_cast<CurlBlobReader*>(self);
    size_t len = size * n;
    if (r->hs_.status < 200 || r->hs_.status >= 300) {
      // An error body: keep the beginning for the message, drop the rest.
      size_t room = kMaxErrorBody > r->buf_.size() ? kMaxErrorBody - r->buf_.size() : 0;
      r->buf_.append(data, std::min(room, len));
      return len;
    }
    if (r->buf_.size() - r->pos_ >= kMaxBuffered) {
      // curl keeps this chunk and delivers it again after unpause.
      r->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    if (r->pos_ > 0) {
      r->buf_.erase(0, r->pos_);
      r->pos_ = 0;
    }
    r->buf_.append(data, len);
    return len;
  }

  void unpause() {
    paused_ = false;
    // May call onWrite right away with the chunk held back.
    curl_easy_pause(easy_.get(), CURLPAUSE_CONT);
  }

  void step() {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi_.get(), &running);
    if (mc != CURLM_OK) {
      done_ = true;
      result_ = CURLE_RECV_ERROR;
      std::snprintf(errbuf_, sizeof(errbuf_), "%s", curl_multi_strerror(mc));
      return;
    }
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_.get(), &queued)) {
      if (m->msg == CURLMSG_DONE) {
        done_ = true;
        result_ = m->data.result;
      }
    }
  }

  // Waits for socket activity, at most a second so that the connect timeout
  // and the stall guard are checked by the next curl_multi_perform.
  void wait() { curl_multi_poll(multi_.get(), nullptr, 0, 1000, nullptr); }

  Request req_;
  RegistryOptions opts_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
  StallGuard stall_;
  HeaderState hs_;
  SlistPtr headers_;
  // The easy handle leaves the multi handle in the destructor body; members
  // then go in reverse order: easy handle, multi handle, header list, and
  // the state the callbacks pointed at.
  MultiPtr multi_;
  EasyPtr easy_;
  std::string buf_;
  size_t pos_ = 0;
  bool paused_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  std::string error_;
  int64_t content_length_ = -1;
};

}  // namespace

// ---------------------------------------------------------------------------
// Public helpers

StatusOr<AuthConfig> decodeAuthHeader(std::string_view header) {
  AuthConfig a;
  header = trim(header);
  if (header.empty()) return a;
  std::string json;
  if (!decodeBase64(header, &json)) {
    return InvalidArgument("invalid X-Registry-Auth header: illegal base64 data");
  }
  Status st = authFromJson(json, /*stop_when_done=*/true, &a);
  if (!st.ok()) return InvalidArgument("invalid X-Registry-Auth header: " + st.message());
  return a;
}

StatusOr<AuthConfig> parseAuthJson(std::string_view json) {
  AuthConfig a;
  if (trim(json).empty()) return a;
  Status st = authFromJson(json, /*stop_when_done=*/false, &a);
  if (!st.ok()) return InvalidArgument("invalid JSON: " + st.message());
  return a;
}

bool isInsecure(const std::string& domain, const RegistryOptions& opts) {
  std::string d = lower(domain);
  std::vector<Cidr> cidrs;
  for (const auto& entry : opts.insecure_registries) {
    Cidr c;
    if (parseCidr(entry, &c)) {
      cidrs.push_back(c);
    } else if (lower(entry) == d) {
      return true;
    }
  }
  std::string host = hostOf(d);
  if (host == "localhost" || (host.size() > 10 && host.ends_with(".localhost"))) return true;
  std::vector<std::pair<int, std::array<uint8_t, 16>>> addrs;
  int family = 0;
  std::array<uint8_t, 16> a{};
  if (parseIp(host, &family, &a)) {
    addrs.emplace_back(family, a);
  } else if (!isDockerHub(d) && !host.empty()) {
    // Docker looks the name up too: a name for a loopback or listed
    // address is as insecure as the address.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) == 0) {
      for (addrinfo* p = res; p; p = p->ai_next) {
        std::array<uint8_t, 16> b{};
        if (p->ai_family == AF_INET) {
          std::memcpy(b.data(), &reinterpret_cast<sockaddr_in*>(p->ai_addr)->sin_addr, 4);
        } else if (p->ai_family == AF_INET6) {
          std::memcpy(b.data(), &reinterpret_cast<sockaddr_in6*>(p->ai_addr)->sin6_addr, 16);
        } else {
          continue;
        }
        addrs.emplace_back(p->ai_family, b);
      }
      freeaddrinfo(res);
    }
  }
  for (const auto& [fam, addr] : addrs) {
    if (isLoopback(fam, addr)) return true;
    for (const Cidr& c : cidrs) {
      if (cidrContains(c, fam, addr)) return true;
    }
  }
  return false;
}

std::vector<Endpoint> endpointsFor(const std::string& domain, const RegistryOptions& opts) {
  std::vector<Endpoint> out;
  std::string d = lower(domain);
  bool hub = isDockerHub(d);
  if (hub) {
    for (std::string m : opts.mirrors) {
      while (!m.empty() && m.back() == '/') m.pop_back();
      if (m.empty()) continue;
      if (m.find("://") == std::string::npos) m = "https://" + m;
      Endpoint e{m, true, true};
      if (m.rfind("http://", 0) == 0) {
        e.tls_verify = false;
      } else {
        std::string hp = m.substr(m.find("://") + 3);
        e.tls_verify = !isInsecure(hp.substr(0, hp.find('/')), opts);
      }
      out.push_back(e);
    }
  }
  std::string host = hub ? "registry-1.docker.io" : d;
  bool insecure = !hub && isInsecure(d, opts);
  out.push_back({"https://" + host, !insecure, false});
  if (insecure) out.push_back({"http://" + host, false, false});
  return out;
}

// ---------------------------------------------------------------------------
// Session

struct Session::Impl {
  enum class Scheme { kNone, kBasic, kBearer };

  std::string repository;
  AuthConfig auth;
  RegistryOptions opts;
  Endpoint endpoint;

  std::mutex pool_mu;
  std::vector<EasyPtr> pool;  // idle handles, with their live connections

  // Everything below is guarded by auth_mu: requests on other threads read
  // the token while one of them refreshes it.
  std::mutex auth_mu;
  Scheme scheme = Scheme::kNone;
  std::string realm, service;
  std::vector<std::string> scopes;
  std::string token;
  uint64_t generation = 0;  // bumped with every change of credentials
  Clock::time_point expiry = Clock::time_point::max();

  std::string repoUrl(const std::string& tail) const {
    return endpoint.url + "/v2/" + repository + "/" + tail;
  }

  StatusOr<Response> perform(Request req) {
    req.tls_verify = endpoint.tls_verify;
    EasyPtr h;
    {
      std::lock_guard<std::mutex> l(pool_mu);
      if (!pool.empty()) {
        h = std::move(pool.back());
        pool.pop_back();
      }
    }
    if (h) {
      curl_easy_reset(h.get());  // keeps the handle's connections
    } else {
      share();
      h.reset(curl_easy_init());
      if (!h) return Internal("curl_easy_init failed");
    }
    auto r = performOn(h.get(), req, opts);
    std::lock_guard<std::mutex> l(pool_mu);
    if (pool.size() < kMaxPooledHandles) pool.push_back(std::move(h));
    return r;
  }

  Status fetchTokenLocked() {
    ARCA_ASSIGN_OR_RETURN(Token t,
                          fetchToken(realm, service, scopes, auth, endpoint.tls_verify, opts));
    token = std::move(t.value);
    // A little early, so a token does not expire between check and use.
    expiry = Clock::now() + std::chrono::seconds(t.expires_in) - std::chrono::seconds(5);
    ++generation;
    spdlog::debug("registry: token for {} from {} (valid {} s)", repository, realm, t.expires_in);
    return Status::Ok();
  }

  // Takes on the challenge of a 401 (from the ping or a later request).
  // Returns true when there is something new to retry with.
  StatusOr<bool> adoptChallengeLocked(const std::vector<Challenge>& cs) {
    if (const Challenge* b = findChallenge(cs, "bearer")) {
      std::string r = param(*b, "realm");
      if (!r.empty()) realm = r;
      if (b->params.count("service")) service = param(*b, "service");
      if (!auth.registry_token.empty()) {
        if (scheme == Scheme::kBearer) return false;  // the given token was refused
        scheme = Scheme::kBearer;
        token = auth.registry_token;
        expiry = Clock::time_point::max();
        ++generation;
        return true;
      }
      if (realm.empty()) return false;
      scheme = Scheme::kBearer;
      ARCA_RETURN_IF_ERROR(fetchTokenLocked());
      return true;
    }
    if (findChallenge(cs, "basic")) {
      if (scheme == Scheme::kBasic || basicCredential(auth).empty()) return false;
      scheme = Scheme::kBasic;
      ++generation;
      return true;
    }
    return false;
  }

  // The Authorization header line for the next request ("" for none) and
  // the credentials' generation; refreshes an expired token first.
  StatusOr<std::pair<std::string, uint64_t>> authorization() {
    std::lock_guard<std::mutex> l(auth_mu);
    switch (scheme) {
      case Scheme::kNone:
        return std::make_pair(std::string(), generation);
      case Scheme::kBasic:
        return std::make_pair("Authorization: Basic " + basicCredential(auth), generation);
      case Scheme::kBearer:
        if (Clock::now() >= expiry) ARCA_RETURN_IF_ERROR(fetchTokenLocked());
        return std::make_pair("Authorization: Bearer " + token, generation);
    }
    return std::make_pair(std::string(), generation);
  }

  // After a 401 to a request made with credentials of generation `gen`.
  StatusOr<bool> reauthenticate(uint64_t gen, const Response& r) {
    std::lock_guard<std::mutex> l(auth_mu);
    if (generation != gen) return true;  // another request already refreshed
    // A bearer challenge again means: fetch a fresh token (the old one may
    // have expired early or been revoked); basic credentials refused once
    // stay refused.
    return adoptChallengeLocked(challengesOf(r));
  }

  // One request with credentials, retried once with fresh ones after a 401.
  // Streamed uploads are not retried: their body cannot be replayed.
  StatusOr<Response> request(const Request& req) {
    ARCA_ASSIGN_OR_RETURN(auto authz, authorization());
    Request r = req;
    if (!authz.first.empty()) r.headers.push_back(authz.first);
    ARCA_ASSIGN_OR_RETURN(Response resp, perform(r));
    if (resp.status != 401 || req.reader) return resp;
    ARCA_ASSIGN_OR_RETURN(bool retry, reauthenticate(authz.second, resp));
    if (!retry) return resp;
    ARCA_ASSIGN_OR_RETURN(auto authz2, authorization());
    r = req;
    if (!authz2.first.empty()) r.headers.push_back(authz2.first);
    return perform(r);
  }

  // Adds a token scope (a mount's source repository) and gets a token for it.
  Status addScope(const std::string& scope) {
    std::lock_guard<std::mutex> l(auth_mu);
    if (std::find(scopes.begin(), scopes.end(), scope) != scopes.end()) return Status::Ok();
    scopes.push_back(scope);
    if (scheme != Scheme::kBearer || !auth.registry_token.empty()) return Status::Ok();
    return fetchTokenLocked();
  }
};

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

const std::string& Session::endpointUrl() const { return impl_->endpoint.url; }

StatusOr<std::unique_ptr<Session>> Session::open(const std::string& domain,
                                                 const std::string& repository,
                                                 const std::string& actions, const AuthConfig& auth,
                                                 const RegistryOptions& opts) {
  if (!isValidRepository(repository)) {
    return InvalidArgument("invalid repository name \"" + repository.substr(0, 256) + "\"");
  }
  if (actions.empty() || !std::all_of(actions.begin(), actions.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || c == ',' || c == '*';
      })) {
    return InvalidArgument("invalid registry actions \"" + actions + "\"");
  }
  if (!isHeaderSafe(auth.registry_token) || !isHeaderSafe(auth.auth) ||
      !isHeaderSafe(auth.identity_token)) {
    return InvalidArgument("invalid registry credentials");
  }
  auto impl = std::make_unique<Impl>();
  impl->repository = repository;
  impl->auth = auth;
  impl->opts = opts;
  impl->scopes.push_back("repository:" + repository + ":" + actions);
  Status first_error;
  for (const Endpoint& ep : endpointsFor(domain, opts)) {
    impl->endpoint = ep;
    Request ping;
    ping.url = ep.url + "/v2/";
    auto resp = impl->perform(ping);
    if (!resp.ok()) {
      // Only unreachable endpoints fall through to the next one; an HTTP
      // answer, even an error, means this is the registry to talk to.
      spdlog::debug("registry: endpoint {} failed: {}", ep.url, resp.status().message());
      if (first_error.ok()) first_error = resp.status();
      continue;
    }
    if (resp->status == 401) {
      std::lock_guard<std::mutex> l(impl->auth_mu);
      ARCA_RETURN_IF_ERROR(impl->adoptChallengeLocked(challengesOf(*resp)).status());
    }
    spdlog::debug("registry: {} for {} ({})", ep.url, repository,
                  impl->scheme == Impl::Scheme::kBearer  ? "bearer"
                  : impl->scheme == Impl::Scheme::kBasic ? "basic"
                                                         : "anonymous");
    return std::unique_ptr<Session>(new Session(std::move(impl)));
  }
  return first_error;
}

StatusOr<Session::Manifest> Session::getManifest(const std::string& tag_or_digest,
                                                 size_t max_bytes) {
  ARCA_RETURN_IF_ERROR(checkReference(tag_or_digest));
  Request req;
  req.url = impl_->repoUrl("manifests/" + tag_or_digest);
  req.headers.push_back(std::string("Accept: ") + kOciIndex + ", " + kDockerManifestList + ", " +
                        kOciManifest + ", " + kDockerManifest);
  req.max_body = max_bytes;
  req.follow = true;
  ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
  if (resp.status != 200) return errorFromResponse(resp);
  if (resp.too_large) {
    return InvalidArgument("manifest " + tag_or_digest + " is larger than " +
                           std::to_string(max_bytes) + " bytes");
  }
  Manifest m;
  m.digest = "sha256:" + image::sha256Hex(resp.body);
  if (tag_or_digest.find(':') != std::string::npos && tag_or_digest != m.digest) {
    return InvalidArgument("manifest verification failed for digest " + tag_or_digest);
  }
  std::string sent = resp.header("docker-content-digest");
  if (sent.rfind("sha256:", 0) == 0 && sent != m.digest) {
    return InvalidArgument("manifest verification failed for digest " + sent);
  }
  m.media_type = bareContentType(resp.header("content-type"));
  m.body = std::move(resp.body);
  return m;
}

StatusOr<std::vector<std::string>> Session::listTags() {
  std::vector<std::string> tags;
  std::string next = impl_->repoUrl("tags/list?n=1000");
  // Pages follow the Link header (RFC 5988) until there is none; bounded.
  for (int page = 0; page < 100 && !next.empty(); ++page) {
    Request req;
    req.url = next;
    req.max_body = 16 << 20;
    req.follow = true;
    ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
    if (resp.status != 200) return errorFromResponse(resp);
    rapidjson::Document d;
    d.Parse(resp.body.data(), resp.body.size());
    if (d.HasParseError() || !d.IsObject()) return InvalidArgument("invalid tag list from the registry");
    auto t = d.FindMember("tags");
    if (t != d.MemberEnd() && t->value.IsArray()) {
      for (const auto& v : t->value.GetArray()) {
        if (v.IsString()) tags.emplace_back(v.GetString(), v.GetStringLength());
      }
    }
    next.clear();
    std::string link = resp.header("link");
    auto lt = link.find('<'), gt = link.find('>');
    if (lt != std::string::npos && gt != std::string::npos && gt > lt &&
        link.find("rel=\"next\"", gt) != std::string::npos) {
      std::string target = link.substr(lt + 1, gt - lt - 1);
      next = target.rfind("http", 0) == 0 ? target : impl_->endpoint.url + target;
    }
  }
  std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  return tags;
}

StatusOr<std::string> Session::getBlob(const std::string& digest, size_t max_bytes) {
  ARCA_RETURN_IF_ERROR(image::sha256HexOf(digest).status());
  Request req;
  req.url = impl_->repoUrl("blobs/" + digest);
  req.max_body = max_bytes;
  req.follow = true;
  ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
  if (resp.status != 200) return errorFromResponse(resp);
  if (resp.too_large) {
    return InvalidArgument("blob " + digest + " is larger than " + std::to_string(max_bytes) +
                           " bytes");
  }
  std::string got = "sha256:" + image::sha256Hex(resp.body);
  if (got != digest) {
    return InvalidArgument("blob verification failed for digest " + digest + " (content is " + got +
                           ")");
  }
  return std::move(resp.body);
}

StatusOr<std::unique_ptr<BlobReader>> Session::openBlob(const std::string& digest,
                                                        int64_t offset) {
  ARCA_RETURN_IF_ERROR(image::sha256HexOf(digest).status());
  if (offset < 0) return InvalidArgument("negative blob offset");
  for (int attempt = 0;; ++attempt) {
    ARCA_ASSIGN_OR_RETURN(auto authz, impl_->authorization());
    Request req;
    req.url = impl_->repoUrl("blobs/" + digest);
    req.follow = true;
    req.tls_verify = impl_->endpoint.tls_verify;
    if (!authz.first.empty()) req.headers.push_back(authz.first);
    if (offset > 0) req.headers.push_back("Range: bytes=" + std::to_string(offset) + "-");
    auto reader = std::make_unique<CurlBlobReader>(std::move(req), impl_->opts);
    ARCA_RETURN_IF_ERROR(reader->start());
    if (reader->status() >= 200 && reader->status() < 300) {
      if (offset > 0 && reader->status() == 200) {
        // The registry ignored the Range: skip what the caller has already.
        std::vector<char> skip(64 * 1024);
        for (int64_t left = offset; left > 0;) {
          long n = reader->read(skip.data(), static_cast<size_t>(std::min<int64_t>(left, 64 * 1024)));
          if (n <= 0) return Unavailable("error resuming blob " + digest + ": " + reader->error());
          left -= n;
        }
      }
      return std::unique_ptr<BlobReader>(std::move(reader));
    }
    Response err = reader->finishError();
    err.url = impl_->repoUrl("blobs/" + digest);  // without the Authorization-bearing details
    if (err.status == 401 && attempt == 0) {
      ARCA_ASSIGN_OR_RETURN(bool retry, impl_->reauthenticate(authz.second, err));
      if (retry) continue;
    }
    return errorFromResponse(err);
  }
}

StatusOr<bool> Session::blobExists(const std::string& digest) {
  ARCA_RETURN_IF_ERROR(image::sha256HexOf(digest).status());
  Request req;
  req.method = "HEAD";
  req.url = impl_->repoUrl("blobs/" + digest);
  req.follow = true;
  ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
  if (resp.status == 200) return true;
  if (resp.status == 404) return false;
  return errorFromResponse(resp);
}

StatusOr<bool> Session::mountBlob(const std::string& digest, const std::string& from_repository) {
  ARCA_RETURN_IF_ERROR(image::sha256HexOf(digest).status());
  if (!isValidRepository(from_repository)) {
    return InvalidArgument("invalid repository name \"" + from_repository.substr(0, 256) + "\"");
  }
  Status scoped = impl_->addScope("repository:" + from_repository + ":pull");
  if (scoped.code() == Code::kPermissionDenied) return false;  // no access to the source
  ARCA_RETURN_IF_ERROR(scoped);
  Request req;
  req.method = "POST";
  req.url = impl_->repoUrl("blobs/uploads/?mount=" + urlEncode(digest) +
                           "&from=" + urlEncode(from_repository));
  ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
  if (resp.status == 201) return true;
  if (resp.status != 202) return errorFromResponse(resp);
  // The registry could not mount and started an ordinary upload instead.
  std::string loc = resp.header("location");
  if (!loc.empty()) {
    auto url = resolveUrl(req.url, loc);
    if (url.ok()) {
      Request del;
      del.method = "DELETE";
      del.url = *url;
      auto d = impl_->request(del);
      if (!d.ok() || d->status >= 300) {
        spdlog::debug("registry: cancelling upload {}: {}", *url,
                      d.ok() ? statusText(d->status) : d.status().message());
      }
    }
  }
  return false;
}

Status Session::uploadBlob(const std::string& digest, int64_t size,
                           const std::function<long(char*, size_t)>& body,
                           const std::function<void(int64_t)>& progress) {
  ARCA_RETURN_IF_ERROR(image::sha256HexOf(digest).status());
  if (size < 0) return InvalidArgument("invalid blob size " + std::to_string(size));
  Request start;
  start.method = "POST";
  start.url = impl_->repoUrl("blobs/uploads/");
  ARCA_ASSIGN_OR_RETURN(Response started, impl_->request(start));
  if (started.status != 202) return errorFromResponse(started);
  std::string loc = started.header("location");
  if (loc.empty()) return Unavailable("registry started an upload without a Location");
  ARCA_ASSIGN_OR_RETURN(std::string upload_url, resolveUrl(start.url, loc));

  Request put;
  put.method = "PUT";
  put.url = appendQuery(upload_url, "digest=" + urlEncode(digest));
  put.headers.push_back("Content-Type: application/octet-stream");
  put.reader = &body;
  put.upload_size = size;
  put.progress = &progress;
  auto resp = impl_->request(put);
  Status st = !resp.ok()            ? resp.status()
              : resp->status != 201 ? errorFromResponse(*resp)
                                    : Status::Ok();
  if (st.ok()) {
    std::string sent = resp->header("docker-content-digest");
    if (!sent.empty() && sent != digest) {
      return Unavailable("registry stored blob " + digest + " as " + sent);
    }
    if (progress && size == 0) progress(0);
    return Status::Ok();
  }
  // Best effort: do not leave the half-done upload behind.
  Request cancel;
  cancel.method = "DELETE";
  cancel.url = upload_url;
  (void)impl_->request(cancel);
  return st;
}

StatusOr<std::string> Session::putManifest(const std::string& tag, const std::string& media_type,
                                           const std::string& body) {
  ARCA_RETURN_IF_ERROR(checkReference(tag));
  if (media_type.empty() || !isHeaderSafe(media_type)) {
    return InvalidArgument("invalid manifest media type \"" + media_type + "\"");
  }
  Request req;
  req.method = "PUT";
  req.url = impl_->repoUrl("manifests/" + tag);
  req.headers.push_back("Content-Type: " + media_type);
  req.body = body;
  req.has_body = true;
  ARCA_ASSIGN_OR_RETURN(Response resp, impl_->request(req));
  if (resp.status != 201 && resp.status != 200) return errorFromResponse(resp);
  std::string digest = "sha256:" + image::sha256Hex(body);
  std::string sent = resp.header("docker-content-digest");
  if (sent.rfind("sha256:", 0) == 0 && sent != digest) {
    return InvalidArgument("manifest verification failed for digest " + sent + " (sent " + digest +
                           ")");
  }
  return digest;
}

// ---------------------------------------------------------------------------
// login

std::string serverAddressDomain(std::string address) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (address.rfind(scheme, 0) == 0) address.erase(0, scheme.size());
  }
  address.resize(std::min(address.size(), address.find('/')));
  if (address.empty() || isDockerHub(address)) return "docker.io";
  return address;
}

Status login(const std::string& domain, const AuthConfig& auth, const RegistryOptions& opts) {
  if (!isHeaderSafe(auth.auth) || !isHeaderSafe(auth.registry_token)) {
    return InvalidArgument("invalid registry credentials");
  }
  Status first_error;
  for (const Endpoint& ep : endpointsFor(domain, opts)) {
    if (ep.mirror) continue;  // credentials are for the registry, not its mirrors
    std::string url = ep.url + "/v2/";
    Request ping;
    ping.url = url;
    ping.tls_verify = ep.tls_verify;
    auto resp = performOnce(ping, opts);
    if (!resp.ok()) {
      if (first_error.ok()) first_error = resp.status();
      continue;
    }
    if (resp->status == 200) return Status::Ok();  // a registry without authentication
    if (resp->status != 401) {
      return Unavailable("login attempt to " + url +
                         " failed with status: " + statusText(resp->status));
    }
    std::vector<Challenge> cs = challengesOf(*resp);
    Request check;
    check.url = url;
    check.tls_verify = ep.tls_verify;
    if (const Challenge* b = findChallenge(cs, "bearer")) {
      std::string token = auth.registry_token;
      if (token.empty()) {
        auto t =
            fetchToken(param(*b, "realm"), param(*b, "service"), {}, auth, ep.tls_verify, opts);
        if (!t.ok()) {
          return Status(t.status().code(), "Get \"" + url + "\": " + t.status().message());
        }
        token = t->value;
      }
      check.headers.push_back("Authorization: Bearer " + token);
    } else if (findChallenge(cs, "basic")) {
      std::string cred = basicCredential(auth);
      if (!cred.empty()) check.headers.push_back("Authorization: Basic " + cred);
    } else {
      return PermissionDenied("login attempt to " + url +
                              " failed with status: " + statusText(resp->status));
    }
    ARCA_ASSIGN_OR_RETURN(Response r, performOnce(check, opts));
    if (r.status == 200) return Status::Ok();
    // Docker's wording for a refused login.
    return Status(
        r.status == 401 || r.status == 403 ? Code::kPermissionDenied : codeForStatus(r.status),
        "login attempt to " + url + " failed with status: " + statusText(r.status));
  }
  return first_error;
}

}  // namespace arca::registry
