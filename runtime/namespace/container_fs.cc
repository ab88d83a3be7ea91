#include "runtime/namespace/container_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>

namespace arca::runtime {
namespace {

int openInRoot(int root_fd, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0; attempt < 8; ++attempt) {
    long fd = syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EAGAIN && errno != EINTR) return -1;  // EAGAIN: a racing rename, retry
  }
  return -1;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// strconv.Atoi: optional sign, decimal digits, nothing else.
std::optional<int64_t> atoi64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s.front() == '+' || s.front() == '-') {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return neg ? -v : v;
}

struct PasswdEntry {
  std::string name;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  int64_t gid = 0;
  std::vector<std::string> members;
};

// libcontainer's parsers: blank lines skipped, fields split on ':', numbers
// that do not parse read as 0.
std::vector<PasswdEntry> parsePasswd(const std::string& text) {
  std::vector<PasswdEntry> out;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto f = split(line, ':');
    PasswdEntry e;
    e.name = std::string(f[0]);
    if (f.size() > 2) e.uid = atoi64(f[2]).value_or(0);
    if (f.size() > 3) e.gid = atoi64(f[3]).value_or(0);
    if (f.size() > 5) e.home = std::string(f[5]);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<GroupEntry> parseGroup(const std::string& text) {
  std::vector<GroupEntry> out;
  for (std::string_view line : split(text, '\n')) {
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    auto f = split(line, ':');
    GroupEntry e;
    e.name = std::string(f[0]);
    if (f.size() > 2) e.gid = atoi64(f[2]).value_or(0);
    if (f.size() > 3 && !f[3].empty()) {
      for (auto m : split(f[3], ',')) e.members.emplace_back(m);
    }
    out.push_back(std::move(e));
  }
  return out;
}

constexpr int64_t kMaxId = 2147483647;

}  // namespace

StatusOr<RootDir> RootDir::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("open " + path + ": " + strerror(errno));
  return RootDir(fd);
}

RootDir& RootDir::operator=(RootDir&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

RootDir::~RootDir() {
  if (fd_ >= 0) close(fd_);
}

int RootDir::openAt(const std::string& path, int flags) const { return openInRoot(fd_, path, flags); }

std::optional<std::string> RootDir::readFile(const std::string& path) const {
  // O_PATH first: a device node in the root is never opened (side effects).
  int pfd = openInRoot(fd_, path, O_PATH);
  if (pfd < 0) return std::nullopt;
  struct stat st {};
  if (fstat(pfd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(pfd);
    return std::nullopt;
  }
  const std::string proc = "/proc/self/fd/" + std::to_string(pfd);
  int fd = ::open(proc.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  close(pfd);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (64u << 20)) break;  // no sane passwd file is this big
  }
  close(fd);
  return out;
}

StatusOr<std::string> lookPath(const RootDir& root, const std::string& file,
                               const std::string& path_env, const std::string& cwd) {
  std::vector<std::string_view> dirs;
  if (!path_env.empty()) dirs = split(path_env, ':');  // Go: no $PATH, no directories
  for (std::string_view dir : dirs) {
    std::string d = dir.empty() ? "." : std::string(dir);
    std::string candidate = d + "/" + file;
    std::string in_root = candidate.front() == '/' ? candidate : cwd + "/" + candidate;
    int fd = openInRoot(root.fd(), in_root, O_PATH);
    if (fd < 0) continue;
    struct stat st {};
    bool ok = fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) != 0;
    close(fd);
    if (ok) return candidate;
  }
  return InvalidArgument("exec: \"" + file + "\": executable file not found in $PATH");
}

