// Tests for the pure HTTP pieces: RequestParser, RequestHead helpers and
// Request's target / query / body helpers. No sockets.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "api/http_server.h"

namespace arca::api {
namespace {

using Result = RequestParser::Result;

// Feeds `input` in pieces of `step` bytes (0: all at once) until the first
// request is done or fails. Returns the body; *consumed_total says how many
// input bytes belonged to the request.
struct ParseOutcome {
  bool head_done = false;
  bool done = false;
  bool error = false;
  std::string body;
  size_t consumed = 0;
  std::string error_text;
};

ParseOutcome parseOne(RequestParser& p, const std::string& input, size_t step = 0) {
  ParseOutcome o;
  size_t pos = 0;
  for (int guard = 0; guard < 1000000; ++guard) {
    size_t n = step == 0 ? input.size() - pos : std::min(step, input.size() - pos);
    size_t used = 0;
    Result r = p.feed(input.data() + pos, n, &used, &o.body);
    EXPECT_LE(used, n);
    pos += used;
    switch (r) {
      case Result::kHeadDone:
        o.head_done = true;
        break;
      case Result::kBody:
        break;
      case Result::kDone:
        o.done = true;
        o.consumed = pos;
        return o;
      case Result::kError:
        o.error = true;
        o.error_text = p.error();
        o.consumed = pos;
        return o;
      case Result::kNeedMore:
        EXPECT_EQ(used, n);
        if (pos == input.size()) {
          o.consumed = pos;
          return o;
        }
        break;
    }
  }
  ADD_FAILURE() << "parser loops";
  return o;
}

TEST(RequestParserTest, SimpleGet) {
  RequestParser p;
  auto o = parseOne(p, "GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: x\r\n\r\n");
  ASSERT_TRUE(o.done);
  EXPECT_EQ(p.head().method, "GET");
  EXPECT_EQ(p.head().target, "/_ping");
  EXPECT_EQ(p.head().version_minor, 1);
  EXPECT_EQ(p.head().header("host").value_or(""), "api.moby.localhost");
  EXPECT_EQ(p.head().header("user-agent").value_or(""), "x");
  EXPECT_FALSE(p.head().header("Host"));  // lookups take lower-case names
  EXPECT_TRUE(p.head().keepAlive());
  EXPECT_TRUE(o.body.empty());
}

TEST(RequestParserTest, HeadDoneThenDoneWithoutBody) {
  RequestParser p;
  std::string in = "GET / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n";
  size_t used = 0;
  std::string body;
  EXPECT_EQ(p.feed(in.data(), in.size(), &used, &body), Result::kHeadDone);
  EXPECT_EQ(used, 18u);  // the pipelined request is left alone
  EXPECT_EQ(p.feed(in.data() + used, in.size() - used, &used, &body), Result::kDone);
  EXPECT_EQ(used, 0u);
  p.reset();
  EXPECT_EQ(p.feed(in.data() + 18, in.size() - 18, &used, &body), Result::kHeadDone);
  EXPECT_EQ(p.head().target, "/next");
}

TEST(RequestParserTest, ContentLengthBody) {
  RequestParser p;
  std::string in = "POST /containers/create HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
  auto o = parseOne(p, in);
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.body, "hello");
  EXPECT_EQ(o.consumed, in.size() - 3);
  EXPECT_EQ(p.head().contentLength().value_or(0), 5u);
}

TEST(RequestParserTest, HeaderNamesAreCaseInsensitive) {
  RequestParser p;
  auto o = parseOne(p,
                    "PUT /x HTTP/1.1\r\nCONTENT-length: 3\r\nX-Registry-AUTH: e30=\r\n"
                    "CoNnEcTiOn: Close\r\n\r\nabc");
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.body, "abc");
  EXPECT_EQ(p.head().header("x-registry-auth").value_or(""), "e30=");
  EXPECT_FALSE(p.head().keepAlive());

