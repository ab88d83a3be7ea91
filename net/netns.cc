#include "net/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

extern char** environ;

namespace arca::net {
namespace {

std::string errText(int e) { return std::generic_category().message(e); }

Status sysError(const std::string& what, int e) { return Internal(what + ": " + errText(e)); }

bool isNsfsMount(const std::string& path) {
  struct statfs sfs;
  return statfs(path.c_str(), &sfs) == 0 && sfs.f_type == static_cast<decltype(sfs.f_type)>(NSFS_MAGIC);
}

// Runs on a thread of its own: the thread moves to a new network namespace
// and leaves it behind as a bind mount on `path`.
Status makeNetnsOnThisThread(const std::string& path) {
  if (unshare(CLONE_NEWNET) != 0) return sysError("unshare(CLONE_NEWNET)", errno);
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sysError("socket in new network namespace", errno);
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = errno;
  close(s);
  if (rc != 0) return sysError("bringing up lo", e);
  std::string self = "/proc/self/task/" + std::to_string(gettid()) + "/ns/net";
  if (mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
    return sysError("bind-mounting the network namespace on " + path, errno);
  }
  return Status::Ok();
}

// Moves `fd` above the standard descriptors so the child's dup2 onto 0..2
// cannot overwrite another of its descriptors.
int aboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

std::string findInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = getenv("PATH");
  std::string path = env && *env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

// What the child reports through the error pipe when it cannot exec.
struct ChildFailure {
  int stage;  // index into kStages
  int err;
};
constexpr const char* kStages[] = {"setns", "dup2", "execve"};

// The child between fork and exec: async-signal-safe calls only.
[[noreturn]] void childExec(int netns_fd, int in_fd, int out_fd, int err_fd, const char* path,
                            char* const* argv) {
  auto fail = [err_fd](int stage) {
    ChildFailure f{stage, errno};
    ssize_t unused = write(err_fd, &f, sizeof f);
    (void)unused;
    _exit(127);
  };
  // The program starts with no blocked signals and SIGPIPE at its default,
  // whatever the helper's threads use.
  sigset_t unblock_all;
  sigfillset(&unblock_all);
  sigprocmask(SIG_UNBLOCK, &unblock_all, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) != 0) fail(0);
  for (int target : {0, 1, 2}) {
    if (dup2(target == 0 ? in_fd : out_fd, target) < 0) fail(1);
  }
  execve(path, argv, environ);
  fail(2);
  _exit(127);  // not reached
}

// Feeds `in` to `in_fd` (non-blocking) while collecting `out_fd` until EOF.
void pumpChildIo(int in_fd, const std::string& in, int out_fd, std::string* out) {
  size_t sent = 0;
  if (in.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  char buf[16384];
  while (out_fd >= 0) {
    struct pollfd p[2] = {{out_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    if (poll(p, in_fd >= 0 ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_fd >= 0 && p[1].revents) {
      ssize_t n = send(in_fd, in.data() + sent, in.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) sent += static_cast<size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || sent == in.size()) {
        close(in_fd);  // EOF for the child (or it stopped reading)
        in_fd = -1;
      }
    }
    if (p[0].revents) {
      ssize_t n = read(out_fd, buf, sizeof buf);
      if (n > 0) {
        if (out) out->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(out_fd);
        out_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
}

}  // namespace

StatusOr<int> openNetns(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sysError("opening network namespace " + path, errno);
  return fd;
}

Status createNetns(const std::string& path) {
  if (isNsfsMount(path)) return Status::Ok();
  bool existed = access(path.c_str(), F_OK) == 0;
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return sysError("creating " + path, errno);
  close(fd);
  // unshare() moves only the calling thread; a short-lived thread keeps the
  // caller in its own namespace and takes the new one with it when it ends.
  Status result;
  std::thread([&] { result = makeNetnsOnThisThread(path); }).join();
  if (!result.ok() && !existed) unlink(path.c_str());
  return result;
}

Status removeNetns(const std::string& path) {
  // Repeated until no namespace mount is left (stacked mounts from races).
  for (int i = 0; i < 16 && isNsfsMount(path); ++i) {
    if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return sysError("unmounting " + path, errno);
    }
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("removing " + path, errno);
  return Status::Ok();
}

StatusOr<int> socketInNetns(int netns_fd, int domain, int type, int protocol) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return sysError("opening this thread's network namespace", errno);
  if (setns(netns_fd, CLONE_NEWNET) != 0) {
    int e = errno;
    close(self);
    return sysError("entering network namespace", e);
  }
  int s = socket(domain, type | SOCK_CLOEXEC, protocol);
  int e = errno;
  if (setns(self, CLONE_NEWNET) != 0) {
    // Invariant: re-entering the namespace this thread just left cannot fail
    // for a process that could leave it; if it does, every later socket of
    // this thread would silently land in the wrong namespace.
    std::fprintf(stderr, "arca: cannot return to the original network namespace: %s\n",
                 errText(errno).c_str());
    std::abort();
  }
  close(self);
  if (s < 0) return sysError("socket in network namespace", e);
  return s;
}

int runInNetns(int netns_fd, const std::vector<std::string>& argv, const std::string& stdin_data,
               std::string* output) {
  auto failed = [output](const std::string& why) {
    if (output) *output = why;
    return -1;
  };
  if (argv.empty()) return failed("runInNetns: empty argv");
  std::string path = findInPath(argv[0]);
  if (path.empty()) return failed(argv[0] + ": executable file not found in $PATH");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  // stdin is a socketpair so that writing to a child that exited early gives
  // EPIPE (MSG_NOSIGNAL) instead of SIGPIPE; stdout/stderr share one pipe.
  int in[2], out[2], err[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0) {
    return failed(std::string("socketpair: ") + errText(errno));
  }
  if (pipe2(out, O_CLOEXEC) != 0) {
    int e = errno;
    close(in[0]);
    close(in[1]);
    return failed(std::string("pipe: ") + errText(e));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    int e = errno;
    for (int fd : {in[0], in[1], out[0], out[1]}) close(fd);
    return failed(std::string("pipe: ") + errText(e));
  }
  in[1] = aboveStdio(in[1]);
  out[1] = aboveStdio(out[1]);
  err[1] = aboveStdio(err[1]);
  pid_t pid = fork();
  if (pid == 0) childExec(netns_fd, in[1], out[1], err[1], path.c_str(), args.data());
  int fork_errno = errno;
  close(in[1]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    for (int fd : {in[0], out[0], err[0]}) close(fd);
    return failed(std::string("fork: ") + errText(fork_errno));
  }
  // The error pipe closes on a successful exec, or carries why it failed.
  ChildFailure f{};
  ssize_t n;
  do n = read(err[0], &f, sizeof f);
  while (n < 0 && errno == EINTR);
  close(err[0]);
  if (output) output->clear();
  std::string failure;
  if (n == static_cast<ssize_t>(sizeof f)) {
    failure = std::string(kStages[f.stage]) + " " + argv[0] + ": " + errText(f.err);
    close(in[0]);
    close(out[0]);
  } else {
    pumpChildIo(in[0], stdin_data, out[0], output);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!failure.empty()) return failed(failure);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace arca::net
