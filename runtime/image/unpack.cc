// Layer unpacking: one layer tar into a directory in overlayfs format.
//
// Each entry is checked here before libarchive sees it: no absolute path, no
// ".." component, no existing symlink among its parent directories (and the
// same for a hardlink's target). libarchive's write-disk then re-checks with
// SECURE_SYMLINKS and SECURE_NODOTDOT. SECURE_NOABSOLUTEPATHS cannot be used:
// we hand libarchive absolute paths under `dest` (it has no "extract below
// this directory fd" mode and chdir() is process-wide), so the absolute-path
// rule is enforced on the entry's own name instead.
//
// FFLAGS (chattr flags) are deliberately not restored: Docker ignores them
// too, and an immutable file would make the layer undeletable.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/image/archive_io.h"
#include "runtime/image/image_store.h"

namespace arca::image {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr std::string_view kWhiteoutOpaque = ".wh..wh..opq";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

constexpr int kExtractFlags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_TIME |
                              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL;

// Entry names in error messages: bounded, since they come from the archive.
std::string shown(std::string_view name) {
  constexpr size_t kMax = 200;
  std::string s(name.substr(0, kMax));
  if (name.size() > kMax) s += "...";
  return "\"" + s + "\"";
}

// "./a//b/" -> "a/b"; "" for the layer root itself. Rejects absolute paths and "..".
// `what` names the thing in errors ("layer entry", "tar entry", "layer hardlink target").
StatusOr<std::string> cleanPath(std::string_view p, std::string_view what) {
  if (!p.empty() && p[0] == '/') {
    return InvalidArgument(std::string(what) + " " + shown(p) + " has an absolute path");
  }
  std::string out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view comp = p.substr(start, slash - start);
    start = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      return InvalidArgument(std::string(what) + " " + shown(p) + " contains a \"..\" component");
    }
    if (!out.empty()) out += '/';
    out.append(comp);
  }
  return out;
}

std::pair<std::string, std::string> splitParent(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// Fails if any existing parent directory of `rel` (below root) is a symlink:
// writing `rel` would then land wherever the symlink points.
Status checkParents(const std::string& root, const std::string& rel, std::string_view entry,
                    std::string_view noun) {
  size_t pos = 0;
  while (true) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string::npos) return Status::Ok();
    std::string prefix = rel.substr(0, slash);
    struct stat st;
    if (::lstat((root + "/" + prefix).c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return Status::Ok();
      return Internal("lstat " + prefix + ": " + std::strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) {
      return InvalidArgument(std::string(noun) + " entry " + shown(entry) + " would be written through symlink " +
                             shown(prefix));
    }
    pos = slash + 1;
  }
}

// mkdir -p for `rel` below root; parents were checked by checkParents, but a
// component that exists as a non-directory is an error here.
Status makeDirs(const std::string& root, const std::string& rel, std::string_view entry,
                std::string_view noun) {
  if (rel.empty()) return Status::Ok();
  size_t pos = 0;
  while (true) {
    size_t slash = rel.find('/', pos);
    std::string prefix = rel.substr(0, slash);
    std::string path = root + "/" + prefix;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      // 0755 whatever the daemon's umask, as Docker creates missing parents.
      if (::mkdir(path.c_str(), 0755) != 0 || ::chmod(path.c_str(), 0755) != 0) {
        return InvalidArgument(std::string(noun) + " entry " + shown(entry) + ": mkdir " + shown(prefix) + ": " +
                               std::strerror(errno));
      }
    } else if (!S_ISDIR(st.st_mode)) {
      return InvalidArgument(std::string(noun) + " entry " + shown(entry) + ": " + shown(prefix) +
                             " is not a directory");
    }
    if (slash == std::string::npos) return Status::Ok();
    pos = slash + 1;
  }
}

