#include "runtime/registry/auth_challenge.h"

#include <gtest/gtest.h>

#include <string>

namespace arca::registry {
namespace {

TEST(AuthChallengeTest, DockerHub) {
  auto cs = parseChallenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  EXPECT_EQ(cs[0].params.at("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(cs[0].params.at("service"), "registry.docker.io");
  EXPECT_EQ(cs[0].params.at("scope"), "repository:library/busybox:pull");
  EXPECT_EQ(cs[0].params.size(), 3u);
}

TEST(AuthChallengeTest, BasicAndCaseInsensitivity) {
  auto cs = parseChallenges(R"(BASIC Realm="Registry Realm")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].params.at("realm"), "Registry Realm");
}

TEST(AuthChallengeTest, QuotedCommasAndEscapes) {
  auto cs = parseChallenges(
      R"(Bearer realm="https://a/token",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope", error_description="say \"hi\", \\ ok")");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].params.at("scope"), "repository:a/b:pull,push repository:c:pull");
  EXPECT_EQ(cs[0].params.at("error"), "insufficient_scope");
  EXPECT_EQ(cs[0].params.at("error_description"), R"(say "hi", \ ok)");
}

TEST(AuthChallengeTest, MultipleChallenges) {
  auto cs = parseChallenges(
      R"(Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Bearer realm="https://t", Negotiate abc+/de==, Digest)");
  ASSERT_EQ(cs.size(), 5u);
  EXPECT_EQ(cs[0].scheme, "newauth");
  EXPECT_EQ(cs[0].params.at("realm"), "apps");
  EXPECT_EQ(cs[0].params.at("type"), "1");
  EXPECT_EQ(cs[0].params.at("title"), R"(Login to "apps")");
  EXPECT_EQ(cs[1].scheme, "basic");
  EXPECT_EQ(cs[1].params.at("realm"), "simple");
  EXPECT_EQ(cs[2].scheme, "bearer");
  EXPECT_EQ(cs[2].params.at("realm"), "https://t");
  EXPECT_EQ(cs[3].scheme, "negotiate");
  EXPECT_EQ(cs[3].token68, "abc+/de==");
  EXPECT_TRUE(cs[3].params.empty());
  EXPECT_EQ(cs[4].scheme, "digest");
}

TEST(AuthChallengeTest, SchemesWithoutParamsAndEmptyItems) {
  auto cs = parseChallenges(" , Basic,,  Bearer  ,");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[1].scheme, "bearer");
}

TEST(AuthChallengeTest, LenientValues) {
  // Unquoted URL, whitespace around '=', no comma between parameters,
  // an unterminated quoted string at the end, a repeated parameter.
  auto cs = parseChallenges(
      R"(Bearer realm = https://h:5000/token service="s"scope="x" realm="second", error="unterminated)");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].params.at("realm"), "https://h:5000/token");
  EXPECT_EQ(cs[0].params.at("service"), "s");
  EXPECT_EQ(cs[0].params.at("scope"), "x");
  EXPECT_EQ(cs[0].params.at("error"), "unterminated");
}

TEST(AuthChallengeTest, GarbageIsSkipped) {
  EXPECT_TRUE(parseChallenges("").empty());
  EXPECT_TRUE(parseChallenges("   ").empty());
  EXPECT_TRUE(parseChallenges("\"quoted, \\\"only\"").empty());
  EXPECT_TRUE(parseChallenges("=,=,=").empty());
  // A broken challenge does not hide the next one.
  auto cs = parseChallenges(R"(Bearer realm="a" junk "x, y", Basic realm="b")");
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].params.at("realm"), "a");
  EXPECT_EQ(cs[1].scheme, "basic");
  EXPECT_EQ(cs[1].params.at("realm"), "b");
  // Bytes that are not text at all.
  std::string bin("Bearer realm=\"\x00\xff\"\x01, \\", 19);
  cs = parseChallenges(bin);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  // A backslash as the last byte of a quoted string.
  cs = parseChallenges("Bearer realm=\"abc\\");
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].params.at("realm"), "abc");
}

}  // namespace
}  // namespace arca::registry
