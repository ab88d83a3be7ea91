#include "runtime/namespace/container_fs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace arca::runtime {
namespace {

namespace fs = std::filesystem;

const char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "app:x:1000:1000::/home/app:/bin/sh\n";
const char kGroup[] =
    "root:x:0:root\n"
    "wheel:x:10:root,app\n"
    "staff:x:50:app\n"
    "nogroup:x:65534:\n"
    "app:x:1000:\n";

ResolvedUser mustResolve(const std::string& spec) {
  auto r = resolveUser(spec, std::string(kPasswd), std::string(kGroup));
  EXPECT_TRUE(r.ok()) << spec << ": " << r.status().toString();
  return r.ok() ? *r : ResolvedUser{};
}

TEST(ResolveUser, EmptyIsRootWithItsGroups) {
  ResolvedUser u = mustResolve("");
  EXPECT_EQ(u.uid, 0u);
  EXPECT_EQ(u.gid, 0u);
  EXPECT_EQ(u.home, "/root");
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{0, 10}));
}

TEST(ResolveUser, ByName) {
  ResolvedUser u = mustResolve("app");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 1000u);
  EXPECT_EQ(u.home, "/home/app");
  EXPECT_EQ(u.additional_gids, (std::vector<uint32_t>{10, 50}));
  EXPECT_EQ(mustResolve("nobody").uid, 65534u);
}

TEST(ResolveUser, NumericWithAndWithoutEntry) {
  ResolvedUser u = mustResolve("1000");
  EXPECT_EQ(u.gid, 1000u);  // from the passwd entry
  ResolvedUser v = mustResolve("4242");
  EXPECT_EQ(v.uid, 4242u);
  EXPECT_EQ(v.gid, 0u);
  EXPECT_TRUE(v.additional_gids.empty());
}

TEST(ResolveUser, ExplicitGroupDropsSupplementaryGroups) {
  ResolvedUser u = mustResolve("app:staff");
  EXPECT_EQ(u.uid, 1000u);
  EXPECT_EQ(u.gid, 50u);
  EXPECT_TRUE(u.additional_gids.empty());
  ResolvedUser n = mustResolve("12:34");
  EXPECT_EQ(n.uid, 12u);
  EXPECT_EQ(n.gid, 34u);
}

TEST(ResolveUser, DockerErrors) {
  auto r = resolveUser("nope", std::string(kPasswd), std::string(kGroup));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unable to find user nope: no matching entries in passwd file");
  auto g = resolveUser("app:nogrp", std::string(kPasswd), std::string(kGroup));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), "unable to find group nogrp: no matching entries in group file");
  // No passwd file at all: names cannot resolve, numbers can.
  EXPECT_FALSE(resolveUser("app", std::nullopt, std::nullopt).ok());
  auto n = resolveUser("5:6", std::nullopt, std::nullopt);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->uid, 5u);
  EXPECT_EQ(n->gid, 6u);
  EXPECT_FALSE(resolveUser("-1", std::string(kPasswd), std::string(kGroup)).ok());
}

class RootDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-rootdir-XXXXXX";
    root_ = mkdtemp(tmpl);
    fs::create_directories(root_ + "/bin");
    fs::create_directories(root_ + "/usr/bin");
    fs::create_directories(root_ + "/etc");
    std::ofstream(root_ + "/bin/busybox") << "x";
    fs::permissions(root_ + "/bin/busybox", fs::perms::owner_all);
    fs::create_symlink("/bin/busybox", root_ + "/bin/sh");  // absolute: resolved in the root
    std::ofstream(root_ + "/usr/bin/plain") << "not executable";
    fs::create_directories(root_ + "/usr/bin/adir");
    fs::create_symlink("/etc/shadow", root_ + "/etc/passwd");  // must not read the host's
    fs::create_symlink("../../../../../../etc/hostname", root_ + "/etc/escape");
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string root_;
};

TEST_F(RootDirTest, LookPathResolvesInsideTheRoot) {
  auto root = RootDir::open(root_);
  ASSERT_TRUE(root.ok());
  auto sh = lookPath(*root, "sh", "/usr/bin:/bin", "/");
  ASSERT_TRUE(sh.ok()) << sh.status().toString();
  EXPECT_EQ(*sh, "/bin/sh");
  for (const char* missing : {"plain", "adir", "nope"}) {
    auto r = lookPath(*root, missing, "/usr/bin:/bin", "/");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(),
              std::string("exec: \"") + missing + "\": executable file not found in $PATH");
  }
}

TEST_F(RootDirTest, ReadFileNeverEscapes) {
  auto root = RootDir::open(root_);
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(root->readFile("/etc/passwd").has_value());  // -> <root>/etc/shadow: absent
  auto escaped = root->readFile("/etc/escape");             // -> <root>/etc/hostname: absent
  EXPECT_FALSE(escaped.has_value());
  EXPECT_EQ(root->readFile("/usr/bin/plain").value_or(""), "not executable");
  EXPECT_FALSE(root->readFile("/usr/bin/adir").has_value());
}

}  // namespace
}  // namespace arca::runtime
