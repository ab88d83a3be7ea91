#include "runtime/container_archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "runtime/image/archive_io.h"

namespace arca::runtime {
namespace {

using image::ArchiveWritePtr;
using image::FdGuard;

constexpr int kMaxSymlinks = 255;
constexpr char kWhiteoutPrefix[] = ".wh.";
constexpr char kWhiteoutOpaque[] = ".wh..wh..opq";
constexpr size_t kCopyBuf = 128 * 1024;

// Go's syscall error text: strerror with a lower-case first letter.
std::string goErrno(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string joinAbs(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

// Go's filepath.Clean for an absolute path.
std::string cleanAbs(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& c : components(path)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  return joinAbs(out);
}

bool isWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0;
}

bool isOpaque(int dir_fd) {
  char v[4];
  ssize_t n = fgetxattr(dir_fd, "trusted.overlay.opaque", v, sizeof v);
  return n == 1 && v[0] == 'y';
}

// Names in a directory (opened O_RDONLY), sorted bytewise like Go's Walk.
StatusOr<std::vector<std::string>> listDir(int dir_fd, const std::string& shown) {
  int dup = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Internal("readdir " + shown + ": " + goErrno(errno));
  DIR* d = fdopendir(dup);
  if (!d) {
    close(dup);
    return Internal("readdir " + shown + ": " + goErrno(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string childName(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return prefix.back() == '/' ? prefix + name : prefix + "/" + name;
}

// A tar writer over a WriteFn that adds trees given as O_PATH descriptors.
class TarTreeWriter {
 public:
  struct Options {
    bool overlay_whiteouts = false;  // commit: char 0/0 -> .wh.<name>, opaque -> .wh..wh..opq
  };

  TarTreeWriter(const image::WriteFn& out, Options o) : out_(out), opts_(o) {}

  Status open() {
    a_.reset(archive_write_new());
    if (!a_) return Internal("archive_write_new failed");
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);  // no padding after the end marker
    if (archive_write_open(a_.get(), this, nullptr, &TarTreeWriter::writeCb, nullptr) !=
        ARCHIVE_OK) {
      return Internal("tar writer: " + image::archiveError(a_.get()));
    }
    return Status::Ok();
  }

  // Adds the entry `fd` (O_PATH|O_NOFOLLOW) as `name`, and a directory's subtree.
  Status addTree(int fd, const std::string& name) {
    struct stat st;
    if (fstat(fd, &st) != 0) return Internal("stat " + name + ": " + goErrno(errno));
    if (S_ISSOCK(st.st_mode)) return Status::Ok();  // tar cannot hold sockets (Docker skips them)
    if (S_ISDIR(st.st_mode)) {
      int dir = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir < 0) return Internal("open " + name + ": " + goErrno(errno));
      FdGuard g(dir);
      if (!name.empty()) {
        ARCA_RETURN_IF_ERROR(writeHeader(st, name.back() == '/' ? name : name + "/", -1, ""));
        if (opts_.overlay_whiteouts && isOpaque(dir)) {
          struct stat wo = st;
          wo.st_mode = S_IFREG | (st.st_mode & 07777);
          wo.st_size = 0;
          ARCA_RETURN_IF_ERROR(writeHeader(wo, childName(name, kWhiteoutOpaque), -1, ""));
        }
      }
      return addChildren(dir, name);
    }
    return addLeaf(fd, st, name);
  }

  // Adds every child of the directory `dir` (opened O_RDONLY) under `prefix`.
  Status addChildren(int dir, const std::string& prefix) {
    ARCA_ASSIGN_OR_RETURN(auto names, listDir(dir, prefix.empty() ? "/" : prefix));
    for (const auto& n : names) {
      int child = openat(dir, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        if (errno == ENOENT) continue;  // removed meanwhile (a running container)
        return Internal("open " + childName(prefix, n) + ": " + goErrno(errno));
      }
      FdGuard g(child);
      ARCA_RETURN_IF_ERROR(addTree(child, childName(prefix, n)));
    }
    return Status::Ok();
  }

  Status finish() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK || gone_) return writeError();
    return Status::Ok();
  }

  int64_t entries() const { return entries_; }

 private:
  // A reader that went away is not reported to libarchive (a failed write
  // leaves its buffers behind on free): the bytes are dropped and the walk
  // stops at the next entry or data block (gone_).
  static la_ssize_t writeCb(archive*, void* self, const void* buf, size_t n) {
    auto* w = static_cast<TarTreeWriter*>(self);
    if (!w->gone_ && !w->out_(std::string_view(static_cast<const char*>(buf), n))) {
      w->gone_ = true;
    }
    return static_cast<la_ssize_t>(n);
  }

  Status writeError() {
    if (gone_) return Canceled("the reader went away");
    return Internal("writing tar: " + image::archiveError(a_.get()));
  }

  // One header; `data_fd` >= 0 streams a regular file's content.
  Status writeHeader(const struct stat& st, const std::string& name, int data_fd,
                     const std::string& link, const std::string& hardlink = "",
                     const std::string& capability = "") {
    if (gone_) return writeError();
    archive_entry* e = archive_entry_new();
    if (!e) return Internal("archive_entry_new failed");
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> guard(e, archive_entry_free);
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_mode(e, st.st_mode);
    archive_entry_set_uid(e, st.st_uid);
    archive_entry_set_gid(e, st.st_gid);
    archive_entry_set_mtime(e, st.st_mtime, 0);  // whole seconds, as Docker's tars
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) archive_entry_set_rdev(e, st.st_rdev);
    if (S_ISLNK(st.st_mode)) archive_entry_set_symlink(e, link.c_str());
    if (!capability.empty()) {
      archive_entry_xattr_add_entry(e, "security.capability", capability.data(),
                                    capability.size());
    }
    const bool has_data = !hardlink.empty() ? false : S_ISREG(st.st_mode);
    if (!hardlink.empty()) {
      archive_entry_set_hardlink(e, hardlink.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_size(e, has_data ? st.st_size : 0);
    }
    if (archive_write_header(a_.get(), e) != ARCHIVE_OK) return writeError();
    ++entries_;
    if (has_data && data_fd >= 0 && st.st_size > 0) {
      std::vector<char> buf(kCopyBuf);
      int64_t left = st.st_size;
      while (left > 0) {
        ssize_t n = read(data_fd, buf.data(), static_cast<size_t>(std::min<int64_t>(left, kCopyBuf)));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Internal("read " + name + ": " + goErrno(errno));
        if (n == 0) break;  // shrank meanwhile: libarchive pads the entry
        if (archive_write_data(a_.get(), buf.data(), static_cast<size_t>(n)) < 0 || gone_) {
          return writeError();
        }
        left -= n;
      }
    }
    if (archive_write_finish_entry(a_.get()) != ARCHIVE_OK) return writeError();
    return Status::Ok();
  }

  Status addLeaf(int fd, const struct stat& st, const std::string& name) {
    if (opts_.overlay_whiteouts && isWhiteout(st)) {
      size_t slash = name.rfind('/');
      std::string wname = slash == std::string::npos
                              ? kWhiteoutPrefix + name
                              : name.substr(0, slash + 1) + kWhiteoutPrefix + name.substr(slash + 1);
      struct stat wo = st;
      wo.st_mode = S_IFREG | 0600;
      wo.st_size = 0;
      return writeHeader(wo, wname, -1, "");
    }
    if (S_ISLNK(st.st_mode)) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = readlinkat(fd, "", target.data(), target.size());
      if (n < 0) return Internal("readlink " + name + ": " + goErrno(errno));
      target.resize(static_cast<size_t>(n));
      return writeHeader(st, name, -1, target);
    }
    if (!S_ISREG(st.st_mode)) return writeHeader(st, name, -1, "");
    if (st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) return writeHeader(st, name, -1, "", it->second);
      links_[key] = name;
    }
    // Reopen the O_PATH descriptor for reading: the same file, no path walk.
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    int data = ::open(proc.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (data < 0) return Internal("open " + name + ": " + goErrno(errno));
    FdGuard g(data);
    std::string cap(64, '\0');
    ssize_t cn = fgetxattr(data, "security.capability", cap.data(), cap.size());
    cap.resize(cn > 0 ? static_cast<size_t>(cn) : 0);
    return writeHeader(st, name, data, "", "", cap);
  }

  const image::WriteFn& out_;
  Options opts_;
  ArchiveWritePtr a_;
  bool gone_ = false;
  int64_t entries_ = 0;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

// lstat(2) of `abs` inside the root: an O_PATH descriptor of it (the caller
// closes it) and its stat. NotFound / Internal with Go's "lstat" texts.
StatusOr<int> lstatInRoot(const RootDir& root, const std::string& abs, struct stat* st) {
  int fd = root.openAt(abs, O_PATH | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("lstat " + abs + ": no such file or directory");
    return Internal("lstat " + abs + ": " + goErrno(errno));
  }
  if (fstat(fd, st) != 0) {
    int err = errno;
    close(fd);
    return Internal("lstat " + abs + ": " + goErrno(err));
  }
  return fd;
}

// lstat of `rel` in the layer directory `layer_fd` without following any
// symlink (a lower layer's symlink must not lead the walk onto the host).
bool lstatBeneath(int layer_fd, const std::string& rel, struct stat* st) {
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = syscall(SYS_openat2, layer_fd, rel.c_str(), &how, sizeof how);
  if (fd < 0) return false;
  bool ok = fstat(static_cast<int>(fd), st) == 0;
  close(static_cast<int>(fd));
  return ok;
}

// Go's sameFsTime: equal, or equal seconds when either lacks nanoseconds.
bool sameFsTime(const struct timespec& a, const struct timespec& b) {
  if (a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec) return true;
  return a.tv_sec == b.tv_sec && (a.tv_nsec == 0 || b.tv_nsec == 0);
}

struct ChangeWalk {
  std::vector<int> lower_fds;
  std::set<std::string> changed_dirs;
  std::vector<Change> out;

  Status walk(int dir, const std::string& path) {  // path: container path of `dir` ("" = root)
    ARCA_ASSIGN_OR_RETURN(auto names, listDir(dir, path.empty() ? "/" : path));
    for (const auto& n : names) {
      const std::string p = path + "/" + n;
      struct stat st;
      if (fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return Internal("lstat " + p + ": " + goErrno(errno));
      }
      int child = -1;
      if (S_ISDIR(st.st_mode)) {
        child = openat(dir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) return Internal("open " + p + ": " + goErrno(errno));
      }
      FdGuard g(child);
      ARCA_RETURN_IF_ERROR(visit(p, st, child));
      if (child >= 0) ARCA_RETURN_IF_ERROR(walk(child, p));
    }
    return Status::Ok();
  }

  Status visit(const std::string& p, const struct stat& st, int dir_fd) {
    Change c{p, Change::kAdded};
    if (isWhiteout(st) || (dir_fd >= 0 && isOpaque(dir_fd))) {
      c.kind = Change::kDeleted;
    } else {
      for (int l : lower_fds) {
        struct stat ls;
        if (!lstatBeneath(l, p.substr(1), &ls)) continue;
        if (S_ISDIR(ls.st_mode) && S_ISDIR(st.st_mode) && ls.st_size == st.st_size &&
            goFileMode(ls.st_mode) == goFileMode(st.st_mode) && sameFsTime(ls.st_mtim, st.st_mtim)) {
          return Status::Ok();  // an unchanged directory: only a parent of changes
        }
        c.kind = Change::kModified;
        break;
      }
    }
    if (S_ISDIR(st.st_mode)) changed_dirs.insert(p);
    if (c.kind == Change::kAdded || c.kind == Change::kDeleted) {
      std::string parent = p.substr(0, p.rfind('/'));
      if (!parent.empty() && changed_dirs.insert(parent).second) {
        out.push_back({parent, Change::kModified});
      }
    }
    out.push_back(std::move(c));
    return Status::Ok();
  }
};

}  // namespace

uint32_t goFileMode(uint32_t m) {
  uint32_t out = m & 0777;
  switch (m & S_IFMT) {
    case S_IFDIR: out |= 1u << 31; break;
    case S_IFLNK: out |= 1u << 27; break;
    case S_IFBLK: out |= 1u << 26; break;
    case S_IFCHR: out |= (1u << 26) | (1u << 21); break;
    case S_IFIFO: out |= 1u << 25; break;
    case S_IFSOCK: out |= 1u << 24; break;
    default: break;
  }
  if (m & S_ISUID) out |= 1u << 23;
  if (m & S_ISGID) out |= 1u << 22;
  if (m & S_ISVTX) out |= 1u << 20;
  return out;
}

std::string containerAbsPath(const std::string& path) {
  std::string clean = cleanAbs("/" + path);
  const bool dot = path == "." || (path.size() >= 2 && path.compare(path.size() - 2, 2, "/.") == 0);
  const bool sep = !path.empty() && path.back() == '/';
  if (dot && clean.back() != '.') return clean == "/" ? "/." : clean + "/.";
  if (sep && clean.back() != '/') return clean + "/";
  return clean;
}

std::string pathBase(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty()) return ".";
  if (p == "/") return "/";
  return p.substr(p.rfind('/') + 1);
}

StatusOr<std::string> followSymlinkInScope(const RootDir& root, const std::string& path) {
  std::vector<std::string> resolved;
  std::deque<std::string> todo;
  for (auto& c : components(path)) todo.push_back(std::move(c));
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c == ".") continue;
    if (c == "..") {
      if (!resolved.empty()) resolved.pop_back();
      continue;
    }
    resolved.push_back(c);
    const std::string cand = joinAbs(resolved);
    int fd = root.openAt(cand, O_PATH | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // kept as written, like moby
      return Internal("lstat " + cand + ": " + goErrno(errno));
    }
    FdGuard g(fd);
    struct stat st;
    if (fstat(fd, &st) != 0) return Internal("lstat " + cand + ": " + goErrno(errno));
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > kMaxSymlinks) {
      return InvalidArgument("evalSymlinksInScope: too many links in " + path);
    }
    std::string target(PATH_MAX, '\0');
    ssize_t n = readlinkat(fd, "", target.data(), target.size());
    if (n < 0) return Internal("readlink " + cand + ": " + goErrno(errno));
    target.resize(static_cast<size_t>(n));
    resolved.pop_back();
    if (!target.empty() && target[0] == '/') resolved.clear();
    auto parts = components(target);
    todo.insert(todo.begin(), parts.begin(), parts.end());
  }
  return joinAbs(resolved);
}

