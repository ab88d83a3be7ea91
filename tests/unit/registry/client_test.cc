// The client against Debian's real registry (push, pull, mount, streaming,
// basic auth, http fallback) and against a fake server for the token flow
// and the failure modes a real registry does not produce on demand.
#include "runtime/registry/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/image/digest.h"
#include "runtime/registry/manifest.h"
#include "tests/unit/registry/test_servers.h"

namespace arca::registry {
namespace {

using testing::FakeServer;
using testing::HttpRequest;
using testing::RegistryProcess;

std::string digestOf(const std::string& s) { return "sha256:" + image::sha256Hex(s); }

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

// A ReadFn over a string, handing out at most `chunk` bytes per call.
std::function<long(char*, size_t)> stringReader(const std::string& data, size_t chunk = 1 << 20) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, chunk, pos](char* buf, size_t len) -> long {
    size_t n = std::min({len, chunk, data.size() - *pos});
    std::memcpy(buf, data.data() + *pos, n);
    *pos += n;
    return static_cast<long>(n);
  };
}

RegistryOptions fastOptions() {
  RegistryOptions o;
  o.connect_timeout_ms = 2000;
  o.stall_timeout_s = 5;
  return o;
}

std::unique_ptr<Session> mustOpen(const std::string& domain, const std::string& repo,
                                  const std::string& actions = "pull,push",
                                  const AuthConfig& auth = {},
                                  const RegistryOptions& opts = fastOptions()) {
  auto s = Session::open(domain, repo, actions, auth, opts);
  EXPECT_TRUE(s.ok()) << s.status().toString();
  return s.ok() ? std::move(*s) : nullptr;
}

Status upload(Session* s, const std::string& data, size_t chunk = 1 << 20) {
  return s->uploadBlob(digestOf(data), static_cast<int64_t>(data.size()), stringReader(data, chunk),
                       nullptr);
}

// ---------------------------------------------------------------------------
// Against the real registry

class RealRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(testing::kRegistryBinary, X_OK) != 0) return;
    registry_ = RegistryProcess::start().release();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  void SetUp() override {
    if (::access(testing::kRegistryBinary, X_OK) != 0) {
      GTEST_SKIP() << testing::kRegistryBinary
                   << " is not installed (apt-get install docker-registry)";
    }
    ASSERT_NE(registry_, nullptr) << "docker-registry did not start";
  }
  static RegistryProcess* registry_;
};
RegistryProcess* RealRegistryTest::registry_ = nullptr;

TEST_F(RealRegistryTest, HttpFallbackOnPlainHttpLoopbackRegistry) {
  // Loopback is insecure: https is tried first (its TLS handshake fails on
  // the plain-http registry), then http.
  auto eps = endpointsFor(registry_->domain(), fastOptions());
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].url, "https://" + registry_->domain());
  auto s = mustOpen(registry_->domain(), "test/fallback");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->endpointUrl(), "http://" + registry_->domain());
}

TEST(UnreachableTest, UnresolvableNameNamesTheUrl) {
  auto s = Session::open("nosuch.invalid", "a/b", "pull", {}, fastOptions());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_EQ(s.status().message(),
            "Get \"https://nosuch.invalid/v2/\": dial tcp: lookup nosuch.invalid: no such host");
}

TEST_F(RealRegistryTest, UploadExistsAndGetBlob) {
  auto s = mustOpen(registry_->domain(), "test/blobs");
  ASSERT_TRUE(s);
  std::string data = randomBytes(200 * 1024 + 7, 1);
  std::string d = digestOf(data);
  std::vector<int64_t> progress;
  ASSERT_TRUE(
      s->uploadBlob(d, static_cast<int64_t>(data.size()), stringReader(data, 5000), [&](int64_t n) {
         progress.push_back(n);
       }).ok());
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), static_cast<int64_t>(data.size()));
  EXPECT_GE(progress.size(), 3u);  // ~64 KiB steps
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GT(progress[i], progress[i - 1]);

  auto exists = s->blobExists(d);
  ASSERT_TRUE(exists.ok()) << exists.status().toString();
  EXPECT_TRUE(*exists);
  auto missing = s->blobExists(digestOf("not there"));
  ASSERT_TRUE(missing.ok()) << missing.status().toString();
  EXPECT_FALSE(*missing);

  auto got = s->getBlob(d);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_EQ(*got, data);
  auto small = s->getBlob(d, 1000);
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), Code::kInvalidArgument);

  // An empty blob works too.
  EXPECT_TRUE(upload(s.get(), "").ok());
  EXPECT_TRUE(*s->blobExists(digestOf("")));
}

