#include "runtime/container_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <utility>

namespace arca::runtime {
namespace {

namespace fs = std::filesystem;

void writeFile(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
}

// Entry name -> (type, symlink target or content) of a tar held in memory.
std::map<std::string, std::pair<char, std::string>> readTar(const std::string& tar) {
  std::map<std::string, std::pair<char, std::string>> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    char type = '?';
    std::string payload;
    if (archive_entry_hardlink(e)) {
      type = 'h';
      payload = archive_entry_hardlink(e);
    } else if (archive_entry_filetype(e) == AE_IFDIR) {
      type = 'd';
    } else if (archive_entry_filetype(e) == AE_IFLNK) {
      type = 'l';
      payload = archive_entry_symlink(e);
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      type = 'f';
      char buf[4096];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) payload.append(buf, n);
    } else if (archive_entry_filetype(e) == AE_IFCHR) {
      type = 'c';
    }
    out[archive_entry_pathname(e)] = {type, payload};
  }
  archive_read_free(a);
  return out;
}

class ContainerArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("arca-carchive-" + std::to_string(getpid()));
    fs::remove_all(base_);
    root_ = base_ + "/root";
    fs::create_directories(root_ + "/etc");
    fs::create_directories(root_ + "/tmp/d/sub");
    writeFile(root_ + "/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    writeFile(root_ + "/tmp/d/sub/x", "hello");
    writeFile(root_ + "/tmp/d/y", "top");
    fs::create_symlink("/etc", root_ + "/tmp/etclink");
    fs::create_symlink("../../../../../../etc/shadow", root_ + "/tmp/up");
    fs::create_symlink("/etc/shadow", root_ + "/tmp/abs");
    fs::create_symlink("d/sub", root_ + "/tmp/rel");
    fs::create_symlink("/nope/missing", root_ + "/tmp/dangling");
    fs::create_symlink("loop2", root_ + "/tmp/loop1");
    fs::create_symlink("loop1", root_ + "/tmp/loop2");
    fs::create_hard_link(root_ + "/tmp/d/y", root_ + "/tmp/d/y2");
    // A host file the container must never reach.
    writeFile(base_ + "/secret", "host secret");
    fs::create_symlink(base_ + "/secret", root_ + "/tmp/hostlink");
  }
  void TearDown() override { fs::remove_all(base_); }

  RootDir root() {
    auto r = RootDir::open(root_);
    EXPECT_TRUE(r.ok());
    return std::move(*r);
  }

  std::string archive(const std::string& path) {
    std::string tar;
    RootDir r = root();
    Status st = archivePath(r, containerAbsPath(path), [&](std::string_view d) {
      tar.append(d);
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.toString();
    return tar;
  }

  std::string base_, root_;
};

TEST(GoFileMode, MatchesGo) {
  EXPECT_EQ(goFileMode(S_IFDIR | 0755), 2147484141u);  // what dockerd sends for a 0755 dir
  EXPECT_EQ(goFileMode(S_IFLNK | 0777), 134218239u);
  EXPECT_EQ(goFileMode(S_IFREG | 0644), 0644u);
  EXPECT_EQ(goFileMode(S_IFDIR | S_ISVTX | 0777), (1u << 31) | (1u << 20) | 0777u);
  EXPECT_EQ(goFileMode(S_IFCHR | 0666), (1u << 26) | (1u << 21) | 0666u);
  EXPECT_EQ(goFileMode(S_IFREG | S_ISUID | S_ISGID | 0755), (1u << 23) | (1u << 22) | 0755u);
  EXPECT_EQ(goFileMode(S_IFIFO | 0600), (1u << 25) | 0600u);
  EXPECT_EQ(goFileMode(S_IFSOCK | 0600), (1u << 24) | 0600u);
}

TEST(ContainerAbsPath, KeepsTrailingSeparatorAndDot) {
  EXPECT_EQ(containerAbsPath("/tmp/a"), "/tmp/a");
  EXPECT_EQ(containerAbsPath("tmp//a/"), "/tmp/a/");
  EXPECT_EQ(containerAbsPath("/tmp/a/."), "/tmp/a/.");
  EXPECT_EQ(containerAbsPath("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(containerAbsPath("/"), "/");
  EXPECT_EQ(containerAbsPath("."), "/.");
  EXPECT_EQ(pathBase("/tmp/a/"), "a");
  EXPECT_EQ(pathBase("/"), "/");
  EXPECT_EQ(pathBase("/tmp/a/."), ".");
}

TEST_F(ContainerArchiveTest, SymlinksResolveInsideTheRoot) {
  RootDir r = root();
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/etclink/passwd"), "/etc/passwd");
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/up"), "/etc/shadow");
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/abs"), "/etc/shadow");
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/rel/x"), "/tmp/d/sub/x");
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/dangling"), "/nope/missing");
  EXPECT_EQ(*followSymlinkInScope(r, "/../../.."), "/");
  // The host path is only a name inside the container.
  EXPECT_EQ(*followSymlinkInScope(r, "/tmp/hostlink"), base_ + "/secret");
  auto loop = followSymlinkInScope(r, "/tmp/loop1");
  EXPECT_FALSE(loop.ok());
  EXPECT_EQ(loop.status().code(), Code::kInvalidArgument);
}

TEST_F(ContainerArchiveTest, StatLikeDocker) {
  RootDir r = root();
  auto d = statPath(r, "/tmp/d");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->name, "d");
  EXPECT_EQ(d->mode & (1u << 31), 1u << 31);
  EXPECT_EQ(d->link_target, "");
  auto l = statPath(r, "/tmp/etclink");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->mode, 134218239u);
  EXPECT_EQ(l->size, 4);
  EXPECT_EQ(l->link_target, "/etc");
  auto rel = statPath(r, "/tmp/rel");
  EXPECT_EQ(rel->link_target, "/tmp/d/sub");
  // A trailing slash follows the link, as lstat(2) does.
  auto followed = statPath(r, "/tmp/etclink/");
  ASSERT_TRUE(followed.ok());
  EXPECT_EQ(followed->name, "etclink");
  EXPECT_EQ(followed->mode & (1u << 31), 1u << 31);
  EXPECT_EQ(followed->link_target, "");
  EXPECT_EQ(statPath(r, "/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(statPath(r, "/tmp/hostlink/").status().code(), Code::kNotFound);
  auto notdir = statPath(r, "/tmp/d/y/");
  EXPECT_EQ(notdir.status().code(), Code::kInternal);
  EXPECT_EQ(notdir.status().message(), "lstat /tmp/d/y/: not a directory");
}

TEST_F(ContainerArchiveTest, ArchiveNamesAsDocker) {
  auto t = readTar(archive("/tmp/d"));
  EXPECT_EQ(t.count("d/"), 1u);
  EXPECT_EQ(t["d/sub/x"], std::make_pair('f', std::string("hello")));
  EXPECT_EQ(t["d/y"].second, "top");
  EXPECT_EQ(t["d/y2"], std::make_pair('h', std::string("d/y")));  // hardlink to the first name
  auto dot = readTar(archive("/tmp/d/."));
  EXPECT_EQ(dot.count("./"), 1u);
  EXPECT_EQ(dot.count("./sub/x"), 1u);
  auto link = readTar(archive("/tmp/etclink"));
  ASSERT_EQ(link.size(), 1u);
  EXPECT_EQ(link["etclink"], std::make_pair('l', std::string("/etc")));
  auto followed = readTar(archive("/tmp/etclink/"));
  EXPECT_EQ(followed["etclink/passwd"].first, 'f');
  auto all = readTar(archive("/"));
  EXPECT_EQ(all.count("/"), 1u);
  EXPECT_EQ(all.count("/etc/passwd"), 1u);
}

TEST_F(ContainerArchiveTest, NeverReadsHostFiles) {
  auto t = readTar(archive("/tmp/hostlink"));
  EXPECT_EQ(t["hostlink"].first, 'l');  // the link itself, never the host file
  RootDir r = root();
  EXPECT_EQ(archivePath(r, "/tmp/hostlink/", [](std::string_view) { return true; }).code(),
            Code::kNotFound);
  EXPECT_EQ(archivePath(r, "/tmp/abs/", [](std::string_view) { return true; }).code(),
            Code::kNotFound);
  std::string all;
  ASSERT_TRUE(exportRoot(r, [&](std::string_view d) {
                all.append(d);
                return true;
              }).ok());
  for (const auto& [name, e] : readTar(all)) EXPECT_NE(e.second, "host secret") << name;
  auto exp = readTar(all);
  EXPECT_EQ(exp.count("etc/"), 1u);
  EXPECT_EQ(exp.count("tmp/d/sub/x"), 1u);
}

TEST_F(ContainerArchiveTest, ArchiveStopsWhenTheReaderGoes) {
  RootDir r = root();
  Status st = archivePath(r, "/", [](std::string_view) { return false; });
  EXPECT_EQ(st.code(), Code::kCanceled);
}

TEST_F(ContainerArchiveTest, ExtractDirResolution) {
  RootDir r = root();
  EXPECT_EQ(*resolveExtractDir(r, "/tmp/etclink"), "/etc");
  EXPECT_EQ(*resolveExtractDir(r, "/../../tmp/rel"), "/tmp/d/sub");
  EXPECT_EQ(resolveExtractDir(r, "/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(resolveExtractDir(r, "/tmp/hostlink").status().code(), Code::kNotFound);
  auto file = resolveExtractDir(r, "/etc/passwd");
  EXPECT_EQ(file.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(file.status().message(), "extraction point is not a directory");
}

TEST_F(ContainerArchiveTest, RunInRootConfinesPaths) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs root";
  Status st = runInRoot(root_, [&]() -> Status {
    // An absolute host path and a symlink to it both stay inside the root.
    std::ofstream(base_ + "/evil") << "x";
    std::ofstream("/tmp/hostlink") << "x";  // the link's target does not exist in the root
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.toString();
  EXPECT_TRUE(fs::exists(root_ + base_ + "/evil") || !fs::exists(base_ + "/evil"));
  EXPECT_FALSE(fs::exists(base_ + "/evil"));
  std::ifstream secret(base_ + "/secret");
  std::string text((std::istreambuf_iterator<char>(secret)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "host secret");
  // arcad's own root is untouched.
  EXPECT_TRUE(fs::exists("/proc/self"));
}

// Overlay layers: a whiteout is a 0/0 char device, an opaque dir has the
// trusted.overlay.opaque xattr (both need root; skipped otherwise).
class LayerChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mknod, trusted xattrs)";
    base_ = fs::temp_directory_path() / ("arca-changes-" + std::to_string(getpid()));
    fs::remove_all(base_);
    lower_ = base_ + "/lower";
    upper_ = base_ + "/upper";
    for (const char* d : {"/etc", "/root", "/tmp", "/var/lib", "/opt"}) {
      fs::create_directories(lower_ + d);
      fs::create_directories(upper_ + d);
    }
    writeFile(lower_ + "/etc/group", "root:x:0:\n");
    writeFile(lower_ + "/etc/passwd", "root\n");
    writeFile(lower_ + "/opt/old", "x");
    // Same mode/size/mtime as the lower: only a parent.
    copyTimes(lower_ + "/var/lib", upper_ + "/var/lib");
    copyTimes(lower_ + "/var", upper_ + "/var");
    copyTimes(lower_ + "/root", upper_ + "/root");
    copyTimes(lower_ + "/tmp", upper_ + "/tmp");
    // Changes.
    ASSERT_EQ(mknod((upper_ + "/etc/group").c_str(), S_IFCHR, makedev(0, 0)), 0);
    writeFile(upper_ + "/etc/passwd", "root\nme\n");
    fs::create_directories(upper_ + "/root/new");
    writeFile(upper_ + "/tmp/a/f", "x");
    writeFile(upper_ + "/var/lib/added", "x");
    copyTimes(lower_ + "/var/lib", upper_ + "/var/lib");
    ASSERT_EQ(lsetxattr((upper_ + "/opt").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
    writeFile(upper_ + "/opt/fresh", "x");
  }
  void TearDown() override {
    if (!base_.empty()) fs::remove_all(base_);
  }
  static void copyTimes(const std::string& from, const std::string& to) {
    struct stat st;
    ASSERT_EQ(stat(from.c_str(), &st), 0);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(utimensat(AT_FDCWD, to.c_str(), ts, 0), 0);
  }
  std::string base_, lower_, upper_;
};

TEST_F(LayerChangesTest, DockerClassification) {
  // Directories touched after their copyTimes(): /etc, /root, /tmp have new mtimes.
  copyTimes(lower_ + "/root", upper_ + "/root");
  copyTimes(lower_ + "/tmp", upper_ + "/tmp");
  auto changes = layerChanges(upper_, {lower_});
  ASSERT_TRUE(changes.ok()) << changes.status().toString();
  std::map<std::string, int> got;
  for (const auto& c : *changes) got[c.path] = c.kind;
  std::map<std::string, int> want = {
      {"/etc", 0},        {"/etc/group", 2},   {"/etc/passwd", 0},
      {"/opt", 2},        {"/opt/fresh", 1},   {"/root", 0},
      {"/root/new", 1},   {"/tmp", 0},         {"/tmp/a", 1},
      {"/tmp/a/f", 1},    {"/var/lib", 0},     {"/var/lib/added", 1},
  };
  EXPECT_EQ(got, want);
  // A parent comes before its children (filepath.Walk order).
  ASSERT_FALSE(changes->empty());
  EXPECT_EQ(changes->front().path, "/etc");
}

TEST_F(LayerChangesTest, MissingUpperIsNoChange) {
  auto changes = layerChanges(base_ + "/nope", {lower_});
  ASSERT_TRUE(changes.ok());
  EXPECT_TRUE(changes->empty());
}

TEST_F(LayerChangesTest, DiffTarConvertsWhiteouts) {
  std::string tar;
  int64_t entries = 0;
  ASSERT_TRUE(layerDiffTar(upper_, [&](std::string_view d) {
                tar.append(d);
                return true;
              }, &entries).ok());
  auto t = readTar(tar);
  EXPECT_EQ(static_cast<size_t>(entries), t.size());
  EXPECT_EQ(t["etc/.wh.group"].first, 'f');
  EXPECT_EQ(t.count("etc/group"), 0u);
  EXPECT_EQ(t["opt/.wh..wh..opq"].first, 'f');
  EXPECT_EQ(t["opt/fresh"].first, 'f');
  EXPECT_EQ(t["etc/passwd"].second, "root\nme\n");
  std::string empty;
  int64_t none = -1;
  fs::create_directories(base_ + "/empty");
  ASSERT_TRUE(layerDiffTar(base_ + "/empty", [&](std::string_view d) {
                empty.append(d);
                return true;
              }, &none).ok());
  EXPECT_EQ(none, 0);
  EXPECT_EQ(empty.size(), 1024u);  // just the end-of-archive blocks, like Go's tar
}

}  // namespace
}  // namespace arca::runtime
