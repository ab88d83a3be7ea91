#include "api/build_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace arca::api {
namespace {

using Query = std::multimap<std::string, std::string>;

StatusOr<BuildRequest> parse(const Query& q, const Headers& h = {},
                             BuildRequestOptions o = {}) {
  return parseBuildRequest(q, h, o);
}

// Expects an error with `code` and exactly `message`.
void expectError(const Query& q, Code code, const std::string& message,
                 BuildRequestOptions o = {}) {
  auto r = parse(q, {}, o);
  ASSERT_FALSE(r.ok()) << message;
  EXPECT_EQ(r.status().code(), code) << r.status().toString();
  EXPECT_EQ(r.status().message(), message);
}

// ---------------------------------------------------------------------------
// Query parameters

TEST(BuildRequestTest, DefaultsWhenNothingIsGiven) {
  auto r = parse({});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->dockerfile, "Dockerfile");
  EXPECT_TRUE(r->tags.empty());
  EXPECT_FALSE(r->quiet);
  EXPECT_FALSE(r->no_cache);
  EXPECT_FALSE(r->pull);
  EXPECT_TRUE(r->remove);  // rm defaults to true
  EXPECT_FALSE(r->force_remove);
  EXPECT_FALSE(r->squash);
  EXPECT_EQ(r->memory, 0);
  EXPECT_EQ(r->shm_size, 0);
  EXPECT_FALSE(r->platform.has_value());
  EXPECT_TRUE(r->build_args.empty());
  EXPECT_TRUE(r->auth_configs.empty());
}