TEST_F(RealRegistryTest, UploadWithWrongDigestOrShortBodyFails) {
  auto s = mustOpen(registry_->domain(), "test/badupload");
  ASSERT_TRUE(s);
  std::string data = "some bytes";
  Status st = s->uploadBlob(digestOf("other bytes"), static_cast<int64_t>(data.size()),
                            stringReader(data), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("digest invalid"), std::string::npos) << st.toString();
  // The body ends before `size` bytes.
  st = s->uploadBlob(digestOf(data), 100, stringReader(data), nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ended after 10 of 100 bytes"), std::string::npos) << st.toString();
}

TEST_F(RealRegistryTest, MountBlob) {
  auto src = mustOpen(registry_->domain(), "test/src");
  ASSERT_TRUE(src);
  std::string data = "layer to share";
  ASSERT_TRUE(upload(src.get(), data).ok());
  auto dst = mustOpen(registry_->domain(), "test/dst");
  ASSERT_TRUE(dst);
  EXPECT_FALSE(*dst->blobExists(digestOf(data)));
  auto m = dst->mountBlob(digestOf(data), "test/src");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_TRUE(*m);
  EXPECT_TRUE(*dst->blobExists(digestOf(data)));
  // Nothing to mount: the registry starts an upload, which is cancelled.
  auto none = dst->mountBlob(digestOf("never uploaded"), "test/src");
  ASSERT_TRUE(none.ok()) << none.status().toString();
  EXPECT_FALSE(*none);
}

std::string makeManifest(const std::string& config, const std::vector<std::string>& layers) {
  std::string body =
      R"({"schemaVersion":2,"mediaType":")" + std::string(kDockerManifest) +
      R"(","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":)" +
      std::to_string(config.size()) + R"(,"digest":")" + digestOf(config) + R"("},"layers":[)";
  for (size_t i = 0; i < layers.size(); ++i) {
    body += std::string(i ? "," : "") +
            R"({"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":)" +
            std::to_string(layers[i].size()) + R"(,"digest":")" + digestOf(layers[i]) + "\"}";
  }
  return body + "]}";
}

TEST_F(RealRegistryTest, PutAndGetManifest) {
  auto s = mustOpen(registry_->domain(), "test/image");
  ASSERT_TRUE(s);
  std::string config =
      R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  std::string layer = randomBytes(1000, 2);
  ASSERT_TRUE(upload(s.get(), config).ok());
  ASSERT_TRUE(upload(s.get(), layer).ok());
  std::string body = makeManifest(config, {layer});
  auto put = s->putManifest("v1", kDockerManifest, body);
  ASSERT_TRUE(put.ok()) << put.status().toString();
  EXPECT_EQ(*put, digestOf(body));

  auto got = s->getManifest("v1");
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_EQ(got->digest, digestOf(body));
  EXPECT_EQ(got->body, body);
  EXPECT_EQ(got->media_type, kDockerManifest);
  auto parsed = parseManifest(got->body, got->media_type);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  ASSERT_EQ(parsed->layers.size(), 1u);
  EXPECT_EQ(parsed->layers[0].digest, digestOf(layer));

  auto by_digest = s->getManifest(*put);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().toString();
  EXPECT_EQ(by_digest->body, body);
  auto cfg = s->getBlob(parsed->config.digest);
  ASSERT_TRUE(cfg.ok()) << cfg.status().toString();
  EXPECT_EQ(*cfg, config);

  auto too_big = s->getManifest("v1", 100);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(s->getManifest("bad/tag").ok());
  EXPECT_FALSE(s->getManifest("sha256:1234").ok());
}

