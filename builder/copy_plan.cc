// COPY/ADD planning and execution (see copy_plan.h).
//
// Reading the context: every named source is opened with
// openat2(RESOLVE_IN_ROOT) below a descriptor of the context root; walks
// (wildcards, directory hashes and copies) go descriptor by descriptor with
// O_NOFOLLOW, so no symlink of the context is ever followed out of it.
// Writing: the destination is resolved inside the destination root by hand
// (symlinks followed, confined to the root, like dockerd's
// FollowSymlinkInScope); directories are then opened with
// RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS and every entry is created relative
// to its parent's descriptor, never through a symlink.
#include "builder/copy_plan.h"

#include <archive.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "builder/dockerignore.h"
#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"

namespace arca::builder {
namespace {

constexpr std::string_view kUnnamedFilename = "__unnamed__";
constexpr char kCapabilityXattr[] = "security.capability";

// One owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string errnoText(int err) { return std::strerror(err); }

// openat2 below `root_fd`; -1 with errno on failure.
int openat2In(int root_fd, const std::string& rel, int flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  const std::string p = rel.empty() ? "." : rel;
  long r;
  do {
    r = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof(how));
  } while (r < 0 && (errno == EAGAIN || errno == EINTR));
  return static_cast<int>(r);
}

// `rel` inside the root, symlinks followed but confined to it.
Fd openInRoot(int root_fd, const std::string& rel, int flags) {
  return Fd(openat2In(root_fd, rel, flags, RESOLVE_IN_ROOT));
}

// `rel` inside the root for reading, never opening a device node (a
// watchdog or tty in a context or an image has side effects on open): an
// O_PATH descriptor first, reopened for reading only when it is a regular
// file or a directory; anything else stays an O_PATH descriptor (fstat works).
Fd openReadInRoot(int root_fd, const std::string& rel) {
  Fd path = openInRoot(root_fd, rel, O_PATH);
  if (!path.ok()) return path;
  struct stat st;
  if (::fstat(path.get(), &st) != 0) return Fd();
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return path;
  const std::string proc = "/proc/self/fd/" + std::to_string(path.get());
  int fd = ::open(proc.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && (errno == EACCES)) return path;
  return Fd(fd);
}

// `rel` inside the root with no symlink anywhere on the way.
Fd openNoLinks(int root_fd, const std::string& rel, int flags) {
  return Fd(openat2In(root_fd, rel, flags, RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS));
}

Fd openDirPath(const std::string& path) {
  return Fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

// Go's path.Base for '/'-separated paths ("a/b/" -> "b", "" -> ".", "/" -> "/").
std::string baseName(std::string_view p) {
  if (p.empty()) return ".";
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  if (p == "/") return "/";
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

std::pair<std::string, std::string> splitRel(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

std::string joinRel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + "/" + b;
}

// The names in a directory (not "." or ".."), sorted bytewise like Go's Walk.
StatusOr<std::vector<std::string>> listDir(int dir_fd, const std::string& shown) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("open " + shown + ": " + errnoText(errno));
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    return Internal("open " + shown + ": " + errnoText(err));
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return Internal("readdir " + shown + ": " + errnoText(err));
  std::sort(names.begin(), names.end());
  return names;
}

// ---- Go's filepath.Match -------------------------------------------------

// Decodes one UTF-8 rune at s[i] (invalid bytes count as one rune U+FFFD).
int32_t nextRune(std::string_view s, size_t* i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || *i + len > s.size()) {
    ++*i;
    return len == 1 ? c : 0xFFFD;
  }
  int32_t r = len == 1 ? c : c & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[*i + k]);
    if ((cc & 0xc0) != 0x80) {
      ++*i;
      return 0xFFFD;
    }
    r = (r << 6) | (cc & 0x3f);
  }
  *i += len;
  return r;
}

// One side of a class range: a rune, possibly `\`-escaped. False when the
// class is malformed there.
bool classRune(std::string_view chunk, size_t* i, int32_t* r) {
  if (*i >= chunk.size() || chunk[*i] == '-' || chunk[*i] == ']') return false;
  if (chunk[*i] == '\\') {
    ++*i;
    if (*i >= chunk.size()) return false;
  }
  *r = nextRune(chunk, i);
  return *i < chunk.size();  // a class must still be closed
}

