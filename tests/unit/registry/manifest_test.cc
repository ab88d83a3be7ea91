#include "runtime/registry/manifest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace arca::registry {
namespace {

std::string dg(char c) { return "sha256:" + std::string(64, c); }

std::string desc(const std::string& media_type, const std::string& digest, long size,
                 const std::string& extra = "") {
  return R"({"mediaType":")" + media_type + R"(","digest":")" + digest + R"(","size":)" +
         std::to_string(size) + extra + "}";
}

std::string imageManifest(
    const std::string& media_type, const std::vector<std::string>& layers,
    const std::string& config_type = "application/vnd.docker.container.image.v1+json") {
  std::string body = R"({"schemaVersion":2,)";
  if (!media_type.empty()) body += R"("mediaType":")" + media_type + R"(",)";
  body += R"("config":)" + desc(config_type, dg('c'), 1469) + R"(,"layers":[)";
  for (size_t i = 0; i < layers.size(); ++i) body += (i ? "," : "") + layers[i];
  return body + "]}";
}

std::string entry(const std::string& os, const std::string& arch, const std::string& variant,
                  char d, const std::string& annotations = "",
                  const std::string& media_type = kOciManifest) {
  std::string p = R"(,"platform":{"os":")" + os + R"(","architecture":")" + arch + "\"";
  if (!variant.empty()) p += R"(,"variant":")" + variant + "\"";
  p += "}";
  if (!annotations.empty()) p += R"(,"annotations":)" + annotations;
  return desc(media_type, dg(d), 500, p);
}

std::string index(const std::string& media_type, const std::vector<std::string>& entries) {
  std::string body = R"({"schemaVersion":2,"mediaType":")" + media_type + R"(","manifests":[)";
  for (size_t i = 0; i < entries.size(); ++i) body += (i ? "," : "") + entries[i];
  return body + "]}";
}

const std::string kGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const std::string kOciGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

TEST(ManifestTest, DockerV2) {
  std::string body =
      imageManifest(kDockerManifest, {desc(kGzip, dg('1'), 100), desc(kGzip, dg('2'), 0)});
  auto m = parseManifest(body, "text/plain");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->kind, ParsedManifest::Kind::kImage);
  EXPECT_EQ(m->media_type, kDockerManifest);
  EXPECT_EQ(m->config.digest, dg('c'));
  EXPECT_EQ(m->config.size, 1469);
  ASSERT_EQ(m->layers.size(), 2u);
  EXPECT_EQ(m->layers[0].digest, dg('1'));  // bottom first
  EXPECT_EQ(m->layers[0].size, 100);
  EXPECT_EQ(m->layers[1].media_type, kGzip);
}

TEST(ManifestTest, OciManifestTypeFromContentType) {
  std::string body = imageManifest(
      "",
      {desc("application/vnd.oci.image.layer.v1.tar", dg('1'), 1),
       desc(kOciGzip, dg('2'), 2, R"(,"annotations":{"a":"b"},"urls":["https://x/y"])"),
       desc("application/vnd.oci.image.layer.v1.tar+zstd", dg('3'), 3)},
      "application/vnd.oci.image.config.v1+json");
  auto m = parseManifest(body, std::string(kOciManifest) + "; charset=utf-8");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->kind, ParsedManifest::Kind::kImage);
  EXPECT_EQ(m->media_type, kOciManifest);
  ASSERT_EQ(m->layers.size(), 3u);
  EXPECT_EQ(m->layers[1].annotations.at("a"), "b");
  ASSERT_EQ(m->layers[1].urls.size(), 1u);
  EXPECT_EQ(m->layers[2].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
}

TEST(ManifestTest, NoTypeAnywhereGoesByShape) {
  auto m = parseManifest(imageManifest("", {desc(kGzip, dg('1'), 1)}), "application/json");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->kind, ParsedManifest::Kind::kImage);
  EXPECT_EQ(m->media_type, "application/json");
  auto i = parseManifest(R"({"schemaVersion":2,"manifests":[]})", "");
  ASSERT_TRUE(i.ok()) << i.status().toString();
  EXPECT_EQ(i->kind, ParsedManifest::Kind::kIndex);
}

TEST(ManifestTest, ScratchImageWithoutLayers) {
  auto m = parseManifest(imageManifest(kOciManifest, {}), "");
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_TRUE(m->layers.empty());
}