TEST_F(RealRegistryTest, NotFoundTexts) {
  auto s = mustOpen(registry_->domain(), "test/image-missing", "pull");
  ASSERT_TRUE(s);
  auto m = s->getManifest("nosuchtag");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kNotFound);
  EXPECT_EQ(m.status().message(), "manifest unknown: manifest unknown");
  auto b = s->openBlob(digestOf("nothing"));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), Code::kNotFound);
  EXPECT_EQ(b.status().message(), "blob unknown: blob unknown to registry");
  auto g = s->getBlob(digestOf("nothing"));
  EXPECT_EQ(g.status().code(), Code::kNotFound);
}

TEST_F(RealRegistryTest, StreamFiveMiBWithSmallReads) {
  auto s = mustOpen(registry_->domain(), "test/big");
  ASSERT_TRUE(s);
  std::string data = randomBytes(5 << 20, 3);
  ASSERT_TRUE(upload(s.get(), data, 300000).ok());
  auto r = s->openBlob(digestOf(data));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->contentLength(), static_cast<int64_t>(data.size()));
  image::Sha256 h;
  int64_t total = 0;
  char buf[1000];
  long n;
  while ((n = (*r)->read(buf, sizeof(buf))) > 0) {
    h.update(buf, static_cast<size_t>(n));
    total += n;
  }
  ASSERT_EQ(n, 0) << (*r)->error();
  EXPECT_EQ(total, static_cast<int64_t>(data.size()));
  EXPECT_EQ("sha256:" + h.hexDigest(), digestOf(data));
  EXPECT_EQ((*r)->read(buf, sizeof(buf)), 0);  // stays at the end
}

TEST_F(RealRegistryTest, SlowReaderKeepsBufferBounded) {
  // A reader that sleeps between reads makes curl deliver more than it
  // takes; the transfer must pause rather than buffer the whole blob.
  auto s = mustOpen(registry_->domain(), "test/slow");
  ASSERT_TRUE(s);
  std::string data = randomBytes(4 << 20, 4);
  ASSERT_TRUE(upload(s.get(), data).ok());
  auto r = s->openBlob(digestOf(data));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::string got;
  std::vector<char> buf(256 * 1024);
  long n;
  int reads = 0;
  while ((n = (*r)->read(buf.data(), buf.size())) > 0) {
    got.append(buf.data(), static_cast<size_t>(n));
    if (++reads < 4) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(n, 0) << (*r)->error();
  EXPECT_EQ(got, data);
}

TEST_F(RealRegistryTest, GetBlobVerifiesDigest) {
  auto s = mustOpen(registry_->domain(), "test/corrupt");
  ASSERT_TRUE(s);
  std::string data = "original content";
  ASSERT_TRUE(upload(s.get(), data).ok());
  {
    // Same length, different bytes, behind the registry's back.
    std::ofstream f(registry_->blobPath(digestOf(data)), std::ios::binary | std::ios::trunc);
    f << "ORIGINAL CONTENT";
  }
  auto g = s->getBlob(digestOf(data));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Code::kInvalidArgument);
  EXPECT_NE(g.status().message().find("verification failed for digest " + digestOf(data)),
            std::string::npos)
      << g.status().message();
}

