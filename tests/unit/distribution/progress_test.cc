#include "runtime/distribution/progress.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "runtime/distribution/parallel.h"

namespace arca::distribution {
namespace {

rapidjson::Document parse(const std::string& line) {
  EXPECT_EQ(line.back(), '\n');
  rapidjson::Document d;
  d.Parse(line.c_str());
  EXPECT_FALSE(d.HasParseError()) << line;
  return d;
}

TEST(ProgressTest, MessagesHaveDockersShape) {
  auto s = parse(statusMessage("Pulling fs layer", "0123456789ab"));
  EXPECT_STREQ(s["status"].GetString(), "Pulling fs layer");
  EXPECT_STREQ(s["id"].GetString(), "0123456789ab");
  EXPECT_TRUE(s["progressDetail"].IsObject());
  auto plain = parse(statusMessage("Digest: sha256:x"));
  EXPECT_FALSE(plain.HasMember("id"));

  auto p = parse(progressMessage("Downloading", "abc", 1500000, 3000000));
  EXPECT_EQ(p["progressDetail"]["current"].GetInt64(), 1500000);
  EXPECT_EQ(p["progressDetail"]["total"].GetInt64(), 3000000);
  EXPECT_NE(std::string(p["progress"].GetString()).find("1.5MB/3MB"), std::string::npos);

  auto e = parse(errorMessage("boom \"quoted\""));
  EXPECT_STREQ(e["error"].GetString(), "boom \"quoted\"");
  EXPECT_STREQ(e["errorDetail"]["message"].GetString(), "boom \"quoted\"");
  auto a = parse(auxMessage(R"({"Tag":"1"})"));
  EXPECT_STREQ(a["aux"]["Tag"].GetString(), "1");
}

TEST(ProgressTest, HumanSizeAndBar) {
  EXPECT_EQ(humanSize(0), "0B");
  EXPECT_EQ(humanSize(977), "977B");
  EXPECT_EQ(humanSize(1510000), "1.51MB");
  EXPECT_EQ(humanSize(2.5e9), "2.5GB");
  std::string bar = progressBar(50, 100);
  EXPECT_EQ(bar.substr(0, 27), "[=========================>");
  EXPECT_EQ(bar.back(), 'B');
  EXPECT_EQ(progressBar(5, 0), "5B");
  EXPECT_EQ(shortDigest("sha256:0123456789abcdef"), "0123456789ab");
}

TEST(ProgressTest, ThrottlesButKeepsTheLastLine) {
  std::vector<std::string> out;
  Progress p([&](const std::string& l) { out.push_back(l); });
  const int64_t total = 100 << 20;
  for (int64_t n = 4096; n <= total; n += 4096) p.bytes("Downloading", "x", n, total);
  EXPECT_LE(out.size(), 110u);
  EXPECT_GE(out.size(), 50u);
  auto last = parse(out.back());
  EXPECT_EQ(last["progressDetail"]["current"].GetInt64(), total);
}

TEST(ParallelTest, RunsEverythingOrStopsAtTheFirstError) {
  std::atomic<int> ran{0};
  EXPECT_TRUE(runParallel(10, 3, [&](size_t) { ran++; return Status::Ok(); }, nullptr).ok());
  EXPECT_EQ(ran.load(), 10);
  ran = 0;
  Status st = runParallel(100, 1, [&](size_t i) {
    ran++;
    return i == 5 ? Internal("five") : Status::Ok();
  }, nullptr);
  EXPECT_EQ(st.message(), "five");
  EXPECT_EQ(ran.load(), 6);
  std::atomic<bool> cancel{true};
  EXPECT_EQ(runParallel(3, 2, [&](size_t) { return Status::Ok(); }, &cancel).code(), Code::kCanceled);
  EXPECT_TRUE(runParallel(0, 3, [&](size_t) { return Internal("never"); }, nullptr).ok());
}

}  // namespace
}  // namespace arca::distribution