// Matches `chunk` (no unescaped '*') at the start of `s`. Sets *rest to what
// is left of `s` and returns whether it matched; *bad on a malformed chunk
// (checked to the end even after a mismatch).
bool matchChunk(std::string_view chunk, std::string_view s, std::string_view* rest, bool* bad) {
  bool failed = false;
  size_t ci = 0;
  size_t si = 0;
  while (ci < chunk.size()) {
    if (!failed && si >= s.size()) failed = true;
    char c = chunk[ci];
    if (c == '[') {
      int32_t r = 0;
      if (!failed) r = nextRune(s, &si);
      ++ci;
      bool negated = ci < chunk.size() && chunk[ci] == '^';
      if (negated) ++ci;
      bool matched = false;
      int ranges = 0;
      while (true) {
        if (ci < chunk.size() && chunk[ci] == ']' && ranges > 0) {
          ++ci;
          break;
        }
        int32_t lo = 0;
        if (!classRune(chunk, &ci, &lo)) {
          *bad = true;
          return false;
        }
        int32_t hi = lo;
        if (chunk[ci] == '-') {
          ++ci;
          if (!classRune(chunk, &ci, &hi)) {
            *bad = true;
            return false;
          }
        }
        if (lo <= r && r <= hi) matched = true;
        ++ranges;
      }
      if (matched == negated) failed = true;
    } else if (c == '?') {
      if (!failed) {
        if (s[si] == '/') failed = true;
        nextRune(s, &si);
      }
      ++ci;
    } else {
      if (c == '\\') {
        ++ci;
        if (ci >= chunk.size()) {
          *bad = true;
          return false;
        }
      }
      if (!failed) {
        if (chunk[ci] != s[si]) failed = true;
        ++si;
      }
      ++ci;
    }
  }
  if (failed) return false;
  *rest = s.substr(si);
  return true;
}

// Splits the leading stars and the next chunk off `*pattern`.
std::string_view scanChunk(std::string_view* pattern, bool* star) {
  *star = false;
  while (!pattern->empty() && pattern->front() == '*') {
    pattern->remove_prefix(1);
    *star = true;
  }
  bool in_class = false;
  size_t i = 0;
  for (; i < pattern->size(); ++i) {
    char c = (*pattern)[i];
    if (c == '\\') {
      if (i + 1 < pattern->size()) ++i;
    } else if (c == '[') {
      in_class = true;
    } else if (c == ']') {
      in_class = false;
    } else if (c == '*' && !in_class) {
      break;
    }
  }
  std::string_view chunk = pattern->substr(0, i);
  pattern->remove_prefix(i);
  return chunk;
}

Status badPattern() { return InvalidArgument("syntax error in pattern"); }

// ---- hashing --------------------------------------------------------------

void hashField(image::Sha256& h, std::string_view v) {
  uint64_t n = v.size();
  h.update(&n, sizeof(n));
  h.update(v.data(), v.size());
}

void hashNumber(image::Sha256& h, uint64_t v) { h.update(&v, sizeof(v)); }

Status hashContent(image::Sha256& h, int fd, const std::string& shown) {
  std::vector<char> buf(1 << 16);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("read " + shown + ": " + errnoText(errno));
    if (n == 0) return Status::Ok();
    h.update(buf.data(), static_cast<size_t>(n));
  }
}

char typeChar(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  return 's';
}

// Feeds one entry below a directory (not following it): its relative name,
// type, mode, size, contents or link target; directories recurse.
Status hashEntry(image::Sha256& h, int dir_fd, const std::string& name, const std::string& rel) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Internal("lstat " + rel + ": " + errnoText(errno));
  }
  if (S_ISSOCK(st.st_mode)) return Status::Ok();  // never copied
  hashField(h, rel);
  hashNumber(h, static_cast<uint64_t>(typeChar(st.st_mode)));
  hashNumber(h, st.st_mode & 07777);
  if (S_ISREG(st.st_mode)) {
    hashNumber(h, static_cast<uint64_t>(st.st_size));
    Fd f(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f.ok()) return Internal("open " + rel + ": " + errnoText(errno));
    return hashContent(h, f.get(), rel);
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
    if (n < 0) return Internal("readlink " + rel + ": " + errnoText(errno));
    target.resize(static_cast<size_t>(n));
    hashField(h, target);
    return Status::Ok();
  }
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    hashNumber(h, st.st_rdev);
    return Status::Ok();
  }
  if (!S_ISDIR(st.st_mode)) return Status::Ok();
  Fd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub.ok()) return Internal("open " + rel + ": " + errnoText(errno));
  ARCA_ASSIGN_OR_RETURN(auto names, listDir(sub.get(), rel));
  for (const auto& n : names) ARCA_RETURN_IF_ERROR(hashEntry(h, sub.get(), n, rel + "/" + n));
  return Status::Ok();
}