StatusOr<PathStat> statPath(const RootDir& root, const std::string& abs) {
  struct stat st;
  ARCA_ASSIGN_OR_RETURN(int fd, lstatInRoot(root, abs, &st));
  FdGuard g(fd);
  PathStat out;
  out.name = pathBase(abs);
  out.size = st.st_size;
  out.mode = goFileMode(st.st_mode);
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (S_ISLNK(st.st_mode)) {
    ARCA_ASSIGN_OR_RETURN(out.link_target, followSymlinkInScope(root, abs));
  }
  return out;
}

Status archivePath(const RootDir& root, const std::string& abs, const image::WriteFn& out) {
  struct stat st;
  ARCA_ASSIGN_OR_RETURN(int fd, lstatInRoot(root, abs, &st));
  FdGuard g(fd);
  TarTreeWriter w(out, {});
  ARCA_RETURN_IF_ERROR(w.open());
  ARCA_RETURN_IF_ERROR(w.addTree(fd, pathBase(abs)));
  return w.finish();
}

Status exportRoot(const RootDir& root, const image::WriteFn& out) {
  int dir = openat(root.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Internal("open root: " + goErrno(errno));
  FdGuard g(dir);
  TarTreeWriter w(out, {});
  ARCA_RETURN_IF_ERROR(w.open());
  ARCA_RETURN_IF_ERROR(w.addChildren(dir, ""));
  return w.finish();
}

StatusOr<std::string> resolveExtractDir(const RootDir& root, const std::string& path) {
  ARCA_ASSIGN_OR_RETURN(std::string resolved, followSymlinkInScope(root, containerAbsPath(path)));
  struct stat st;
  ARCA_ASSIGN_OR_RETURN(int fd, lstatInRoot(root, resolved, &st));
  FdGuard g(fd);
  if (!S_ISDIR(st.st_mode)) return InvalidArgument("extraction point is not a directory");
  return resolved;
}

bool lstatInLayers(const std::vector<std::string>& layers, const std::string& rel,
                   struct stat* st) {
  for (const auto& l : layers) {
    int fd = ::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    FdGuard g(fd);
    if (lstatBeneath(fd, rel, st)) return !isWhiteout(*st);
  }
  return false;
}

Status runInRoot(const std::string& rootfs, const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] {
    // CLONE_FS: this thread's root and cwd only; the rest of arcad is untouched.
    if (unshare(CLONE_FS) != 0) {
      result = Internal("unshare(CLONE_FS): " + goErrno(errno));
      return;
    }
    if (chroot(rootfs.c_str()) != 0 || chdir("/") != 0) {
      result = Internal("chroot " + rootfs + ": " + goErrno(errno));
      return;
    }
    result = fn();
  });
  t.join();
  return result;
}

