// The agent's json-file writer (runtime/agent/json_log.h is header-only).
#include "runtime/agent/json_log.h"

#include <gtest/gtest.h>

namespace arca::agent {
namespace {

constexpr int64_t kT = 1795976355123456789;  // 2026-11-29T...

TEST(JsonLog, TimeIsGoRfc3339Nano) {
  EXPECT_EQ(formatRfc3339Nano(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339Nano(1500000000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(formatRfc3339Nano(1764439200000000001), "2025-11-29T18:00:00.000000001Z");
  EXPECT_EQ(formatRfc3339Nano(1764439200120000000), "2025-11-29T18:00:00.12Z");
}

TEST(JsonLog, EscapesLikeMoby) {
  std::string out;
  appendJsonString(&out, "a\"b\\c\n\r\t<>&\x01");
  EXPECT_EQ(out, R"("a\"b\\c\n\r\u0009\u003c\u003e\u0026\u0001")");
  out.clear();
  appendJsonString(&out, "h\xc3\xa9 \xe2\x80\xa8 \xff \xed\xa0\x80 \xf0\x9f\x98\x80");
  EXPECT_EQ(out, "\"h\xc3\xa9 \\u2028 \\ufffd \\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\"");
}

TEST(JsonLog, EntryShape) {
  std::string out;
  appendJsonLogEntry(&out, "hi\n", "stdout", 1764439200000000000);
  EXPECT_EQ(out, "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2025-11-29T18:00:00Z\"}\n");
}

TEST(LineSplitter, LinesAcrossReads) {
  LineSplitter s("stderr");
  std::string out;
  s.feed("one\ntw", kT, &out);
  EXPECT_TRUE(s.hasPending());
  s.feed("o\nthree", kT + 1, &out);
  s.flushPartial(kT + 2, &out);
  EXPECT_FALSE(s.hasPending());
  std::string expected;
  appendJsonLogEntry(&expected, "one\n", "stderr", kT);
  appendJsonLogEntry(&expected, "two\n", "stderr", kT + 1);
  appendJsonLogEntry(&expected, "three", "stderr", kT + 2);
  EXPECT_EQ(out, expected);
}

TEST(LineSplitter, LongLinesSplitAt16KiBSharingTheTimestamp) {
  LineSplitter s("stdout");
  std::string out;
  std::string line(16384 * 2 + 10, 'x');
  s.feed(line.substr(0, 20000), kT, &out);
  s.feed(line.substr(20000) + "\nnext\n", kT + 5, &out);
  std::string expected;
  appendJsonLogEntry(&expected, std::string(16384, 'x'), "stdout", kT);
  appendJsonLogEntry(&expected, std::string(16384, 'x'), "stdout", kT);
  appendJsonLogEntry(&expected, std::string(10, 'x') + "\n", "stdout", kT);
  appendJsonLogEntry(&expected, "next\n", "stdout", kT + 5);
  EXPECT_EQ(out, expected);
  // Exactly 16 KiB before the newline: a full partial piece, then "\n" alone.
  out.clear();
  s.feed(std::string(16384, 'y') + "\n", kT, &out);
  expected.clear();
  appendJsonLogEntry(&expected, std::string(16384, 'y'), "stdout", kT);
  appendJsonLogEntry(&expected, "\n", "stdout", kT);
  EXPECT_EQ(out, expected);
}

TEST(LineSplitter, PartialFlushThenRestOfLine) {
  LineSplitter s("stdout");
  std::string out;
  s.feed("prompt> ", kT, &out);
  EXPECT_EQ(out, "");
  s.flushPartial(kT + 100, &out);  // quiet period over
  s.feed("answer\n", kT + 200, &out);
  std::string expected;
  appendJsonLogEntry(&expected, "prompt> ", "stdout", kT + 100);
  appendJsonLogEntry(&expected, "answer\n", "stdout", kT + 100);
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace arca::agent
