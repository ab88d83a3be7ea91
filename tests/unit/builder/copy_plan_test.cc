#include "builder/copy_plan.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace arca::builder {
namespace {

namespace fs = std::filesystem;

class CopyPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-copy-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ctx_ = base_ + "/ctx";
    dst_ = base_ + "/dst";
    fs::create_directories(ctx_);
    fs::create_directories(dst_);
  }
  void TearDown() override { fs::remove_all(base_); }

  static void write(const std::string& path, const std::string& content, mode_t mode = 0644) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    ::chmod(path.c_str(), mode);
  }
  static std::string read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static struct stat lst(const std::string& path) {
    struct stat st = {};
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st;
  }
  // A tar (optionally compressed with `filter`) holding one file and a dir.
  void writeTar(const std::string& path, int filter) {
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == ARCHIVE_FILTER_GZIP) archive_write_add_filter_gzip(a);
    if (filter == ARCHIVE_FILTER_XZ) archive_write_add_filter_xz(a);
    if (filter == ARCHIVE_FILTER_BZIP2) archive_write_add_filter_bzip2(a);
    ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "inner/");
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0750);
    archive_write_header(a, e);
    archive_entry_clear(e);
    const std::string data = "from tar";
    archive_entry_set_pathname(e, "inner/t.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0640);
    archive_entry_set_uid(e, 42);
    archive_entry_set_gid(e, 43);
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
  }
  StatusOr<CopyPlan> plan(std::vector<std::string> src, const std::string& dest, bool add = false,
                          const std::string& workdir = "/", const CopyPlanOptions& o = {}) {
    return planCopy(ctx_, src, dest, workdir, add, o);
  }
  void copy(std::vector<std::string> src, const std::string& dest, bool add = false,
            std::optional<CopyOwner> owner = std::nullopt, std::optional<uint32_t> chmod = {}) {
    auto p = plan(src, dest, add);
    ASSERT_TRUE(p.ok()) << p.status().message();
    Status s = executeCopy(*p, dst_, owner, chmod);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  std::string err(std::vector<std::string> src, const std::string& dest, bool add = false) {
    auto p = plan(src, dest, add);
    return p.ok() ? "ok" : p.status().message();
  }

  std::string base_, ctx_, dst_;
};

