#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <set>
#include <string>

#include "runtime/image/image_store.h"
#include "tests/unit/image/tar_builder.h"

namespace arca::image {
namespace {

namespace fs = std::filesystem;
using testing::Compression;
using testing::readAll;
using testing::stringReader;
using testing::TarBuilder;

std::string getXattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = ::lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
}

// Everything under `dir` (names, types, modes, xattrs, contents), to show nothing changed.
std::string snapshot(const std::string& dir) {
  std::string out;
  std::error_code ec;
  std::set<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    std::string p = it->path().string();
    ::lstat(p.c_str(), &st);
    std::string line = p + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_mtime) +
                       " " + getXattr(p, "trusted.overlay.opaque");
    if (S_ISREG(st.st_mode)) line += " " + readAll(p);
    lines.insert(line);
  }
  struct stat st;
  ::lstat(dir.c_str(), &st);
  out = std::to_string(st.st_mode) + " " + getXattr(dir, "trusted.overlay.opaque") + "\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-unpack-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dest_ = base_ + "/dest";
    outside_ = base_ + "/outside";
    fs::create_directories(dest_);
    fs::create_directories(outside_);
    std::ofstream(outside_ + "/victim") << "original";
    before_ = snapshot(outside_);
  }
  void TearDown() override {
    EXPECT_EQ(snapshot(outside_), before_) << "something was written outside dest";
    EXPECT_FALSE(fs::exists(base_ + "/evil"));
    std::error_code ec;
    fs::remove_all(base_, ec);
  }
  StatusOr<int64_t> unpack(const std::string& tar) { return unpackLayer(stringReader(tar), dest_); }
  void expectRejected(const std::string& tar, const std::string& entry) {
    auto r = unpack(tar);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().toString();
    EXPECT_NE(r.status().message().find(entry), std::string::npos) << r.status().message();
  }

  std::string base_, dest_, outside_, before_;
};