StatusOr<ResolvedUser> resolveUser(std::string_view spec, const std::optional<std::string>& passwd,
                                   const std::optional<std::string>& group) {
  std::string_view user_arg = spec;
  std::string_view group_arg;
  if (size_t colon = spec.find(':'); colon != std::string_view::npos) {
    user_arg = spec.substr(0, colon);
    group_arg = spec.substr(colon + 1);
    if (size_t more = group_arg.find(':'); more != std::string_view::npos) {
      group_arg = group_arg.substr(0, more);
    }
  }
  std::optional<int64_t> uid_arg = atoi64(user_arg);

  ResolvedUser user;
  std::vector<PasswdEntry> users = passwd ? parsePasswd(*passwd) : std::vector<PasswdEntry>{};
  const PasswdEntry* match = nullptr;
  for (const auto& u : users) {
    bool hit = user_arg.empty() ? u.uid == 0 : uid_arg ? u.uid == *uid_arg : u.name == user_arg;
    if (hit) {
      match = &u;  // first match wins
      break;
    }
  }
  std::string matched_name;
  if (match) {
    if (match->uid < 0 || match->uid > kMaxId || match->gid < 0 || match->gid > kMaxId) {
      return InvalidArgument("uids and gids must be in range 0-2147483647");
    }
    user.uid = static_cast<uint32_t>(match->uid);
    user.gid = static_cast<uint32_t>(match->gid);
    if (!match->home.empty()) user.home = match->home;
    matched_name = match->name;
  } else if (!user_arg.empty()) {
    if (!uid_arg) {
      return Internal("unable to find user " + std::string(user_arg) +
                      ": no matching entries in passwd file");
    }
    if (*uid_arg < 0 || *uid_arg > kMaxId) {
      return InvalidArgument("uids and gids must be in range 0-2147483647");
    }
    user.uid = static_cast<uint32_t>(*uid_arg);
  }

  if (!group_arg.empty() || match) {
    std::vector<GroupEntry> groups = group ? parseGroup(*group) : std::vector<GroupEntry>{};
    std::optional<int64_t> gid_arg = atoi64(group_arg);
    if (!group_arg.empty()) {
      const GroupEntry* g = nullptr;
      for (const auto& e : groups) {
        if (gid_arg ? e.gid == *gid_arg : e.name == group_arg) {
          g = &e;
          break;
        }
      }
      int64_t gid;
      if (g) {
        gid = g->gid;
      } else if (gid_arg) {
        gid = *gid_arg;
      } else {
        return Internal("unable to find group " + std::string(group_arg) +
                        ": no matching entries in group file");
      }
      if (gid < 0 || gid > kMaxId) {
        return InvalidArgument("uids and gids must be in range 0-2147483647");
      }
      user.gid = static_cast<uint32_t>(gid);
    } else {
      // Supplementary groups only in the implicit form: every group listing the user.
      for (const auto& e : groups) {
        for (const auto& m : e.members) {
          if (m == matched_name && e.gid >= 0 && e.gid <= kMaxId) {
            user.additional_gids.push_back(static_cast<uint32_t>(e.gid));
            break;
          }
        }
      }
    }
  }
  return user;
}

StatusOr<std::vector<uint32_t>> resolveAdditionalGroups(const std::vector<std::string>& groups,
                                                        const std::optional<std::string>& group) {
  std::vector<GroupEntry> entries = group ? parseGroup(*group) : std::vector<GroupEntry>{};
  std::vector<uint32_t> out;
  for (const auto& g : groups) {
    std::optional<int64_t> num = atoi64(g);
    std::optional<int64_t> found;
    for (const auto& e : entries) {
      if (e.name == g || (num && e.gid == *num)) {
        found = e.gid;
        break;
      }
    }
    if (!found) {
      if (!num) {
        return InvalidArgument("Unable to find group " + g + ": no matching entries in group file");
      }
      found = num;
    }
    if (*found < 0 || *found > kMaxId) {
      return InvalidArgument("uids and gids must be in range 0-2147483647");
    }
    out.push_back(static_cast<uint32_t>(*found));
  }
  return out;
}


namespace {

std::string fsErrnoText(const std::string& what) { return what + ": " + strerror(errno); }

bool fdIsMountRoot(int dirfd, const char* name) {
  struct statx stx {};
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &stx) != 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
         (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

}  // namespace

bool isMountRoot(const std::string& path) { return fdIsMountRoot(AT_FDCWD, path.c_str()); }

Status removeTree(const std::string& path) {
  struct stat top {};
  if (lstat(path.c_str(), &top) != 0) {
    return errno == ENOENT ? Status::Ok() : Internal(fsErrnoText("stat " + path));
  }
  std::function<Status(int, const char*, const std::string&, bool)> rm =
      [&](int parent, const char* name, const std::string& shown, bool is_top) -> Status {
    struct stat st {};
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno == ENOENT ? Status::Ok() : Internal(fsErrnoText("stat " + shown));
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != top.st_dev || (!is_top && fdIsMountRoot(parent, name))) {
        return Internal("refusing to remove mount point " + shown);
      }
      int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Internal(fsErrnoText("open " + shown));
      DIR* dir = fdopendir(fd);
      if (!dir) {
        close(fd);
        return Internal(fsErrnoText("opendir " + shown));
      }
      Status result;
      std::vector<std::string> names;
      while (dirent* e = readdir(dir)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      }
      for (const auto& n : names) {
        result = rm(dirfd(dir), n.c_str(), shown + "/" + n, false);
        if (!result.ok()) break;
      }
      closedir(dir);
      if (!result.ok()) return result;
      if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        return Internal(fsErrnoText("rmdir " + shown));
      }
      return Status::Ok();
    }
    if (unlinkat(parent, name, 0) != 0 && errno != ENOENT) {
      return Internal(fsErrnoText("unlink " + shown));
    }
    return Status::Ok();
  };
  return rm(AT_FDCWD, path.c_str(), path, true);
}

}  // namespace arca::runtime