TEST(GoPathMatch, Rules) {
  EXPECT_TRUE(*goPathMatch("*.txt", "a.txt"));
  EXPECT_FALSE(*goPathMatch("*.txt", "d/a.txt"));
  EXPECT_TRUE(*goPathMatch("d/*.txt", "d/a.txt"));
  EXPECT_TRUE(*goPathMatch("*", "abc"));
  EXPECT_FALSE(*goPathMatch("*", "a/b"));
  EXPECT_TRUE(*goPathMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(*goPathMatch("a*b", "axxbyyc"));
  EXPECT_TRUE(*goPathMatch("?.md", "x.md"));
  EXPECT_FALSE(*goPathMatch("a?b", "a/b"));
  EXPECT_TRUE(*goPathMatch("?", "é"));
  EXPECT_TRUE(*goPathMatch("[a-c]x", "bx"));
  EXPECT_FALSE(*goPathMatch("[a-c]x", "dx"));
  EXPECT_TRUE(*goPathMatch("[^a-c]x", "dx"));
  EXPECT_FALSE(*goPathMatch("[!a]x", "bx"));  // '!' is not negation
  EXPECT_TRUE(*goPathMatch("[!a]x", "!x"));
  EXPECT_TRUE(*goPathMatch("\\*", "*"));
  EXPECT_FALSE(*goPathMatch("\\*", "a"));
  EXPECT_FALSE(goPathMatch("[", "a").ok());
  EXPECT_FALSE(goPathMatch("[]a]", "a").ok());
  EXPECT_FALSE(goPathMatch("a\\", "a").ok());
  EXPECT_FALSE(goPathMatch("x*[", "yz").ok());  // malformed even after a mismatch
  EXPECT_EQ(goPathMatch("[", "a").status().message(), "syntax error in pattern");
}

TEST(CopyPlanHelpers, SourcesDestsUrls) {
  EXPECT_EQ(trimCopySource("/a"), "a");
  EXPECT_EQ(trimCopySource("./a"), "a");
  EXPECT_EQ(trimCopySource("/./a"), "a");
  EXPECT_EQ(trimCopySource("//a"), "/a");
  EXPECT_EQ(trimCopySource("."), ".");
  EXPECT_TRUE(isCopyWildcard("*.go"));
  EXPECT_TRUE(isCopyWildcard("a[bc]"));
  EXPECT_TRUE(isCopyWildcard("a?"));
  EXPECT_FALSE(isCopyWildcard("a\\*b"));
  EXPECT_FALSE(isCopyWildcard("plain"));
  EXPECT_TRUE(isCopyUrl("https://x/y"));
  EXPECT_TRUE(isCopyUrl("http://x"));
  EXPECT_FALSE(isCopyUrl("ftp://x"));
  EXPECT_FALSE(isCopyUrl("HTTP://x"));
  EXPECT_EQ(normalizeCopyDest("/app", "x"), "/app/x");
  EXPECT_EQ(normalizeCopyDest("/app", "x/"), "/app/x/");
  EXPECT_EQ(normalizeCopyDest("/app", "."), "/app");
  EXPECT_EQ(normalizeCopyDest("", "x/../y/"), "/y/");
  EXPECT_EQ(normalizeCopyDest("app", "x"), "/app/x");
  EXPECT_EQ(normalizeCopyDest("/app", "/abs/./x/"), "/abs/./x/");
  EXPECT_EQ(normalizeCopyDest("/", "./"), "/");
}

TEST(CopyPlanHelpers, UrlFileName) {
  EXPECT_EQ(*urlFileName("https://h/p/file.tar.gz?x=1#f", "", "/d/"), "file.tar.gz");
  EXPECT_EQ(*urlFileName("https://h/p/a%20b", "", "/d/"), "a b");
  EXPECT_EQ(*urlFileName("https://h/dir/", "attachment; filename=\"x.bin\"", "/d/"), "x.bin");
  EXPECT_EQ(*urlFileName("https://h", "attachment; filename*=UTF-8''n%C3%A9.txt", "/d/"), "n\xc3\xa9.txt");
  EXPECT_EQ(*urlFileName("https://h/", "attachment; filename=\"a/b.txt\"", "/d/"), "b.txt");
  EXPECT_EQ(*urlFileName("https://h/", "", "/d"), "__unnamed__");
  auto bad = urlFileName("https://h/", "inline", "/d/");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "ADD failed: cannot determine filename for source https://h/");
}

TEST_F(CopyPlanTest, PlansFilesDirsAndWildcardsInWalkOrder) {
  write(ctx_ + "/b.txt", "b");
  write(ctx_ + "/a.txt", "a");
  write(ctx_ + "/c.md", "c");
  write(ctx_ + "/d/e.txt", "e");
  auto p = plan({"*.txt"}, "/out/");
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->sources.size(), 2u);
  EXPECT_EQ(p->sources[0].path, "a.txt");
  EXPECT_EQ(p->sources[1].path, "b.txt");
  EXPECT_EQ(p->sources[0].kind, CopySourceKind::kFile);
  EXPECT_EQ(p->sources[0].hash.rfind("file:", 0), 0u);
  EXPECT_EQ(p->dest_path, "/out/");

  p = plan({"*"}, "/out/");
  ASSERT_TRUE(p.ok());
  std::vector<std::string> names;
  for (const auto& s : p->sources) names.push_back(s.path);
  EXPECT_EQ(names, (std::vector<std::string>{"a.txt", "b.txt", "c.md", "d"}));
  EXPECT_EQ(p->sources[3].kind, CopySourceKind::kDir);
  EXPECT_EQ(p->sources[3].hash.rfind("dir:", 0), 0u);

  p = plan({"*/*.txt"}, "/out/");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->sources.size(), 1u);
  EXPECT_EQ(p->sources[0].path, "d/e.txt");

  // One match: a file destination without "/" is fine.
  p = plan({"c.*"}, "/x", false, "/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->sources.size(), 1u);

  p = plan({"/a.txt", "./d"}, "rel/", false, "/w");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->sources[0].path, "a.txt");
  EXPECT_EQ(p->sources[1].path, "d");
  EXPECT_EQ(p->dest_path, "/w/rel/");
  EXPECT_EQ(p->dest, "rel/");
}

