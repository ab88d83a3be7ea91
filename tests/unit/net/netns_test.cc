#include "net/netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace arca::net {
namespace {

using ::testing::HasSubstr;

std::string nsLink(const char* path) {
  char buf[128];
  ssize_t n = readlink(path, buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

int bindLoopback(int fd, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "network namespaces need root";
    }
    char tmpl[] = "/tmp/arca-netns-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/ns";
    Status st = createNetns(path_);
    if (!st.ok() && st.message().find("not permitted") != std::string::npos) {
      GTEST_SKIP() << "cannot create network namespaces here: " << st.message();
    }
    ASSERT_TRUE(st.ok()) << st.toString();
    auto fd = openNetns(path_);
    ASSERT_TRUE(fd.ok()) << fd.status().toString();
    ns_fd_ = *fd;
  }
  void TearDown() override {
    if (ns_fd_ >= 0) close(ns_fd_);
    if (!path_.empty()) {
      EXPECT_TRUE(removeNetns(path_).ok());
    }
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  std::string dir_, path_;
  int ns_fd_ = -1;
};

TEST_F(NetnsTest, CreatesNamespaceWithLoopbackUpIdempotently) {
  struct stat first, again, host;
  ASSERT_EQ(stat(path_.c_str(), &first), 0);
  ASSERT_EQ(stat("/proc/self/ns/net", &host), 0);
  EXPECT_NE(first.st_ino, host.st_ino);  // a namespace of its own
  ASSERT_TRUE(createNetns(path_).ok());
  ASSERT_EQ(stat(path_.c_str(), &again), 0);
  EXPECT_EQ(first.st_ino, again.st_ino);  // the same namespace, not a second mount

  std::string out;
  ASSERT_EQ(runInNetns(ns_fd_, {"ip", "-o", "link", "show", "lo"}, "", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(",UP"));
  ASSERT_EQ(runInNetns(ns_fd_, {"ip", "-o", "link"}, "", &out), 0) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;  // only lo lives there
  // The calling thread never left its namespace.
  EXPECT_EQ(nsLink("/proc/thread-self/ns/net"), nsLink("/proc/self/ns/net"));
}

TEST_F(NetnsTest, SocketInNetnsDoesNotConflictWithTheHost) {
  std::string before = nsLink("/proc/thread-self/ns/net");
  int host = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(bindLoopback(host, 0), 0);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(host, reinterpret_cast<sockaddr*>(&a), &len), 0);
  uint16_t port = ntohs(a.sin_port);

  auto inside = socketInNetns(ns_fd_, AF_INET, SOCK_STREAM, 0);
  ASSERT_TRUE(inside.ok()) << inside.status().toString();
  EXPECT_EQ(bindLoopback(*inside, port), 0) << "127.0.0.1:" << port << " is the host's, not the namespace's";
  EXPECT_EQ(nsLink("/proc/thread-self/ns/net"), before);
  EXPECT_TRUE(fcntl(*inside, F_GETFD) & FD_CLOEXEC);

  int second = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_NE(bindLoopback(second, port), 0);  // the host's own port is taken
  close(second);
  close(*inside);
  close(host);

  EXPECT_FALSE(socketInNetns(-1, AF_INET, SOCK_STREAM, 0).ok());
  EXPECT_EQ(nsLink("/proc/thread-self/ns/net"), before);  // restored after a failure too
}

TEST_F(NetnsTest, RunInNetnsFeedsStdinAndReportsStatus) {
  std::string out;
  EXPECT_EQ(runInNetns(ns_fd_, {"cat"}, "hello\n", &out), 0);
  EXPECT_EQ(out, "hello\n");
  std::string big(1 << 20, 'x');  // more than any pipe holds: stdin and stdout must flow together
  EXPECT_EQ(runInNetns(-1, {"cat"}, big, &out), 0);
  EXPECT_EQ(out.size(), big.size());
  EXPECT_EQ(runInNetns(-1, {"sh", "-c", "read x; echo \"$x\" >&2; exit 3"}, "line\n", &out), 3);
  EXPECT_EQ(out, "line\n");
  EXPECT_EQ(runInNetns(-1, {"sh", "-c", "kill -9 $$"}, "", &out), 128 + 9);
  EXPECT_EQ(runInNetns(-1, {"true"}, std::string(1 << 20, 'y'), nullptr), 0);  // ignores stdin
  EXPECT_EQ(runInNetns(-1, {"arca-no-such-program"}, "", &out), -1);
  EXPECT_THAT(out, HasSubstr("arca-no-such-program"));
  EXPECT_EQ(runInNetns(12345, {"true"}, "", &out), -1);  // setns on a bad descriptor
  EXPECT_THAT(out, HasSubstr("setns"));
  EXPECT_EQ(runInNetns(ns_fd_, {"ip", "-batch", "-"}, "addr add 127.0.0.2/8 dev lo\n", &out), 0) << out;
  EXPECT_EQ(runInNetns(ns_fd_, {"ip", "-o", "addr", "show", "lo"}, "", &out), 0);
  EXPECT_THAT(out, HasSubstr("127.0.0.2/8"));
}

TEST_F(NetnsTest, RemoveIsIdempotent) {
  ASSERT_TRUE(removeNetns(path_).ok());
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
  EXPECT_TRUE(removeNetns(path_).ok());
  EXPECT_TRUE(removeNetns(dir_ + "/never-there").ok());
  EXPECT_FALSE(openNetns(path_).ok());
  // A plain file left behind (say, by a crash between touch and mount) goes too.
  int fd = open(path_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
  close(fd);
  EXPECT_TRUE(removeNetns(path_).ok());
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace arca::net