// "file:<hex>" over the base name, mode, size and contents of an open file.
StatusOr<std::string> hashFile(int fd, const struct stat& st, const std::string& path,
                               const CopyPlanOptions& options, bool with_prefix) {
  image::Sha256 h;
  hashField(h, "file");
  hashField(h, baseName(path));
  hashNumber(h, st.st_mode & 07777);
  hashNumber(h, static_cast<uint64_t>(st.st_size));
  hashField(h, options.chown);
  ARCA_RETURN_IF_ERROR(hashContent(h, fd, path));
  return (with_prefix ? "file:" : "") + h.hexDigest();
}

// "dir:<hex>" over every entry below the directory (names relative to it).
StatusOr<std::string> hashDir(int dir_fd, const std::string& path, const CopyPlanOptions& options) {
  image::Sha256 h;
  hashField(h, "dir");
  hashField(h, options.chown);
  ARCA_ASSIGN_OR_RETURN(auto names, listDir(dir_fd, path));
  for (const auto& n : names) ARCA_RETURN_IF_ERROR(hashEntry(h, dir_fd, n, n));
  return "dir:" + h.hexDigest();
}

// ---- planning -------------------------------------------------------------

// isArchivePath: the content decompresses (gzip, bzip2, xz, zstd or none)
// and starts with a valid tar header.
bool isTarArchive(int fd) {
  struct ArchiveFree {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  if (!a) return false;
  // Built-in decoders only (filter_all could run external programs).
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) return false;
  archive_entry* e = nullptr;
  int r = archive_read_next_header(a.get(), &e);
  return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

std::string forbidden(const std::string& path) {
  return "forbidden path outside the build context: " + path + " ()";
}

// calcCopyInfo for one plain (non-wildcard) context path.
StatusOr<CopySource> planLocal(int root_fd, const std::string& context_root,
                               const std::string& path, bool is_add, const CopyPlanOptions& options) {
  const std::string clean = cleanPath(path);
  if (clean == ".." || clean.rfind("../", 0) == 0) return InvalidArgument(forbidden(path));
  const std::string rel = clean == "." ? "" : clean;
  Fd f = openReadInRoot(root_fd, rel);
  if (!f.ok()) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return InvalidArgument(
          "file not found in build context or excluded by .dockerignore: stat " + path +
          ": file does not exist");
    }
    if (errno == ELOOP || errno == EXDEV) return InvalidArgument(forbidden(path));
    return Internal("stat " + path + ": " + errnoText(errno));
  }
  struct stat st;
  if (::fstat(f.get(), &st) != 0) return Internal("stat " + path + ": " + errnoText(errno));
  CopySource s;
  s.path = path;
  s.root = context_root;
  if (S_ISDIR(st.st_mode)) {
    s.kind = CopySourceKind::kDir;
    ARCA_ASSIGN_OR_RETURN(s.hash, hashDir(f.get(), path, options));
    return s;
  }
  s.kind = CopySourceKind::kFile;
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgument(path + " is not a regular file or directory");
  }
  ARCA_ASSIGN_OR_RETURN(s.hash, hashFile(f.get(), st, path, options, true));
  if (is_add && ::lseek(f.get(), 0, SEEK_SET) == 0 && isTarArchive(f.get())) {
    s.kind = CopySourceKind::kArchive;
  }
  return s;
}

// copyWithWildcards: every context entry (walk order) matching `pattern`.
Status walkMatches(int dir_fd, const std::string& dir_rel, std::string_view pattern,
                   std::vector<std::string>* out) {
  ARCA_ASSIGN_OR_RETURN(auto names, listDir(dir_fd, dir_rel.empty() ? "." : dir_rel));
  for (const auto& n : names) {
    const std::string rel = joinRel(dir_rel, n);
    auto m = goPathMatch(pattern, rel);
    if (m.ok() && *m) out->push_back(rel);
    struct stat st;
    if (::fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Internal("lstat " + rel + ": " + errnoText(errno));
    }
    if (!S_ISDIR(st.st_mode)) continue;
    Fd sub(::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.ok()) return Internal("open " + rel + ": " + errnoText(errno));
    ARCA_RETURN_IF_ERROR(walkMatches(sub.get(), rel, pattern, out));
  }
  return Status::Ok();
}

