// libFuzzer target for the HTTP/1.1 request parser (outside input, STYLE 19).
//
// Input: two seed bytes choosing how the rest is split into feed() calls,
// then the bytes a client would send. Checks the parser's contract on every
// call, resets after each complete request (pipelining), and runs the head
// helpers and Request::parseTarget / query helpers on every parsed head.
//
// The parser source is compiled into this target so it carries the fuzzer's
// coverage instrumentation even when arca_api itself is built without it;
// libarca_api.a's copy is then never pulled in by the linker.
//
// Build: CC=clang CXX=clang++ cmake -DARCA_BUILD_FUZZ=ON ...; run:
//   http_parser_fuzz -max_total_time=30 -max_len=8192
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "api/http_parser.cc"  // NOLINT(bugprone-suspicious-include): see above

namespace {

using arca::api::Request;
using arca::api::RequestHead;
using arca::api::RequestParser;

// Invariant violations crash the fuzzer with a stack trace.
#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) std::abort(); \
  } while (0)

class FuzzRequest : public Request {
 public:
  explicit FuzzRequest(const RequestHead& head) { head_ = head; }
  long read(char*, size_t) override { return 0; }
};

void exerciseHead(const RequestHead& head) {
  FUZZ_CHECK(!head.method.empty());
  FUZZ_CHECK(!head.target.empty());
  (void)head.keepAlive();
  (void)head.wantsUpgrade();
  (void)head.chunked();
  (void)head.contentLength();
  (void)head.header("host");
  FuzzRequest req(head);
  if (req.parseTarget()) {
    FUZZ_CHECK(!req.path().empty() && req.path().front() == '/');
    for (const auto& [k, v] : req.query()) {
      (void)req.queryBool(k);
      (void)req.queryParam(k);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint32_t seed = static_cast<uint32_t>(data[0]) | (static_cast<uint32_t>(data[1]) << 8);
  data += 2;
  size -= 2;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fffu;
  };
  const char* in = reinterpret_cast<const char*>(data);

  RequestParser parser;
  std::string body;
  size_t pos = 0;
  bool discard = false;  // alternate between collecting and discarding bodies
  for (int calls = 0; calls < 1000000; ++calls) {
    // Pieces from 0 bytes to the whole rest, mostly small.
    size_t left = size - pos;
    uint32_t r = next();
    size_t n = (r & 7) == 0 ? left : std::min<size_t>(left, r % 97);
    size_t used = 12345;
    size_t before = body.size();
    RequestParser::Result res = parser.feed(in + pos, n, &used, discard ? nullptr : &body);
    FUZZ_CHECK(used <= n);
    FUZZ_CHECK(body.size() - before <= used);  // bodies never outgrow their input
    pos += used;
    body.clear();  // keep memory bounded across a long input
    switch (res) {
      case RequestParser::Result::kNeedMore:
        FUZZ_CHECK(used == n);
        if (pos == size) return 0;
        break;
      case RequestParser::Result::kHeadDone:
        FUZZ_CHECK(used > 0);
        exerciseHead(parser.head());
        break;
      case RequestParser::Result::kBody:
        FUZZ_CHECK(used > 0);
        break;
      case RequestParser::Result::kDone:
        parser.reset();
        discard = !discard;
        if (pos == size) return 0;
        break;
      case RequestParser::Result::kError: {
        FUZZ_CHECK(!parser.error().empty());
        size_t again = 0;
        FUZZ_CHECK(parser.feed(in, size, &again, &body) == RequestParser::Result::kError);
        FUZZ_CHECK(again == 0);
        return 0;
      }
    }
  }
  std::abort();  // the parser stopped making progress
}
