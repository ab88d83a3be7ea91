// The agent's json-file writer with rotation, and the API's reader across
// rotated files (lifecycle).
#include "runtime/agent/log_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace arca::agent {
namespace {

namespace fs = std::filesystem;

class LogWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("arca-logw-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "c-json.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string read(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static std::string line(int i) { return "line-" + std::to_string(100 + i) + "\n"; }  // 9 bytes

  fs::path dir_;
  std::string path_;
};

TEST_F(LogWriterTest, NoLimitAppends) {
  auto w = LogWriter::open(path_, -1, 1);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE((*w)->write(line(i)).ok());
  EXPECT_EQ(fs::file_size(path_), 900u);
  EXPECT_FALSE(fs::exists(path_ + ".1"));
}

TEST_F(LogWriterTest, RotatesBeforeTheEntryThatFindsTheFileFull) {
  auto w = LogWriter::open(path_, 20, 3);  // 20 bytes: 3 lines (27 bytes) per file
  ASSERT_TRUE(w.ok());
  std::string batch;
  for (int i = 0; i < 10; ++i) batch += line(i);
  ASSERT_TRUE((*w)->write(batch).ok());  // one batch, cut between lines
  EXPECT_EQ(read(path_ + ".2"), line(3) + line(4) + line(5));
  EXPECT_EQ(read(path_ + ".1"), line(6) + line(7) + line(8));
  EXPECT_EQ(read(path_), line(9));
  EXPECT_FALSE(fs::exists(path_ + ".3"));
}

TEST_F(LogWriterTest, ReopenCountsTheExistingSize) {
  {
    auto w = LogWriter::open(path_, 20, 2);
    ASSERT_TRUE((*w)->write(line(0) + line(1)).ok());
  }
  auto w = LogWriter::open(path_, 20, 2);
  EXPECT_EQ((*w)->size(), 18);
  ASSERT_TRUE((*w)->write(line(2) + line(3)).ok());
  EXPECT_EQ(read(path_ + ".1"), line(0) + line(1) + line(2));
  EXPECT_EQ(read(path_), line(3));
}

TEST_F(LogWriterTest, MaxFileOneTruncatesInPlace) {
  auto w = LogWriter::open(path_, 20, 1);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*w)->write(line(i)).ok());
  EXPECT_EQ(read(path_), line(3));
  EXPECT_FALSE(fs::exists(path_ + ".1"));
}

}  // namespace
}  // namespace arca::agent
