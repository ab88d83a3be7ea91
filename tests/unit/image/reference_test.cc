#include "runtime/image/reference.h"

#include <gtest/gtest.h>

#include <string>

namespace arca::image {
namespace {

const std::string kHex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Valid {
  std::string in;
  std::string domain, path, tag, digest;
  std::string full;      // of parseNormalizedNamed
  std::string familiar;  // of parseNormalizedNamed
};

TEST(ReferenceTest, ValidTable) {
  const Valid cases[] = {
      {"busybox", "docker.io", "library/busybox", "", "", "docker.io/library/busybox:latest",
       "busybox:latest"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36",
       "busybox:1.36"},
      {"library/busybox", "docker.io", "library/busybox", "", "",
       "docker.io/library/busybox:latest", "busybox:latest"},
      {"docker.io/busybox", "docker.io", "library/busybox", "", "",
       "docker.io/library/busybox:latest", "busybox:latest"},
      {"index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x", "",
       "docker.io/library/busybox:x", "busybox:x"},
      {"index.docker.io/busybox", "docker.io", "library/busybox", "", "",
       "docker.io/library/busybox:latest", "busybox:latest"},
      {"me/app:1", "docker.io", "me/app", "1", "", "docker.io/me/app:1", "me/app:1"},
      {"docker.io/library/a/b:c", "docker.io", "library/a/b", "c", "", "docker.io/library/a/b:c",
       "library/a/b:c"},
      {"localhost/foo", "localhost", "foo", "", "", "localhost/foo:latest", "localhost/foo:latest"},
      {"localhost:5000/a/b@sha256:" + kHex64, "localhost:5000", "a/b", "", "sha256:" + kHex64,
       "localhost:5000/a/b@sha256:" + kHex64, "localhost:5000/a/b@sha256:" + kHex64},
      {"example.com/x/y:z", "example.com", "x/y", "z", "", "example.com/x/y:z",
       "example.com/x/y:z"},
      {"127.0.0.1:5000/img:v1.0-rc_1", "127.0.0.1:5000", "img", "v1.0-rc_1", "",
       "127.0.0.1:5000/img:v1.0-rc_1", "127.0.0.1:5000/img:v1.0-rc_1"},
      {"[::1]:5000/foo:bar", "[::1]:5000", "foo", "bar", "", "[::1]:5000/foo:bar",
       "[::1]:5000/foo:bar"},
      {"[fe80::1]/foo", "[fe80::1]", "foo", "", "", "[fe80::1]/foo:latest", "[fe80::1]/foo:latest"},
      {"my-registry:5000/ns/app", "my-registry:5000", "ns/app", "", "",
       "my-registry:5000/ns/app:latest", "my-registry:5000/ns/app:latest"},
      {"foo_bar", "docker.io", "library/foo_bar", "", "", "docker.io/library/foo_bar:latest",
       "foo_bar:latest"},
      {"a__b.c---d", "docker.io", "library/a__b.c---d", "", "",
       "docker.io/library/a__b.c---d:latest", "a__b.c---d:latest"},
      {"busybox:Latest_1", "docker.io", "library/busybox", "Latest_1", "",
       "docker.io/library/busybox:Latest_1", "busybox:Latest_1"},
      {"busybox:1@sha256:" + kHex64, "docker.io", "library/busybox", "1", "sha256:" + kHex64,
       "docker.io/library/busybox:1@sha256:" + kHex64, "busybox:1@sha256:" + kHex64},
      {"Example.COM/foo", "Example.COM", "foo", "", "", "Example.COM/foo:latest",
       "Example.COM/foo:latest"},
      // An uppercase first component can only be a domain (distribution/reference v0.6).
      {"Foo/bar", "Foo", "bar", "", "", "Foo/bar:latest", "Foo/bar:latest"},
      {"busybox:" + std::string(128, 't'), "docker.io", "library/busybox", std::string(128, 't'),
       "", "docker.io/library/busybox:" + std::string(128, 't'),
       "busybox:" + std::string(128, 't')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = parseReference(c.in);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    EXPECT_EQ(r->domain, c.domain);
    EXPECT_EQ(r->path, c.path);
    EXPECT_EQ(r->tag, c.tag);
    EXPECT_EQ(r->digest, c.digest);
    EXPECT_EQ(r->full(), c.full);
    EXPECT_EQ(r->familiar(), c.familiar);
    auto n = parseNormalizedNamed(c.in);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(n->tag, c.tag.empty() && c.digest.empty() ? "latest" : c.tag);
    EXPECT_EQ(n->full(), c.full);
    EXPECT_EQ(n->familiar(), c.familiar);
    // Normalization is idempotent.
    auto again = parseNormalizedNamed(n->full());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->full(), c.full);
  }
}

TEST(ReferenceTest, NameAndFamiliarName) {
  auto r = parseReference("busybox:1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name(), "docker.io/library/busybox");
  EXPECT_EQ(r->familiarName(), "busybox");
  r = parseReference("quay.io/a/b");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->name(), "quay.io/a/b");
  EXPECT_EQ(r->familiarName(), "quay.io/a/b");
}

struct Invalid {
  std::string in;
  std::string message;
};

TEST(ReferenceTest, InvalidTable) {
  const Invalid cases[] = {
      {"", "invalid reference format"},
      {"Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
      {"me/App:1", "invalid reference format: repository name (me/App) must be lowercase"},
      {"localhost:5000/Foo", "invalid reference format: repository name (Foo) must be lowercase"},
      {"busybox:", "invalid reference format"},
      {":tag", "invalid reference format"},
      {"busybox@", "invalid reference format"},
      {"busybox@sha256:abc", "invalid reference format"},
      {"a//b", "invalid reference format"},
      {"/a", "invalid reference format"},
      {"a/", "invalid reference format"},
      {"-a", "invalid reference format"},
      {"a-", "invalid reference format"},
      {"a..b", "invalid reference format"},
      {"a___b", "invalid reference format"},
      {"a._b", "invalid reference format"},
      {"busybox:tag!", "invalid reference format"},
      {"busybox:-tag", "invalid reference format"},
      {"busybox:" + std::string(129, 't'), "invalid reference format"},
      {"busybox:a:b", "invalid reference format"},
      {"a/b:c/d", "invalid reference format"},
      {"busy box", "invalid reference format"},
      {"localhost:abc/x", "invalid reference format"},
      {"localhost:/x", "invalid reference format"},
      {"-host.com/x", "invalid reference format"},
      {"host-.com/x", "invalid reference format"},
      {"a.-b.com/x", "invalid reference format"},
      {"[]/x", "invalid reference format"},
      {"[zz::1]/x", "invalid reference format"},
      {"[::1]x/y", "invalid reference format"},
      {"a@sha256:" + kHex64 + "@sha256:" + kHex64, "invalid reference format"},
      {"a@1sha:" + kHex64, "invalid reference format"},
      {"a@sha256-:" + kHex64, "invalid reference format"},
      {kHex64,
       "invalid repository name (" + kHex64 + "), cannot specify 64-byte hexadecimal strings"},
      {"busybox@sha256:" + std::string(64, 'A'), "invalid checksum digest format"},
      {"busybox@sha256:" + std::string(40, 'a'), "invalid checksum digest length"},
      {"busybox@md5:" + std::string(32, 'a'), "unsupported digest algorithm"},
      {"busybox@sha512:" + std::string(64, 'a'), "invalid checksum digest length"},
      {std::string(250, 'a'), "repository name must not be more than 255 characters"},
      {"example.com/" + std::string(250, 'a'),
       "repository name must not be more than 255 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    auto r = parseReference(c.in);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message);
    EXPECT_FALSE(parseNormalizedNamed(c.in).ok());
  }
}

TEST(ReferenceTest, OtherDigestAlgorithms) {
  auto r = parseReference("a@sha512:" + std::string(128, 'b'));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->full(), "docker.io/library/a@sha512:" + std::string(128, 'b'));
  EXPECT_TRUE(parseReference("a@sha384:" + std::string(96, 'c')).ok());
}

TEST(ReferenceTest, FamiliarString) {
  EXPECT_EQ(familiarString("docker.io/library/busybox:latest"), "busybox:latest");
  EXPECT_EQ(familiarString("docker.io/library/busybox"), "busybox");
  EXPECT_EQ(familiarString("docker.io/me/app:1"), "me/app:1");
  EXPECT_EQ(familiarString("docker.io/library/a/b:c"), "library/a/b:c");
  EXPECT_EQ(familiarString("localhost:5000/a:b"), "localhost:5000/a:b");
  EXPECT_EQ(familiarString("quay.io/x/y@sha256:" + kHex64), "quay.io/x/y@sha256:" + kHex64);
  EXPECT_EQ(familiarString("docker.io/library/busybox@sha256:" + kHex64),
            "busybox@sha256:" + kHex64);
  // Not a valid reference: only the default prefixes are stripped.
  EXPECT_EQ(familiarString("docker.io/library/Bad:x"), "Bad:x");
  EXPECT_EQ(familiarString("docker.io/Me/x"), "Me/x");
  EXPECT_EQ(familiarString("<none>:<none>"), "<none>:<none>");
}

TEST(ReferenceTest, LooksLikeIdPrefix) {
  EXPECT_TRUE(looksLikeIdPrefix("a"));
  EXPECT_TRUE(looksLikeIdPrefix("0123abcdef"));
  EXPECT_TRUE(looksLikeIdPrefix(kHex64));
  EXPECT_TRUE(looksLikeIdPrefix("sha256:" + kHex64));
  EXPECT_TRUE(looksLikeIdPrefix("sha256:e3b0"));
  EXPECT_FALSE(looksLikeIdPrefix(""));
  EXPECT_FALSE(looksLikeIdPrefix("sha256:"));
  EXPECT_FALSE(looksLikeIdPrefix(kHex64 + "0"));
  EXPECT_FALSE(looksLikeIdPrefix("busybox"));
  EXPECT_FALSE(looksLikeIdPrefix("ABCDEF"));
  EXPECT_FALSE(looksLikeIdPrefix("sha512:abc"));
}

}  // namespace
}  // namespace arca::image