TEST(ManifestTest, OciIndexAndManifestList) {
  std::string body =
      index(kOciIndex, {entry("linux", "amd64", "", 'a'), entry("linux", "arm64", "v8", 'b')});
  auto m = parseManifest(body, kDockerManifestList);  // the body's mediaType wins
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->kind, ParsedManifest::Kind::kIndex);
  EXPECT_EQ(m->media_type, kOciIndex);
  ASSERT_EQ(m->manifests.size(), 2u);
  EXPECT_TRUE(m->manifests[1].has_platform);
  EXPECT_EQ(m->manifests[1].platform.variant, "v8");
  EXPECT_EQ(m->manifests[1].size, 500);

  std::string list = R"({"schemaVersion":2,"manifests":[)" +
                     entry("linux", "amd64", "", 'a', "", kDockerManifest) + "]}";
  auto l = parseManifest(list, kDockerManifestList);
  ASSERT_TRUE(l.ok()) << l.status().toString();
  EXPECT_EQ(l->kind, ParsedManifest::Kind::kIndex);
  EXPECT_EQ(l->media_type, kDockerManifestList);
  EXPECT_EQ(l->manifests[0].media_type, kDockerManifest);
}

void expectInvalid(const std::string& body, const std::string& content_type,
                   const std::string& fragment) {
  auto m = parseManifest(body, content_type);
  ASSERT_FALSE(m.ok()) << body;
  EXPECT_EQ(m.status().code(), Code::kInvalidArgument);
  EXPECT_NE(m.status().message().find(fragment), std::string::npos)
      << m.status().message() << " (wanted \"" << fragment << "\")";
}

TEST(ManifestTest, Schema1IsRefused) {
  expectInvalid(R"({"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]})",
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                "schema 1 manifests are not supported");
  expectInvalid(R"({"schemaVersion":1})", "", "schema 1 manifests are not supported");
  expectInvalid(R"({"name":"x"})", "application/vnd.docker.distribution.manifest.v1+json",
                "schema 1 manifests are not supported");
}