TEST_F(RealRegistryTest, ParallelDownloadsOnOneSession) {
  auto s = mustOpen(registry_->domain(), "test/parallel");
  ASSERT_TRUE(s);
  std::vector<std::string> blobs;
  for (unsigned i = 0; i < 4; ++i) {
    blobs.push_back(randomBytes(300000 + i, 10 + i));
    ASSERT_TRUE(upload(s.get(), blobs.back()).ok());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (const auto& b : blobs) {
    threads.emplace_back([&s, &b, &ok] {
      auto r = s->openBlob(digestOf(b));
      if (!r.ok()) return;
      std::string got;
      char buf[8192];
      long n;
      while ((n = (*r)->read(buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
      auto small = s->getBlob(digestOf(b));
      if (n == 0 && got == b && small.ok() && *small == b && *s->blobExists(digestOf(b))) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
}

TEST_F(RealRegistryTest, BasicAuthAndLogin) {
  auto reg = RegistryProcess::start("u", "p");
  ASSERT_NE(reg, nullptr) << "docker-registry with htpasswd did not start";
  RegistryOptions o = fastOptions();
  AuthConfig good;
  good.username = "u";
  good.password = "p";
  AuthConfig bad = good;
  bad.password = "wrong";

  EXPECT_TRUE(login(reg->domain(), good, o).ok());
  Status denied = login(reg->domain(), bad, o);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.code(), Code::kPermissionDenied);
  EXPECT_EQ(denied.message(), "login attempt to http://" + reg->domain() +
                                  "/v2/ failed with status: 401 Unauthorized");
  EXPECT_EQ(login(reg->domain(), {}, o).code(), Code::kPermissionDenied);

  auto s = mustOpen(reg->domain(), "private/app", "pull,push", good, o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(upload(s.get(), "secret layer").ok());
  EXPECT_TRUE(*s->blobExists(digestOf("secret layer")));

  for (const AuthConfig& a : {AuthConfig{}, bad}) {
    auto anon = mustOpen(reg->domain(), "private/app", "pull", a, o);
    ASSERT_TRUE(anon);
    auto e = anon->blobExists(digestOf("secret layer"));
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), Code::kPermissionDenied);
    auto m = anon->getManifest("latest");
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
    EXPECT_EQ(m.status().message(), "unauthorized: authentication required");
  }
}

TEST(UnreachableTest, ConnectionRefusedNamesTheUrl) {
  int port = testing::freePort();
  std::string domain = "127.0.0.1:" + std::to_string(port);
  auto s = Session::open(domain, "a/b", "pull", {}, fastOptions());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_EQ(s.status().message(), "Get \"https://" + domain + "/v2/\": dial tcp " + domain +
                                      ": connect: connection refused");
  Status l = login(domain, {}, fastOptions());
  EXPECT_EQ(l.code(), Code::kUnavailable);
}

// ---------------------------------------------------------------------------
// Bearer tokens against a fake registry + token service

const char kTokenUser[] = "u";
const char kTokenPass[] = "p";

// "Basic dTpw" for u:p
std::string basicHeader() { return "Basic dTpw"; }

std::string urlEncoded(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ':') {
      out += "%3A";
    } else if (c == '/') {
      out += "%2F";
    } else if (c == ',') {
      out += "%2C";
    } else {
      out += c;
    }
  }
  return out;
}

struct TokenRegistry {
  std::mutex mu;
  std::set<std::string> valid;
  int issued = 0;
  int token_requests = 0;
  int refresh_posts = 0;
  bool revoke_first_token_on_use = false;
  std::string last_scope_query;
  bool storage_saw_authorization = false;
  bool upload_cancelled = false;
  std::string uploaded;      // body of the PUT that completed an upload
  std::string upload_query;  // its query
  std::string manifest =
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  std::string blob = "blob bytes behind a redirect";
  std::unique_ptr<FakeServer> server;

  std::string challenge(const FakeServer& srv) {
    return "WWW-Authenticate: Bearer realm=\"" + srv.url() +
           "/token\",service=\"test\",scope=\"repository:foo/bar:pull\"";
  }

  std::string newToken() {
    std::string t = "tok-" + std::to_string(++issued);
    valid.insert(t);
    return t;
  }

  bool authorized(const HttpRequest& r) {
    std::string h = r.header("authorization");
    return h.rfind("Bearer ", 0) == 0 && valid.count(h.substr(7));
  }

  void handle(const FakeServer& srv, int fd, const HttpRequest& r) {
    std::unique_lock<std::mutex> l(mu);
    const std::string unauthorized =
        R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]})";
    if (r.path == "/token") {
      ++token_requests;
      if (r.method == "POST") {
        ++refresh_posts;
        if (r.body.find("grant_type=refresh_token") != std::string::npos &&
            r.body.find("refresh_token=identity-123") != std::string::npos &&
            r.body.find("service=test") != std::string::npos) {
          FakeServer::respond(fd, 200, {"Content-Type: application/json"},
                              R"({"access_token":")" + newToken() + R"(","expires_in":300})");
        } else {
          FakeServer::respond(fd, 401, {}, R"({"details":"invalid refresh token"})");
        }
        return;
      }
      last_scope_query = r.query;
      if (r.header("authorization") != basicHeader() ||
          r.query.find("service=test") == std::string::npos) {
        FakeServer::respond(fd, 401, {"Content-Type: application/json"},
                            R"({"details":"incorrect username or password"})");
        return;
      }
      FakeServer::respond(fd, 200, {"Content-Type: application/json"},
                          R"({"token":")" + newToken() + R"(","expires_in":300})");
      return;
    }
    if (r.path.rfind("/storage/", 0) == 0) {
      storage_saw_authorization = !r.header("authorization").empty();
      FakeServer::respond(fd, 200, {}, blob);
      return;
    }
    if (!authorized(r)) {
      FakeServer::respond(fd, 401, {challenge(srv), "Content-Type: application/json"},
                          unauthorized);
      return;
    }
    if (revoke_first_token_on_use && r.header("authorization") == "Bearer tok-1") {
      valid.erase("tok-1");
      FakeServer::respond(fd, 401, {challenge(srv), "Content-Type: application/json"},
                          unauthorized);
      return;
    }
    if (r.path == "/v2/") {
      FakeServer::respond(fd, 200, {}, "{}");
    } else if (r.method == "POST" && r.path == "/v2/foo/bar/blobs/uploads/") {
      // Relative Locations that already carry a query, as some registries send.
      if (r.query.find("mount=" + urlEncoded(digestOf("mountable"))) != std::string::npos) {
        FakeServer::respond(fd, 201, {}, "");
      } else if (r.query.find("mount=") != std::string::npos) {
        FakeServer::respond(fd, 202, {"Location: /upload/1?_state=m"}, "");
      } else {
        FakeServer::respond(fd, 202, {"Location: ../../../../../upload/2?_state=abc"}, "");
      }
    } else if (r.method == "DELETE" && r.path == "/upload/1") {
      upload_cancelled = true;
      FakeServer::respond(fd, 204, {}, "", false);
    } else if (r.method == "PUT" && r.path == "/upload/2") {
      uploaded = r.body;
      upload_query = r.query;
      FakeServer::respond(fd, 201, {"Docker-Content-Digest: " + digestOf(r.body)}, "");
    } else if (r.path == "/v2/foo/bar/manifests/latest") {
      FakeServer::respond(fd, 200,
                          {std::string("Content-Type: ") + kOciIndex,
                           "Docker-Content-Digest: " + digestOf(manifest)},
                          manifest);
    } else if (r.path == "/v2/foo/bar/manifests/lying") {
      FakeServer::respond(fd, 200,
                          {std::string("Content-Type: ") + kOciIndex,
                           "Docker-Content-Digest: " + digestOf("something else")},
                          manifest);
    } else if (r.path == "/v2/foo/bar/blobs/" + digestOf(blob)) {
      // To storage on another host name (same server): curl must drop the
      // Authorization header.
      FakeServer::respond(
          fd, 307,
          {"Location: http://localhost:" + std::to_string(srv.port()) + "/storage/x?sig=1"}, "");
    } else {
      FakeServer::respond(
          fd, 404, {"Content-Type: application/json"},
          R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]})");
    }
  }

  TokenRegistry() {
    server = std::make_unique<FakeServer>(
        [this](const FakeServer& srv, int fd, const HttpRequest& r) { handle(srv, fd, r); });
  }
  ~TokenRegistry() { server.reset(); }  // joins handler threads before the state goes
};