TEST(BuildRequestTest, WhatTheCliSends) {
  auto r = parse({{"dockerfile", "sub/Dockerfile.dev"},
                  {"t", "app"},
                  {"t", "me/app:1"},
                  {"version", "1"},
                  {"q", "1"},
                  {"nocache", "1"},
                  {"pull", "1"},
                  {"rm", "0"},
                  {"forcerm", "0"},
                  {"memory", "67108864"},
                  {"memswap", "-1"},
                  {"cpushares", "512"},
                  {"cpusetcpus", "0-1"},
                  {"cpusetmems", "0"},
                  {"cpuperiod", "100000"},
                  {"cpuquota", "50000"},
                  {"cgroupparent", "/custom"},
                  {"shmsize", "1048576"},
                  {"networkmode", "host"},
                  {"target", "builder"},
                  {"extrahosts", "a:10.0.0.1"},
                  {"extrahosts", "b:10.0.0.2"},
                  {"session", "s1"},
                  {"buildid", "b1"},
                  {"isolation", "Default"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->dockerfile, "sub/Dockerfile.dev");
  ASSERT_EQ(r->tags.size(), 2u);
  EXPECT_EQ(r->tags[0].familiar(), "app:latest");
  EXPECT_EQ(r->tags[1].familiar(), "me/app:1");
  EXPECT_EQ(r->tags[1].full(), "docker.io/me/app:1");
  EXPECT_TRUE(r->quiet);
  EXPECT_TRUE(r->no_cache);
  EXPECT_TRUE(r->pull);
  EXPECT_FALSE(r->remove);
  EXPECT_FALSE(r->force_remove);
  EXPECT_EQ(r->memory, 67108864);
  EXPECT_EQ(r->memory_swap, -1);
  EXPECT_EQ(r->cpu_shares, 512);
  EXPECT_EQ(r->cpuset_cpus, "0-1");
  EXPECT_EQ(r->cpuset_mems, "0");
  EXPECT_EQ(r->cpu_period, 100000);
  EXPECT_EQ(r->cpu_quota, 50000);
  EXPECT_EQ(r->cgroup_parent, "/custom");
  EXPECT_EQ(r->shm_size, 1048576);
  EXPECT_EQ(r->network_mode, "host");
  EXPECT_EQ(r->target, "builder");
  EXPECT_EQ(r->extra_hosts, (std::vector<std::string>{"a:10.0.0.1", "b:10.0.0.2"}));
  EXPECT_EQ(r->session_id, "s1");
  EXPECT_EQ(r->build_id, "b1");
  EXPECT_EQ(r->isolation, "Default");
}

TEST(BuildRequestTest, BooleansFollowMobysRule) {
  for (const char* f : {"", "0", "no", "false", "none", " FALSE ", "No"}) {
    auto r = parse({{"q", f}, {"nocache", f}, {"pull", f}, {"forcerm", f}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->quiet) << f;
    EXPECT_FALSE(r->no_cache) << f;
    EXPECT_FALSE(r->pull) << f;
    EXPECT_FALSE(r->force_remove) << f;
  }
  for (const char* t : {"1", "true", "yes", "anything"}) {
    auto r = parse({{"q", t}, {"nocache", t}, {"pull", t}, {"forcerm", t}});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->quiet) << t;
    EXPECT_TRUE(r->no_cache) << t;
    EXPECT_TRUE(r->pull) << t;
    EXPECT_TRUE(r->force_remove) << t;
  }
}

TEST(BuildRequestTest, RemoveDefaultsToTrueAndForceRemoveImpliesIt) {
  EXPECT_TRUE(parse({{"rm", ""}})->remove);  // empty is "not given"
  EXPECT_TRUE(parse({{"rm", "1"}})->remove);
  EXPECT_FALSE(parse({{"rm", "0"}})->remove);
  EXPECT_FALSE(parse({{"rm", "false"}})->remove);
  EXPECT_TRUE(parse({{"rm", "0"}, {"forcerm", "1"}})->remove);
}

TEST(BuildRequestTest, FirstValueWinsForSingleParameters) {
  auto r = parse({{"dockerfile", "A"}, {"dockerfile", "B"}, {"q", "0"}, {"q", "1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->dockerfile, "A");
  EXPECT_FALSE(r->quiet);
}

TEST(BuildRequestTest, EmptyDockerfileMeansTheDefault) {
  EXPECT_EQ(parse({{"dockerfile", ""}})->dockerfile, "Dockerfile");
}

TEST(BuildRequestTest, MalformedResourceNumbersReadAsZero) {
  auto r = parse({{"memory", "64m"},
                  {"memswap", "1.5"},
                  {"cpushares", "99999999999999999999"},
                  {"cpuperiod", " 5"},
                  {"cpuquota", "+7"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->memory, 0);
  EXPECT_EQ(r->memory_swap, 0);
  EXPECT_EQ(r->cpu_shares, 0);
  EXPECT_EQ(r->cpu_period, 0);
  EXPECT_EQ(r->cpu_quota, 7);  // Go's ParseInt takes a leading '+'
  EXPECT_EQ(parse({{"memory", "-9223372036854775808"}})->memory, INT64_MIN);
  EXPECT_EQ(parse({{"memory", "9223372036854775808"}})->memory, 0);
}

TEST(BuildRequestTest, ShmSizeErrorsAreDockerdsStrconvTexts) {
  EXPECT_EQ(parse({{"shmsize", "-5"}})->shm_size, -5);
  expectError({{"shmsize", "64m"}}, Code::kInternal,
              "strconv.ParseInt: parsing \"64m\": invalid syntax");
  expectError({{"shmsize", "99999999999999999999"}}, Code::kInternal,
              "strconv.ParseInt: parsing \"99999999999999999999\": value out of range");
  expectError({{"shmsize", "+"}}, Code::kInternal, "strconv.ParseInt: parsing \"+\": invalid syntax");
}

TEST(BuildRequestTest, TagsAreNormalizedAndDeduplicated) {
  auto r = parse({{"t", "busybox"},
                  {"t", ""},
                  {"t", "docker.io/library/busybox:latest"},
                  {"t", "localhost:5000/a/b:v2"},
                  {"t", "busybox:1"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->tags.size(), 3u);
  EXPECT_EQ(r->tags[0].familiar(), "busybox:latest");
  EXPECT_EQ(r->tags[1].familiar(), "localhost:5000/a/b:v2");
  EXPECT_EQ(r->tags[2].familiar(), "busybox:1");
}

TEST(BuildRequestTest, BadTagsAreDockerdsPlainErrors) {
  expectError({{"t", "Bad:tag"}}, Code::kInternal,
              "invalid reference format: repository name (library/Bad) must be lowercase");
  expectError({{"t", "a::b"}}, Code::kInternal, "invalid reference format");
  expectError({{"t", "app@sha256:" + std::string(64, 'a')}}, Code::kInternal,
              "build tag cannot contain a digest");
}

TEST(BuildRequestTest, SecurityOptionsAreRefusedOnLinux) {
  expectError({{"securityopt", ""}}, Code::kInvalidArgument,
              "security options are not supported on linux");
  expectError({{"securityopt", "credentialspec=file://x"}}, Code::kInvalidArgument,
              "security options are not supported on linux");
}

TEST(BuildRequestTest, OnlyTheDefaultIsolation) {
  EXPECT_TRUE(parse({{"isolation", "default"}}).ok());
  EXPECT_TRUE(parse({{"isolation", ""}}).ok());
  expectError({{"isolation", "hyperv"}}, Code::kInvalidArgument,
              "unsupported isolation: \"hyperv\"");
  expectError({{"isolation", "process"}}, Code::kInvalidArgument,
              "unsupported isolation: \"process\"");
}

TEST(BuildRequestTest, BuildArgsKeepNullValues) {
  auto r = parse({{"buildargs", R"({"A":"1","B":null,"C":"","A":"2"})"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->build_args.size(), 3u);
  EXPECT_EQ(r->build_args["A"], std::optional<std::string>("2"));  // last duplicate wins
  EXPECT_FALSE(r->build_args["B"].has_value());
  EXPECT_EQ(r->build_args["C"], std::optional<std::string>(""));
  EXPECT_TRUE(parse({{"buildargs", "null"}})->build_args.empty());
}

TEST(BuildRequestTest, BuildArgsErrors) {
  expectError({{"buildargs", "{"}}, Code::kInvalidArgument,
              "error reading build args: unexpected end of JSON input");
  expectError({{"buildargs", "x"}}, Code::kInvalidArgument,
              "error reading build args: invalid character 'x' looking for beginning of value");
  expectError({{"buildargs", "[]"}}, Code::kInvalidArgument,
              "error reading build args: json: cannot unmarshal array into Go value of type "
              "map[string]*string");
  expectError({{"buildargs", R"({"A":1})"}}, Code::kInvalidArgument,
              "error reading build args: json: cannot unmarshal number into Go value of type "
              "string");
}

TEST(BuildRequestTest, Labels) {
  auto r = parse({{"labels", R"({"a":"1","b":""})"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->labels, (std::map<std::string, std::string>{{"a", "1"}, {"b", ""}}));
  expectError({{"labels", R"({"a":true})"}}, Code::kInvalidArgument,
              "error reading labels: json: cannot unmarshal bool into Go value of type string");
  expectError({{"labels", R"("x")"}}, Code::kInvalidArgument,
              "error reading labels: json: cannot unmarshal string into Go value of type "
              "map[string]string");
  expectError({{"labels", R"({"a":"1",})"}}, Code::kInvalidArgument,
              "error reading labels: invalid character '}' looking for beginning of object key "
              "string");
}

TEST(BuildRequestTest, CacheFrom) {
  auto r = parse({{"cachefrom", R"(["a:1","b"])"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cache_from, (std::vector<std::string>{"a:1", "b"}));
  expectError({{"cachefrom", "a:1"}}, Code::kInvalidArgument,
              "error reading cache-from: invalid character 'a' looking for beginning of value");
  expectError({{"cachefrom", R"({"a":1})"}}, Code::kInvalidArgument,
              "error reading cache-from: json: cannot unmarshal object into Go value of type "
              "[]string");
  expectError({{"cachefrom", R"(["a",2])"}}, Code::kInvalidArgument,
              "error reading cache-from: json: cannot unmarshal number into Go value of type "
              "string");
}

TEST(BuildRequestTest, Ulimits) {
  auto r = parse({{"ulimits", R"([{"Name":"nofile","Hard":2048,"Soft":1024},null,{"name":"nproc"}])"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->ulimits.size(), 2u);
  EXPECT_EQ(r->ulimits[0].name, "nofile");
  EXPECT_EQ(r->ulimits[0].hard, 2048);
  EXPECT_EQ(r->ulimits[0].soft, 1024);
  EXPECT_EQ(r->ulimits[1].name, "nproc");  // field names match case-insensitively
  expectError({{"ulimits", R"([{"Name":"x","Hard":"1"}])"}}, Code::kInvalidArgument,
              "error reading ulimit settings: json: cannot unmarshal string into Go struct "
              "field Ulimit.Hard of type int64");
  expectError({{"ulimits", R"([{"Soft":1.5}])"}}, Code::kInvalidArgument,
              "error reading ulimit settings: json: cannot unmarshal number 1.5 into Go struct "
              "field Ulimit.Soft of type int64");
  expectError({{"ulimits", R"(["nofile"])"}}, Code::kInvalidArgument,
              "error reading ulimit settings: json: cannot unmarshal string into Go value of "
              "type container.Ulimit");
}

TEST(BuildRequestTest, Outputs) {
  auto r = parse({{"outputs", R"([{"Type":"moby","Attrs":{"name":"x"}}])"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_EQ(r->outputs[0].type, "moby");
  EXPECT_EQ(r->outputs[0].attrs.at("name"), "x");
  expectError({{"outputs", "{}"}}, Code::kInvalidArgument,
              "invalid outputs specified: json: cannot unmarshal object into Go value of type "
              "[]build.ImageBuildOutput");
  expectError({{"outputs", R"([{"type":1}])"}}, Code::kInvalidArgument,
              "invalid outputs specified: json: cannot unmarshal number into Go struct field "
              "ImageBuildOutput.Type of type string");
  expectError({{"outputs", R"([{"Attrs":[]}])"}}, Code::kInvalidArgument,
              "invalid outputs specified: json: cannot unmarshal array into Go struct field "
              "ImageBuildOutput.Attrs of type map[string]string");
}

TEST(BuildRequestTest, Version) {
  EXPECT_TRUE(parse({{"version", "1"}}).ok());
  EXPECT_TRUE(parse({{"version", ""}}).ok());
  expectError({{"version", "3"}}, Code::kInvalidArgument, "invalid version \"3\"");
  auto r = parse({{"version", "2"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotImplemented);
  EXPECT_NE(r.status().message().find("unset DOCKER_BUILDKIT"), std::string::npos);
  EXPECT_NE(r.status().message().find("classic builder"), std::string::npos);
}

TEST(BuildRequestTest, SquashNeedsExperimental) {
  expectError({{"squash", "1"}}, Code::kInvalidArgument,
              "squash is only supported with experimental mode");
  auto r = parse({{"squash", "1"}}, {}, {"", true});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->squash);
}

TEST(BuildRequestTest, Remote) {
  expectError({{"remote", "client-session"}}, Code::kInvalidArgument,
              "experimental session with v1 builder is no longer supported, use builder version "
              "v2 (BuildKit) instead");
  for (const char* u : {"https://github.com/a/b.git", "git@github.com:a/b.git",
                        "github.com/a/b", "git://host/r", "http://host/ctx.tar"}) {
    auto r = parse({{"remote", u}});
    ASSERT_FALSE(r.ok()) << u;
    EXPECT_EQ(r.status().code(), Code::kNotImplemented) << u;
  }
  expectError({{"remote", "ctx.tar"}}, Code::kInternal,
              "remoteURL (ctx.tar) could not be recognized as URL");
}

TEST(BuildRequestTest, Platform) {
  auto r = parse({{"platform", "linux/arm64"}});
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->platform_text, "linux/arm64");
  ASSERT_TRUE(r->platform.has_value());
  EXPECT_EQ(r->platform->architecture, "arm64");
  auto v = parse({{"platform", "linux/arm/v6"}});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->platform->variant, "v6");
  expectError({{"platform", "linux/a b"}}, Code::kInvalidArgument,
              "\"a b\": invalid platform specifier component, must match \"^[A-Za-z0-9_-]+$\": "
              "invalid argument");
}

TEST(BuildRequestTest, ParametersNewerThanTheRequestsApiAreIgnored) {
  Query q{{"platform", "linux/a b"}, {"outputs", "{}"}};
  EXPECT_FALSE(parse(q, {}, {"1.40", false}).ok());
  auto r = parse(q, {}, {"1.39", false});  // outputs: 1.40
  EXPECT_FALSE(r.ok());                     // platform (1.32) still read
  auto old = parse(q, {}, {"1.31", false});
  ASSERT_TRUE(old.ok()) << old.status().toString();
  EXPECT_FALSE(old->platform.has_value());
  EXPECT_TRUE(old->outputs.empty());
}

TEST(BuildRequestTest, ErrorsComeInDockerdsOrder) {
  // Route checks (isolation) before squash, squash before tags, tags before
  // remote, remote before platform.
  expectError({{"isolation", "x"}, {"squash", "1"}}, Code::kInvalidArgument,
              "unsupported isolation: \"x\"");
  expectError({{"squash", "1"}, {"t", "A"}}, Code::kInvalidArgument,
              "squash is only supported with experimental mode");
  expectError({{"t", "a::b"}, {"remote", "x"}}, Code::kInternal, "invalid reference format");
  expectError({{"remote", "x"}, {"platform", "linux/a b"}}, Code::kInternal,
              "remoteURL (x) could not be recognized as URL");
  expectError({{"buildargs", "["}, {"labels", "["}}, Code::kInvalidArgument,
              "error reading build args: unexpected end of JSON input");
}

TEST(BuildRequestTest, RegistryConfigHeader) {
  Headers h{{"x-registry-config",
             "eyJyZWdpc3RyeS5leGFtcGxlLmNvbSI6eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifSwiaHR0"
             "cHM6Ly9pbmRleC5kb2NrZXIuaW8vdjEvIjp7ImF1dGgiOiJZVHBpIn19"}};
  auto r = parse({}, h);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->auth_configs.size(), 2u);
  EXPECT_EQ(r->auth_configs["registry.example.com"].username, "u");
  EXPECT_EQ(r->auth_configs["registry.example.com"].password, "p");
  // "auth" alone fills username and password.
  EXPECT_EQ(r->auth_configs["https://index.docker.io/v1/"].username, "a");
  EXPECT_EQ(r->auth_configs["https://index.docker.io/v1/"].password, "b");
}

TEST(BuildRequestTest, RegistryConfigEmptyAndUrlAlphabet) {
  auto e = parse({}, {{"x-registry-config", "e30="}});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->auth_configs.empty());
  // base64url: '_' where standard base64 has '/'.
  auto u = parse({}, {{"x-registry-config", "eyJhPiI6eyJ1c2VybmFtZSI6Iv8_In19"}});
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->auth_configs.count("a>"), 1u);
  EXPECT_EQ(u->auth_configs["a>"].username, "\xff?");
}

TEST(BuildRequestTest, UnreadableRegistryConfigIsIgnored) {
  for (const char* bad : {"!!!!", "e30", "eyJhPiI6eyJ1c2VybmFtZSI6Iv8/In19", "bm90IGpzb24=",
                          "WzFd"}) {
    auto r = parse({}, {{"x-registry-config", bad}});
    ASSERT_TRUE(r.ok()) << bad;
    EXPECT_TRUE(r->auth_configs.empty()) << bad;
  }
  // An entry of the wrong type is dropped, the others kept.
  auto r = parse({}, {{"x-registry-config", "eyJyIjp7InVzZXJuYW1lIjoxfSwib2siOnsidXNlcm5hbWUiOiJ4In19"}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->auth_configs.size(), 1u);
  EXPECT_EQ(r->auth_configs["ok"].username, "x");
}

class FakeRequest : public Request {
 public:
  explicit FakeRequest(std::string target, Headers headers) {
    head_.method = "POST";
    head_.target = std::move(target);
    head_.headers = std::move(headers);
  }
  long read(char*, size_t) override { return 0; }
};

TEST(BuildRequestTest, FromARequest) {
  FakeRequest req("/v1.31/build?t=app&platform=linux%2Fa+b&buildargs=%7B%22A%22%3Anull%7D",
                  {{"x-registry-config", "e30="}});
  ASSERT_TRUE(req.parseTarget());
  auto r = parseBuildRequest(req, false);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->tags.at(0).familiar(), "app:latest");
  EXPECT_FALSE(r->platform.has_value());  // 1.31: no platform
  EXPECT_EQ(r->build_args.count("A"), 1u);

  FakeRequest sq("/build?squash=1", {});
  ASSERT_TRUE(sq.parseTarget());
  EXPECT_FALSE(parseBuildRequest(sq, false).ok());
  EXPECT_TRUE(parseBuildRequest(sq, true).ok());
}

TEST(BuildRequestTest, GoJsonSyntaxErrors) {
  EXPECT_EQ(goJsonSyntaxError("{}"), "");
  EXPECT_EQ(goJsonSyntaxError(""), "unexpected end of JSON input");
  EXPECT_EQ(goJsonSyntaxError("  "), "unexpected end of JSON input");
  EXPECT_EQ(goJsonSyntaxError("[1,"), "unexpected end of JSON input");
  EXPECT_EQ(goJsonSyntaxError("{} x"), "invalid character 'x' after top-level value");
  EXPECT_EQ(goJsonSyntaxError("{\"a\" 1}"), "invalid character '1' after object key");
  EXPECT_EQ(goJsonSyntaxError("{\"a\":1 \"b\"}"),
            "invalid character '\"' after object key:value pair");
  EXPECT_EQ(goJsonSyntaxError("[1 2]"), "invalid character '2' after array element");
  EXPECT_EQ(goJsonSyntaxError("[1,]"), "invalid character ']' looking for beginning of value");
  EXPECT_EQ(goJsonSyntaxError("{'a':1}"),
            "invalid character '\\'' looking for beginning of object key string");
  EXPECT_EQ(goJsonSyntaxError("[\"\\q\"]"), "invalid character 'q' in string escape code");
  EXPECT_EQ(goJsonSyntaxError("[1.x]"),
            "invalid character 'x' after decimal point in numeric literal");
  EXPECT_EQ(goJsonSyntaxError("[\"\\u12g4\"]"),
            "invalid character 'g' in \\u hexadecimal character escape");
  EXPECT_EQ(goJsonSyntaxError("[\"a\nb\"]"), "invalid character '\\n' in string literal");
  EXPECT_EQ(goJsonSyntaxError("\t!"), "invalid character '!' looking for beginning of value");
}

// ---------------------------------------------------------------------------
// The output stream

struct Recorder {
  std::vector<std::string> messages;
  bool alive = true;
  BuildOutput::Sink sink() {
    return [this](std::string_view m) {
      messages.emplace_back(m);
      return alive;
    };
  }
  std::string all() const {
    std::string s;
    for (const auto& m : messages) s += m;
    return s;
  }
};

const std::string kImage = "sha256:3f2a5c7e9b1d0123456789abcdef0123456789abcdef0123456789abcdef0123";
const std::string kCtr = "0b7f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff";

TEST(BuildOutputTest, StepIsTwoMessages) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  EXPECT_FALSE(out.streaming());
  ASSERT_TRUE(out.step(1, 6, "FROM busybox"));
  EXPECT_TRUE(out.streaming());
  EXPECT_EQ(rec.messages, (std::vector<std::string>{"{\"stream\":\"Step 1/6 : FROM busybox\"}\r\n",
                                                    "{\"stream\":\"\\n\"}\r\n"}));
}

TEST(BuildOutputTest, EachBuilderLine) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.imageId(kImage));
  ASSERT_TRUE(out.usingCache());
  ASSERT_TRUE(out.runningIn(kCtr));
  ASSERT_TRUE(out.warning("Your kernel does not support swap limit capabilities."));
  ASSERT_TRUE(out.removedIntermediate(kCtr));
  ASSERT_TRUE(out.removeIntermediateFailed(kCtr, "device busy"));
  ASSERT_TRUE(out.cancelled());
  ASSERT_TRUE(out.successfullyBuilt(kImage));
  ASSERT_TRUE(out.successfullyTagged("app:latest"));
  EXPECT_EQ(rec.messages,
            (std::vector<std::string>{
                "{\"stream\":\" ---\\u003e 3f2a5c7e9b1d\\n\"}\r\n",
                "{\"stream\":\" ---\\u003e Using cache\\n\"}\r\n",
                "{\"stream\":\" ---\\u003e Running in 0b7f1e2d3c4b\\n\"}\r\n",
                "{\"stream\":\" ---\\u003e [Warning] Your kernel does not support swap limit "
                "capabilities.\\n\"}\r\n",
                "{\"stream\":\" ---\\u003e Removed intermediate container 0b7f1e2d3c4b\\n\"}\r\n",
                "{\"stream\":\"Removing intermediate container 0b7f1e2d3c4b: device busy\\n\"}\r\n",
                "{\"stream\":\"Build cancelled\\n\"}\r\n",
                "{\"stream\":\"Successfully built 3f2a5c7e9b1d\\n\"}\r\n",
                "{\"stream\":\"Successfully tagged app:latest\\n\"}\r\n",
            }));
}

TEST(BuildOutputTest, TriggersAndUnusedBuildArgs) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.executingTriggers(1));
  ASSERT_TRUE(out.executingTriggers(2));
  ASSERT_TRUE(out.unusedBuildArgs({"ZED", "ALPHA"}));
  EXPECT_EQ(rec.messages,
            (std::vector<std::string>{
                "{\"stream\":\"# Executing 1 build trigger\"}\r\n",
                "{\"stream\":\"\\n\"}\r\n",
                "{\"stream\":\"# Executing 2 build trigger\"}\r\n",
                "{\"stream\":\"s\"}\r\n",
                "{\"stream\":\"\\n\"}\r\n",
                "{\"stream\":\"[Warning] One or more build-args [ALPHA ZED] were not "
                "consumed\\n\"}\r\n",
            }));
}

TEST(BuildOutputTest, RunOutputUsesGoEscaping) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.stdoutChunk("a<b>&c \"q\" \\ \t\b\f\r\n\x01\x7f"));
  ASSERT_TRUE(out.stdoutChunk("caf\xc3\xa9 \xff \xe2\x80\xa8"));
  ASSERT_TRUE(out.stderrChunk("oops\n"));
  EXPECT_EQ(rec.messages,
            (std::vector<std::string>{
                "{\"stream\":\"a\\u003cb\\u003e\\u0026c \\\"q\\\" \\\\ \\t\\b\\f\\r\\n\\u0001\x7f\"}\r\n",
                "{\"stream\":\"caf\xc3\xa9 \\ufffd \\u2028\"}\r\n",
                "{\"stream\":\"\\u001b[91moops\\n\\u001b[0m\"}\r\n",
            }));
}

TEST(BuildOutputTest, EscapedTextIsNotRewritten) {
  // A literal backslash-u0009 in the output stays escaped as such.
  EXPECT_EQ(buildStreamMessage("\\u0009"), "{\"stream\":\"\\\\u0009\"}\r\n");
}

TEST(BuildOutputTest, AuxAndProgressPassthrough) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.progress("{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\n"));
  ASSERT_TRUE(out.progress("{\"status\":\"Digest: sha256:abc\"}"));
  ASSERT_TRUE(out.stageImage(kImage));
  EXPECT_EQ(rec.messages,
            (std::vector<std::string>{
                "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\n",
                "{\"status\":\"Digest: sha256:abc\"}\r\n",
                "{\"aux\":{\"ID\":\"" + kImage + "\"}}\r\n",
            }));
}

TEST(BuildOutputTest, NoAuxForOldClients) {
  Recorder rec;
  BuildOutput out(rec.sink(), false, /*want_aux=*/false);
  ASSERT_TRUE(out.stageImage(kImage));
  EXPECT_TRUE(rec.messages.empty());
  EXPECT_FALSE(out.streaming());
}

TEST(BuildOutputTest, ErrorWithAndWithoutCode) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.step(2, 2, "RUN false"));
  ASSERT_TRUE(out.fail("The command '/bin/sh -c false' returned a non-zero code: 1", 1));
  EXPECT_EQ(rec.messages.back(),
            "{\"errorDetail\":{\"code\":1,\"message\":\"The command '/bin/sh -c false' returned "
            "a non-zero code: 1\"},\"error\":\"The command '/bin/sh -c false' returned a "
            "non-zero code: 1\"}\r\n");

  Recorder rec2;
  BuildOutput out2(rec2.sink(), false);
  ASSERT_TRUE(out2.step(1, 1, "COPY x y"));
  ASSERT_TRUE(out2.fail("COPY failed: file not found in build context <x>"));
  EXPECT_EQ(rec2.messages.back(),
            "{\"errorDetail\":{\"message\":\"COPY failed: file not found in build context "
            "\\u003cx\\u003e\"},\"error\":\"COPY failed: file not found in build context "
            "\\u003cx\\u003e\"}\r\n");
}

TEST(BuildOutputTest, ErrorBeforeAnyOutputIsAnHttpError) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  EXPECT_FALSE(out.fail("dockerfile parse error line 1: unknown instruction: FOO"));
  EXPECT_TRUE(rec.messages.empty());
  BuildOutput quiet(rec.sink(), true);
  EXPECT_FALSE(quiet.fail("Cannot locate specified Dockerfile: Dockerfile"));
  EXPECT_TRUE(rec.messages.empty());
}

TEST(BuildOutputTest, QuietSuccessSendsOnlyTheId) {
  Recorder rec;
  BuildOutput out(rec.sink(), true);
  ASSERT_TRUE(out.step(1, 1, "FROM busybox"));
  ASSERT_TRUE(out.imageId(kImage));
  ASSERT_TRUE(out.stageImage(kImage));
  ASSERT_TRUE(out.successfullyBuilt(kImage));
  ASSERT_TRUE(out.successfullyTagged("app:latest"));
  EXPECT_TRUE(rec.messages.empty());
  EXPECT_FALSE(out.streaming());
  ASSERT_TRUE(out.succeeded(kImage));
  EXPECT_EQ(rec.messages, (std::vector<std::string>{"{\"stream\":\"" + kImage + "\\n\"}\r\n"}));
}

TEST(BuildOutputTest, QuietFailureSendsTheKeptOutputThenTheError) {
  Recorder rec;
  BuildOutput out(rec.sink(), true);
  ASSERT_TRUE(out.step(1, 2, "FROM busybox"));
  ASSERT_TRUE(out.stdoutChunk("hello\n"));
  EXPECT_TRUE(rec.messages.empty());
  ASSERT_TRUE(out.fail("boom", 2));
  EXPECT_EQ(rec.all(),
            "{\"stream\":\"Step 1/2 : FROM busybox\"}\r\n"
            "{\"stream\":\"\\n\"}\r\n"
            "{\"stream\":\"hello\\n\"}\r\n"
            "{\"errorDetail\":{\"code\":2,\"message\":\"boom\"},\"error\":\"boom\"}\r\n");
}

TEST(BuildOutputTest, NonQuietSucceededWritesNothing) {
  Recorder rec;
  BuildOutput out(rec.sink(), false);
  ASSERT_TRUE(out.succeeded(kImage));
  EXPECT_TRUE(rec.messages.empty());
}

TEST(BuildOutputTest, StopsOnceTheClientIsGone) {
  Recorder rec;
  rec.alive = false;
  BuildOutput out(rec.sink(), false);
  EXPECT_FALSE(out.step(1, 1, "FROM busybox"));  // the first write fails
  EXPECT_EQ(rec.messages.size(), 1u);
  EXPECT_FALSE(out.usingCache());
  EXPECT_FALSE(out.stageImage(kImage));
  EXPECT_FALSE(out.succeeded(kImage));
  EXPECT_FALSE(out.fail("x"));
  EXPECT_EQ(rec.messages.size(), 1u);
}

}  // namespace
}  // namespace arca::api
