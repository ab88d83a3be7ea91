// decodeAuthHeader / parseAuthJson, endpoints and insecure registries.
#include <gtest/gtest.h>

#include <string>

#include "runtime/registry/client.h"

namespace arca::registry {
namespace {

// base64 of {"username":"u","password":"p?>","serveraddress":"r.example:5000"}:
// the '?>' makes the std and url alphabets differ ("+"/"/" vs "-"/"_").
const std::string kJson = R"({"username":"u","password":"p?>","serveraddress":"r.example:5000"})";

std::string b64(const std::string& in, bool url, bool pad) {
  const char* alpha = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alpha[(n >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) n |= uint8_t(in[i + 1]) << 8;
    out.push_back(alpha[(n >> 18) & 63]);
    out.push_back(alpha[(n >> 12) & 63]);
    if (i + 1 < in.size()) out.push_back(alpha[(n >> 6) & 63]);
    if (pad) out += i + 1 < in.size() ? "=" : "==";
  }
  return out;
}

TEST(AuthHeaderTest, Base64UrlWithAndWithoutPadding) {
  for (bool url : {true, false}) {
    for (bool pad : {true, false}) {
      std::string h = b64(kJson, url, pad);
      auto a = decodeAuthHeader(h);
      ASSERT_TRUE(a.ok()) << h << ": " << a.status().toString();
      EXPECT_EQ(a->username, "u");
      EXPECT_EQ(a->password, "p?>");
      EXPECT_EQ(a->server_address, "r.example:5000");
    }
  }
  // The alphabets really differ for this input.
  EXPECT_NE(b64(kJson, true, true), b64(kJson, false, true));
}

TEST(AuthHeaderTest, EmptyAndNull) {
  auto a = decodeAuthHeader("");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->username.empty());
  EXPECT_TRUE(decodeAuthHeader(b64("{}", true, false)).ok());
  EXPECT_TRUE(decodeAuthHeader(b64("null", true, false)).ok());
}

TEST(AuthHeaderTest, AuthOnlyFillsUserAndPassword) {
  std::string json = R"({"auth":")" + b64("me:se:cret", false, true) + R"("})";
  auto a = decodeAuthHeader(b64(json, true, false));
  ASSERT_TRUE(a.ok()) << a.status().toString();
  EXPECT_EQ(a->username, "me");
  EXPECT_EQ(a->password, "se:cret");
  // Explicit username/password win over auth.
  json = R"({"username":"x","password":"y","auth":")" + b64("me:z", false, true) + R"("})";
  a = decodeAuthHeader(b64(json, true, true));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->username, "x");
}

TEST(AuthHeaderTest, KeysAreCaseInsensitiveLastWins) {
  auto a = parseAuthJson(
      R"({"Username":"a","USERNAME":"b","Password":"p","IdentityToken":"id","RegistryToken":"rt","Email":"e","ServerAddress":"s","extra":5})");
  ASSERT_TRUE(a.ok()) << a.status().toString();
  EXPECT_EQ(a->username, "b");
  EXPECT_EQ(a->password, "p");
  EXPECT_EQ(a->identity_token, "id");
  EXPECT_EQ(a->registry_token, "rt");
  EXPECT_EQ(a->email, "e");
  EXPECT_EQ(a->server_address, "s");
}