AuthConfig tokenCreds() {
  AuthConfig a;
  a.username = kTokenUser;
  a.password = kTokenPass;
  return a;
}

TEST(BearerTest, TokenFlowWithBasicCredentials) {
  TokenRegistry reg;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", tokenCreds());
  ASSERT_TRUE(s);
  EXPECT_EQ(s->endpointUrl(), "http://" + reg.server->domain());
  {
    std::lock_guard<std::mutex> l(reg.mu);
    EXPECT_EQ(reg.token_requests, 1);
    EXPECT_NE(reg.last_scope_query.find("scope=repository%3Afoo%2Fbar%3Apull"), std::string::npos)
        << reg.last_scope_query;
    EXPECT_NE(reg.last_scope_query.find("account=u"), std::string::npos);
  }
  auto m = s->getManifest("latest");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->body, reg.manifest);
  EXPECT_EQ(m->media_type, kOciIndex);
  EXPECT_EQ(m->digest, digestOf(reg.manifest));
  auto other = s->getManifest("nope");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Code::kNotFound);
  EXPECT_EQ(other.status().message(), "name unknown: repository name not known to registry");
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_EQ(reg.token_requests, 1);  // one token serves every request
}

TEST(BearerTest, TokenRefetchedOnceAfter401) {
  TokenRegistry reg;
  reg.revoke_first_token_on_use = true;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", tokenCreds());
  ASSERT_TRUE(s);
  auto m = s->getManifest("latest");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_EQ(reg.token_requests, 2);
}

