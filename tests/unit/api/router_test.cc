#include "api/router.h"

#include <gtest/gtest.h>

#include "api/events.h"
#include "api/json.h"
#include "api/logs.h"
#include "api/time_util.h"

namespace arca::api {
namespace {

class FakeRequest : public Request {
 public:
  FakeRequest(const std::string& method, const std::string& target) {
    head_.method = method;
    head_.target = target;
    EXPECT_TRUE(parseTarget());
  }
  long read(char*, size_t) override { return 0; }
};

class Recorder : public ResponseWriter {
 public:
  void send(int s, std::string_view, std::string_view b, const Headers&) override {
    status = s;
    body = b;
  }
  void startStream(int s, std::string_view, const Headers&) override { status = s; }
  bool write(std::string_view d) override {
    body += d;
    return true;
  }
  void end() override {}
  void hijack(std::string_view) override {}
  long readRaw(char*, size_t) override { return 0; }
  void close() override {}
  bool clientGone() const override { return false; }
  bool waitClientGone(int) override { return false; }
  bool started() const override { return status != 0; }
  int status = 0;
  std::string body;
};

Router table(std::string* hit) {
  Router r;
  auto h = [hit](const char* name) {
    return [hit, name](Request& q, ResponseWriter& w) {
      *hit = name;
      for (auto& [k, v] : q.params) *hit += " " + k + "=" + v;
      w.send(200, "text/plain", "");
    };
  };
  r.add("GET", "/containers/json", h("list"));
  r.add("GET", "/containers/{id}/json", h("inspect"));
  r.add("DELETE", "/containers/{id}", h("rm"));
  r.add("GET", "/images/{name}/json", h("image"));
  r.add("DELETE", "/images/{name}", h("rmi"));
  r.add("GET", "/_ping", h("ping"), true);
  return r;
}

std::string route(Router& r, std::string* hit, const std::string& m, const std::string& t,
                  int* status = nullptr) {
  hit->clear();
  FakeRequest q(m, t);
  Recorder w;
  Dispatch d = r.dispatch(q);
  d.handler(q, w);
  if (status) *status = w.status;
  return hit->empty() ? w.body : *hit;
}

TEST(Router, VersionPrefixesLiteralsAndGreedyParams) {
  std::string hit;
  Router r = table(&hit);
  EXPECT_EQ(route(r, &hit, "GET", "/v1.50/containers/json?all=1"), "list");
  EXPECT_EQ(route(r, &hit, "GET", "/containers/json"), "list");
  EXPECT_EQ(route(r, &hit, "GET", "/v1.51/containers/abc/json"), "inspect id=abc");
  EXPECT_EQ(route(r, &hit, "DELETE", "/v1.24/containers/abc?force=1"), "rm id=abc");
  EXPECT_EQ(route(r, &hit, "GET", "/v1.50/images/localhost:5000/a/b:tag/json"),
            "image name=localhost:5000/a/b:tag");
  EXPECT_EQ(route(r, &hit, "DELETE", "/images/a/b@sha256:00"), "rmi name=a/b@sha256:00");
  int status = 0;
  std::string body = route(r, &hit, "POST", "/containers/json", &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(body, "{\"message\":\"page not found\"}\n");
  body = route(r, &hit, "GET", "/v1.52/_ping", &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.find("client version 1.52 is too new. Maximum supported API version is 1.51"),
            std::string::npos);
  body = route(r, &hit, "GET", "/v1.23/_ping", &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.find("is too old"), std::string::npos);
}

TEST(Router, StatusMapping) {
  EXPECT_EQ(httpStatusFor(Code::kNotFound), 404);
  EXPECT_EQ(httpStatusFor(Code::kConflict), 409);
  EXPECT_EQ(httpStatusFor(Code::kInvalidArgument), 400);
  EXPECT_EQ(httpStatusFor(Code::kNotImplemented), 501);
  EXPECT_EQ(httpStatusFor(Code::kNotModified), 304);
  EXPECT_EQ(compareVersions("1.9", "1.10"), -1);
  EXPECT_EQ(compareVersions("1.51", "1.51"), 0);
}

TEST(Filters, BothWireForms) {
  std::map<std::string, std::vector<std::string>> f;
  ASSERT_TRUE(parseFilters(R"({"label":{"a=b":true},"dangling":{"true":true}})", &f));
  EXPECT_EQ(f["label"], std::vector<std::string>{"a=b"});
  ASSERT_TRUE(parseFilters(R"({"label":["com.docker.compose.project=p","x"]})", &f));
  EXPECT_EQ(f["label"].size(), 2u);
  EXPECT_FALSE(parseFilters("{", &f));
  EXPECT_FALSE(parseFilters(R"({"a":1})", &f));
}

TEST(Events, ProjectionCarriesAttributesAndLegacyFields) {
  EventProjector p;
  v1::Envelope env;
  env.set_seq(1);
  env.set_time_ns(1700000000123456789);
  auto* c = env.mutable_event()->mutable_container_created();
  c->set_id("abc");
  c->set_name("tk");
  c->mutable_config()->set_image("busybox");
  (*c->mutable_config()->mutable_labels())["com.example"] = "x";
  auto out = p.project(env);
  ASSERT_EQ(out.size(), 1u);
  std::string j = out[0].toJson();
  EXPECT_NE(j.find(R"("status":"create","id":"abc","from":"busybox","Type":"container")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("Attributes":{"com.example":"x","image":"busybox","name":"tk"})"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("time":1700000000,"timeNano":1700000000123456789)"), std::string::npos);

  v1::Envelope ex;
  ex.set_time_ns(2);
  ex.mutable_event()->mutable_container_exited()->set_id("abc");
  ex.mutable_event()->mutable_container_exited()->set_exit_code(3);
  ex.mutable_event()->mutable_container_exited()->set_stopped_by_request(true);
  out = p.project(ex);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].action, "die");
  EXPECT_EQ(out[0].attributes.at("exitCode"), "3");
  EXPECT_EQ(out[1].action, "stop");

  EventFilters f;
  f.f["container"] = {"tk"};
  f.f["event"] = {"die"};
  EXPECT_TRUE(f.matches(out[0]));
  EXPECT_FALSE(f.matches(out[1]));
  f.f["label"] = {"com.example=y"};
  EXPECT_FALSE(f.matches(out[0]));

  v1::Envelope cm;
  cm.set_time_ns(3);
  auto* ev = cm.mutable_event()->mutable_container_committed();
  ev->set_id("abc");
  ev->mutable_image()->set_id("sha256:new");
  ev->set_ref("docker.io/library/snap:1");
  ev->set_comment("msg");
  out = p.project(cm);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, "image");
  EXPECT_EQ(out[0].action, "tag");
  EXPECT_EQ(out[0].attributes.at("name"), "snap:1");
  EXPECT_EQ(out[1].type, "container");
  EXPECT_EQ(out[1].action, "commit");
  EXPECT_EQ(out[1].attributes.at("imageID"), "sha256:new");
  EXPECT_EQ(out[1].attributes.at("imageRef"), "snap:1");
  EXPECT_EQ(out[1].attributes.at("comment"), "msg");
  EXPECT_EQ(out[1].attributes.at("name"), "tk");
  ev->clear_ref();
  out = p.project(cm);
  ASSERT_EQ(out.size(), 1u);  // no tag without a ref
  EXPECT_EQ(out[0].attributes.at("imageRef"), "");
}

TEST(Logs, ParseAndFrame) {
  LogEntry e;
  std::string line = R"({"log":"hello\n","stream":"stderr","time":"2026-11-29T18:00:00.5Z"})";
  ASSERT_TRUE(parseLogLine(line.data(), line.size(), &e));
  EXPECT_EQ(e.text, "hello\n");
  EXPECT_EQ(e.stream, 2);
  EXPECT_EQ(rfc3339(e.time_ns), "2026-11-29T18:00:00.5Z");
  EXPECT_FALSE(parseLogLine("{}", 2, &e));
  std::string f = muxFrame(1, "abc");
  EXPECT_EQ(f, std::string("\x01\x00\x00\x00\x00\x00\x00\x03" "abc", 11));
}

TEST(Time, Parse) {
  int64_t ns = 0;
  ASSERT_TRUE(parseTimestamp("1700000000", 0, &ns));
  EXPECT_EQ(ns, 1700000000000000000);
  ASSERT_TRUE(parseTimestamp("1700000000.5", 0, &ns));
  EXPECT_EQ(ns, 1700000000500000000);
  ASSERT_TRUE(parseTimestamp("2023-11-14T22:13:20Z", 0, &ns));
  EXPECT_EQ(ns, 1700000000000000000);
  EXPECT_FALSE(parseTimestamp("yesterday", 0, &ns));
  EXPECT_EQ(humanDuration(5000000000), "5 seconds");
  EXPECT_EQ(humanDuration(90000000000), "About a minute");
  EXPECT_EQ(humanDuration(300000000000), "5 minutes");
}

}  // namespace
}  // namespace arca::api
