// The local volume driver's files and copy-up (issue #6).
#include "runtime/volumes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

namespace arca::runtime {
namespace {
namespace fs = std::filesystem;

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-volumes-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void write(const std::string& path, const std::string& data) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << data;
  }
  std::string read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string dir_;
};

TEST_F(VolumesTest, CopyUpKeepsOwnersModesAndSymlinksOnlyIntoAnEmptyVolume) {
  const std::string root = dir_ + "/rootfs", vol = dir_ + "/vol";
  write(root + "/data/sub/f", "seed");
  ASSERT_EQ(symlink("sub/f", (root + "/data/link").c_str()), 0);
  ASSERT_EQ(mkfifo((root + "/data/fifo").c_str(), 0600), 0);
  bool root_user = geteuid() == 0;
  if (root_user) {
    ASSERT_EQ(chown((root + "/data").c_str(), 1000, 1001), 0);
    ASSERT_EQ(chown((root + "/data/sub/f").c_str(), 1002, 1003), 0);
  }
  ASSERT_EQ(chmod((root + "/data").c_str(), 0700), 0);
  ASSERT_EQ(chmod((root + "/data/sub/f").c_str(), 0640), 0);
  fs::create_directories(vol);
  ASSERT_TRUE(copyUpIfEmpty(root, "/data", vol).ok());
  EXPECT_EQ(read(vol + "/sub/f"), "seed");
  EXPECT_EQ(fs::read_symlink(vol + "/link"), "sub/f");
  struct stat st {};
  ASSERT_EQ(lstat((vol + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_EQ(stat(vol.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);  // the volume takes the directory's mode
  ASSERT_EQ(stat((vol + "/sub/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  if (root_user) {
    EXPECT_EQ(st.st_uid, 1002u);
    EXPECT_EQ(st.st_gid, 1003u);
    ASSERT_EQ(stat(vol.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
  }
  // not empty any more: nothing is copied again
  write(root + "/data/new", "x");
  write(vol + "/sub/f", "mine");
  ASSERT_TRUE(copyUpIfEmpty(root, "/data", vol).ok());
  EXPECT_FALSE(fs::exists(vol + "/new"));
  EXPECT_EQ(read(vol + "/sub/f"), "mine");
}

TEST_F(VolumesTest, CopyUpResolvesInsideTheRootAndIgnoresMissingPaths) {
  const std::string root = dir_ + "/rootfs", vol = dir_ + "/vol", outside = dir_ + "/outside";
  write(outside + "/secret", "host data");
  fs::create_directories(root);
  // An image whose /data points at the host's directory: resolved in the root,
  // it names <root>/<outside>, which does not exist.
  ASSERT_EQ(symlink(outside.c_str(), (root + "/data").c_str()), 0);
  ASSERT_EQ(symlink("../../../../../../..", (root + "/up").c_str()), 0);
  fs::create_directories(vol);
  ASSERT_TRUE(copyUpIfEmpty(root, "/data", vol).ok());
  EXPECT_TRUE(fs::is_empty(vol));
  ASSERT_TRUE(copyUpIfEmpty(root, "/up" + outside, vol).ok());
  EXPECT_TRUE(fs::is_empty(vol));
  ASSERT_TRUE(copyUpIfEmpty(root, "/missing", vol).ok());
  EXPECT_TRUE(fs::is_empty(vol));
  // A file where a directory is expected: nothing to copy.
  write(root + "/file", "f");
  ASSERT_TRUE(copyUpIfEmpty(root, "/file", vol).ok());
  EXPECT_TRUE(fs::is_empty(vol));
}

TEST_F(VolumesTest, LocalVolumesCreateSizeAndRemove) {
  LocalVolumes v(dir_ + "/volumes");
  EXPECT_EQ(v.dataPath("data"), dir_ + "/volumes/data/_data");
  ASSERT_TRUE(v.create("data", 1).ok());
  ASSERT_TRUE(v.create("data", 1).ok());  // idempotent
  write(v.dataPath("data") + "/a", std::string(100, 'a'));
  write(v.dataPath("data") + "/d/b", std::string(28, 'b'));
  EXPECT_EQ(v.size("data"), 128);
  ASSERT_TRUE(v.acquire("data", 1, {}, "c1").ok());  // no options: nothing mounted
  v.release("data", "c1");
  EXPECT_TRUE(fs::exists(v.dataPath("data") + "/a"));
  ASSERT_TRUE(v.remove("data", 1).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/volumes/data"));
  EXPECT_EQ(v.size("gone"), -1);
  EXPECT_TRUE(v.remove("gone", 5).ok());
}

TEST_F(VolumesTest, AVolumeOfTheSameNameCreatedAgainStartsEmptyAndKeepsItsData) {
  LocalVolumes v(dir_ + "/volumes");
  ASSERT_TRUE(v.create("db", 1).ok());
  write(v.dataPath("db") + "/old", "old data");
  // Removed (generation 1) and created again (2) before the removal ran:
  ASSERT_TRUE(v.create("db", 2).ok());
  EXPECT_FALSE(fs::exists(v.dataPath("db") + "/old"));  // the new one starts empty
  write(v.dataPath("db") + "/new", "new data");
  ASSERT_TRUE(v.remove("db", 1).ok());  // the late removal of the old one
  EXPECT_EQ(read(v.dataPath("db") + "/new"), "new data");
  // Leftovers of an interrupted removal go at the next start.
  fs::create_directories(dir_ + "/volumes/.trash-db-1-1/_data");
  LocalVolumes again(dir_ + "/volumes");
  EXPECT_FALSE(fs::exists(dir_ + "/volumes/.trash-db-1-1"));
  EXPECT_EQ(read(again.dataPath("db") + "/new"), "new data");
}

TEST_F(VolumesTest, LocalVolumesMountTheirDriverOptionsWhileUsed) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (mount)";
  LocalVolumes v(dir_ + "/volumes");
  std::map<std::string, std::string> tmpfs = {{"type", "tmpfs"}, {"device", "tmpfs"}, {"o", "size=1m,nodev"}};
  ASSERT_TRUE(v.acquire("tv", 1, tmpfs, "c1").ok());
  ASSERT_TRUE(v.acquire("tv", 1, tmpfs, "c2").ok());  // already mounted: shared
  std::ifstream mi("/proc/self/mounts");
  std::string all((std::istreambuf_iterator<char>(mi)), {});
  EXPECT_NE(all.find(v.dataPath("tv") + " tmpfs rw,nodev,relatime,size=1024k"), std::string::npos) << all;
  EXPECT_EQ(all.find(v.dataPath("tv") + " tmpfs", all.find(v.dataPath("tv")) + 1), std::string::npos);
  write(v.dataPath("tv") + "/f", "x");
  v.release("tv", "c1");
  EXPECT_TRUE(fs::exists(v.dataPath("tv") + "/f"));  // c2 still holds it
  v.release("tv", "c2");
  EXPECT_FALSE(fs::exists(v.dataPath("tv") + "/f"));  // tmpfs data goes with the last user
  const std::string dev = dir_ + "/device";
  fs::create_directories(dev);
  // A bind of a directory of the same file system: still seen as mounted.
  ASSERT_TRUE(v.acquire("bv", 1, {{"type", "none"}, {"device", dev}, {"o", "bind"}}, "c1").ok());
  write(v.dataPath("bv") + "/f", "via bind");
  EXPECT_EQ(read(dev + "/f"), "via bind");
  ASSERT_TRUE(v.remove("bv", 1).ok());  // held, but removed: unmounted first
  EXPECT_EQ(read(dev + "/f"), "via bind");  // the device is left alone
  Status bad = v.acquire("bad", 1, {{"type", "none"}, {"device", dir_ + "/nope"}, {"o", "bind"}}, "c1");
  EXPECT_NE(bad.message().find("error while mounting volume"), std::string::npos) << bad.toString();
}

}  // namespace
}  // namespace arca::runtime