StatusOr<std::vector<Change>> layerChanges(const std::string& upper,
                                           const std::vector<std::string>& lowers) {
  ChangeWalk walk;
  std::vector<std::unique_ptr<FdGuard>> guards;
  for (const auto& l : lowers) {
    int fd = ::open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Internal("open layer " + l + ": " + goErrno(errno));
    guards.push_back(std::make_unique<FdGuard>(fd));
    walk.lower_fds.push_back(fd);
  }
  int dir = ::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    if (errno == ENOENT) return std::vector<Change>{};  // never started: no writable layer yet
    return Internal("open " + upper + ": " + goErrno(errno));
  }
  FdGuard g(dir);
  ARCA_RETURN_IF_ERROR(walk.walk(dir, ""));
  return std::move(walk.out);
}

Status layerDiffTar(const std::string& upper, const image::WriteFn& out, int64_t* entries) {
  TarTreeWriter w(out, {.overlay_whiteouts = true});
  ARCA_RETURN_IF_ERROR(w.open());
  int dir = ::open(upper.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    FdGuard g(dir);
    ARCA_RETURN_IF_ERROR(w.addChildren(dir, ""));
  } else if (errno != ENOENT) {
    return Internal("open " + upper + ": " + goErrno(errno));
  }
  ARCA_RETURN_IF_ERROR(w.finish());
  if (entries) *entries = w.entries();
  return Status::Ok();
}

}  // namespace arca::runtime