TEST_F(CopyPlanTest, PlanErrorsUseDockerTexts) {
  write(ctx_ + "/a.txt", "a");
  write(ctx_ + "/b.txt", "b");
  EXPECT_EQ(err({"nope"}, "/x"),
            "COPY failed: file not found in build context or excluded by .dockerignore: "
            "stat nope: file does not exist");
  EXPECT_EQ(err({"./a.txt/x"}, "/x", true),
            "ADD failed: file not found in build context or excluded by .dockerignore: "
            "stat a.txt/x: file does not exist");
  EXPECT_EQ(err({"*.go"}, "/x/"), "COPY failed: no source files were specified");
  EXPECT_EQ(err({"../x"}, "/x"), "COPY failed: forbidden path outside the build context: ../x ()");
  EXPECT_EQ(err({"d/../../x"}, "/x"),
            "COPY failed: forbidden path outside the build context: d/../../x ()");
  EXPECT_EQ(err({"/../x"}, "/x"), "COPY failed: forbidden path outside the build context: ../x ()");
  EXPECT_EQ(err({"a.txt", "b.txt"}, "/x"),
            "When using COPY with more than one source file, the destination must be a directory "
            "and end with a /");
  EXPECT_EQ(err({"*.txt"}, "."),
            "When using COPY with more than one source file, the destination must be a directory "
            "and end with a /");
  EXPECT_EQ(err({"*.txt"}, "/x", true),
            "When using ADD with more than one source file, the destination must be a directory "
            "and end with a /");
  EXPECT_EQ(err({"https://e.com/a"}, "/x"), "COPY failed: source can't be a URL for COPY");
  EXPECT_EQ(err({"a/../a.txt"}, "/x"), "ok");
}

TEST_F(CopyPlanTest, AddClassifiesUrlsAndArchivesByContent) {
  writeTar(ctx_ + "/pkg.tgz", ARCHIVE_FILTER_GZIP);
  writeTar(ctx_ + "/plain.bin", ARCHIVE_FILTER_NONE);
  writeTar(ctx_ + "/x.xz", ARCHIVE_FILTER_XZ);
  writeTar(ctx_ + "/x.bz2", ARCHIVE_FILTER_BZIP2);
  write(ctx_ + "/fake.tar.gz", "not an archive at all");
  write(ctx_ + "/empty.tar", "");
  auto p = plan({"pkg.tgz", "plain.bin", "x.xz", "x.bz2", "fake.tar.gz", "empty.tar",
                 "https://e.com/dl/tool.tgz", "https://e.com/"},
                "/d/", true);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_EQ(p->sources.size(), 8u);
  EXPECT_EQ(p->sources[0].kind, CopySourceKind::kArchive);
  EXPECT_EQ(p->sources[1].kind, CopySourceKind::kArchive);
  EXPECT_EQ(p->sources[2].kind, CopySourceKind::kArchive);
  EXPECT_EQ(p->sources[3].kind, CopySourceKind::kArchive);
  EXPECT_EQ(p->sources[4].kind, CopySourceKind::kFile);
  EXPECT_EQ(p->sources[5].kind, CopySourceKind::kFile);
  EXPECT_EQ(p->sources[6].kind, CopySourceKind::kUrl);
  EXPECT_EQ(p->sources[6].url_file_name, "tool.tgz");
  EXPECT_EQ(p->sources[6].hash, "");
  EXPECT_EQ(p->sources[7].url_file_name, "");
  // COPY never extracts.
  p = plan({"pkg.tgz"}, "/d/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->sources[0].kind, CopySourceKind::kFile);
}

TEST_F(CopyPlanTest, NamedSymlinksResolveInsideTheContext) {
  write(ctx_ + "/real.txt", "real");
  fs::create_symlink("real.txt", ctx_ + "/rel-link");
  fs::create_symlink("/real.txt", ctx_ + "/abs-link");  // "/" = the context root
  fs::create_symlink("/etc/passwd", ctx_ + "/out-link");
  fs::create_symlink("../../../../etc/hostname", ctx_ + "/dotdot-link");
  copy({"rel-link", "abs-link"}, "/d/");
  EXPECT_EQ(read(dst_ + "/d/rel-link"), "real");
  EXPECT_TRUE(S_ISREG(lst(dst_ + "/d/abs-link").st_mode));
  EXPECT_EQ(err({"out-link"}, "/x"),
            "COPY failed: file not found in build context or excluded by .dockerignore: "
            "stat out-link: file does not exist");
  EXPECT_EQ(err({"dotdot-link"}, "/x"),
            "COPY failed: file not found in build context or excluded by .dockerignore: "
            "stat dotdot-link: file does not exist");
}

TEST_F(CopyPlanTest, FileDestinationRules) {
  write(ctx_ + "/f.txt", "F", 0751);
  write(ctx_ + "/sub/g.txt", "G");
  fs::create_directories(dst_ + "/existing");
  copy({"f.txt"}, "/new/dir/");        // trailing slash: a directory
  copy({"f.txt"}, "/renamed");         // no slash, missing: the file itself
  copy({"f.txt"}, "/existing");        // existing directory: inside it
  copy({"sub/g.txt"}, "/existing/");   // base name of the source as named
  EXPECT_EQ(read(dst_ + "/new/dir/f.txt"), "F");
  EXPECT_EQ(read(dst_ + "/renamed"), "F");
  EXPECT_EQ(read(dst_ + "/existing/f.txt"), "F");
  EXPECT_EQ(read(dst_ + "/existing/g.txt"), "G");
  EXPECT_EQ(lst(dst_ + "/renamed").st_mode & 07777, 0751u);
  EXPECT_EQ(lst(dst_ + "/new").st_mode & 07777, 0755u);
  EXPECT_EQ(lst(dst_ + "/new/dir").st_mode & 07777, 0755u);

  // WORKDIR-relative "." lands in the existing working directory.
  fs::create_directories(dst_ + "/app");
  auto p = planCopy(ctx_, {"f.txt"}, ".", "/app", false, {});
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(executeCopy(*p, dst_, std::nullopt).ok());
  EXPECT_EQ(read(dst_ + "/app/f.txt"), "F");

  // Overwrites an existing file, and a directory in the way.
  write(dst_ + "/over", "old");
  copy({"f.txt"}, "/over");
  EXPECT_EQ(read(dst_ + "/over"), "F");
  fs::create_directories(dst_ + "/d2/f.txt/inner");
  copy({"f.txt"}, "/d2/");
  EXPECT_EQ(read(dst_ + "/d2/f.txt"), "F");

  // A parent that is a file fails.
  write(dst_ + "/file", "x");
  auto q = plan({"f.txt"}, "/file/sub/x");
  ASSERT_TRUE(q.ok());
  Status s = executeCopy(*q, dst_, std::nullopt);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "failed to copy files: mkdir /file: not a directory");
}