TEST_F(UnpackTest, FilesDirsLinksAndMetadata) {
  std::string tar = TarBuilder()
                        .dir("bin", 0755)
                        .file("bin/tool", "#!/bin/sh\necho hi\n", 04755)
                        .owner(0, 0)
                        .symlink("bin/alias", "tool")
                        .hardlink("bin/hard", "bin/tool")
                        .dir("home/u", 0700)
                        .owner(1000, 1001)
                        .file("home/u/notes", "12345", 0600)
                        .owner(1000, 1001)
                        .file("./etc/../etc2/x", "no")
                        .build();
  // ".." is refused even when it would stay inside.
  expectRejected(tar, "./etc/../etc2/x");
  fs::remove_all(dest_);
  fs::create_directories(dest_);

  tar = TarBuilder()
            .dir("bin", 0755)
            .file("bin/tool", "#!/bin/sh\necho hi\n", 04755)
            .symlink("bin/alias", "tool")
            .hardlink("bin/hard", "bin/tool")
            .dir("home/u", 0700)
            .owner(1000, 1001)
            .mtime(1234567)
            .file("home/u/notes", "12345", 0600)
            .owner(1000, 1001)
            .file(".//etc///hostname", "box\n")
            .symlink("abs", "/etc/passwd")  // symlink targets are data: allowed
            .build();
  auto size = unpack(tar);
  ASSERT_TRUE(size.ok()) << size.status().toString();
  EXPECT_EQ(*size, 18 + 5 + 4);
  struct stat st;
  ASSERT_EQ(::lstat((dest_ + "/bin/tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(readAll(dest_ + "/bin/hard"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(fs::read_symlink(dest_ + "/bin/alias"), "tool");
  EXPECT_EQ(fs::read_symlink(dest_ + "/abs"), "/etc/passwd");
  ASSERT_EQ(::lstat((dest_ + "/home/u").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1001u);
  EXPECT_EQ(st.st_mtime, 1234567);
  ASSERT_EQ(::lstat((dest_ + "/home/u/notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(readAll(dest_ + "/etc/hostname"), "box\n");
}

TEST_F(UnpackTest, RootEntrySetsDestAttributes) {
  ASSERT_TRUE(unpack(TarBuilder().dir("./", 0750).owner(7, 8).file("./f", "x").build()).ok());
  struct stat st;
  ASSERT_EQ(::lstat(dest_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
}

TEST_F(UnpackTest, CompressedLayers) {
  TarBuilder b;
  b.dir("d").file("d/f", std::string(100000, 'x'));
  for (auto c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    fs::remove_all(dest_);
    fs::create_directories(dest_);
    auto size = unpack(b.build(c));
    ASSERT_TRUE(size.ok()) << size.status().toString();
    EXPECT_EQ(*size, 100000);
    EXPECT_EQ(readAll(dest_ + "/d/f"), std::string(100000, 'x'));
  }
}

TEST_F(UnpackTest, SmallReads) {
  std::string tar = TarBuilder().file("a", std::string(5000, 'a')).build(Compression::kGzip);
  auto size = unpackLayer(stringReader(tar, 7), dest_);
  ASSERT_TRUE(size.ok()) << size.status().toString();
  EXPECT_EQ(readAll(dest_ + "/a"), std::string(5000, 'a'));
}

TEST_F(UnpackTest, Whiteouts) {
  std::string tar = TarBuilder()
                        .dir("etc")
                        .file("etc/.wh.passwd", "")
                        .owner(5, 6)
                        .dir("var/cache")
                        .file("var/cache/.wh..wh..opq", "")
                        .file("var/cache/new", "n")
                        .file("gone/.wh.deep", "")  // parent not in the tar
                        .file(".wh.toplevel", "")
                        .file(".wh..wh.plnk", "")  // aufs bookkeeping: skipped
                        .build();
  auto size = unpack(tar);
  ASSERT_TRUE(size.ok()) << size.status().toString();
  for (const char* p : {"/etc/passwd", "/gone/deep", "/toplevel"}) {
    struct stat st;
    ASSERT_EQ(::lstat((dest_ + p).c_str(), &st), 0) << p;
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << p;
    EXPECT_EQ(st.st_rdev, makedev(0, 0)) << p;
  }
  struct stat st;
  ::lstat((dest_ + "/etc/passwd").c_str(), &st);
  EXPECT_EQ(st.st_uid, 5u);
  EXPECT_EQ(st.st_gid, 6u);
  EXPECT_FALSE(fs::exists(dest_ + "/etc/.wh.passwd"));
  EXPECT_FALSE(fs::exists(dest_ + "/var/cache/.wh..wh..opq"));
  EXPECT_FALSE(fs::exists(dest_ + "/.wh..wh.plnk"));
  EXPECT_EQ(getXattr(dest_ + "/var/cache", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(getXattr(dest_ + "/etc", "trusted.overlay.opaque"), "");
  EXPECT_EQ(readAll(dest_ + "/var/cache/new"), "n");
}

TEST_F(UnpackTest, WhiteoutReplacesEarlierEntry) {
  std::string tar = TarBuilder().dir("d/sub").file("d/sub/f", "x").file("d/.wh.sub", "").build();
  ASSERT_TRUE(unpack(tar).ok());
  struct stat st;
  ASSERT_EQ(::lstat((dest_ + "/d/sub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(UnpackTest, OverlayXattrsFromHeadersAreDropped) {
  std::string tar = TarBuilder()
                        .dir("d")
                        .xattr("trusted.overlay.opaque", "y")
                        .xattr("user.keep", "v")
                        .file("f", "x")
                        .xattr("trusted.overlay.redirect", "/etc")
                        .build();
  ASSERT_TRUE(unpack(tar).ok());
  EXPECT_EQ(getXattr(dest_ + "/d", "trusted.overlay.opaque"), "");
  EXPECT_EQ(getXattr(dest_ + "/d", "user.keep"), "v");
  EXPECT_EQ(getXattr(dest_ + "/f", "trusted.overlay.redirect"), "");
}

TEST_F(UnpackTest, RejectsAbsolutePath) {
  expectRejected(TarBuilder().file(base_ + "/evil", "x").build(), base_ + "/evil");
}

TEST_F(UnpackTest, RejectsDotDot) {
  expectRejected(TarBuilder().file("../evil", "x").build(), "../evil");
  expectRejected(TarBuilder().file("a/../../evil", "x").build(), "a/../../evil");
  expectRejected(TarBuilder().dir("..").build(), "..");
}

TEST_F(UnpackTest, RejectsWriteThroughSymlink) {
  expectRejected(TarBuilder().symlink("link", outside_).file("link/evil", "x").build(),
                 "link/evil");
  // Relative symlink leaving dest, then a nested write.
  expectRejected(TarBuilder()
                     .dir("a")
                     .symlink("a/up", "../../outside")
                     .file("a/up/victim", "overwritten")
                     .build(),
                 "a/up/victim");
  // A directory entry through the symlink.
  expectRejected(TarBuilder().symlink("l", outside_).dir("l/sub").build(), "l/sub");
}

TEST_F(UnpackTest, RejectsWhiteoutsThroughSymlink) {
  expectRejected(TarBuilder().symlink("l", outside_).file("l/.wh.victim", "").build(),
                 "l/.wh.victim");
  expectRejected(TarBuilder().symlink("l", outside_).file("l/.wh..wh..opq", "").build(),
                 "l/.wh..wh..opq");
}

TEST_F(UnpackTest, RejectsHardlinksOutside) {
  expectRejected(TarBuilder().hardlink("h", outside_ + "/victim").build(), outside_ + "/victim");
  expectRejected(TarBuilder().hardlink("h", "../outside/victim").build(), "../outside/victim");
  expectRejected(TarBuilder().symlink("l", outside_).hardlink("h", "l/victim").build(), "h");
  expectRejected(TarBuilder().hardlink("h", "missing").build(), "missing");
}

TEST_F(UnpackTest, RejectsOverlongPaths) {
  std::string deep;
  while (deep.size() < PATH_MAX) deep += "abcdefghijklmnopqrstuvwxyz/";
  expectRejected(TarBuilder().file(deep + "f", "x").build(), "too long");
}

TEST_F(UnpackTest, RejectsFileAsParent) {
  expectRejected(TarBuilder().file("a", "x").file("a/b", "y").build(), "a/b");
}

TEST_F(UnpackTest, ReplacingSymlinkDoesNotFollowIt) {
  // The final component being a symlink is fine: it is replaced, not followed.
  std::string tar = TarBuilder()
                        .symlink("f", outside_ + "/victim")
                        .file("f", "mine")
                        .symlink("d", outside_)
                        .dir("d", 0700)
                        .build();
  auto r = unpack(tar);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(readAll(dest_ + "/f"), "mine");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dest_ + "/d")));
}

TEST_F(UnpackTest, DirectoryLaterReplacedBySymlink) {
  // libarchive defers directory modes/times to the end; they must not follow
  // a symlink that replaced the directory meanwhile.
  std::string tar =
      TarBuilder().dir("d", 0700).mtime(42).symlink("d", outside_).file("g", "x").build();
  auto r = unpack(tar);
  if (r.ok()) {
    EXPECT_TRUE(fs::is_symlink(dest_ + "/d"));
  }
}

TEST_F(UnpackTest, GarbageAndEmptyInput) {
  auto r = unpack("this is not a tar archive, not even close..............................");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  auto truncated = TarBuilder().file("big", std::string(100000, 'z')).build().substr(0, 50000);
  r = unpack(truncated);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  fs::remove_all(dest_);
  fs::create_directories(dest_);
  r = unpack("");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(*r, 0);
  r = unpack(std::string(1024, '\0'));
  ASSERT_TRUE(r.ok()) << r.status().toString();
}

TEST_F(UnpackTest, ReadErrorFails) {
  ReadFn failing = [](char*, size_t) -> long { return -1; };
  EXPECT_FALSE(unpackLayer(failing, dest_).ok());
}

TEST_F(UnpackTest, MissingDestination) {
  EXPECT_FALSE(unpackLayer(stringReader(""), base_ + "/nope").ok());
}

}  // namespace
}  // namespace arca::image

// unpackTar() as `docker cp` uses it.
namespace arca::image {
namespace {

class UnpackTarTest : public UnpackTest {
 protected:
  StatusOr<int64_t> put(const std::string& tar, const UnpackOptions& o) {
    return unpackTar(testing::stringReader(tar), dest_, o);
  }
  static UnpackOptions cp() {
    UnpackOptions o;
    o.overlay_whiteouts = false;
    o.noun = "tar";
    o.display_root = "/tmp";
    return o;
  }
};

TEST_F(UnpackTarTest, WhiteoutNamesAreOrdinaryFiles) {
  ASSERT_TRUE(put(testing::TarBuilder().file(".wh.x", "data").build(), cp()).ok());
  struct stat st;
  ASSERT_EQ(::lstat((dest_ + "/.wh.x").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(testing::readAll(dest_ + "/.wh.x"), "data");
}

TEST_F(UnpackTarTest, NoOverwriteDirNonDir) {
  fs::create_directories(dest_ + "/a");
  std::ofstream(dest_ + "/f") << "x";
  UnpackOptions o = cp();
  o.no_overwrite_dir_non_dir = true;
  auto r = put(testing::TarBuilder().file("a", "file").build(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot overwrite directory \"/tmp/a\" with non-directory \"/tmp\"");
  r = put(testing::TarBuilder().dir("f").build(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot overwrite non-directory \"/tmp/f\" with directory \"/tmp\"");
  // Without the option a file replaces a file, and a directory merges.
  ASSERT_TRUE(put(testing::TarBuilder().file("f", "new").dir("a").build(), cp()).ok());
  EXPECT_EQ(testing::readAll(dest_ + "/f"), "new");
}

TEST_F(UnpackTarTest, OwnerOverride) {
  UnpackOptions o = cp();
  o.owner = std::make_pair(4242u, 4343u);
  ASSERT_TRUE(put(testing::TarBuilder().file("o", "x").owner(1, 2).build(), o).ok());
  struct stat st;
  ASSERT_EQ(::lstat((dest_ + "/o").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4242u);
  EXPECT_EQ(st.st_gid, 4343u);
}

TEST_F(UnpackTarTest, EscapesRefusedWithTarWording) {
  fs::create_symlink(outside_, dest_ + "/out");
  auto r = put(testing::TarBuilder().file("out/evil", "x").build(), cp());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tar entry \"out/evil\""), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(put(testing::TarBuilder().file("../evil", "x").build(), cp()).ok());
}

}  // namespace
}  // namespace arca::image
