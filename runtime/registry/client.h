// A client for the distribution API (registry v2) on libcurl: endpoints,
// authentication (Basic, Bearer tokens), manifests and blobs, pull and push.
//
// Threads: free functions may be called from any thread. A Session may be
// used from several threads at once (parallel layer downloads and uploads):
// each request has its own curl handle, and the token is guarded. A
// BlobReader belongs to one thread at a time and may outlive its Session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/status.h"

namespace arca::registry {

struct AuthConfig {
  std::string username, password;
  std::string auth;  // base64 "user:pass"
  std::string identity_token, registry_token, server_address, email;
};

// Decodes the X-Registry-Auth header: base64url (or standard base64) of a JSON
// AuthConfig (keys username, password, auth, email, serveraddress,
// identitytoken, registrytoken; matched case-insensitively as Go's
// encoding/json does), padding optional. "" -> an empty config. Bad input ->
// InvalidArgument("invalid X-Registry-Auth header: ..."). When only `auth` is
// set, username and password are filled from it.
StatusOr<AuthConfig> decodeAuthHeader(std::string_view header);

// Decodes the JSON body of POST /auth the same way ("" -> an empty config).
StatusOr<AuthConfig> parseAuthJson(std::string_view json);

struct RegistryOptions {
  std::vector<std::string> insecure_registries;  // "host:port", "host", or CIDR "10.0.0.0/8"
  std::vector<std::string> mirrors;              // URLs, used for docker.io only
  long connect_timeout_ms = 15000;
  long stall_timeout_s = 30;  // a transfer receiving nothing for this long fails (registry hangs)
  std::string user_agent = "arca/0.1";
};

struct Endpoint {
  std::string url;  // "https://host:port", no trailing slash
  bool tls_verify = true;
  bool mirror = false;
};

// In order: mirrors (docker.io only), then https://<host> (docker.io ->
// registry-1.docker.io), then for insecure registries http://<host>.
// Loopback (127.0.0.0/8, ::1, localhost) is insecure by default as in Docker.
// For insecure registries the https endpoint has tls_verify=false.
std::vector<Endpoint> endpointsFor(const std::string& domain, const RegistryOptions& opts);

// True for loopback, for a domain listed in insecure_registries, and for a
// domain whose address (an IP literal, or what the name resolves to) is in
// one of the listed CIDRs. Resolves names only when CIDRs are configured.
bool isInsecure(const std::string& domain, const RegistryOptions& opts);

// A pull-style reader over one HTTP response body (a blob), on curl's multi
// interface so no extra thread is needed: read() drives the transfer until
// at least one byte is buffered. At most ~1 MiB plus one curl write is
// buffered; beyond that the transfer is paused until the reader catches up.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Bytes read (>0), 0 at the end of the body, -1 on error (see error()).
  // Fails when the connection closes early (fewer bytes than
  // Content-Length), and when nothing arrives for stall_timeout_s.
  virtual long read(char* buf, size_t len) = 0;
  virtual const std::string& error() const = 0;
  virtual int64_t contentLength() const = 0;  // -1 if unknown
};

class Session {
 public:
  // One registry + repository ("library/busybox") + actions ("pull" or
  // "pull,push"). Tries endpointsFor(domain) in order with GET /v2/ (the next
  // endpoint only after a connection or TLS error, not after an HTTP error),
  // learns the auth challenge and authenticates:
  //   Basic: the AuthConfig's username/password on every request.
  //   Bearer: a token from GET realm?service=&scope=repository:<repo>:<actions>
  //     (with basic credentials when there are any); with an identity_token,
  //     POST realm grant_type=refresh_token as Docker does (falling back to
  //     GET when the token server answers 404/405); a registry_token is used
  //     as the bearer token as is.
  // The token is fetched in open(), again when it expires, and once more
  // when a request gets 401. Errors: unreachable -> Unavailable naming the
  // URL ("Get \"https://host/v2/\": dial tcp host:443: connect: connection
  // refused"); refused credentials -> PermissionDenied with the registry's
  // text ("unauthorized: incorrect username or password").
  static StatusOr<std::unique_ptr<Session>> open(const std::string& domain,
                                                 const std::string& repository,
                                                 const std::string& actions, const AuthConfig& auth,
                                                 const RegistryOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  struct Manifest {
    std::string media_type;  // Content-Type without parameters
    std::string digest;      // "sha256:<hex>" of body
    std::string body;
  };
  // GET /v2/<repo>/manifests/<ref>, accepting the four manifest media types.
  // The digest is verified against ref when ref is a digest and against
  // Docker-Content-Digest when present (mismatch -> InvalidArgument
  // "manifest verification failed for digest sha256:..."). Larger than
  // max_bytes -> InvalidArgument. Registry errors keep Docker's text:
  // NotFound("manifest unknown: manifest unknown").
  StatusOr<Manifest> getManifest(const std::string& tag_or_digest, size_t max_bytes = 4 << 20);

  // GET /v2/<repo>/tags/list, every page: the repository's tags, sorted.
  StatusOr<std::vector<std::string>> listTags();
  // A small blob (a config), whole, its sha256 verified; larger than
  // max_bytes -> InvalidArgument.
  StatusOr<std::string> getBlob(const std::string& digest, size_t max_bytes = 16 << 20);

  // GET /v2/<repo>/blobs/<digest>, redirects followed (Authorization is not
  // sent to other hosts). HTTP errors are reported here (NotFound for 404);
  // the caller verifies the digest of what it reads.
  // With offset > 0, asks for the rest of the blob (Range: bytes=offset-);
  // a registry that ignores the range has the first offset bytes skipped.
  StatusOr<std::unique_ptr<BlobReader>> openBlob(const std::string& digest, int64_t offset = 0);

  // HEAD /v2/<repo>/blobs/<digest>: true if present.
  StatusOr<bool> blobExists(const std::string& digest);

  // POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<from_repo>: true when
  // mounted (201); on 202 the upload the registry started instead is
  // cancelled (DELETE) and false returned.
  StatusOr<bool> mountBlob(const std::string& digest, const std::string& from_repository);

  // POST uploads/, then PUT <location>&digest=<digest> streaming `size` bytes
  // from `body` (bytes read, 0 at EOF, -1 on error). progress(sent) is called
  // about every 64 KiB and at the end. Not retried on 401 (the body is a
  // stream); the POST before it refreshes the token if needed.
  Status uploadBlob(const std::string& digest, int64_t size,
                    const std::function<long(char*, size_t)>& body,
                    const std::function<void(int64_t)>& progress);

  // PUT /v2/<repo>/manifests/<tag> with Content-Type media_type. Returns the
  // body's digest, checked against Docker-Content-Digest when sent.
  StatusOr<std::string> putManifest(const std::string& tag, const std::string& media_type,
                                    const std::string& body);

  // The endpoint open() settled on, e.g. "http://127.0.0.1:5000".
  const std::string& endpointUrl() const;

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// docker login: GET /v2/ with the credentials (through the token service,
// without a scope, when challenged for a bearer token). Ok when accepted,
// also when the registry asks for no authentication; PermissionDenied with
// the registry's text when refused ("... unauthorized: incorrect username or
// password"); Unavailable when unreachable.
Status login(const std::string& domain, const AuthConfig& auth, const RegistryOptions& opts);

// The registry a login's server address names: "https://index.docker.io/v1/"
// (or "") -> "docker.io"; "http://127.0.0.1:5001/" -> "127.0.0.1:5001".
std::string serverAddressDomain(std::string address);

}  // namespace arca::registry