TEST_F(CopyPlanTest, MtimesAreTruncatedToSeconds) {
  write(ctx_ + "/f", "x");
  struct timespec ts[2] = {{1000000000, 123456789}, {1500000000, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (ctx_ + "/f").c_str(), ts, 0), 0);
  copy({"f"}, "/f");
  struct stat st = lst(dst_ + "/f");
  EXPECT_EQ(st.st_mtim.tv_sec, 1500000000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 0);
  EXPECT_EQ(st.st_atim.tv_sec, 1500000000);
}

TEST_F(CopyPlanTest, DirectoryCopiesItsContentsWithLinksAsLinks) {
  write(ctx_ + "/src/a.txt", "A", 0600);
  write(ctx_ + "/src/deep/b.sh", "B", 04755);
  ::chmod((ctx_ + "/src/deep").c_str(), 0711);
  fs::create_symlink("a.txt", ctx_ + "/src/rel");
  fs::create_symlink("/etc/shadow", ctx_ + "/src/outside");
  fs::create_symlink("../../..", ctx_ + "/src/up");
  ASSERT_EQ(::link((ctx_ + "/src/a.txt").c_str(), (ctx_ + "/src/hard").c_str()), 0);
  write(dst_ + "/out/keep", "kept");
  fs::create_symlink("/nowhere", dst_ + "/out/rel");  // replaced, not written through
  copy({"src"}, "/out");
  EXPECT_FALSE(fs::exists(dst_ + "/out/src"));
  EXPECT_EQ(read(dst_ + "/out/a.txt"), "A");
  EXPECT_EQ(read(dst_ + "/out/keep"), "kept");
  EXPECT_EQ(lst(dst_ + "/out/a.txt").st_mode & 07777, 0600u);
  EXPECT_EQ(lst(dst_ + "/out/deep").st_mode & 07777, 0711u);
  EXPECT_EQ(lst(dst_ + "/out/deep/b.sh").st_mode & 07777, 04755u);
  EXPECT_EQ(fs::read_symlink(dst_ + "/out/rel"), "a.txt");
  EXPECT_EQ(fs::read_symlink(dst_ + "/out/outside"), "/etc/shadow");
  EXPECT_EQ(fs::read_symlink(dst_ + "/out/up"), "../../..");
  EXPECT_EQ(lst(dst_ + "/out/hard").st_ino, lst(dst_ + "/out/a.txt").st_ino);

  // "." copies the whole context's contents.
  copy({"."}, "/all/");
  EXPECT_EQ(read(dst_ + "/all/src/deep/b.sh"), "B");
}