// %XX sequences decoded (invalid ones kept as they are).
std::string percentDecode(std::string_view p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '%' && i + 2 < p.size() &&
        std::isxdigit(static_cast<unsigned char>(p[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(p[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(p.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += p[i];
    }
  }
  return out;
}

// Go's url.Parse(...).Path, enough for file names: the unescaped path.
std::string urlPath(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  size_t end = rest.find_first_of("?#");
  if (end != std::string_view::npos) rest = rest.substr(0, end);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return "";
  return percentDecode(rest.substr(slash));
}

// The name getFilenameForDownload takes from a path ("" when none).
std::string nameFromPath(const std::string& p) {
  if (p.empty() || p.back() == '/') return "";
  std::string b = baseName(p);
  return b == "." || b == "/" ? "" : b;
}

// The filename parameter of a Content-Disposition value (mime.ParseMediaType,
// quoted strings and RFC 2231 "filename*=utf-8''..." included); "" if none.
std::string dispositionFilename(std::string_view v) {
  std::string plain;
  std::string extended;
  size_t i = v.find(';');
  while (i != std::string_view::npos && i < v.size()) {
    ++i;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    size_t eq = v.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string key(v.substr(i, eq - i));
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    i = eq + 1;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    std::string value;
    if (i < v.size() && v[i] == '"') {
      ++i;
      while (i < v.size() && v[i] != '"') {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        value += v[i++];
      }
      if (i >= v.size()) return "";  // unterminated: ParseMediaType fails
      ++i;
      i = v.find(';', i);
    } else {
      size_t end = v.find(';', i);
      value = std::string(v.substr(i, end == std::string_view::npos ? v.size() - i : end - i));
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
      i = end;
    }
    if (key == "filename") plain = value;
    if (key == "filename*") {
      size_t q = value.find("''");
      if (q != std::string::npos) extended = percentDecode(value.substr(q + 2));
    }
  }
  return extended.empty() ? plain : extended;
}

}  // namespace

std::string trimCopySource(std::string_view source) {
  if (!source.empty() && source.front() == '/') source.remove_prefix(1);
  if (source.substr(0, 2) == "./") source.remove_prefix(2);
  return std::string(source);
}

bool isCopyWildcard(std::string_view source) {
  for (size_t i = 0; i < source.size(); ++i) {
    char c = source[i];
    if (c == '\\') {
      ++i;
    } else if (c == '*' || c == '?' || c == '[') {
      return true;
    }
  }
  return false;
}

StatusOr<bool> goPathMatch(std::string_view pattern, std::string_view name) {
  while (!pattern.empty()) {
    bool star = false;
    std::string_view chunk = scanChunk(&pattern, &star);
    if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
    std::string_view rest;
    bool bad = false;
    bool ok = matchChunk(chunk, name, &rest, &bad);
    if (ok && (rest.empty() || !pattern.empty())) {
      name = rest;
      continue;
    }
    if (bad) return badPattern();
    bool advanced = false;
    if (star) {
      for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        ok = matchChunk(chunk, name.substr(i + 1), &rest, &bad);
        if (ok) {
          if (pattern.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
        if (bad) return badPattern();
      }
    }
    if (advanced) continue;
    // No match: the rest of the pattern must still be well formed.
    while (!pattern.empty()) {
      bool s = false;
      std::string_view c = scanChunk(&pattern, &s);
      matchChunk(c, "", &rest, &bad);
      if (bad) return badPattern();
    }
    return false;
  }
  return name.empty();
}

bool isCopyUrl(std::string_view source) {
  return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0;
}

std::string normalizeCopyDest(std::string_view workdir, std::string_view dest) {
  if (!dest.empty() && dest.front() == '/') return std::string(dest);
  std::string joined = cleanPath("/" + std::string(workdir) + "/" + std::string(dest));
  if (!dest.empty() && dest.back() == '/' && joined != "/") joined += '/';
  return joined;
}

StatusOr<CopyPlan> planCopy(const std::string& context_root, const std::vector<std::string>& sources,
                            const std::string& dest, const std::string& workdir, bool is_add,
                            const CopyPlanOptions& options) {
  const std::string cmd = is_add ? "ADD" : "COPY";
  auto failed = [&](const Status& s) { return Status(s.code(), cmd + " failed: " + s.message()); };
  CopyPlan plan;
  plan.is_add = is_add;
  plan.dest = dest;
  plan.dest_path = normalizeCopyDest(workdir, dest);
  Fd root;
  for (const auto& orig : sources) {
    if (isCopyUrl(orig)) {
      if (!is_add) return failed(InvalidArgument("source can't be a URL for COPY"));
      CopySource s;
      s.kind = CopySourceKind::kUrl;
      s.path = orig;
      s.url_file_name = nameFromPath(urlPath(orig));
      plan.sources.push_back(std::move(s));
      continue;
    }
    if (!root.ok()) {
      root = openDirPath(context_root);
      if (!root.ok()) {
        return failed(Internal("build context " + context_root + ": " + errnoText(errno)));
      }
    }
    const std::string path = trimCopySource(orig);
    if (isCopyWildcard(path)) {
      std::vector<std::string> matches;
      if (auto st = walkMatches(root.get(), "", path, &matches); !st.ok()) return failed(st);
      for (const auto& m : matches) {
        auto s = planLocal(root.get(), context_root, m, is_add, options);
        if (!s.ok()) return failed(s.status());
        plan.sources.push_back(std::move(*s));
      }
      continue;
    }
    auto s = planLocal(root.get(), context_root, path, is_add, options);
    if (!s.ok()) return failed(s.status());
    plan.sources.push_back(std::move(*s));
  }
  if (plan.sources.empty()) return failed(InvalidArgument("no source files were specified"));
  if (plan.sources.size() > 1 && (dest.empty() || dest.back() != '/')) {
    return InvalidArgument("When using " + cmd +
                           " with more than one source file, the destination must be a "
                           "directory and end with a /");
  }
  return plan;
}

StatusOr<std::string> urlFileName(std::string_view url, std::string_view content_disposition,
                                  std::string_view dest) {
  std::string name = nameFromPath(urlPath(url));
  if (name.empty() && !content_disposition.empty()) {
    std::string f = dispositionFilename(content_disposition);
    name = nameFromPath(f);
  }
  if (!name.empty()) return name;
  if (!dest.empty() && dest.back() == '/') {
    return InvalidArgument("ADD failed: cannot determine filename for source " + std::string(url));
  }
  return std::string(kUnnamedFilename);
}

Status finishUrlSource(CopySource* source, const std::string& download_dir,
                       const std::string& file_name, const CopyPlanOptions& options) {
  Fd root = openDirPath(download_dir);
  if (!root.ok()) return Internal("open " + download_dir + ": " + errnoText(errno));
  Fd f = openInRoot(root.get(), file_name, O_RDONLY);
  if (!f.ok()) return Internal("open " + file_name + ": " + errnoText(errno));
  struct stat st;
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Internal("downloaded " + file_name + " is not a regular file");
  }
  ARCA_ASSIGN_OR_RETURN(source->hash, hashFile(f.get(), st, file_name, options, false));
  source->root = download_dir;
  source->path = file_name;
  return Status::Ok();
}

std::string copySourceHash(const CopyPlan& plan) {
  if (plan.sources.size() == 1) return plan.sources[0].hash;
  std::string joined;
  for (size_t i = 0; i < plan.sources.size(); ++i) {
    if (i > 0) joined += ',';
    joined += plan.sources[i].hash;
  }
  return "multi:" + image::sha256Hex(joined);
}

std::string copyComment(const CopyPlan& plan, std::string_view chown) {
  std::string s = plan.is_add ? "ADD " : "COPY ";
  if (!chown.empty()) s += "--chown=" + std::string(chown);
  s += copySourceHash(plan) + " in " + plan.dest + " ";
  return s;
}

// ---- execution --------------------------------------------------------------

namespace {

// What one executeCopy applies to each entry it writes.
struct WriteCtx {
  std::optional<CopyOwner> owner;
  std::optional<uint32_t> chmod;
  // Hard links inside one directory copy: source (dev, ino) -> path below `top_fd`.
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  int top_fd = -1;
};

Status ioError(const std::string& what, const std::string& shown) {
  return Internal(what + " " + shown + ": " + errnoText(errno));
}

// FollowSymlinkInScope for `path` below the root: the root-relative path
// with every existing symlink resolved inside the root ("" = the root).
StatusOr<std::string> resolveInRoot(int root_fd, const std::string& path) {
  std::vector<std::string> todo;  // components still to walk, last first
  auto push = [&todo](std::string_view p) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= p.size()) {
      size_t slash = p.find('/', start);
      if (slash == std::string_view::npos) slash = p.size();
      if (slash > start) parts.emplace_back(p.substr(start, slash - start));
      start = slash + 1;
    }
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  push(path);
  std::vector<std::string> done;
  int links = 0;
  bool missing = false;
  while (!todo.empty()) {
    std::string c = std::move(todo.back());
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string cand;
    for (const auto& d : done) cand += d + "/";
    cand += c;
    struct stat st;
    if (missing || ::fstatat(root_fd, cand.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      missing = true;
      done.push_back(c);
      continue;
    }
    if (!S_ISLNK(st.st_mode)) {
      done.push_back(c);
      continue;
    }
    if (++links > 255) return InvalidArgument("too many links in " + path);
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(root_fd, cand.c_str(), target.data(), target.size());
    if (n < 0) return ioError("readlink", "/" + cand);
    target.resize(static_cast<size_t>(n));
    if (!target.empty() && target[0] == '/') done.clear();
    push(target);
  }
  std::string out;
  for (const auto& d : done) out = joinRel(out, d);
  return out;
}

Status chownAt(int dir_fd, const std::string& name, uid_t uid, gid_t gid, bool required,
               const std::string& shown) {
  if (::fchownat(dir_fd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) == 0) {
    return Status::Ok();
  }
  // Keeping the sources' owners is best effort when not root.
  if (!required && errno == EPERM && ::geteuid() != 0) return Status::Ok();
  return ioError("lchown", shown);
}

// Owner, mode and times of an entry written below `dir_fd` (name "" = dir_fd).
Status finishEntry(int dir_fd, const std::string& name, const struct stat& src,
                   const WriteCtx& ctx, const std::string& shown) {
  const bool link = S_ISLNK(src.st_mode);
  if (ctx.owner) {
    ARCA_RETURN_IF_ERROR(chownAt(dir_fd, name, ctx.owner->uid, ctx.owner->gid, true, shown));
  } else {
    ARCA_RETURN_IF_ERROR(chownAt(dir_fd, name, src.st_uid, src.st_gid, false, shown));
  }
  if (!link) {
    mode_t mode = ctx.chmod ? static_cast<mode_t>(*ctx.chmod & 07777) : (src.st_mode & 07777);
    // chmod after chown: chown drops setuid/setgid bits.
    if (name.empty() ? ::fchmod(dir_fd, mode) != 0
                     : ::fchmodat(dir_fd, name.c_str(), mode, 0) != 0) {
      return ioError("chmod", shown);
    }
  }
  // Docker's tar headers: mtime truncated to seconds, atime = mtime.
  struct timespec ts[2] = {{src.st_mtim.tv_sec, 0}, {src.st_mtim.tv_sec, 0}};
  if (name.empty() ? ::futimens(dir_fd, ts) != 0
                   : ::utimensat(dir_fd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
    return ioError("chtimes", shown);
  }
  return Status::Ok();
}

// rm -rf of `name` below `dir_fd`, never following a symlink.
Status removeAt(int dir_fd, const std::string& name, const std::string& shown) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::Ok() : ioError("lstat", shown);
  }
  if (S_ISDIR(st.st_mode)) {
    Fd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.ok()) return ioError("open", shown);
    ARCA_ASSIGN_OR_RETURN(auto names, listDir(sub.get(), shown));
    for (const auto& n : names) ARCA_RETURN_IF_ERROR(removeAt(sub.get(), n, shown + "/" + n));
    if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) return ioError("remove", shown);
    return Status::Ok();
  }
  if (::unlinkat(dir_fd, name.c_str(), 0) != 0) return ioError("remove", shown);
  return Status::Ok();
}

// Copies the open regular file `src_fd` to `name` below `dir_fd` (replacing
// whatever is there).
Status writeFile(int src_fd, const struct stat& st, int dir_fd, const std::string& name,
                 const WriteCtx& ctx, const std::string& shown) {
  ARCA_RETURN_IF_ERROR(removeAt(dir_fd, name, shown));
  Fd out(::openat(dir_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.ok()) return ioError("open", shown);
  std::vector<char> buf(1 << 16);
  while (true) {
    ssize_t n = ::read(src_fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ioError("read source of", shown);
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(out.get(), buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ioError("write", shown);
      off += w;
    }
  }
  char cap[256];
  ssize_t caplen = ::fgetxattr(src_fd, kCapabilityXattr, cap, sizeof(cap));
  ARCA_RETURN_IF_ERROR(finishEntry(out.get(), "", st, ctx, shown));
  if (caplen > 0 && ::fsetxattr(out.get(), kCapabilityXattr, cap, static_cast<size_t>(caplen), 0) != 0) {
    return ioError("setxattr", shown);
  }
  return Status::Ok();
}

// One entry of a directory copy: `name` below `src_dir` to `name` below
// `dst_dir`; `rel` is its path below the copy's top directory.
Status copyEntry(int src_dir, int dst_dir, const std::string& name, const std::string& rel,
                 WriteCtx& ctx, const std::string& shown) {
  struct stat st;
  if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ioError("lstat", rel);
  if (S_ISSOCK(st.st_mode)) return Status::Ok();  // Docker's tar skips sockets
  struct stat existing;
  const bool exists = ::fstatat(dst_dir, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
  if (exists && !(S_ISDIR(existing.st_mode) && S_ISDIR(st.st_mode))) {
    ARCA_RETURN_IF_ERROR(removeAt(dst_dir, name, shown));
  }
  if (S_ISDIR(st.st_mode)) {
    if (!exists || !S_ISDIR(existing.st_mode)) {
      if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) return ioError("mkdir", shown);
    }
    Fd src(::openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!src.ok()) return ioError("open", rel);
    Fd dst(::openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst.ok()) return ioError("open", shown);
    ARCA_ASSIGN_OR_RETURN(auto names, listDir(src.get(), rel));
    for (const auto& n : names) {
      ARCA_RETURN_IF_ERROR(copyEntry(src.get(), dst.get(), n, rel + "/" + n, ctx, shown + "/" + n));
    }
    // Directory times last, after its entries changed it.
    return finishEntry(dst.get(), "", st, ctx, shown);
  }
  if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    auto it = ctx.links.find({st.st_dev, st.st_ino});
    if (it != ctx.links.end()) {
      if (::linkat(ctx.top_fd, it->second.c_str(), dst_dir, name.c_str(), 0) != 0) {
        return ioError("link", shown);
      }
      return Status::Ok();
    }
    ctx.links[{st.st_dev, st.st_ino}] = rel;
  }
  if (S_ISREG(st.st_mode)) {
    Fd src(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!src.ok()) return ioError("open", rel);
    return writeFile(src.get(), st, dst_dir, name, ctx, shown);
  }
  if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
    if (n < 0) return ioError("readlink", rel);
    target.resize(static_cast<size_t>(n));
    if (::symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) return ioError("symlink", shown);
  } else if (::mknodat(dst_dir, name.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
    return ioError("mknod", shown);
  }
  return finishEntry(dst_dir, name, st, ctx, shown);
}

// mkdir -p of `rel` (no symlinks in its existing part) below the root, mode
// 0755; new directories are chowned to `owner` when given.
Status makeDirs(int root_fd, const std::string& rel, const std::optional<CopyOwner>& owner) {
  std::string prefix;
  size_t start = 0;
  while (start < rel.size()) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    const std::string parent = prefix;
    const std::string name = rel.substr(start, slash - start);
    prefix = joinRel(prefix, name);
    start = slash + 1;
    struct stat st;
    if (::fstatat(root_fd, prefix.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!S_ISDIR(st.st_mode)) return Internal("mkdir /" + prefix + ": not a directory");
      continue;
    }
    Fd p = openNoLinks(root_fd, parent, O_PATH | O_DIRECTORY);
    if (!p.ok()) return ioError("open", "/" + parent);
    if (::mkdirat(p.get(), name.c_str(), 0755) != 0 ||
        ::fchmodat(p.get(), name.c_str(), 0755, 0) != 0) {
      return ioError("mkdir", "/" + prefix);
    }
    if (owner) ARCA_RETURN_IF_ERROR(chownAt(p.get(), name, owner->uid, owner->gid, true, "/" + prefix));
  }
  return Status::Ok();
}

bool isDirAt(int root_fd, const std::string& rel) {
  struct stat st;
  return ::fstatat(root_fd, rel.empty() ? "." : rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISDIR(st.st_mode);
}

Status copyOne(const CopyPlan& plan, const CopySource& s, int root_fd, const std::string& dest_root,
               const std::optional<CopyOwner>& owner, const std::optional<uint32_t>& chmod) {
  if (s.root.empty()) return Internal("source " + s.path + " was not downloaded");
  Fd src_root = openDirPath(s.root);
  if (!src_root.ok()) return ioError("open", s.root);
  const std::string clean = cleanPath(s.path);
  const std::string src_rel = clean == "." ? "" : clean;
  ARCA_ASSIGN_OR_RETURN(std::string dest, resolveInRoot(root_fd, plan.dest_path));
  WriteCtx ctx{owner, chmod, {}, -1};

  if (s.kind == CopySourceKind::kDir) {
    const bool existed = isDirAt(root_fd, dest);
    ARCA_RETURN_IF_ERROR(makeDirs(root_fd, dest, std::nullopt));
    Fd top = openNoLinks(root_fd, dest, O_RDONLY | O_DIRECTORY);
    if (!top.ok()) return ioError("open", "/" + dest);
    Fd src = openInRoot(src_root.get(), src_rel, O_RDONLY | O_DIRECTORY);
    if (!src.ok()) return ioError("open", s.path);
    ctx.top_fd = top.get();
    ARCA_ASSIGN_OR_RETURN(auto names, listDir(src.get(), s.path));
    for (const auto& n : names) {
      ARCA_RETURN_IF_ERROR(copyEntry(src.get(), top.get(), n, n, ctx, "/" + joinRel(dest, n)));
    }
    if (!existed && owner) {
      ARCA_RETURN_IF_ERROR(chownAt(top.get(), "", owner->uid, owner->gid, true, "/" + dest));
    }
    return Status::Ok();
  }

  Fd src = openReadInRoot(src_root.get(), src_rel);
  if (!src.ok()) return ioError("open", s.path);
  struct stat st;
  if (::fstat(src.get(), &st) != 0) return ioError("stat", s.path);
  if (!S_ISREG(st.st_mode)) return Internal(s.path + " is not a regular file");

  if (s.kind == CopySourceKind::kArchive) {
    ARCA_RETURN_IF_ERROR(makeDirs(root_fd, dest, std::nullopt));
    const int fd = src.get();
    image::ReadFn read = [fd](char* buf, size_t len) -> long {
      while (true) {
        ssize_t n = ::read(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        return static_cast<long>(n);
      }
    };
    image::UnpackOptions uo;
    uo.overlay_whiteouts = false;
    uo.noun = "tar";
    uo.display_root = "/" + dest;
    // dockerd skips the archive's "." entry: the destination keeps its mode
    // and owner (unpackTar would apply the entry's).
    struct stat before;
    if (::fstatat(root_fd, dest.empty() ? "." : dest.c_str(), &before, AT_SYMLINK_NOFOLLOW) != 0) {
      return ioError("stat", "/" + dest);
    }
    auto r = image::unpackTar(read, dest.empty() ? dest_root : dest_root + "/" + dest, uo);
    if (!r.ok()) return r.status();
    Fd top = openNoLinks(root_fd, dest, O_RDONLY | O_DIRECTORY);
    if (!top.ok()) return ioError("open", "/" + dest);
    if (::fchown(top.get(), before.st_uid, before.st_gid) != 0 ||
        ::fchmod(top.get(), before.st_mode & 07777) != 0) {
      return ioError("restore attributes of", "/" + dest);
    }
    return Status::Ok();
  }

  std::string target = dest;
  if (plan.dest_path.back() == '/' || isDirAt(root_fd, dest)) target = joinRel(dest, baseName(s.path));
  auto [parent, name] = splitRel(target);
  ARCA_RETURN_IF_ERROR(makeDirs(root_fd, parent, owner));
  Fd dir = openNoLinks(root_fd, parent, O_PATH | O_DIRECTORY);
  if (!dir.ok()) return ioError("open", "/" + parent);
  return writeFile(src.get(), st, dir.get(), name, ctx, "/" + target);
}

}  // namespace

Status executeCopy(const CopyPlan& plan, const std::string& dest_root,
                   const std::optional<CopyOwner>& owner, const std::optional<uint32_t>& chmod) {
  Fd root = openDirPath(dest_root);
  if (!root.ok()) return Internal("failed to copy files: open " + dest_root + ": " + errnoText(errno));
  for (const auto& s : plan.sources) {
    Status st = copyOne(plan, s, root.get(), dest_root, owner, chmod);
    if (!st.ok()) return Status(st.code(), "failed to copy files: " + st.message());
  }
  return Status::Ok();
}

}  // namespace arca::builder