TEST(ManifestTest, Rejections) {
  std::string ok_layer = desc(kGzip, dg('1'), 1);
  expectInvalid("", kOciManifest, "not valid JSON");
  expectInvalid("[1]", kOciManifest, "not a JSON object");
  expectInvalid(R"({"schemaVersion":3,"config":{}})", kOciManifest, "schemaVersion");
  expectInvalid(R"({"schemaVersion":"2"})", kOciManifest, "schemaVersion");
  expectInvalid(R"({"mediaType":"application/vnd.oci.image.manifest.v1+json"})", "",
                "missing schemaVersion");
  // Digests: only sha256, 64 lowercase hex.
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, "sha256:" + std::string(64, 'A'), 1)}), "",
                "invalid digest");
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, "sha512:" + std::string(128, 'a'), 1)}),
                "", "only sha256");
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, dg('1').substr(0, 70), 1)}), "",
                "invalid digest");
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, dg('g'), 1)}), "", "invalid digest");
  // Sizes.
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, dg('1'), -1)}), "", "negative size");
  expectInvalid(imageManifest(kOciManifest, {R"({"mediaType":")" + kGzip + R"(","digest":")" +
                                             dg('1') + R"(","size":1.5})"}),
                "", "invalid size");
  expectInvalid(imageManifest(kOciManifest,
                              {R"({"mediaType":")" + kGzip + R"(","digest":")" + dg('1') + "\"}"}),
                "", "no size");
  // Layer media types.
  expectInvalid(imageManifest(kOciManifest, {desc("application/x-tar", dg('1'), 1)}), "",
                "unsupported media type \"application/x-tar\"");
  expectInvalid(
      imageManifest(kOciManifest, {desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                                        dg('1'), 1, R"(,"urls":["https://mcr/x"])")}),
      "", "foreign layers are not supported");
  expectInvalid(imageManifest(kOciManifest,
                              {desc("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                                    dg('1'), 1)}),
                "", "foreign layers are not supported");
  // Config.
  expectInvalid(R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) +
                    R"(","config":"sha256:x","layers":[]})",
                "", "config is not an object");
  expectInvalid(
      R"({"schemaVersion":2,"mediaType":")" + std::string(kOciManifest) + R"(","layers":[]})", "",
      "missing config");
  expectInvalid(imageManifest(kOciManifest, {ok_layer}, "application/vnd.cncf.helm.config.v1+json"),
                "", "is not a container image config");
  // Too many layers.
  std::vector<std::string> many(1001, ok_layer);
  expectInvalid(imageManifest(kOciManifest, many), "", "1001 layers");
  std::vector<std::string> limit(1000, ok_layer);
  EXPECT_TRUE(parseManifest(imageManifest(kOciManifest, limit), "").ok());
  // The mediaType contradicts the body.
  std::string img_as_index = imageManifest(kOciIndex, {ok_layer});
  expectInvalid(img_as_index, "", "is an index but the body has config or layers");
  expectInvalid(
      R"({"schemaVersion":2,"mediaType":")" + std::string(kDockerManifest) + R"(","manifests":[]})",
      "", "is an image manifest but the body has manifests");
  expectInvalid(R"({"schemaVersion":2,"manifests":[]})", kOciManifest,
                "is an image manifest but the body has manifests");
  expectInvalid(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"})", "",
      "unsupported media type");
  expectInvalid(R"({"schemaVersion":2})", "", "neither an image manifest nor an image index");
  // Wrong JSON types.
  expectInvalid(R"({"schemaVersion":2,"mediaType":5})", "", "mediaType is not a string");
  expectInvalid(imageManifest(kOciManifest, {desc(kGzip, dg('1'), 1, R"(,"annotations":{"a":1})")}),
                "", "annotation values must be strings");
  expectInvalid(index(kOciIndex, {desc(kOciManifest, dg('1'), 1, R"(,"platform":"linux")")}), "",
                "platform is not an object");
}

TEST(ManifestTest, DeepNestingDoesNotCrash) {
  std::string deep(100000, '[');
  EXPECT_FALSE(parseManifest(deep, "").ok());
  std::string nested =
      R"({"schemaVersion":2,"x":)" + std::string(50000, '[') + std::string(50000, ']') + "}";
  EXPECT_FALSE(parseManifest(nested, "").ok());
}

TEST(PlatformTest, Parse) {
  struct Case {
    std::string in;
    Platform want;
  };
  const Case cases[] = {
      {"linux/arm64", {"linux", "arm64", ""}},     {"linux/arm64/v8", {"linux", "arm64", "v8"}},
      {"linux/arm64/8", {"linux", "arm64", "v8"}}, {"linux/aarch64", {"linux", "arm64", ""}},
      {"arm64", {"linux", "arm64", ""}},           {"aarch64", {"linux", "arm64", ""}},
      {"linux/arm/v7", {"linux", "arm", "v7"}},    {"linux/arm", {"linux", "arm", "v7"}},
      {"linux/arm/6", {"linux", "arm", "v6"}},     {"linux/armhf", {"linux", "arm", "v7"}},
      {"armhf", {"linux", "arm", "v7"}},           {"linux/armel", {"linux", "arm", "v6"}},
      {"linux/x86_64", {"linux", "amd64", ""}},    {"linux/x86-64", {"linux", "amd64", ""}},
      {"x86_64", {"linux", "amd64", ""}},          {"LINUX/AMD64", {"linux", "amd64", ""}},
      {"linux/amd64/v1", {"linux", "amd64", ""}},  {"linux/amd64/v3", {"linux", "amd64", "v3"}},
      {"linux/386", {"linux", "386", ""}},         {"linux/i386", {"linux", "386", ""}},
      {"linux/riscv64", {"linux", "riscv64", ""}}, {"linux/s390x", {"linux", "s390x", ""}},
  };
  for (const auto& c : cases) {
    auto p = parsePlatform(c.in);
    ASSERT_TRUE(p.ok()) << c.in << ": " << p.status().toString();
    EXPECT_EQ(*p, c.want) << c.in << " -> " << platformString(*p);
  }
#if defined(__aarch64__)
  const Platform host{"linux", "arm64", "v8"};
#elif defined(__x86_64__)
  const Platform host{"linux", "amd64", ""};
#endif
#if defined(__aarch64__) || defined(__x86_64__)
  EXPECT_EQ(*parsePlatform(""), host);
  EXPECT_EQ(*parsePlatform("linux"), host);
#endif
}

TEST(PlatformTest, ParseErrors) {
  struct Case {
    std::string in, fragment;
  };
  const Case cases[] = {
      {"windows", "\"windows\": operating system is not supported"},
      {"windows/amd64", "\"windows\": operating system is not supported"},
      {"darwin/arm64", "operating system is not supported"},
      {"foo", "\"foo\": unknown operating system or architecture"},
      {"foo/amd64", "unknown operating system or architecture"},
      {"linux/", "invalid platform specifier component"},
      {"/amd64", "invalid platform specifier component"},
      {"linux/amd64/v8/x", "cannot parse platform specifier"},
      {"linux/am d64", "invalid platform specifier component"},
      {"linux/arm64/v8.0", "invalid platform specifier component"},
  };
  for (const auto& c : cases) {
    auto p = parsePlatform(c.in);
    ASSERT_FALSE(p.ok()) << c.in;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.fragment), std::string::npos)
        << c.in << ": " << p.status().message();
  }
}