TEST_F(CopyPlanTest, DestinationSymlinksStayInsideTheRoot) {
  write(ctx_ + "/f", "inside");
  write(ctx_ + "/dir/g", "g");
  const std::string outside = base_ + "/outside";
  fs::create_directories(outside);
  fs::create_symlink(outside, dst_ + "/abs");          // absolute: means dst_/<outside>
  fs::create_symlink("../../outside", dst_ + "/rel");  // clamped at the root
  copy({"f"}, "/abs/");
  copy({"dir"}, "/rel/x");
  copy({"f"}, "/rel");  // the link's target inside the root is a missing file
  EXPECT_TRUE(fs::is_empty(outside));
  EXPECT_EQ(read(dst_ + outside + "/f"), "inside");
  EXPECT_EQ(read(dst_ + "/outside/x/g"), "g");
  EXPECT_EQ(read(dst_ + "/outside/f"), "inside");
  EXPECT_TRUE(fs::is_symlink(dst_ + "/rel"));
}

TEST_F(CopyPlanTest, AddExtractsArchivesCopyDoesNot) {
  writeTar(ctx_ + "/pkg.tar.gz", ARCHIVE_FILTER_GZIP);
  fs::create_directories(dst_ + "/opt");
  ::chmod((dst_ + "/opt").c_str(), 0700);
  copy({"pkg.tar.gz"}, "/opt", true);
  EXPECT_EQ(read(dst_ + "/opt/inner/t.txt"), "from tar");
  EXPECT_EQ(lst(dst_ + "/opt/inner/t.txt").st_mode & 07777, 0640u);
  EXPECT_EQ(lst(dst_ + "/opt").st_mode & 07777, 0700u);
  copy({"pkg.tar.gz"}, "/new/place/", true, CopyOwner{7, 8});
  EXPECT_EQ(read(dst_ + "/new/place/inner/t.txt"), "from tar");
  if (::geteuid() == 0) {
    // Extracted entries keep the archive's owners, even with --chown.
    EXPECT_EQ(lst(dst_ + "/new/place/inner/t.txt").st_uid, 42u);
    EXPECT_EQ(lst(dst_ + "/new/place/inner/t.txt").st_gid, 43u);
  }
  copy({"pkg.tar.gz"}, "/c/");
  EXPECT_EQ(read(dst_ + "/c/pkg.tar.gz"), read(ctx_ + "/pkg.tar.gz"));
  EXPECT_FALSE(fs::exists(dst_ + "/c/inner"));
}

TEST_F(CopyPlanTest, ChownAppliesToCopiesAndNewParents) {
  if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
  write(ctx_ + "/f", "f");
  write(ctx_ + "/d/x", "x");
  fs::create_directories(dst_ + "/old");
  copy({"f"}, "/p1/p2/f", false, CopyOwner{1000, 1001});
  EXPECT_EQ(lst(dst_ + "/p1/p2/f").st_uid, 1000u);
  EXPECT_EQ(lst(dst_ + "/p1/p2/f").st_gid, 1001u);
  EXPECT_EQ(lst(dst_ + "/p1").st_uid, 1000u);  // parents made for a file: chowned
  copy({"d"}, "/q1/q2", false, CopyOwner{1000, 1001});
  EXPECT_EQ(lst(dst_ + "/q1/q2/x").st_uid, 1000u);
  EXPECT_EQ(lst(dst_ + "/q1/q2").st_uid, 1000u);  // created destination: chowned
  EXPECT_EQ(lst(dst_ + "/q1").st_uid, 0u);        // its parents: root
  copy({"d"}, "/old", false, CopyOwner{1000, 1001});
  EXPECT_EQ(lst(dst_ + "/old").st_uid, 0u);  // existing destination: untouched
  EXPECT_EQ(lst(dst_ + "/old/x").st_gid, 1001u);
  // setuid survives the chown.
  write(ctx_ + "/suid", "s", 04755);
  copy({"suid"}, "/suid", false, CopyOwner{5, 5});
  EXPECT_EQ(lst(dst_ + "/suid").st_mode & 07777, 04755u);
}