TEST(BearerTest, WrongCredentials) {
  TokenRegistry reg;
  AuthConfig bad = tokenCreds();
  bad.password = "nope";
  auto s = Session::open(reg.server->domain(), "foo/bar", "pull", bad, fastOptions());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(s.status().message(), "unauthorized: incorrect username or password");

  Status l = login(reg.server->domain(), bad, fastOptions());
  EXPECT_EQ(l.code(), Code::kPermissionDenied);
  EXPECT_EQ(l.message(), "Get \"http://" + reg.server->domain() +
                             "/v2/\": unauthorized: incorrect username or password");
  EXPECT_TRUE(login(reg.server->domain(), tokenCreds(), fastOptions()).ok());
}

TEST(BearerTest, IdentityTokenUsesRefreshGrant) {
  TokenRegistry reg;
  AuthConfig a;
  a.identity_token = "identity-123";
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", a);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->getManifest("latest").ok());
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_EQ(reg.refresh_posts, 1);
}

TEST(BearerTest, RegistryTokenIsUsedAsIs) {
  TokenRegistry reg;
  {
    std::lock_guard<std::mutex> l(reg.mu);
    reg.valid.insert("given-token");
  }
  AuthConfig a;
  a.registry_token = "given-token";
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", a);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->getManifest("latest").ok());
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_EQ(reg.token_requests, 0);
}

TEST(BearerTest, ManifestDigestHeaderMismatch) {
  TokenRegistry reg;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", tokenCreds());
  ASSERT_TRUE(s);
  auto m = s->getManifest("lying");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m.status().message(),
            "manifest verification failed for digest " + digestOf("something else"));
  // By digest: the body must hash to the digest asked for.
  auto d = s->getManifest(digestOf("x"));
  EXPECT_FALSE(d.ok());
}

