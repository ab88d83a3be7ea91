// LogReader: a container's json-file log across rotated files, and following
// the live file through rotations and truncation (lifecycle).
#include "api/logs.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace arca::api {
namespace {

namespace fs = std::filesystem;

class LogReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("arca-logr-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "c-json.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void append(const std::string& p, int from, int to) {
    std::ofstream f(p, std::ios::app);
    for (int i = from; i < to; ++i) {
      f << "{\"log\":\"" << i << "\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00Z\"}\n";
    }
  }
  void rotate(int max_files) {  // as the agent's LogWriter does
    for (int k = max_files - 1; k >= 2; --k) {
      std::rename((path_ + "." + std::to_string(k - 1)).c_str(), (path_ + "." + std::to_string(k)).c_str());
    }
    std::rename(path_.c_str(), (path_ + ".1").c_str());
    std::ofstream(path_, std::ios::trunc);
  }
  std::unique_ptr<LogReader> open() {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0640);
    return std::make_unique<LogReader>(path_, fd);
  }
  static std::string texts(const std::vector<LogEntry>& es) {
    std::string s;
    for (const auto& e : es) s += e.text.substr(0, e.text.size() - 1) + ",";
    return s;
  }
  std::string pollAll(LogReader& r) {
    std::vector<LogEntry> out;
    EXPECT_TRUE(r.poll(&out));
    return texts(out);
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(LogReaderTest, ReadsRotatedFilesOldestFirst) {
  append(path_, 0, 2);
  rotate(3);
  append(path_, 2, 4);
  rotate(3);
  append(path_, 4, 6);
  auto r = open();
  EXPECT_EQ(pollAll(*r), "0,1,2,3,4,5,");
  EXPECT_EQ(pollAll(*r), "");
}

TEST_F(LogReaderTest, FollowsTheLiveFileAcrossRotations) {
  append(path_, 0, 2);
  auto r = open();
  EXPECT_EQ(pollAll(*r), "0,1,");
  append(path_, 2, 3);
  rotate(3);
  append(path_, 3, 4);
  EXPECT_EQ(pollAll(*r), "2,3,");
  // Two rotations between polls: the file in between is read too.
  append(path_, 4, 5);
  rotate(4);
  append(path_, 5, 6);
  rotate(4);
  append(path_, 6, 7);
  EXPECT_EQ(pollAll(*r), "4,5,6,");
}

TEST_F(LogReaderTest, FollowsTruncation) {
  append(path_, 0, 3);
  auto r = open();
  EXPECT_EQ(pollAll(*r), "0,1,2,");
  ::truncate(path_.c_str(), 0);
  append(path_, 3, 4);
  EXPECT_EQ(pollAll(*r), "3,");
}

TEST_F(LogReaderTest, SeekEndSkipsEverything) {
  append(path_, 0, 2);
  rotate(2);
  append(path_, 2, 3);
  auto r = open();
  r->seekEnd();
  append(path_, 3, 4);
  EXPECT_EQ(pollAll(*r), "3,");
}

}  // namespace
}  // namespace arca::api

namespace arca::api {
namespace {

TEST(ParseLogLine, FastPathMatchesTheJsonParser) {
  struct Case {
    std::string line;
    std::string text;
    int stream;
  };
  const Case cases[] = {
      {R"({"log":"hello\n","stream":"stdout","time":"2026-11-30T00:56:44.379494376Z"})" "\n",
       "hello\n", 1},
      {R"({"log":"q\"b\\s\/t\tu\u00e9\u20ac\r\n","stream":"stderr","time":"2026-11-30T00:56:44Z"})",
       "q\"b\\s/t\tu\xc3\xa9\xe2\x82\xac\r\n", 2},
      // Surrogate pairs and other shapes go to the full parser.
      {R"({"log":"\ud83d\ude00","stream":"stdout","time":"2026-11-30T00:56:44Z"})",
       "\xf0\x9f\x98\x80", 1},
      {R"({"stream":"stderr","log":"x","time":"2026-11-30T00:56:44Z"})", "x", 2},
  };
  for (const auto& c : cases) {
    LogEntry e;
    ASSERT_TRUE(parseLogLine(c.line.data(), c.line.size(), &e)) << c.line;
    EXPECT_EQ(e.text, c.text) << c.line;
    EXPECT_EQ(e.stream, c.stream) << c.line;
    EXPECT_GT(e.time_ns, 0) << c.line;
  }
  for (std::string bad : {std::string(R"({"log":"x)"), std::string(R"({"log":"x","stream":)"),
                          std::string("{\"log\":\"a\x01\"}"), std::string("")}) {
    LogEntry e;
    EXPECT_FALSE(parseLogLine(bad.data(), bad.size(), &e)) << bad;
  }
}

}  // namespace
}  // namespace arca::api