TEST_F(CopyPlanTest, ChmodAppliesToCopiedEntries) {
  write(ctx_ + "/d/x", "x", 0600);
  fs::create_symlink("x", ctx_ + "/d/l");
  copy({"d"}, "/m/", false, std::nullopt, 0750);
  EXPECT_EQ(lst(dst_ + "/m/x").st_mode & 07777, 0750u);
  EXPECT_EQ(lst(dst_ + "/m").st_mode & 07777, 0755u);  // the destination is not a copy
  EXPECT_TRUE(fs::is_symlink(dst_ + "/m/l"));
}

TEST_F(CopyPlanTest, HashesFollowContentNotUnrelatedFiles) {
  write(ctx_ + "/a.txt", "one");
  write(ctx_ + "/other", "x");
  write(ctx_ + "/dir/in", "1");
  auto h = [&](std::vector<std::string> src, const std::string& chown = "") {
    auto p = plan(src, "/d/", false, "/", CopyPlanOptions{chown});
    EXPECT_TRUE(p.ok());
    return p.ok() ? copySourceHash(*p) : "";
  };
  const std::string file0 = h({"a.txt"});
  const std::string dir0 = h({"dir"});
  const std::string multi0 = h({"a.txt", "dir"});
  EXPECT_EQ(file0.rfind("file:", 0), 0u);
  EXPECT_EQ(file0.size(), 5u + 64u);
  EXPECT_EQ(dir0.rfind("dir:", 0), 0u);
  EXPECT_EQ(multi0.rfind("multi:", 0), 0u);
  EXPECT_EQ(h({"a.txt"}), file0);  // stable
  write(ctx_ + "/other", "changed");
  EXPECT_EQ(h({"a.txt"}), file0);
  EXPECT_EQ(h({"dir"}), dir0);
  write(ctx_ + "/a.txt", "two");
  EXPECT_NE(h({"a.txt"}), file0);
  EXPECT_NE(h({"a.txt", "dir"}), multi0);
  ::chmod((ctx_ + "/dir/in").c_str(), 0755);
  EXPECT_NE(h({"dir"}), dir0);
  const std::string dir1 = h({"dir"});
  fs::create_symlink("t1", ctx_ + "/dir/l");
  const std::string dir2 = h({"dir"});
  EXPECT_NE(dir2, dir1);
  fs::remove(ctx_ + "/dir/l");
  fs::create_symlink("t2", ctx_ + "/dir/l");
  EXPECT_NE(h({"dir"}), dir2);
  EXPECT_NE(h({"dir"}, "1:1"), h({"dir"}));
}

TEST_F(CopyPlanTest, CommentAndUrlSources) {
  write(ctx_ + "/a", "a");
  auto p = plan({"a"}, "/dst");
  ASSERT_TRUE(p.ok());
  const std::string hash = p->sources[0].hash;
  EXPECT_EQ(copyComment(*p, ""), "COPY " + hash + " in /dst ");
  EXPECT_EQ(copyComment(*p, "1:2"), "COPY --chown=1:2" + hash + " in /dst ");

  auto u = plan({"https://e.com/f.txt"}, "rel", true, "/w");
  ASSERT_TRUE(u.ok());
  fs::create_directories(base_ + "/dl");
  write(base_ + "/dl/f.txt", "downloaded", 0600);
  ASSERT_TRUE(finishUrlSource(&u->sources[0], base_ + "/dl", "f.txt").ok());
  EXPECT_EQ(u->sources[0].hash.size(), 64u);  // bare hex, as dockerd
  EXPECT_EQ(copyComment(*u, ""), "ADD " + u->sources[0].hash + " in rel ");
  fs::create_directories(dst_ + "/w");
  ASSERT_TRUE(executeCopy(*u, dst_, std::nullopt).ok());
  EXPECT_EQ(read(dst_ + "/w/rel"), "downloaded");
  EXPECT_EQ(lst(dst_ + "/w/rel").st_mode & 07777, 0600u);

  auto pending = plan({"https://e.com/x"}, "/d/", true);
  ASSERT_TRUE(pending.ok());
  Status s = executeCopy(*pending, dst_, std::nullopt);
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace arca::builder