  RequestParser q;
  auto o2 =
      parseOne(q, "POST /b HTTP/1.1\r\nTRANSFER-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  ASSERT_TRUE(o2.done);
  EXPECT_TRUE(q.head().chunked());
  EXPECT_EQ(o2.body, "abc");
}

const char kChunked[] =
    "POST /build HTTP/1.1\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "4;name=value\r\nWiki\r\n"
    "5 ; a=\"b;c\"\r\npedia\r\n"
    "E\r\n in\r\n\r\nchunks.\r\n"
    "000\r\n"
    "Expires: never\r\n"
    "X-Trailer: 1\r\n"
    "\r\n";

TEST(RequestParserTest, ChunkedWithExtensionsAndTrailers) {
  RequestParser p;
  std::string in = std::string(kChunked) + "GET /next HTTP/1.1\r\n\r\n";
  auto o = parseOne(p, in);
  ASSERT_TRUE(o.done) << o.error_text;
  EXPECT_EQ(o.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(o.consumed, sizeof(kChunked) - 1);
}

TEST(RequestParserTest, ByteByByteFeedingGivesTheSameResult) {
  for (const std::string& in :
       {std::string(kChunked),
        std::string("POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world"),
        std::string("GET /b?x=1 HTTP/1.0\nHost: h\n\n")}) {
    RequestParser whole;
    auto a = parseOne(whole, in);
    for (size_t step : {1, 2, 3, 7}) {
      RequestParser split;
      auto b = parseOne(split, in, step);
      ASSERT_TRUE(b.done) << "step " << step << ": " << b.error_text;
      EXPECT_EQ(a.body, b.body) << "step " << step;
      EXPECT_EQ(a.consumed, b.consumed) << "step " << step;
      EXPECT_EQ(whole.head().target, split.head().target);
      EXPECT_EQ(whole.head().headers, split.head().headers);
    }
  }
}

TEST(RequestParserTest, BareLfAndLeadingEmptyLines) {
  RequestParser p;
  auto o = parseOne(p, "\r\n\r\nGET /v HTTP/1.0\nConnection: keep-alive\n\n");
  ASSERT_TRUE(o.done);
  EXPECT_EQ(p.head().target, "/v");
  EXPECT_EQ(p.head().version_minor, 0);
  EXPECT_TRUE(p.head().keepAlive());
}

TEST(RequestParserTest, Http10ClosesByDefault) {
  RequestParser p;
  ASSERT_TRUE(parseOne(p, "GET / HTTP/1.0\r\n\r\n").done);
  EXPECT_FALSE(p.head().keepAlive());
}

TEST(RequestParserTest, WantsUpgrade) {
  RequestParser p;
  ASSERT_TRUE(parseOne(p,
                       "POST /containers/x/attach HTTP/1.1\r\nConnection: Upgrade\r\n"
                       "Upgrade: tcp\r\n\r\n")
                  .done);
  EXPECT_TRUE(p.head().wantsUpgrade());
  RequestParser q;
  ASSERT_TRUE(parseOne(q, "POST /x HTTP/1.1\r\nUpgrade: tcp\r\n\r\n").done);
  EXPECT_FALSE(q.head().wantsUpgrade());
  RequestParser r;
  ASSERT_TRUE(parseOne(r,
                       "POST /x HTTP/1.1\r\nConnection: keep-alive, upgrade\r\n"
                       "Upgrade: websocket\r\n\r\n")
                  .done);
  EXPECT_FALSE(r.head().wantsUpgrade());
}

TEST(RequestParserTest, OversizedHeadIsAnError) {
  RequestParser p;
  std::string in = "GET / HTTP/1.1\r\nX-Big: " + std::string(RequestParser::kMaxHeadBytes, 'a');
  auto o = parseOne(p, in, 4096);
  EXPECT_TRUE(o.error);
  EXPECT_NE(o.error_text.find("too large"), std::string::npos);

  RequestParser q;
  auto o2 = parseOne(q, in + "\r\n\r\n");
  EXPECT_TRUE(o2.error);
}

TEST(RequestParserTest, BadChunkSizes) {
  for (const char* bad : {"zz\r\n", "\r\n", "-1\r\n", "1x\r\nab\r\n",
                          "1000000000000000\r\n" /* 16 hex digits */, "3\r\nabcX\r\n0\r\n\r\n"}) {
    RequestParser p;
    auto o =
        parseOne(p, std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") + bad);
    EXPECT_TRUE(o.error) << bad;
  }
  RequestParser p;
  auto o =
      parseOne(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(8192, '1'));
  EXPECT_TRUE(o.error);  // chunk-size line too long
}

TEST(RequestParserTest, MalformedHeads) {
  for (const char* bad : {
           "GET\r\n\r\n",
           "GET / HTTP/2.0\r\n\r\n",
           "GET /a b HTTP/1.1\r\n\r\n",
           "G@T / HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\r\nNo colon\r\n\r\n",
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
           "GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
       }) {
    RequestParser p;
    auto o = parseOne(p, bad);
    EXPECT_TRUE(o.error) << bad;
    EXPECT_FALSE(p.error().empty());
    size_t used = 7;
    std::string body;
    EXPECT_EQ(p.feed("x", 1, &used, &body), Result::kError);  // sticky
    EXPECT_EQ(used, 0u);
  }
}

TEST(RequestParserTest, RepeatedEqualContentLengthIsAccepted) {
  RequestParser p;
  auto o = parseOne(p, "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_TRUE(o.done);
  EXPECT_EQ(o.body, "ok");
}

TEST(RequestParserTest, NullBodyOutDiscards) {
  RequestParser p;
  std::string in = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
  size_t used = 0;
  ASSERT_EQ(p.feed(in.data(), in.size(), &used, nullptr), Result::kHeadDone);
  size_t used2 = 0;
  EXPECT_EQ(p.feed(in.data() + used, in.size() - used, &used2, nullptr), Result::kBody);
  EXPECT_EQ(used + used2, in.size());
  EXPECT_EQ(p.feed(nullptr, 0, &used2, nullptr), Result::kDone);
}

// --- Request helpers ---------------------------------------------------------------

class FakeRequest : public Request {
 public:
  explicit FakeRequest(std::string target, std::string body = "", size_t step = 3)
      : body_(std::move(body)), step_(step) {
    head_.method = "GET";
    head_.target = std::move(target);
  }
  long read(char* buf, size_t len) override {
    size_t n = std::min({len, step_, body_.size() - off_});
    std::memcpy(buf, body_.data() + off_, n);
    off_ += n;
    return static_cast<long>(n);
  }
  RequestHead& mutableHead() { return head_; }

 private:
  std::string body_;
  size_t step_;
  size_t off_ = 0;
};

TEST(RequestTest, ParseTargetStripsVersionAndDecodes) {
  FakeRequest r(
      "/v1.50/containers/json?all=1&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D"
      "&name=a+b&name=c%20d&empty=&flag");
  ASSERT_TRUE(r.parseTarget());
  EXPECT_EQ(r.path(), "/containers/json");
  EXPECT_EQ(r.apiVersion(), "1.50");
  EXPECT_EQ(r.queryParam("all").value_or(""), "1");
  EXPECT_EQ(r.queryParam("filters").value_or(""), "{\"label\":{\"a=b\":true}}");
  EXPECT_EQ(r.query().count("name"), 2u);
  EXPECT_EQ(r.queryParam("name").value_or(""), "a b");
  EXPECT_EQ(r.queryParam("empty").value_or("x"), "");
  EXPECT_EQ(r.queryParam("flag").value_or("x"), "");
  EXPECT_FALSE(r.queryParam("missing"));
}

TEST(RequestTest, ParseTargetPaths) {
  struct Case {
    const char* target;
    const char* path;
    const char* version;
  };
  for (const Case& c : std::vector<Case>{
           {"/_ping", "/_ping", ""},
           {"/volumes/create", "/volumes/create", ""},
           {"/v1.51", "/", "1.51"},
           {"/v1.24/version", "/version", "1.24"},
           {"/vx/y", "/vx/y", ""},
           {"/images/docker.io%2Flibrary%2Falpine:latest/json",
            "/images/docker.io/library/alpine:latest/json", ""},
           {"/images/a+b/json", "/images/a+b/json", ""},  // '+' is literal in paths
           {"http://api.moby.localhost/v1.50/info", "/info", "1.50"},
           {"/info#frag", "/info", ""},
       }) {
    FakeRequest r(c.target);
    ASSERT_TRUE(r.parseTarget()) << c.target;
    EXPECT_EQ(r.path(), c.path) << c.target;
    EXPECT_EQ(r.apiVersion(), c.version) << c.target;
  }
  for (const char* bad : {"", "*", "relative", "/a%zz", "/a%2", "/x?y=%g0"}) {
    FakeRequest r(bad);
    EXPECT_FALSE(r.parseTarget()) << bad;
  }
}

TEST(RequestTest, QueryBoolFollowsMoby) {
  FakeRequest r("/x?a=1&b=0&c=no&d=FALSE&e=%20None%20&f=&g=True&h=yes&i=anything");
  ASSERT_TRUE(r.parseTarget());
  EXPECT_TRUE(r.queryBool("a"));
  EXPECT_FALSE(r.queryBool("b", true));
  EXPECT_FALSE(r.queryBool("c", true));
  EXPECT_FALSE(r.queryBool("d", true));
  EXPECT_FALSE(r.queryBool("e", true));
  EXPECT_FALSE(r.queryBool("f", true));
  EXPECT_TRUE(r.queryBool("g"));
  EXPECT_TRUE(r.queryBool("h"));
  EXPECT_TRUE(r.queryBool("i"));
  EXPECT_FALSE(r.queryBool("absent"));
  EXPECT_TRUE(r.queryBool("absent", true));
}

TEST(RequestTest, ReadAllHonoursLimit) {
  std::string body(100000, 'z');
  FakeRequest r("/x", body, 4096);
  auto all = r.readAll();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, body);

  FakeRequest small("/x", body, 4096);
  auto limited = small.readAll(99999);
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.status().code(), Code::kInvalidArgument);

  FakeRequest exact("/x", body, 7);
  auto ok = exact.readAll(100000);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 100000u);
}

}  // namespace
}  // namespace arca::api