TEST(BearerTest, BlobRedirectDropsAuthorization) {
  TokenRegistry reg;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull", tokenCreds());
  ASSERT_TRUE(s);
  auto r = s->openBlob(digestOf(reg.blob));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::string got;
  char buf[7];
  long n;
  while ((n = (*r)->read(buf, sizeof(buf))) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(n, 0) << (*r)->error();
  EXPECT_EQ(got, reg.blob);
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_FALSE(reg.storage_saw_authorization);
}

TEST(BearerTest, UploadToRelativeLocationWithQuery) {
  TokenRegistry reg;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull,push", tokenCreds());
  ASSERT_TRUE(s);
  std::string data(100000, 'u');
  int64_t last = 0;
  Status st = s->uploadBlob(digestOf(data), static_cast<int64_t>(data.size()),
                            stringReader(data, 999), [&](int64_t n) { last = n; });
  ASSERT_TRUE(st.ok()) << st.toString();
  EXPECT_EQ(last, 100000);
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_EQ(reg.uploaded, data);
  EXPECT_EQ(reg.upload_query, "_state=abc&digest=" + urlEncoded(digestOf(data)));
}

TEST(BearerTest, MountAsksForTheSourceScope) {
  TokenRegistry reg;
  auto s = mustOpen(reg.server->domain(), "foo/bar", "pull,push", tokenCreds());
  ASSERT_TRUE(s);
  auto m = s->mountBlob(digestOf("mountable"), "other/repo");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_TRUE(*m);
  {
    std::lock_guard<std::mutex> l(reg.mu);
    EXPECT_EQ(reg.token_requests, 2);
    EXPECT_NE(reg.last_scope_query.find("scope=repository%3Afoo%2Fbar%3Apull%2Cpush"),
              std::string::npos)
        << reg.last_scope_query;
    EXPECT_NE(reg.last_scope_query.find("scope=repository%3Aother%2Frepo%3Apull"),
              std::string::npos)
        << reg.last_scope_query;
  }
  auto no = s->mountBlob(digestOf("elsewhere"), "other/repo");
  ASSERT_TRUE(no.ok()) << no.status().toString();
  EXPECT_FALSE(*no);
  std::lock_guard<std::mutex> l(reg.mu);
  EXPECT_TRUE(reg.upload_cancelled);
  EXPECT_EQ(reg.token_requests, 2);  // the scope was already there
}

// ---------------------------------------------------------------------------
// Broken blob transfers

struct BrokenBlobs {
  std::unique_ptr<FakeServer> server;
  BrokenBlobs() {
    server = std::make_unique<FakeServer>([](const FakeServer& srv, int fd, const HttpRequest& r) {
      if (r.path == "/v2/") {
        FakeServer::respond(fd, 200, {}, "{}");
      } else if (r.path.rfind("/v2/short/", 0) == 0) {
        // Promises 1000 bytes, sends 500, closes.
        FakeServer::respond(fd, 200, {"Content-Length: 1000"}, std::string(500, 'x'), false);
      } else if (r.path.rfind("/v2/hang/", 0) == 0) {
        FakeServer::respond(fd, 200, {"Content-Length: 1000"}, std::string(100, 'x'), false);
        srv.hang();
      } else if (r.path.rfind("/v2/hangheaders/", 0) == 0) {
        srv.hang();
      } else {
        FakeServer::respond(fd, 500, {}, "boom");
      }
    });
  }
  ~BrokenBlobs() { server.reset(); }
};

long drain(BlobReader* r, std::string* got) {
  char buf[64];
  long n;
  while ((n = r->read(buf, sizeof(buf))) > 0) got->append(buf, static_cast<size_t>(n));
  return n;
}

TEST(BrokenBlobTest, ConnectionClosedEarly) {
  BrokenBlobs b;
  auto s = mustOpen(b.server->domain(), "short/x", "pull");
  ASSERT_TRUE(s);
  auto r = s->openBlob(digestOf("a"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)->contentLength(), 1000);
  std::string got;
  EXPECT_EQ(drain(r->get(), &got), -1);
  EXPECT_EQ(got.size(), 500u);
  EXPECT_NE((*r)->error().find("unexpected EOF"), std::string::npos) << (*r)->error();
  EXPECT_NE((*r)->error().find("500 bytes remaining"), std::string::npos) << (*r)->error();
  EXPECT_EQ((*r)->read(nullptr, 1), -1);  // stays failed
}

TEST(BrokenBlobTest, StalledTransferTimesOut) {
  BrokenBlobs b;
  RegistryOptions o = fastOptions();
  o.stall_timeout_s = 1;
  auto s = mustOpen(b.server->domain(), "hang/x", "pull", {}, o);
  ASSERT_TRUE(s);
  auto start = std::chrono::steady_clock::now();
  auto r = s->openBlob(digestOf("a"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  std::string got;
  EXPECT_EQ(drain(r->get(), &got), -1);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(got.size(), 100u);
  EXPECT_NE((*r)->error().find("no data received for 1 s"), std::string::npos) << (*r)->error();
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST(BrokenBlobTest, StallBeforeHeadersFailsOpen) {
  BrokenBlobs b;
  RegistryOptions o = fastOptions();
  o.stall_timeout_s = 1;
  auto s = mustOpen(b.server->domain(), "hangheaders/x", "pull", {}, o);
  ASSERT_TRUE(s);
  auto r = s->openBlob(digestOf("a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("no data received"), std::string::npos)
      << r.status().message();
}

TEST(BrokenBlobTest, ServerErrorWithoutRegistryBody) {
  BrokenBlobs b;
  auto s = mustOpen(b.server->domain(), "other/x", "pull");
  ASSERT_TRUE(s);
  auto r = s->openBlob(digestOf("a"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "unexpected status from GET request to " + b.server->url() +
                                      "/v2/other/x/blobs/" + digestOf("a") +
                                      ": 500 Internal Server Error");
}

}  // namespace
}  // namespace arca::registry