// `.wh.<name>` -> a 0/0 character device <name>; `.wh..wh..opq` -> opaque parent.
Status applyWhiteout(const std::string& root, const std::string& rel, archive_entry* e) {
  constexpr std::string_view noun = "layer";
  const char* raw = archive_entry_pathname(e);
  std::string_view entry = raw ? raw : "";
  auto [parent, base] = splitParent(rel);
  std::string parent_path = parent.empty() ? root : root + "/" + parent;
  if (base == kWhiteoutOpaque) {
    if (::lsetxattr(parent_path.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return Internal("set opaque xattr on " + shown(parent) + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }
  if (base.compare(0, kWhiteoutMetaPrefix.size(), kWhiteoutMetaPrefix) == 0) {
    return Status::Ok();  // aufs bookkeeping (.wh..wh.plnk, .wh..wh..aufs): not content
  }
  std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") {
    return InvalidArgument(std::string(noun) + " entry " + shown(entry) + " is an invalid whiteout");
  }
  std::string path = parent_path + "/" + name;
  std::error_code ec;
  fs::remove_all(path, ec);  // does not follow symlinks
  if (ec) return Internal("remove " + shown(path) + ": " + ec.message());
  if (::mknod(path.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    return Internal("mknod whiteout " + shown(path) + ": " + std::strerror(errno));
  }
  if (::lchown(path.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
               static_cast<gid_t>(archive_entry_gid(e))) != 0) {
    return Internal("chown whiteout " + shown(path) + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

// Overlay's own xattrs (opaque, redirect, metacopy...) must come from
// whiteouts only, never from a layer's tar headers.
void dropOverlayXattrs(archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return;
  struct Xattr {
    std::string name;
    std::string value;
  };
  std::vector<Xattr> keep;
  bool dropped = false;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    std::string_view n = name ? name : "";
    if (n.substr(0, kOverlayXattrPrefix.size()) == kOverlayXattrPrefix) {
      dropped = true;
      continue;
    }
    keep.push_back({std::string(n), std::string(static_cast<const char*>(value), size)});
  }
  if (!dropped) return;
  archive_entry_xattr_clear(e);
  for (const auto& x : keep) {
    archive_entry_xattr_add_entry(e, x.name.c_str(), x.value.data(), x.value.size());
  }
}

Status copyData(archive* in, archive* out, std::string_view entry, std::string_view noun) {
  while (true) {
    const void* buf = nullptr;
    size_t len = 0;
    la_int64_t offset = 0;
    int r = archive_read_data_block(in, &buf, &len, &offset);
    if (r == ARCHIVE_EOF) return Status::Ok();
    if (r < ARCHIVE_WARN) {
      return InvalidArgument("invalid " + std::string(noun) + " tar at " + shown(entry) + ": " + archiveError(in));
    }
    if (archive_write_data_block(out, buf, len, offset) < ARCHIVE_WARN) {
      return Internal("write " + shown(entry) + ": " + archiveError(out));
    }
  }
}

// Shown path of `rel` below the destination, for tar errors ("/tmp/a").
std::string displayPath(const UnpackOptions& o, const std::string& rel) {
  if (rel.empty()) return o.display_root;
  return o.display_root == "/" ? "/" + rel : o.display_root + "/" + rel;
}

// NoOverwriteDirNonDir: an existing directory is never replaced by a
// non-directory, nor a non-directory by a directory (moby's texts).
Status checkOverwrite(const std::string& root, const std::string& rel, archive_entry* e,
                      const UnpackOptions& o) {
  struct stat st;
  if (::lstat((root + "/" + rel).c_str(), &st) != 0) return Status::Ok();
  const bool entry_dir = archive_entry_filetype(e) == AE_IFDIR && !archive_entry_hardlink(e);
  if (S_ISDIR(st.st_mode) && !entry_dir) {
    return FailedPrecondition("cannot overwrite directory \"" + displayPath(o, rel) +
                              "\" with non-directory \"" + displayPath(o, "") + "\"");
  }
  if (!S_ISDIR(st.st_mode) && entry_dir) {
    return FailedPrecondition("cannot overwrite non-directory \"" + displayPath(o, rel) +
                              "\" with directory \"" + displayPath(o, "") + "\"");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<int64_t> unpackLayer(const ReadFn& in, const std::string& dest) {
  return unpackTar(in, dest, UnpackOptions{});
}

StatusOr<int64_t> unpackTar(const ReadFn& in, const std::string& dest, const UnpackOptions& opts) {
  const std::string_view noun = opts.noun;
  char* resolved = ::realpath(dest.c_str(), nullptr);
  if (!resolved) {
    return NotFound(std::string(noun) + " destination " + dest + ": " + std::strerror(errno));
  }
  // Resolved: libarchive's symlink check walks the whole absolute path.
  const std::string root = resolved;
  std::free(resolved);
  struct stat st;
  if (::stat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return InvalidArgument(std::string(noun) + " destination " + dest + " is not a directory");
  }

  ARCA_ASSIGN_OR_RETURN(auto reader, StreamReader::open(in, StreamReader::Format::kTar));
  archive* a = reader->get();
  ArchiveWritePtr w(archive_write_disk_new());
  if (!w) return Internal("archive_write_disk_new failed");
  // No archive_write_disk_set_standard_lookup(): owners stay the numeric ids
  // of the tar headers, never names looked up in the host's /etc/passwd.
  archive_write_disk_set_options(w.get(), kExtractFlags);
  const std::string entry_noun = std::string(noun) + " entry";

  int64_t size = 0;
  while (true) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return InvalidArgument("invalid " + std::string(noun) + " tar: " + archiveError(a));
    const char* raw = archive_entry_pathname(e);
    if (!raw || !*raw) return InvalidArgument(std::string(noun) + " tar has an entry without a name");
    const std::string entry = raw;
    ARCA_ASSIGN_OR_RETURN(std::string rel, cleanPath(entry, entry_noun));
    if (opts.owner) {
      archive_entry_set_uid(e, opts.owner->first);
      archive_entry_set_gid(e, opts.owner->second);
    }
    if (rel.empty()) {
      // "./" is `dest` itself: take its mode and owner, as Docker does.
      if (archive_entry_filetype(e) == AE_IFDIR) {
        if (::chmod(root.c_str(), archive_entry_perm(e)) != 0 ||
            ::lchown(root.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                     static_cast<gid_t>(archive_entry_gid(e))) != 0) {
          return Internal("setting attributes of " + std::string(noun) +
                          " root: " + std::string(std::strerror(errno)));
        }
      }
      continue;
    }
    // libarchive chdir()s (process-wide) into paths longer than PATH_MAX; no
    // image needs such paths, so refuse them.
    if (root.size() + 1 + rel.size() >= PATH_MAX) {
      return InvalidArgument(entry_noun + " " + shown(entry) + " has a path that is too long");
    }
    ARCA_RETURN_IF_ERROR(checkParents(root, rel, entry, noun));
    auto [parent, base] = splitParent(rel);
    // Missing parents are made here (0755), not by libarchive; a parent that
    // exists as a non-directory fails the layer, as in Docker.
    ARCA_RETURN_IF_ERROR(makeDirs(root, parent, entry, noun));

    if (opts.overlay_whiteouts && base.compare(0, kWhiteoutPrefix.size(), kWhiteoutPrefix) == 0) {
      ARCA_RETURN_IF_ERROR(applyWhiteout(root, rel, e));
      continue;
    }
    if (opts.no_overwrite_dir_non_dir) ARCA_RETURN_IF_ERROR(checkOverwrite(root, rel, e, opts));

    const char* link = archive_entry_hardlink(e);
    if (link) {
      ARCA_ASSIGN_OR_RETURN(std::string target,
                            cleanPath(link, std::string(noun) + " hardlink target"));
      if (target.empty()) {
        return InvalidArgument(entry_noun + " " + shown(entry) + " is a hardlink to the root");
      }
      if (root.size() + 1 + target.size() >= PATH_MAX) {
        return InvalidArgument(entry_noun + " " + shown(entry) + " has a target that is too long");
      }
      ARCA_RETURN_IF_ERROR(checkParents(root, target, entry, noun));
      struct stat ts;
      if (::lstat((root + "/" + target).c_str(), &ts) != 0) {
        return InvalidArgument(entry_noun + " " + shown(entry) + " is a hardlink to missing " +
                               shown(link));
      }
      if (S_ISDIR(ts.st_mode)) {
        return InvalidArgument(entry_noun + " " + shown(entry) + " is a hardlink to a directory");
      }
      archive_entry_set_hardlink(e, (root + "/" + target).c_str());
    } else if (archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0) {
      // Saturating: sparse entries can claim sizes near INT64_MAX.
      const int64_t n = archive_entry_size(e);
      size = n > INT64_MAX - size ? INT64_MAX : size + n;
    }
    archive_entry_set_pathname(e, (root + "/" + rel).c_str());
    dropOverlayXattrs(e);

    if (archive_write_header(w.get(), e) < ARCHIVE_WARN) {
      return InvalidArgument("cannot extract " + entry_noun + " " + shown(entry) + ": " +
                             archiveError(w.get()));
    }
    if (archive_entry_size(e) > 0) ARCA_RETURN_IF_ERROR(copyData(a, w.get(), entry, noun));
    if (archive_write_finish_entry(w.get()) < ARCHIVE_WARN) {
      return InvalidArgument("cannot extract " + entry_noun + " " + shown(entry) + ": " +
                             archiveError(w.get()));
    }
  }
  // Applies the deferred directory modes and times.
  if (archive_write_close(w.get()) < ARCHIVE_WARN) {
    return Internal("finishing " + std::string(noun) + ": " + archiveError(w.get()));
  }
  return size;
}

}  // namespace arca::image