TEST(PlatformTest, String) {
  EXPECT_EQ(platformString({"linux", "arm64", ""}), "linux/arm64");
  EXPECT_EQ(platformString({"linux", "arm", "v7"}), "linux/arm/v7");
  EXPECT_EQ(platformString(*parsePlatform("linux/arm64/v8")), "linux/arm64/v8");
}

ParsedManifest mustIndex(const std::vector<std::string>& entries) {
  auto m = parseManifest(index(kOciIndex, entries), "");
  EXPECT_TRUE(m.ok()) << m.status().toString();
  return m.ok() ? *m : ParsedManifest{};
}

TEST(SelectPlatformTest, ExactMatch) {
  auto idx = mustIndex({entry("linux", "amd64", "", 'a'), entry("linux", "arm", "v6", 'b'),
                        entry("linux", "arm", "v7", 'c'), entry("linux", "arm64", "v8", 'd'),
                        entry("linux", "ppc64le", "", 'e')});
  EXPECT_EQ(selectPlatform(idx, *parsePlatform("linux/amd64"))->digest, dg('a'));
  EXPECT_EQ(selectPlatform(idx, *parsePlatform("linux/arm/v6"))->digest, dg('b'));
  EXPECT_EQ(selectPlatform(idx, *parsePlatform("linux/arm"))->digest, dg('c'));
  EXPECT_EQ(selectPlatform(idx, *parsePlatform("armhf"))->digest, dg('c'));
  EXPECT_EQ(selectPlatform(idx, *parsePlatform("linux/ppc64le"))->digest, dg('e'));
  auto miss = selectPlatform(idx, *parsePlatform("linux/s390x"));
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.status().code(), Code::kNotFound);
  EXPECT_EQ(miss.status().message(),
            "no matching manifest for linux/s390x in the manifest list entries");
}

TEST(SelectPlatformTest, Arm64V8Variants) {
  // An entry without a variant matches v8 and the other way round.
  auto no_variant = mustIndex({entry("linux", "arm64", "", 'a')});
  EXPECT_EQ(selectPlatform(no_variant, {"linux", "arm64", "v8"})->digest, dg('a'));
  EXPECT_EQ(selectPlatform(no_variant, {"linux", "arm64", ""})->digest, dg('a'));
  auto v8 = mustIndex({entry("linux", "aarch64", "8", 'b')});
  EXPECT_EQ(selectPlatform(v8, {"linux", "arm64", ""})->digest, dg('b'));
  EXPECT_EQ(selectPlatform(v8, {"linux", "arm64", "v8"})->digest, dg('b'));
  auto miss = selectPlatform(v8, {"linux", "arm64", "v9"});
  ASSERT_FALSE(miss.ok());
  EXPECT_EQ(miss.status().message(),
            "no matching manifest for linux/arm64/v9 in the manifest list entries");
  auto none =
      selectPlatform(mustIndex({entry("linux", "amd64", "", 'c')}), {"linux", "arm64", "v8"});
  EXPECT_EQ(none.status().message(),
            "no matching manifest for linux/arm64/v8 in the manifest list entries");
}

TEST(SelectPlatformTest, AttestationsAreNeverChosen) {
  const std::string att = R"({"vnd.docker.reference.digest":")" + dg('a') +
                          R"(","vnd.docker.reference.type":"attestation-manifest"})";
  auto idx = mustIndex({entry("unknown", "unknown", "", 'e'), entry("linux", "amd64", "", 'f', att),
                        entry("linux", "amd64", "", 'a'),
                        entry("linux", "amd64", "", 'b', "", "application/vnd.example+json")});
  auto d = selectPlatform(idx, {"linux", "amd64", ""});
  ASSERT_TRUE(d.ok()) << d.status().toString();
  EXPECT_EQ(d->digest, dg('a'));
  auto only_att =
      mustIndex({entry("unknown", "unknown", "", 'e'), entry("linux", "amd64", "", 'f', att)});
  EXPECT_EQ(selectPlatform(only_att, {"linux", "amd64", ""}).status().code(), Code::kNotFound);
  EXPECT_EQ(selectPlatform(only_att, {"unknown", "unknown", ""}).status().code(), Code::kNotFound);
}

TEST(SelectPlatformTest, NotAnIndex) {
  auto m = parseManifest(imageManifest(kOciManifest, {}), "");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(selectPlatform(*m, {"linux", "amd64", ""}).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace arca::registry