TEST(AuthHeaderTest, Garbage) {
  for (std::string bad : {"!!!!", "e30=e30=", "a", "e3=0", "eyJ1c2VybmFtZSI6"}) {
    auto a = decodeAuthHeader(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(a.status().message().rfind("invalid X-Registry-Auth header", 0), 0u)
        << a.status().message();
  }
  EXPECT_FALSE(decodeAuthHeader(b64(R"({"username":5})", true, false)).ok());
  EXPECT_FALSE(decodeAuthHeader(b64(R"([1])", true, false)).ok());
  EXPECT_FALSE(decodeAuthHeader(b64(R"({"auth":"bm9jb2xvbg=="})", true, false)).ok());  // "nocolon"
  EXPECT_FALSE(parseAuthJson("{").ok());
  EXPECT_FALSE(parseAuthJson("{} x").ok());
  EXPECT_TRUE(parseAuthJson("").ok());
}

TEST(EndpointsTest, DockerHubWithMirrors) {
  RegistryOptions o;
  o.mirrors = {"https://mirror.example/", "http://10.1.2.3:5000"};
  auto eps = endpointsFor("docker.io", o);
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0].url, "https://mirror.example");
  EXPECT_TRUE(eps[0].mirror);
  EXPECT_TRUE(eps[0].tls_verify);
  EXPECT_EQ(eps[1].url, "http://10.1.2.3:5000");
  EXPECT_TRUE(eps[1].mirror);
  EXPECT_EQ(eps[2].url, "https://registry-1.docker.io");
  EXPECT_TRUE(eps[2].tls_verify);
  EXPECT_FALSE(eps[2].mirror);
  // Mirrors are for Docker Hub only.
  auto other = endpointsFor("10.9.9.9:5000", o);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].url, "https://10.9.9.9:5000");
}

TEST(EndpointsTest, LoopbackIsInsecure) {
  RegistryOptions o;
  for (std::string d :
       {"127.0.0.1:5000", "127.1.2.3", "localhost:5000", "[::1]:5000", "LOCALHOST"}) {
    EXPECT_TRUE(isInsecure(d, o)) << d;
    auto eps = endpointsFor(d, o);
    ASSERT_EQ(eps.size(), 2u) << d;
    EXPECT_FALSE(eps[0].tls_verify);
    EXPECT_EQ(eps[0].url.rfind("https://", 0), 0u);
    EXPECT_EQ(eps[1].url.rfind("http://", 0), 0u);
  }
  EXPECT_EQ(endpointsFor("127.0.0.1:5000", o)[1].url, "http://127.0.0.1:5000");
  EXPECT_FALSE(isInsecure("10.0.0.1:5000", o));
  EXPECT_FALSE(isInsecure("docker.io", o));
}

TEST(EndpointsTest, ConfiguredInsecureRegistries) {
  RegistryOptions o;
  o.insecure_registries = {"myreg:5000", "plainhost", "10.0.0.0/8", "fd00::/8"};
  EXPECT_TRUE(isInsecure("myreg:5000", o));
  EXPECT_FALSE(isInsecure("myreg:5001", o));
  EXPECT_TRUE(isInsecure("plainhost", o));
  EXPECT_TRUE(isInsecure("10.20.30.40:5000", o));
  EXPECT_FALSE(isInsecure("11.0.0.1", o));
  EXPECT_TRUE(isInsecure("[fd12::1]:5000", o));
  auto eps = endpointsFor("10.1.1.1:443", o);
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].url, "https://10.1.1.1:443");
  EXPECT_FALSE(eps[0].tls_verify);
  EXPECT_EQ(eps[1].url, "http://10.1.1.1:443");
}

}  // namespace
}  // namespace arca::registry

namespace arca::registry {
namespace {

TEST(ServerAddressDomainTest, NamesTheRegistry) {
  EXPECT_EQ(serverAddressDomain(""), "docker.io");
  EXPECT_EQ(serverAddressDomain("https://index.docker.io/v1/"), "docker.io");
  EXPECT_EQ(serverAddressDomain("registry-1.docker.io"), "docker.io");
  EXPECT_EQ(serverAddressDomain("http://127.0.0.1:5001/"), "127.0.0.1:5001");
  EXPECT_EQ(serverAddressDomain("127.0.0.1:5001"), "127.0.0.1:5001");
  EXPECT_EQ(serverAddressDomain("https://ghcr.io/v2/x"), "ghcr.io");
}

}  // namespace
}  // namespace arca::registry
