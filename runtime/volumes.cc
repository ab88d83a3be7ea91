#include "runtime/volumes.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "runtime/namespace/container_fs.h"

namespace arca::runtime {
namespace fs = std::filesystem;

namespace {

std::string errnoText(const std::string& what) { return what + ": " + strerror(errno); }

struct MountArgs {
  unsigned long flags = 0;
  std::string data;
};

// The local driver's `o` option: mount flags and the file system's data.
MountArgs parseMountOptions(const std::string& o) {
  static const std::map<std::string, std::pair<bool, unsigned long>> kFlags = {
      {"ro", {false, MS_RDONLY}},        {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},    {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},    {"exec", {true, MS_NOEXEC}},
      {"sync", {false, MS_SYNCHRONOUS}}, {"async", {true, MS_SYNCHRONOUS}},
      {"noatime", {false, MS_NOATIME}},  {"atime", {true, MS_NOATIME}},
      {"nodiratime", {false, MS_NODIRATIME}}, {"relatime", {false, MS_RELATIME}},
      {"strictatime", {false, MS_STRICTATIME}}, {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}}};
  MountArgs a;
  size_t i = 0;
  while (i <= o.size() && !o.empty()) {
    size_t comma = o.find(',', i);
    std::string opt = o.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
    auto f = kFlags.find(opt);
    if (f != kFlags.end()) {
      if (f->second.first) {
        a.flags &= ~f->second.second;
      } else {
        a.flags |= f->second.second;
      }
    } else if (!opt.empty()) {
      a.data += (a.data.empty() ? "" : ",") + opt;
    }
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  return a;
}

Status copyTree(int src, int dst, int depth, std::vector<char>& buf);

Status copyEntry(int src_dir, int dst_dir, const char* name, int depth, std::vector<char>& buf) {
  struct stat st {};
  if (fstatat(src_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return Internal(errnoText(std::string("stat ") + name));
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(dst_dir, name, 0700) != 0) return Internal(errnoText(std::string("mkdir ") + name));
    int s = openat(src_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int d = openat(dst_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    Status r =
        (s < 0 || d < 0) ? Internal(errnoText(std::string("open ") + name)) : copyTree(s, d, depth + 1, buf);
    if (r.ok() && (fchown(d, st.st_uid, st.st_gid) != 0 || fchmod(d, st.st_mode & 07777) != 0 ||
                   futimens(d, times) != 0)) {
      r = Internal(errnoText(std::string("chown ") + name));
    }
    if (s >= 0) close(s);
    if (d >= 0) close(d);
    return r;
  }
  if (S_ISREG(st.st_mode)) {
    int s = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (s < 0) return Internal(errnoText(std::string("open ") + name));
    int d = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d < 0) {
      close(s);
      return Internal(errnoText(std::string("create ") + name));
    }
    Status r;
    off_t left = st.st_size;
    while (left > 0) {
      ssize_t n = copy_file_range(s, nullptr, d, nullptr, static_cast<size_t>(left), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // not supported across these file systems: read and write
        ssize_t got = read(s, buf.data(), buf.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
          r = Internal(errnoText(std::string("read ") + name));
          break;
        }
        if (got == 0) break;  // the file shrank meanwhile
        for (ssize_t off = 0; off < got;) {
          ssize_t w = write(d, buf.data() + off, static_cast<size_t>(got - off));
          if (w < 0 && errno == EINTR) continue;
          if (w <= 0) {
            r = Internal(errnoText(std::string("write ") + name));
            break;
          }
          off += w;
        }
        if (!r.ok()) break;
        left -= got;
        continue;
      }
      left -= n;
    }
    if (r.ok() && (fchown(d, st.st_uid, st.st_gid) != 0 || fchmod(d, st.st_mode & 07777) != 0 ||
                   futimens(d, times) != 0)) {
      r = Internal(errnoText(std::string("chown ") + name));
    }
    close(s);
    close(d);
    return r;
  }
  if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(static_cast<size_t>(st.st_size) + 1 > 4096 ? st.st_size + 1 : 4096);
    ssize_t n = readlinkat(src_dir, name, target.data(), target.size() - 1);
    if (n < 0) return Internal(errnoText(std::string("readlink ") + name));
    target[static_cast<size_t>(n)] = 0;
    if (symlinkat(target.data(), dst_dir, name) != 0 ||
        fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return Internal(errnoText(std::string("symlink ") + name));
    }
    utimensat(dst_dir, name, times, AT_SYMLINK_NOFOLLOW);
    return Status::Ok();
  }
  // Devices, fifos, sockets: the node itself.
  // Never following a symlink: the volume may be in use meanwhile.
  if (mknodat(dst_dir, name, st.st_mode, st.st_rdev) != 0 ||
      fchownat(dst_dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 ||
      fchmodat(dst_dir, name, st.st_mode & 07777, AT_SYMLINK_NOFOLLOW) != 0) {
    return Internal(errnoText(std::string("mknod ") + name));
  }
  utimensat(dst_dir, name, times, AT_SYMLINK_NOFOLLOW);
  return Status::Ok();
}

Status copyTree(int src, int dst, int depth, std::vector<char>& buf) {
  if (depth > 128) return Internal("copy-up: directory tree too deep (more than 128 levels)");
  int dup_fd = dup(src);
  if (dup_fd < 0) return Internal(errnoText("dup"));
  DIR* dir = fdopendir(dup_fd);
  if (!dir) {
    close(dup_fd);
    return Internal(errnoText("opendir"));
  }
  Status r;
  while (dirent* e = readdir(dir)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    r = copyEntry(src, dst, e->d_name, depth, buf);
    if (!r.ok()) break;
  }
  closedir(dir);
  return r;
}

bool emptyDir(int fd) {
  int dup_fd = dup(fd);
  if (dup_fd < 0) return false;
  DIR* dir = fdopendir(dup_fd);
  if (!dir) {
    close(dup_fd);
    return false;
  }
  bool empty = true;
  while (dirent* e = readdir(dir)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(dir);
  return empty;
}

}  // namespace

LocalVolumes::LocalVolumes(std::string root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  auto canonical = fs::canonical(root_, ec);
  if (!ec) root_ = canonical.string();
  for (auto it = fs::directory_iterator(root_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().rfind(".trash-", 0) != 0) continue;
    Status st = removeTree(it->path().string());  // an interrupted removal
    (void)st;
  }
}

std::string LocalVolumes::dataPath(const std::string& name) const {
  return root_ + "/" + name + "/_data";
}

namespace {

// <root>/<name>/generation: which volume of that name the directory belongs to.
std::optional<int64_t> readGeneration(const std::string& dir) {
  std::ifstream in(dir + "/generation");
  int64_t g = 0;
  if (!(in >> g)) return std::nullopt;
  return g;
}

}  // namespace

Status LocalVolumes::createLocked(const std::string& name, int64_t generation) {
  const std::string dir = root_ + "/" + name;
  auto have = readGeneration(dir);
  if (have && *have != generation) ARCA_RETURN_IF_ERROR(trashLocked(name));  // an older one's
  std::error_code ec;
  fs::create_directories(dataPath(name), ec);
  if (ec) return Internal("create volume " + name + ": " + ec.message());
  if (!have || *have != generation) {
    std::ofstream out(dir + "/generation", std::ios::trunc);
    out << generation << "\n";
    if (!out.flush()) return Internal("create volume " + name + ": cannot write its generation");
  }
  return Status::Ok();
}

Status LocalVolumes::create(const std::string& name, int64_t generation) {
  std::lock_guard<std::mutex> l(mu_);
  return createLocked(name, generation);
}

Status LocalVolumes::acquire(const std::string& name, int64_t generation,
                             const std::map<std::string, std::string>& options,
                             const std::string& user) {
  std::lock_guard<std::mutex> l(mu_);
  ARCA_RETURN_IF_ERROR(createLocked(name, generation));
  auto type = options.find("type");
  if (type == options.end() || type->second.empty()) return Status::Ok();
  ARCA_RETURN_IF_ERROR(mountLocked(name, options));
  users_[name].insert(user);
  return Status::Ok();
}

void LocalVolumes::release(const std::string& name, const std::string& user) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = users_.find(name);
  if (it == users_.end()) return;
  it->second.erase(user);
  if (!it->second.empty()) return;
  users_.erase(it);
  Status st = unmountLocked(name);
  (void)st;
}

Status LocalVolumes::mountLocked(const std::string& name,
                                 const std::map<std::string, std::string>& options) {
  const std::string path = dataPath(name);
  if (isMountRoot(path)) return Status::Ok();
  auto type = options.find("type");
  auto device = options.find("device");
  auto o = options.find("o");
  MountArgs a = parseMountOptions(o == options.end() ? "" : o->second);
  std::string dev = device == options.end() ? type->second : device->second;
  const char* fstype = (a.flags & MS_BIND) ? nullptr : type->second.c_str();
  if (::mount(dev.c_str(), path.c_str(), fstype, a.flags & ~MS_RDONLY,
              a.data.empty() ? nullptr : a.data.c_str()) != 0) {
    return Internal("error while mounting volume '" + path + "': failed to mount local volume: mount " +
                    dev + ":" + path + ", flags: " + std::to_string(a.flags) +
                    (a.data.empty() ? "" : ", data: " + a.data) + ": " + strerror(errno));
  }
  if ((a.flags & MS_RDONLY) &&
      ::mount("", path.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
    umount2(path.c_str(), MNT_DETACH);
    return Internal(errnoText("remount " + path + " read-only"));
  }
  return Status::Ok();
}

Status LocalVolumes::unmountLocked(const std::string& name) {
  const std::string path = dataPath(name);
  for (int i = 0; i < 8 && isMountRoot(path); ++i) {  // stacked mounts too
    if (umount2(path.c_str(), MNT_DETACH) != 0) return Internal(errnoText("unmount " + path));
  }
  return Status::Ok();
}

Status LocalVolumes::trashLocked(const std::string& name) {
  users_.erase(name);
  ARCA_RETURN_IF_ERROR(unmountLocked(name));
  const std::string dir = root_ + "/" + name;
  const std::string trash = root_ + "/.trash-" + name + "-" + std::to_string(getpid()) + "-" +
                            std::to_string(++trash_seq_);
  if (rename(dir.c_str(), trash.c_str()) != 0) {
    return errno == ENOENT ? Status::Ok() : Internal(errnoText("rename " + dir));
  }
  return removeTree(trash);
}

Status LocalVolumes::remove(const std::string& name, int64_t generation) {
  std::lock_guard<std::mutex> l(mu_);
  auto have = readGeneration(root_ + "/" + name);
  if (have && *have != generation) return Status::Ok();  // a newer volume's directory
  return trashLocked(name);
}

int64_t LocalVolumes::size(const std::string& name) const {
  std::error_code ec;
  int64_t total = 0;
  for (auto it = fs::recursive_directory_iterator(dataPath(name), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code fe;
    if (it->is_regular_file(fe) && !it->is_symlink(fe)) {
      struct stat st {};
      if (lstat(it->path().c_str(), &st) == 0) total += st.st_size;
    }
  }
  return ec ? -1 : total;
}

Status copyUpIfEmpty(const std::string& rootfs, const std::string& path, const std::string& dest) {
  int d = open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d < 0) return Internal(errnoText("open " + dest));
  if (!emptyDir(d)) {
    close(d);
    return Status::Ok();
  }
  auto root = RootDir::open(rootfs);
  if (!root.ok()) {
    close(d);
    return root.status();
  }
  int s = root->openAt(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s < 0) {
    close(d);
    return Status::Ok();  // nothing (or no directory) there in the image
  }
  std::vector<char> buf(1 << 16);
  Status r = copyTree(s, d, 0, buf);
  struct stat st {};
  if (r.ok() && fstat(s, &st) == 0 &&
      (fchown(d, st.st_uid, st.st_gid) != 0 || fchmod(d, st.st_mode & 07777) != 0)) {
    r = Internal(errnoText("chown " + dest));
  }
  close(s);
  close(d);
  if (!r.ok()) return Internal("copy-up of " + path + " into the volume: " + r.message());
  return r;
}

std::vector<SandboxMount> sandboxMounts(const v1::State& s, const v1::Container& c,
                                        const LocalVolumes& volumes) {
  (void)s;
  std::vector<SandboxMount> out;
  for (const auto& m : c.host_config().mounts()) {
    SandboxMount sm;
    sm.destination = m.destination();
    sm.readonly = m.read_only();
    if (m.type() == "tmpfs") {
      sm.kind = SandboxMount::Kind::kTmpfs;
      if (m.tmpfs_size() > 0) sm.tmpfs_options.push_back("size=" + std::to_string(m.tmpfs_size()));
      char mode[16];
      snprintf(mode, sizeof mode, "mode=%o", m.tmpfs_mode() ? m.tmpfs_mode() : 01777);
      sm.tmpfs_options.push_back(mode);
      for (const auto& o : m.tmpfs_options()) sm.tmpfs_options.push_back(o);
    } else if (m.type() == "volume") {
      sm.source = volumes.dataPath(m.source());
      sm.volume = m.source();
    } else {
      sm.source = m.source();
      sm.propagation = m.propagation();
      sm.recursive = !m.non_recursive();
      sm.readonly_recursive = !m.readonly_non_recursive();
    }
    out.push_back(std::move(sm));
  }
  return out;
}

Status prepareMounts(const v1::State& s, const v1::Container& c, LocalVolumes& volumes) {
  for (const auto& m : c.host_config().mounts()) {
    if (m.type() == "volume") {
      auto v = s.volumes().find(m.source());
      std::map<std::string, std::string> options;
      if (v != s.volumes().end()) options.insert(v->second.options().begin(), v->second.options().end());
      ARCA_RETURN_IF_ERROR(volumes.acquire(m.source(), v == s.volumes().end() ? 0 : v->second.created_ns(),
                                           options, c.id()));
    } else if (m.type() == "bind") {
      struct stat st {};
      if (stat(m.source().c_str(), &st) == 0) continue;
      if (!m.create_source()) {
        return InvalidArgument("invalid mount config for type \"bind\": bind source path does not exist: " +
                               m.source());
      }
      std::error_code ec;
      fs::create_directories(m.source(), ec);
      if (ec) {
        return Internal("error while creating mount source path '" + m.source() + "': mkdir " +
                        m.source() + ": " + ec.message());
      }
    }
  }
  return Status::Ok();
}

void releaseMounts(const v1::Container& c, LocalVolumes& volumes) {
  for (const auto& m : c.host_config().mounts()) {
    if (m.type() == "volume") volumes.release(m.source(), c.id());
  }
}

Status populateVolumes(SandboxDriver& driver, const v1::State& s, const v1::Container& c,
                       const std::vector<std::string>& lower_dirs, LocalVolumes& volumes) {
  std::vector<const v1::MountPoint*> todo;
  for (const auto& m : c.host_config().mounts()) {
    if (m.type() == "volume" && !m.no_copy()) todo.push_back(&m);
  }
  if (todo.empty()) return Status::Ok();
  const std::string holder = "copy-up:" + c.id();
  Status st = driver.withRootfs(c.id(), lower_dirs, [&](const std::string& rootfs) {
    for (const auto* m : todo) {
      std::map<std::string, std::string> options;
      auto v = s.volumes().find(m->source());
      if (v != s.volumes().end()) options.insert(v->second.options().begin(), v->second.options().end());
      ARCA_RETURN_IF_ERROR(volumes.acquire(m->source(), v == s.volumes().end() ? 0 : v->second.created_ns(),
                                           options, holder));
      ARCA_RETURN_IF_ERROR(copyUpIfEmpty(rootfs, m->destination(), volumes.dataPath(m->source())));
    }
    return Status::Ok();
  });
  for (const auto* m : todo) volumes.release(m->source(), holder);
  return st;
}

}  // namespace arca::runtime
