// The image store: `docker load` input (docker-archive or OCI layout) into
// content-addressed blobs and unpacked layers. See image_store.h for the layout.
//
// A load runs in three steps:
//   1. spool: the outer tar is read once from the stream; every regular file
//      is written to root/tmp/load-XXXXXX/<n> while its sha256 is computed,
//      and the archive's names (with symlinks/hardlinks between them) are
//      kept in a map. Nothing outside the staging dir is touched.
//   2. plan: manifest.json or index.json is parsed into one plan per image,
//      and every digest the archive states (config, manifests, blobs) is
//      checked against the spooled bytes.
//   3. commit (under the shared side of gc_mu): blobs are hard-linked into
//      blobs/sha256/, missing layers are unpacked into root/tmp/layer-XXXXXX
//      while their uncompressed sha256 is checked against the config's
//      diff_ids, then renamed into layers/<chainid> and described by
//      layers/<chainid>.json (written last: a layer without it is incomplete).
// The staging dir is removed on every path out of load().
#include "runtime/image/image_store.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/image/archive_io.h"
#include "runtime/image/digest.h"
#include "runtime/image/media_types.h"
#include "runtime/image/reference.h"

namespace arca::image {
namespace {

namespace fs = std::filesystem;
using v1::ImageRecord;

constexpr size_t kMaxJsonSize = 32 * 1024 * 1024;  // manifests, indexes, configs
constexpr int kMaxLinkDepth = 16;                  // symlink/hardlink chains in the archive
constexpr int kMaxIndexDepth = 8;                  // nested image indexes
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kContainerdNameAnnotation = "io.containerd.image.name";

std::string errnoText() { return std::strerror(errno); }

std::string shortHex(const std::string& digest) {
  std::string hex = digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest;
  return "sha256:" + hex.substr(0, 12);
}

// ---------------------------------------------------------------------------
// Small file helpers

StatusOr<std::string> readFile(const std::string& path, size_t max) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Internal("open " + path + ": " + errnoText());
  std::string out;
  char buf[65536];
  while (f) {
    f.read(buf, sizeof(buf));
    out.append(buf, static_cast<size_t>(f.gcount()));
    if (out.size() > max) return InvalidArgument(path + " is too large");
  }
  return out;
}

Status writeAll(int fd, const char* data, size_t len, const std::string& what) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = ::write(fd, data + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("write " + what + ": " + errnoText());
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// A suffix no other temporary file of this process uses.
std::string uniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Writes `data` to a temporary name beside `path`, then renames it over `path`.
Status writeFileAtomic(const std::string& path, const std::string& data) {
  std::string tmp = path + uniqueSuffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Internal("create " + tmp + ": " + errnoText());
  Status st = writeAll(fd, data.data(), data.size(), tmp);
  ::close(fd);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = errnoText();
    ::unlink(tmp.c_str());
    return Internal("rename " + tmp + ": " + err);
  }
  return Status::Ok();
}

// Removes a path tree; used for staging and partial layers, errors only logged.
void removeTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) spdlog::warn("image store: cannot remove {}: {}", path, ec.message());
}

bool pathExists(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0;
}

bool isDirectory(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Names in `dir` (no exceptions: std::filesystem is used with error codes only).
StatusOr<std::vector<std::string>> listDir(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) return Internal("list " + dir + ": " + ec.message());
  return names;
}

// A directory removed when the guard goes (unless released).
class TempDir {
 public:
  TempDir() = default;
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (!path_.empty()) removeTree(path_);
  }
  static StatusOr<std::unique_ptr<TempDir>> make(const std::string& parent,
                                                 const std::string& prefix) {
    std::string templ = parent + "/" + prefix + "XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return Internal("mkdtemp " + templ + ": " + errnoText());
    return std::make_unique<TempDir>(std::string(buf.data()));
  }
  const std::string& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------
// JSON helpers

using JsonValue = rapidjson::Value;

StatusOr<rapidjson::Document> parseJson(const std::string& text, const std::string& what) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError()) return InvalidArgument("invalid archive: " + what + " is not valid JSON");
  return d;
}

const JsonValue* member(const JsonValue& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string stringMember(const JsonValue& obj, const char* key) {
  const JsonValue* v = member(obj, key);
  return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
}

std::string annotation(const JsonValue& desc, std::string_view key) {
  const JsonValue* a = member(desc, "annotations");
  if (!a || !a->IsObject()) return "";
  for (auto it = a->MemberBegin(); it != a->MemberEnd(); ++it) {
    if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == key &&
        it->value.IsString()) {
      return std::string(it->value.GetString(), it->value.GetStringLength());
    }
  }
  return "";
}

std::string toJson(const JsonValue& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

// ---------------------------------------------------------------------------
// Staging: the spooled outer archive.

struct StagedFile {
  std::string path;  // where the bytes are on disk
  std::string sha;   // sha256 hex of the bytes
  int64_t size = 0;
};

// Archive names: "./a//b" -> "a/b". Returns false for absolute paths and
// names escaping the archive root.
bool normalizeName(std::string_view name, std::string* out) {
  if (!name.empty() && name[0] == '/') return false;
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    std::string_view comp = name.substr(start, slash - start);
    start = slash + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
      continue;
    }
    parts.push_back(comp);
  }
  out->clear();
  for (auto p : parts) {
    if (!out->empty()) *out += '/';
    out->append(p);
  }
  return true;
}

class Staging {
 public:
  explicit Staging(std::string dir) : dir_(std::move(dir)) {}

  Status spool(const ReadFn& in) {
    ARCA_ASSIGN_OR_RETURN(auto reader, StreamReader::open(in, StreamReader::Format::kTar));
    archive* a = reader->get();
    std::vector<char> buf(256 * 1024);
    while (true) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) return Status::Ok();
      if (r < ARCHIVE_WARN) return InvalidArgument("invalid archive: " + archiveError(a));
      const char* raw = archive_entry_pathname(e);
      std::string name;
      if (!raw || !normalizeName(raw, &name) || name.empty()) continue;  // never looked up
      files_.erase(name);
      links_.erase(name);
      if (const char* hl = archive_entry_hardlink(e)) {
        std::string target;
        if (normalizeName(hl, &target)) links_[name] = target;
        continue;
      }
      if (archive_entry_filetype(e) == AE_IFLNK) {
        const char* t = archive_entry_symlink(e);
        std::string target;
        std::string parent =
            name.substr(0, name.rfind('/') == std::string::npos ? 0 : name.rfind('/'));
        if (t && t[0] != '/' && normalizeName(parent + "/" + t, &target)) links_[name] = target;
        continue;
      }
      if (archive_entry_filetype(e) != AE_IFREG) continue;
      StagedFile f;
      f.path = dir_ + "/" + std::to_string(counter_++);
      int fd = ::open(f.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0) return Internal("create " + f.path + ": " + errnoText());
      Sha256 h;
      Status st;
      while (st.ok()) {
        la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
        if (n == 0) break;
        if (n < 0) {
          st = InvalidArgument("invalid archive: reading " + name + ": " + archiveError(a));
          break;
        }
        h.update(buf.data(), static_cast<size_t>(n));
        f.size += n;
        st = writeAll(fd, buf.data(), static_cast<size_t>(n), f.path);
      }
      ::close(fd);
      ARCA_RETURN_IF_ERROR(st);
      f.sha = h.hexDigest();
      files_[name] = std::move(f);
    }
  }

  bool has(const std::string& name) const { return find(name).ok(); }

  // The file an archive name refers to, following links inside the archive.
  StatusOr<const StagedFile*> find(const std::string& name) const {
    std::string n;
    if (!normalizeName(name, &n)) {
      return InvalidArgument("invalid archive: invalid path \"" + name + "\"");
    }
    for (int depth = 0; depth < kMaxLinkDepth; ++depth) {
      auto f = files_.find(n);
      if (f != files_.end()) return &f->second;
      auto l = links_.find(n);
      if (l == links_.end()) break;
      n = l->second;
    }
    return InvalidArgument("invalid archive: missing file \"" + name + "\"");
  }

  StatusOr<std::string> readJson(const std::string& name) const {
    ARCA_ASSIGN_OR_RETURN(const StagedFile* f, find(name));
    if (static_cast<size_t>(f->size) > kMaxJsonSize) {
      return InvalidArgument("invalid archive: " + name + " is too large");
    }
    return readFile(f->path, kMaxJsonSize);
  }

  // A blob by digest in an OCI layout (blobs/sha256/<hex>), its bytes checked.
  StatusOr<const StagedFile*> blob(const std::string& digest) const {
    ARCA_ASSIGN_OR_RETURN(std::string hex, sha256HexOf(digest));
    ARCA_ASSIGN_OR_RETURN(const StagedFile* f, find("blobs/sha256/" + hex));
    if (f->sha != hex) {
      return InvalidArgument("invalid archive: blob " + digest +
                             " digest mismatch (content is "
                             "sha256:" +
                             f->sha + ")");
    }
    return f;
  }

 private:
  std::string dir_;
  std::map<std::string, StagedFile> files_;
  std::map<std::string, std::string> links_;  // name -> archive name it points to
  uint64_t counter_ = 0;
};

// ---------------------------------------------------------------------------
// Plans: what the archive says each image is.

struct Plan {
  const StagedFile* config = nullptr;
  std::vector<const StagedFile*> layers;
  std::vector<std::string> tags;               // fully qualified
  std::string manifest_digest;                 // "sha256:..." or ""
  std::vector<const StagedFile*> extra_blobs;  // manifests and indexes to keep
};

// The manifest an OCI descriptor leads to (through nested indexes).
struct ResolvedManifest {
  std::string top_digest;  // the descriptor's own digest
  rapidjson::Document manifest;
  std::vector<const StagedFile*> blobs;  // the index(es) and the manifest itself
};

const JsonValue* choosePlatform(const JsonValue& manifests) {
  const JsonValue* first = nullptr;
  for (const auto& m : manifests.GetArray()) {
    if (!m.IsObject()) continue;
    const JsonValue* p = member(m, "platform");
    std::string os = p ? stringMember(*p, "os") : "";
    std::string arch = p ? stringMember(*p, "architecture") : "";
    if (os == "unknown") continue;  // buildx attestation manifests
    if (!first) first = &m;
    if (os == "linux" && arch == hostArchitecture()) return &m;
  }
  return first;
}

Status resolveDescriptor(const Staging& st, const JsonValue& desc, int depth,
                         ResolvedManifest* out) {
  if (depth > kMaxIndexDepth)
    return InvalidArgument("invalid archive: image indexes nest too deep");
  std::string digest = stringMember(desc, "digest");
  ARCA_ASSIGN_OR_RETURN(const StagedFile* f, st.blob(digest));
  ARCA_ASSIGN_OR_RETURN(std::string text, readFile(f->path, kMaxJsonSize));
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document doc, parseJson(text, "manifest " + digest));
  out->blobs.push_back(f);
  const JsonValue* manifests = member(doc, "manifests");
  if (manifests && manifests->IsArray()) {
    const JsonValue* chosen = choosePlatform(*manifests);
    if (!chosen) return InvalidArgument("invalid archive: image index " + digest + " is empty");
    return resolveDescriptor(st, *chosen, depth + 1, out);
  }
  const JsonValue* config = member(doc, "config");
  const JsonValue* layers = member(doc, "layers");
  if (!config || !config->IsObject() || (layers && !layers->IsArray())) {
    return InvalidArgument("invalid archive: " + digest + " is not an image manifest");
  }
  out->manifest = std::move(doc);
  return Status::Ok();
}

// The name of a top-level index.json entry, or "" for none.
std::string ociName(const JsonValue& desc) {
  std::string ref = annotation(desc, kRefNameAnnotation);
  // A full reference ("docker.io/library/busybox:latest", "busybox:1") rather than a bare tag.
  if (ref.find_first_of("/:@") != std::string::npos) {
    auto parsed = parseReference(ref);
    if (parsed.ok()) return parsed->full();
  }
  std::string name = annotation(desc, kContainerdNameAnnotation);
  if (!name.empty()) {
    auto parsed = parseReference(name);
    if (parsed.ok()) return parsed->full();
  }
  return "";
}

StatusOr<std::vector<Plan>> planOci(const Staging& st) {
  ARCA_ASSIGN_OR_RETURN(std::string text, st.readJson("index.json"));
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document index, parseJson(text, "index.json"));
  const JsonValue* manifests = member(index, "manifests");
  if (!manifests || !manifests->IsArray()) {
    return InvalidArgument("invalid archive: index.json has no manifests");
  }
  std::vector<Plan> plans;
  for (const auto& desc : manifests->GetArray()) {
    if (!desc.IsObject()) return InvalidArgument("invalid archive: bad descriptor in index.json");
    ResolvedManifest rm;
    rm.top_digest = stringMember(desc, "digest");
    ARCA_RETURN_IF_ERROR(resolveDescriptor(st, desc, 0, &rm));
    Plan p;
    p.manifest_digest = rm.top_digest;
    p.extra_blobs = rm.blobs;
    const JsonValue* config = member(rm.manifest, "config");
    ARCA_ASSIGN_OR_RETURN(p.config, st.blob(stringMember(*config, "digest")));
    if (const JsonValue* layers = member(rm.manifest, "layers")) {
      for (const auto& l : layers->GetArray()) {
        ARCA_ASSIGN_OR_RETURN(const StagedFile* f, st.blob(stringMember(l, "digest")));
        p.layers.push_back(f);
      }
    }
    std::string name = ociName(desc);
    if (!name.empty()) p.tags.push_back(name);
    plans.push_back(std::move(p));
  }
  return plans;
}

// "<hex>.json", "blobs/sha256/<hex>", "<hex>/layer.tar" -> the hex a name claims, or "".
std::string claimedHex(const std::string& name, bool layer) {
  std::string n;
  if (!normalizeName(name, &n)) return "";
  if (n.rfind("blobs/sha256/", 0) == 0) return n.substr(13);
  if (layer) return "";  // legacy "<v1 id>/layer.tar": the dir name is not a content digest
  std::string base = n.substr(n.rfind('/') == std::string::npos ? 0 : n.rfind('/') + 1);
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0) {
    base.resize(base.size() - 5);
  }
  return isSha256Hex(base) ? base : "";
}

StatusOr<std::vector<Plan>> planDockerArchive(const Staging& st) {
  ARCA_ASSIGN_OR_RETURN(std::string text, st.readJson("manifest.json"));
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document doc, parseJson(text, "manifest.json"));
  if (!doc.IsArray()) return InvalidArgument("invalid archive: manifest.json is not an array");

  // Docker >= 25 also writes an OCI index: use it for the manifest digests.
  std::map<std::string, std::pair<std::string, std::vector<const StagedFile*>>> by_config;
  if (st.has("index.json")) {
    auto oci = planOci(st);
    if (oci.ok()) {
      for (const auto& p : *oci) by_config[p.config->sha] = {p.manifest_digest, p.extra_blobs};
    }
  }

  std::vector<Plan> plans;
  for (const auto& m : doc.GetArray()) {
    Plan p;
    std::string config = stringMember(m, "Config");
    if (config.empty())
      return InvalidArgument("invalid archive: manifest.json entry has no Config");
    ARCA_ASSIGN_OR_RETURN(p.config, st.find(config));
    std::string want = claimedHex(config, false);
    if (!want.empty() && want != p.config->sha) {
      return InvalidArgument("invalid archive: config " + config +
                             " digest mismatch (content is "
                             "sha256:" +
                             p.config->sha + ")");
    }
    if (const JsonValue* layers = member(m, "Layers"); layers && layers->IsArray()) {
      for (const auto& l : layers->GetArray()) {
        if (!l.IsString())
          return InvalidArgument("invalid archive: bad layer name in manifest.json");
        std::string name(l.GetString(), l.GetStringLength());
        ARCA_ASSIGN_OR_RETURN(const StagedFile* f, st.find(name));
        std::string lw = claimedHex(name, true);
        if (!lw.empty() && lw != f->sha) {
          return InvalidArgument("invalid archive: layer " + name + " digest mismatch");
        }
        p.layers.push_back(f);
      }
    }
    if (const JsonValue* tags = member(m, "RepoTags"); tags && tags->IsArray()) {
      for (const auto& t : tags->GetArray()) {
        if (!t.IsString()) return InvalidArgument("invalid archive: bad tag in manifest.json");
        std::string tag(t.GetString(), t.GetStringLength());
        auto ref = parseReference(tag);
        if (!ref.ok())
          return InvalidArgument("invalid tag \"" + tag + "\": " + ref.status().message());
        if (ref->tag.empty()) return InvalidArgument("invalid tag \"" + tag + "\"");
        p.tags.push_back(ref->full());
      }
    }
    if (auto it = by_config.find(p.config->sha); it != by_config.end()) {
      p.manifest_digest = it->second.first;
      p.extra_blobs = it->second.second;
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

// ---------------------------------------------------------------------------
// Layer streams

// Hashes the decompressed bytes of a (possibly compressed) blob, optionally
// feeding them to `consume` as a ReadFn; the whole stream is always hashed.
class DecompressedStream {
 public:
  static StatusOr<std::unique_ptr<DecompressedStream>> open(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && st.st_size == 0) {
      std::unique_ptr<DecompressedStream> s(new DecompressedStream());
      s->eof_ = true;  // libarchive's raw format refuses empty input
      return s;
    }
    ARCA_ASSIGN_OR_RETURN(ReadFn file, fileReader(path));
    return open(std::move(file));
  }

  // Over any compressed or plain stream (e.g. a blob arriving from a registry).
  static StatusOr<std::unique_ptr<DecompressedStream>> open(ReadFn src) {
    std::unique_ptr<DecompressedStream> s(new DecompressedStream());
    s->file_ = std::move(src);
    ARCA_ASSIGN_OR_RETURN(s->reader_, StreamReader::open(s->file_, StreamReader::Format::kRaw));
    archive_entry* e = nullptr;
    int r = archive_read_next_header(s->reader_->get(), &e);
    if (r == ARCHIVE_EOF) {
      s->eof_ = true;
    } else if (r < ARCHIVE_WARN) {
      return InvalidArgument("invalid layer: " + archiveError(s->reader_->get()));
    }
    return s;
  }

  // True when the input is not compressed: its bytes pass through unchanged.
  bool passthrough() const {
    return reader_ && archive_filter_count(reader_->get()) <= 1 &&
           archive_filter_code(reader_->get(), 0) == ARCHIVE_FILTER_NONE;
  }
  // Skips hashing (the caller hashes the same bytes already); finish() then
  // returns "".
  void stopHashing() { hashing_ = false; }

  // A ReadFn over the decompressed bytes (valid while this object lives).
  ReadFn readFn() {
    return [this](char* buf, size_t len) -> long { return read(buf, len); };
  }

  // The decompression error behind a -1 from the ReadFn, if any.
  const std::string& error() const { return error_; }

  // Reads to the end and returns the sha256 hex of all decompressed bytes.
  StatusOr<std::string> finish() {
    std::vector<char> buf(256 * 1024);
    while (true) {
      long n = read(buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return InvalidArgument("invalid layer: " + error_);
    }
    return hash_.hexDigest();
  }

 private:
  DecompressedStream() = default;
  long read(char* buf, size_t len) {
    if (eof_) return 0;
    la_ssize_t n = archive_read_data(reader_->get(), buf, len);
    if (n < 0) {
      error_ = archiveError(reader_->get());
      return -1;
    }
    if (n == 0) eof_ = true;
    if (hashing_) hash_.update(buf, static_cast<size_t>(n));
    return static_cast<long>(n);
  }

  ReadFn file_;
  std::unique_ptr<StreamReader> reader_;
  Sha256 hash_;
  bool hashing_ = true;
  bool eof_ = false;
  std::string error_;
};

}  // namespace

// ---------------------------------------------------------------------------

struct ImageStore::Impl {
  // load()'s commit step holds it shared, garbageCollect() exclusive: GC never
  // removes a blob or layer a load is about to reuse.
  std::shared_mutex gc_mu;
  // Chain ids being unpacked: one unpack per layer at a time.
  std::mutex layer_mu;
  std::condition_variable layer_cv;
  std::set<std::string> unpacking;
  // Serializes read-modify-write of images/<id>.json.
  std::mutex meta_mu;

  std::string blob_dir;
  std::string layer_dir;
  std::string tmp_dir;
  std::string image_dir;
  std::string dist_dir;

  // Unpacks the layer `chain` from the blob at `blob_path` unless it is on
  // disk already; returns its unpacked size.
  StatusOr<int64_t> ensureLayer(const std::string& chain, const std::string& parent,
                                const std::string& diff_id, const std::string& blob_path,
                                const std::string& blob_sha, const std::string& counter,
                                const ProgressFn& say);
  // Adds `blobs` to the set recorded in images/<id-hex>.json.
  Status recordBlobs(const std::string& id, const std::set<std::string>& blobs);
};

namespace {

// Holds one chain id in Impl::unpacking for its lifetime.
class ChainLock {
 public:
  ChainLock(std::mutex& mu, std::condition_variable& cv, std::set<std::string>& set,
            std::string chain)
      : mu_(mu), cv_(cv), set_(set), chain_(std::move(chain)) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return set_.count(chain_) == 0; });
    set_.insert(chain_);
  }
  ~ChainLock() {
    {
      std::lock_guard lk(mu_);
      set_.erase(chain_);
    }
    cv_.notify_all();
  }
  ChainLock(const ChainLock&) = delete;
  ChainLock& operator=(const ChainLock&) = delete;

 private:
  std::mutex& mu_;
  std::condition_variable& cv_;
  std::set<std::string>& set_;
  std::string chain_;
};

Status storeBlob(const std::string& blob_dir, const StagedFile& f) {
  std::string dst = blob_dir + "/" + f.sha;
  if (::link(f.path.c_str(), dst.c_str()) == 0 || errno == EEXIST) return Status::Ok();
  // Another filesystem (or no hardlinks): copy, then rename into place.
  std::error_code ec;
  std::string tmp = dst + uniqueSuffix();
  fs::copy_file(f.path, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return Internal("copy blob " + f.sha + ": " + ec.message());
  if (::rename(tmp.c_str(), dst.c_str()) != 0) {
    std::string err = errnoText();
    ::unlink(tmp.c_str());
    return Internal("store blob " + f.sha + ": " + err);
  }
  return Status::Ok();
}

// The OCI media type of a gzip or zstd layer blob, by its magic; "" otherwise.
std::string compressedMediaType(const std::string& path) {
  auto r = fileReader(path);
  unsigned char m[4] = {0, 0, 0, 0};
  if (!r.ok() || (*r)(reinterpret_cast<char*>(m), 4) < 2) return "";
  if (m[0] == 0x1f && m[1] == 0x8b) return media::kOciGzipLayer;
  if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return media::kOciZstdLayer;
  return "";
}

StatusOr<int64_t> readLayerSize(const std::string& meta_path) {
  ARCA_ASSIGN_OR_RETURN(std::string text, readFile(meta_path, 1 << 20));
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  const JsonValue* size = d.HasParseError() ? nullptr : member(d, "size");
  if (!size || !size->IsInt64()) return DataLoss("corrupt layer metadata " + meta_path);
  return size->GetInt64();
}

std::vector<std::string> chainIds(const ImageRecord& image) {
  std::vector<std::string> out;
  std::string chain;
  for (const auto& d : image.diff_ids()) {
    chain = chainId(chain, d);
    out.push_back(chain);
  }
  return out;
}

// The record a config describes (id, diff ids, created, platform), without
// sizes: the part shared by loads and recordFromConfig().
StatusOr<ImageRecord> parseImageConfig(const std::string& config_json) {
  if (config_json.size() > kMaxJsonSize) return InvalidArgument("image config is too large");
  ARCA_ASSIGN_OR_RETURN(rapidjson::Document config, parseJson(config_json, "image config"));
  if (!config.IsObject()) return InvalidArgument("invalid image config: not a JSON object");
  ImageRecord rec;
  rec.set_id("sha256:" + sha256Hex(config_json));
  const JsonValue* rootfs = member(config, "rootfs");
  const JsonValue* diff_ids = rootfs ? member(*rootfs, "diff_ids") : nullptr;
  if (diff_ids && !diff_ids->IsArray()) {
    return InvalidArgument("invalid image config: rootfs.diff_ids is not an array");
  }
  if (diff_ids) {
    for (const auto& d : diff_ids->GetArray()) {
      std::string diff = d.IsString() ? std::string(d.GetString(), d.GetStringLength()) : "";
      if (!sha256HexOf(diff).ok()) return InvalidArgument("invalid image config: bad diff id \"" + diff + "\"");
      rec.add_diff_ids(diff);
    }
  }
  rec.set_config_json(config_json);
  rec.set_created(stringMember(config, "created"));
  rec.set_os(stringMember(config, "os"));
  rec.set_architecture(stringMember(config, "architecture"));
  rec.set_variant(stringMember(config, "variant"));
  return rec;
}

}  // namespace

ImageStore::ImageStore(std::string root) : root_(std::move(root)), impl_(new Impl()) {
  impl_->blob_dir = root_ + "/blobs/sha256";
  impl_->layer_dir = root_ + "/layers";
  impl_->tmp_dir = root_ + "/tmp";
  impl_->image_dir = root_ + "/images";
  impl_->dist_dir = root_ + "/distribution";
}

ImageStore::~ImageStore() = default;

const char* hostArchitecture() {
#if defined(__aarch64__)
  return "arm64";
#else
  return "amd64";
#endif
}

StatusOr<std::unique_ptr<ImageStore>> ImageStore::create(const std::string& root) {
  if (root.empty()) return InvalidArgument("image store root is empty");
  std::unique_ptr<ImageStore> s(new ImageStore(root));
  std::error_code ec;
  for (const auto& d :
       {s->impl_->blob_dir, s->impl_->layer_dir, s->impl_->tmp_dir, s->impl_->image_dir,
        s->impl_->dist_dir}) {
    fs::create_directories(d, ec);
    if (ec) return Internal("create " + d + ": " + ec.message());
  }
  // Anything in tmp/ is left from a load that did not finish.
  ARCA_ASSIGN_OR_RETURN(auto tmp_names, listDir(s->impl_->tmp_dir));
  for (const auto& name : tmp_names) removeTree(s->impl_->tmp_dir + "/" + name);
  // A layer dir without its .json was being renamed into place when we stopped.
  ARCA_ASSIGN_OR_RETURN(auto layer_names, listDir(s->impl_->layer_dir));
  for (const auto& name : layer_names) {
    const std::string path = s->impl_->layer_dir + "/" + name;
    if (isSha256Hex(name) && !pathExists(path + ".json")) removeTree(path);
  }
  return s;
}

StatusOr<std::vector<ImageRecord>> ImageStore::load(const ReadFn& in, const ProgressFn& progress) {
  Impl& im = *impl_;
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };

  // 1. Spool.
  ARCA_ASSIGN_OR_RETURN(auto staging_dir, TempDir::make(im.tmp_dir, "load-"));
  Staging st(staging_dir->path());
  ARCA_RETURN_IF_ERROR(st.spool(in));

  // 2. Plan and check every stated digest.
  std::vector<Plan> plans;
  if (st.has("manifest.json")) {
    ARCA_ASSIGN_OR_RETURN(plans, planDockerArchive(st));
  } else if (st.has("index.json")) {
    ARCA_ASSIGN_OR_RETURN(plans, planOci(st));
  } else {
    return InvalidArgument(
        "invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found");
  }

  struct Prepared {
    ImageRecord record;
    const Plan* plan;
  };
  std::vector<Prepared> prepared;
  for (const auto& p : plans) {
    Prepared pr;
    pr.plan = &p;
    ImageRecord& rec = pr.record;
    if (static_cast<size_t>(p.config->size) > kMaxJsonSize) {
      return InvalidArgument("invalid archive: image config is too large");
    }
    ARCA_ASSIGN_OR_RETURN(std::string config_text, readFile(p.config->path, kMaxJsonSize));
    auto parsed = parseImageConfig(config_text);
    if (!parsed.ok()) return InvalidArgument("invalid archive: " + parsed.status().message());
    rec = std::move(*parsed);
    if (static_cast<size_t>(rec.diff_ids_size()) != p.layers.size()) {
      return InvalidArgument("invalid archive: image " + rec.id() + " has " +
                             std::to_string(p.layers.size()) + " layers but its config lists " +
                             std::to_string(rec.diff_ids_size()) + " diff_ids");
    }
    rec.set_manifest_digest(p.manifest_digest);
    for (const auto& t : p.tags) rec.add_repo_tags(t);
    prepared.push_back(std::move(pr));
  }

  // 3. Commit.
  std::shared_lock gc_lock(im.gc_mu);
  for (auto& pr : prepared) {
    ImageRecord& rec = pr.record;
    const Plan& p = *pr.plan;
    std::set<std::string> blobs;
    ARCA_RETURN_IF_ERROR(storeBlob(im.blob_dir, *p.config));
    blobs.insert("sha256:" + p.config->sha);
    for (const StagedFile* f : p.extra_blobs) {
      ARCA_RETURN_IF_ERROR(storeBlob(im.blob_dir, *f));
      blobs.insert("sha256:" + f->sha);
    }
    std::string chain;
    int64_t total = 0;
    const size_t n = p.layers.size();
    for (size_t i = 0; i < n; ++i) {
      const std::string& diff = rec.diff_ids(static_cast<int>(i));
      const std::string parent = chain;
      chain = chainId(chain, diff);
      const std::string counter = " " + std::to_string(i + 1) + "/" + std::to_string(n);
      ARCA_ASSIGN_OR_RETURN(int64_t size, im.ensureLayer(chain, parent, diff, p.layers[i]->path,
                                                         p.layers[i]->sha, counter, say));
      total = size > INT64_MAX - total ? INT64_MAX : total + size;
      ARCA_RETURN_IF_ERROR(storeBlob(im.blob_dir, *p.layers[i]));
      blobs.insert("sha256:" + p.layers[i]->sha);
      if (p.layers[i]->sha != diff.substr(7)) {
        // A compressed layer blob: a push can send it as it is.
        Distribution d;
        d.blob_digest = "sha256:" + p.layers[i]->sha;
        d.media_type = compressedMediaType(p.layers[i]->path);
        struct stat bst;
        d.size = ::stat(p.layers[i]->path.c_str(), &bst) == 0 ? bst.st_size : 0;
        if (!d.media_type.empty()) ARCA_RETURN_IF_ERROR(addDistribution(diff, d));
      }
    }
    rec.set_size(total);
    ARCA_RETURN_IF_ERROR(im.recordBlobs(rec.id(), blobs));
  }

  // One record per image id; a tag named twice goes to the last image naming it.
  std::vector<ImageRecord> out;
  std::map<std::string, size_t> tag_owner;
  for (auto& pr : prepared) {
    auto same = std::find_if(out.begin(), out.end(),
                             [&](const ImageRecord& r) { return r.id() == pr.record.id(); });
    size_t idx = static_cast<size_t>(same - out.begin());
    if (same == out.end()) {
      out.push_back(pr.record);
      out.back().clear_repo_tags();
    } else if (same->manifest_digest().empty()) {
      same->set_manifest_digest(pr.record.manifest_digest());
    }
    for (const auto& t : pr.record.repo_tags()) tag_owner[t] = idx;
  }
  // Keep the archive's tag order per image.
  for (auto& pr : prepared) {
    for (const auto& t : pr.record.repo_tags()) {
      ImageRecord& owner = out[tag_owner[t]];
      if (owner.id() != pr.record.id()) continue;
      if (std::find(owner.repo_tags().begin(), owner.repo_tags().end(), t) ==
          owner.repo_tags().end()) {
        owner.add_repo_tags(t);
      }
    }
  }
  return out;
}

StatusOr<int64_t> ImageStore::Impl::ensureLayer(const std::string& chain, const std::string& parent,
                                                const std::string& diff_id,
                                                const std::string& blob_path,
                                                const std::string& blob_sha,
                                                const std::string& counter, const ProgressFn& say) {
  Impl& im = *this;
  const std::string chain_hex = chain.substr(7);
  const std::string diff_hex = diff_id.substr(7);
  const std::string dir = im.layer_dir + "/" + chain_hex;
  const std::string meta = dir + ".json";
  ChainLock lock(im.layer_mu, im.layer_cv, im.unpacking, chain);

  if (pathExists(meta) && isDirectory(dir)) {
    // Already unpacked; still check the archive's layer is the one its config names.
    if (blob_sha != diff_hex) {
      ARCA_ASSIGN_OR_RETURN(auto s, DecompressedStream::open(blob_path));
      ARCA_ASSIGN_OR_RETURN(std::string got, s->finish());
      if (got != diff_hex) {
        return InvalidArgument("invalid archive: layer " + diff_id +
                               " digest mismatch (content "
                               "is sha256:" +
                               got + ")");
      }
    }
    say("Layer " + shortHex(diff_id) + " already exists" + counter);
    return readLayerSize(meta);
  }
  // Leftovers of an interrupted unpack.
  removeTree(dir);
  ::unlink(meta.c_str());

  say("Loading layer " + shortHex(diff_id) + counter);
  ARCA_ASSIGN_OR_RETURN(auto tmp, TempDir::make(im.tmp_dir, "layer-"));
  // mkdtemp makes 0700; a layer root is the container's "/" unless the tar says otherwise.
  if (::chmod(tmp->path().c_str(), 0755) != 0) return Internal("chmod " + tmp->path());
  ARCA_ASSIGN_OR_RETURN(auto stream, DecompressedStream::open(blob_path));
  auto unpacked = unpackLayer(stream->readFn(), tmp->path());
  if (!unpacked.ok()) {
    if (!stream->error().empty()) {
      return InvalidArgument("invalid layer " + diff_id + ": " + stream->error());
    }
    return unpacked.status();
  }
  const int64_t size = *unpacked;
  ARCA_ASSIGN_OR_RETURN(std::string got, stream->finish());
  if (got != diff_hex) {
    return InvalidArgument("invalid archive: layer " + diff_id +
                           " digest mismatch (content is "
                           "sha256:" +
                           got + ")");
  }
  if (::rename(tmp->path().c_str(), dir.c_str()) != 0) {
    return Internal("rename layer into " + dir + ": " + errnoText());
  }
  tmp->release();

  rapidjson::Document d(rapidjson::kObjectType);
  auto& alloc = d.GetAllocator();
  d.AddMember("diff_id", rapidjson::Value(diff_id.c_str(), alloc), alloc);
  d.AddMember("parent", rapidjson::Value(parent.c_str(), alloc), alloc);
  d.AddMember("size", rapidjson::Value(static_cast<int64_t>(size)), alloc);
  Status st = writeFileAtomic(meta, toJson(d));
  if (!st.ok()) {
    removeTree(dir);
    return st;
  }
  spdlog::debug("image store: unpacked layer {} ({} bytes)", chain, size);
  return size;
}

Status ImageStore::Impl::recordBlobs(const std::string& id, const std::set<std::string>& blobs) {
  Impl& im = *this;
  std::lock_guard lk(im.meta_mu);
  const std::string path = im.image_dir + "/" + id.substr(7) + ".json";
  std::set<std::string> all = blobs;
  if (auto text = readFile(path, kMaxJsonSize); text.ok()) {
    rapidjson::Document old;
    old.Parse(text->data(), text->size());
    const JsonValue* b = old.HasParseError() ? nullptr : member(old, "blobs");
    if (b && b->IsArray()) {
      for (const auto& v : b->GetArray()) {
        if (v.IsString()) all.insert(std::string(v.GetString(), v.GetStringLength()));
      }
    }
  }
  rapidjson::Document d(rapidjson::kObjectType);
  auto& alloc = d.GetAllocator();
  d.AddMember("id", rapidjson::Value(id.c_str(), alloc), alloc);
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const auto& b : all) arr.PushBack(rapidjson::Value(b.c_str(), alloc), alloc);
  d.AddMember("blobs", arr, alloc);
  return writeFileAtomic(path, toJson(d));
}

// ---------------------------------------------------------------------------
// Primitives for pulls, pushes, imports and saves.

StatusOr<ImageStore::Layer> ImageStore::ingestLayer(const ReadFn& in,
                                                    const std::string& parent_chain,
                                                    const std::string& expected_blob_digest,
                                                    int64_t expected_size,
                                                    const std::string& expected_diff_id,
                                                    const std::function<void(int64_t)>& on_bytes) {
  Impl& im = *impl_;
  std::string want_blob, want_diff;
  if (!expected_blob_digest.empty()) {
    ARCA_ASSIGN_OR_RETURN(want_blob, sha256HexOf(expected_blob_digest));
  }
  if (!expected_diff_id.empty()) {
    ARCA_ASSIGN_OR_RETURN(want_diff, sha256HexOf(expected_diff_id));
  }
  if (!parent_chain.empty()) ARCA_RETURN_IF_ERROR(sha256HexOf(parent_chain).status());

  ARCA_ASSIGN_OR_RETURN(auto tmp, TempDir::make(im.tmp_dir, "ingest-"));
  const std::string blob_tmp = tmp->path() + "/blob";
  const std::string layer_tmp = tmp->path() + "/layer";
  FdGuard fd(::open(blob_tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return Internal("create " + blob_tmp + ": " + errnoText());
  if (::mkdir(layer_tmp.c_str(), 0755) != 0) return Internal("mkdir " + layer_tmp + ": " + errnoText());

  // Tee: every compressed byte is hashed and spooled to the blob file on its
  // way to the decompressor.
  Sha256 blob_hash;
  int64_t total = 0;
  std::string tee_error;
  ReadFn tee = [&](char* buf, size_t len) -> long {
    long n = in(buf, len);
    if (n < 0) {
      if (tee_error.empty()) tee_error = "read error";
      return -1;
    }
    if (n == 0) return 0;
    total += n;
    if (expected_size >= 0 && total > expected_size) {
      tee_error = "blob " + expected_blob_digest + " is larger than the " +
                  std::to_string(expected_size) + " bytes its descriptor states";
      return -1;
    }
    blob_hash.update(buf, static_cast<size_t>(n));
    if (Status w = writeAll(fd.get(), buf, static_cast<size_t>(n), "blob"); !w.ok()) {
      tee_error = w.message();
      return -1;
    }
    if (on_bytes) on_bytes(total);
    return n;
  };
  auto failed = [&](const Status& st) -> Status {
    if (!tee_error.empty()) return InvalidArgument(tee_error);
    return st;
  };

  const bool known = !want_diff.empty() && hasLayer(chainId(parent_chain, expected_diff_id));
  auto stream = DecompressedStream::open(tee);
  if (!stream.ok()) return failed(stream.status());
  // A plain tar's diff id is its blob digest: hash it once.
  const bool plain = (*stream)->passthrough();
  if (plain) (*stream)->stopHashing();
  int64_t size = 0;
  if (!known) {
    auto unpacked = unpackLayer((*stream)->readFn(), layer_tmp);
    if (!unpacked.ok()) {
      if (!tee_error.empty()) return InvalidArgument(tee_error);
      if (!(*stream)->error().empty()) return InvalidArgument("invalid layer: " + (*stream)->error());
      return unpacked.status();
    }
    size = *unpacked;
  }
  auto diff_hex = (*stream)->finish();
  if (!diff_hex.ok()) return failed(diff_hex.status());
  // Whatever the decompressor did not need (a gzip trailer) still belongs to the blob.
  std::vector<char> drain(64 * 1024);
  while (true) {
    long n = tee(drain.data(), drain.size());
    if (n == 0) break;
    if (n < 0) return failed(Internal("read error"));
  }
  const std::string blob_hex = blob_hash.hexDigest();
  if (plain) *diff_hex = blob_hex;
  if (expected_size >= 0 && total != expected_size) {
    return InvalidArgument("blob " + expected_blob_digest + " has " + std::to_string(total) +
                           " bytes, its descriptor states " + std::to_string(expected_size));
  }
  if (!want_blob.empty() && blob_hex != want_blob) {
    return InvalidArgument("filesystem layer verification failed for digest " +
                           expected_blob_digest);
  }
  if (!want_diff.empty() && *diff_hex != want_diff) {
    return InvalidArgument("layer " + expected_blob_digest + " unpacks to sha256:" + *diff_hex +
                           ", but the image config names " + expected_diff_id);
  }

  Layer out;
  out.blob_digest = "sha256:" + blob_hex;
  out.blob_size = total;
  out.diff_id = "sha256:" + *diff_hex;
  out.chain_id = chainId(parent_chain, out.diff_id);
  const std::string chain_hex = out.chain_id.substr(7);
  const std::string dir = im.layer_dir + "/" + chain_hex;
  const std::string meta = dir + ".json";

  std::shared_lock gc_lock(im.gc_mu);
  if (::rename(blob_tmp.c_str(), (im.blob_dir + "/" + blob_hex).c_str()) != 0) {
    return Internal("store blob " + out.blob_digest + ": " + errnoText());
  }
  ChainLock lock(im.layer_mu, im.layer_cv, im.unpacking, out.chain_id);
  if (pathExists(meta) && isDirectory(dir)) {
    ARCA_ASSIGN_OR_RETURN(out.size, readLayerSize(meta));
    return out;
  }
  if (known) return Internal("layer " + out.chain_id + " vanished while it was being pulled");
  removeTree(dir);
  if (::rename(layer_tmp.c_str(), dir.c_str()) != 0) {
    return Internal("rename layer into " + dir + ": " + errnoText());
  }
  rapidjson::Document d(rapidjson::kObjectType);
  auto& alloc = d.GetAllocator();
  d.AddMember("diff_id", rapidjson::Value(out.diff_id.c_str(), alloc), alloc);
  d.AddMember("parent", rapidjson::Value(parent_chain.c_str(), alloc), alloc);
  d.AddMember("size", rapidjson::Value(static_cast<int64_t>(size)), alloc);
  if (Status st = writeFileAtomic(meta, toJson(d)); !st.ok()) {
    removeTree(dir);
    return st;
  }
  out.size = size;
  return out;
}

StatusOr<ImageStore::Layer> ImageStore::ingestLayerFromBlob(const std::string& blob_digest,
                                                            const std::string& parent_chain,
                                                            const std::string& expected_diff_id) {
  std::string path = blobPath(blob_digest);
  if (path.empty()) return InvalidArgument("invalid digest " + blob_digest);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFound("blob " + blob_digest + " is not in the store");
  ARCA_ASSIGN_OR_RETURN(ReadFn file, fileReader(path));
  return ingestLayer(file, parent_chain, blob_digest, st.st_size, expected_diff_id, nullptr);
}

bool ImageStore::hasLayer(const std::string& chain_id) const {
  auto hex = sha256HexOf(chain_id);
  if (!hex.ok()) return false;
  const std::string dir = impl_->layer_dir + "/" + *hex;
  return isDirectory(dir) && pathExists(dir + ".json");
}

StatusOr<int64_t> ImageStore::layerSize(const std::string& chain_id) const {
  ARCA_ASSIGN_OR_RETURN(std::string hex, sha256HexOf(chain_id));
  return readLayerSize(impl_->layer_dir + "/" + hex + ".json");
}

std::string ImageStore::blobPath(const std::string& digest) const {
  auto hex = sha256HexOf(digest);
  return hex.ok() ? impl_->blob_dir + "/" + *hex : "";
}

bool ImageStore::hasBlob(const std::string& digest) const {
  std::string p = blobPath(digest);
  return !p.empty() && pathExists(p);
}

StatusOr<std::string> ImageStore::putBlob(std::string_view data, const std::string& expected_digest) {
  const std::string hex = sha256Hex(data);
  if (!expected_digest.empty() && expected_digest != "sha256:" + hex) {
    return InvalidArgument("content does not match digest " + expected_digest + " (it is sha256:" +
                           hex + ")");
  }
  const std::string path = impl_->blob_dir + "/" + hex;
  std::shared_lock gc_lock(impl_->gc_mu);
  if (!pathExists(path)) ARCA_RETURN_IF_ERROR(writeFileAtomic(path, std::string(data)));
  return "sha256:" + hex;
}

StatusOr<std::string> ImageStore::readBlob(const std::string& digest, size_t max_bytes) const {
  std::string p = blobPath(digest);
  if (p.empty()) return InvalidArgument("invalid digest " + digest);
  if (!pathExists(p)) return NotFound("blob " + digest + " is not in the store");
  ARCA_ASSIGN_OR_RETURN(std::string data, readFile(p, max_bytes));
  if ("sha256:" + sha256Hex(data) != digest) return DataLoss("blob " + digest + " is corrupt on disk");
  return data;
}

Status ImageStore::recordBlobs(const std::string& image_id, const std::set<std::string>& blobs) {
  ARCA_RETURN_IF_ERROR(sha256HexOf(image_id).status());
  return impl_->recordBlobs(image_id, blobs);
}

std::vector<std::string> ImageStore::imageBlobs(const std::string& image_id) const {
  std::vector<std::string> out;
  auto hex = sha256HexOf(image_id);
  if (!hex.ok()) return out;
  std::lock_guard lk(impl_->meta_mu);
  auto text = readFile(impl_->image_dir + "/" + *hex + ".json", kMaxJsonSize);
  if (!text.ok()) return out;
  rapidjson::Document d;
  d.Parse(text->data(), text->size());
  const JsonValue* b = d.HasParseError() ? nullptr : member(d, "blobs");
  if (b && b->IsArray()) {
    for (const auto& v : b->GetArray()) {
      if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
    }
  }
  return out;
}

Status ImageStore::addDistribution(const std::string& diff_id, const Distribution& add) {
  ARCA_ASSIGN_OR_RETURN(std::string hex, sha256HexOf(diff_id));
  ARCA_RETURN_IF_ERROR(sha256HexOf(add.blob_digest).status());
  auto list = distributions(diff_id);
  std::lock_guard lk(impl_->meta_mu);
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const Distribution& d) { return d.blob_digest == add.blob_digest; });
  if (it == list.end()) {
    list.push_back(add);
  } else {
    if (!add.media_type.empty()) it->media_type = add.media_type;
    if (add.size > 0) it->size = add.size;
    for (const auto& r : add.repos) {
      if (std::find(it->repos.begin(), it->repos.end(), r) == it->repos.end()) it->repos.push_back(r);
    }
  }
  rapidjson::Document d(rapidjson::kObjectType);
  auto& alloc = d.GetAllocator();
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const auto& x : list) {
    rapidjson::Value o(rapidjson::kObjectType);
    o.AddMember("digest", rapidjson::Value(x.blob_digest.c_str(), alloc), alloc);
    o.AddMember("media_type", rapidjson::Value(x.media_type.c_str(), alloc), alloc);
    o.AddMember("size", rapidjson::Value(static_cast<int64_t>(x.size)), alloc);
    rapidjson::Value repos(rapidjson::kArrayType);
    for (const auto& r : x.repos) repos.PushBack(rapidjson::Value(r.c_str(), alloc), alloc);
    o.AddMember("repos", repos, alloc);
    arr.PushBack(o, alloc);
  }
  d.AddMember("blobs", arr, alloc);
  return writeFileAtomic(impl_->dist_dir + "/" + hex + ".json", toJson(d));
}

std::vector<ImageStore::Distribution> ImageStore::distributions(const std::string& diff_id) const {
  std::vector<Distribution> out;
  auto hex = sha256HexOf(diff_id);
  if (!hex.ok()) return out;
  auto text = readFile(impl_->dist_dir + "/" + *hex + ".json", kMaxJsonSize);
  if (!text.ok()) return out;
  rapidjson::Document d;
  d.Parse(text->data(), text->size());
  const JsonValue* b = d.HasParseError() ? nullptr : member(d, "blobs");
  if (!b || !b->IsArray()) return out;
  for (const auto& v : b->GetArray()) {
    if (!v.IsObject()) continue;
    Distribution x;
    x.blob_digest = stringMember(v, "digest");
    x.media_type = stringMember(v, "media_type");
    if (const JsonValue* sz = member(v, "size"); sz && sz->IsInt64()) x.size = sz->GetInt64();
    if (const JsonValue* r = member(v, "repos"); r && r->IsArray()) {
      for (const auto& rr : r->GetArray()) {
        if (rr.IsString()) x.repos.emplace_back(rr.GetString(), rr.GetStringLength());
      }
    }
    if (sha256HexOf(x.blob_digest).ok()) out.push_back(std::move(x));
  }
  return out;
}

StatusOr<ImageRecord> ImageStore::recordFromConfig(const std::string& config_json) const {
  ARCA_ASSIGN_OR_RETURN(ImageRecord rec, parseImageConfig(config_json));
  int64_t total = 0;
  for (const auto& chain : chainIds(rec)) {
    auto sz = layerSize(chain);
    if (sz.ok()) total += *sz;
  }
  rec.set_size(total);
  return rec;
}

StatusOr<std::vector<std::string>> ImageStore::layerDirs(const ImageRecord& image) const {
  std::vector<std::string> dirs;
  for (const auto& d : image.diff_ids()) {
    if (!sha256HexOf(d).ok()) return InvalidArgument("image " + image.id() + ": bad diff id " + d);
  }
  for (const auto& chain : chainIds(image)) {
    std::string dir = impl_->layer_dir + "/" + chain.substr(7);
    if (!isDirectory(dir) || !pathExists(dir + ".json")) {
      return NotFound("layer " + chain + " of image " + image.id() + " is not in the image store");
    }
    dirs.push_back(dir);
  }
  std::reverse(dirs.begin(), dirs.end());
  return dirs;
}

Status ImageStore::garbageCollect(const std::vector<ImageRecord>& keep) {
  Impl& im = *impl_;
  std::unique_lock gc_lock(im.gc_mu);
  std::set<std::string> keep_blobs;   // hex
  std::set<std::string> keep_layers;  // chain hex
  std::set<std::string> keep_images;  // id hex
  std::set<std::string> keep_diffs;   // diff id hex
  for (const auto& img : keep) {
    auto id_hex = sha256HexOf(img.id());
    if (!id_hex.ok()) continue;
    keep_images.insert(*id_hex);
    keep_blobs.insert(*id_hex);
    if (auto m = sha256HexOf(img.manifest_digest()); m.ok()) keep_blobs.insert(*m);
    for (const auto& d : img.diff_ids()) {
      if (auto h = sha256HexOf(d); h.ok()) {
        keep_blobs.insert(*h);
        keep_diffs.insert(*h);
      }
    }
    for (const auto& c : chainIds(img)) keep_layers.insert(c.substr(7));
    std::lock_guard lk(im.meta_mu);
    if (auto text = readFile(im.image_dir + "/" + *id_hex + ".json", kMaxJsonSize); text.ok()) {
      rapidjson::Document d;
      d.Parse(text->data(), text->size());
      const JsonValue* b = d.HasParseError() ? nullptr : member(d, "blobs");
      if (b && b->IsArray()) {
        for (const auto& v : b->GetArray()) {
          if (!v.IsString()) continue;
          if (auto h = sha256HexOf(v.GetString()); h.ok()) keep_blobs.insert(*h);
        }
      }
    }
  }

  Status first;
  auto sweep = [&](const std::string& dir, auto&& keepName) {
    auto names = listDir(dir);
    if (!names.ok()) {
      if (first.ok()) first = names.status();
      return;
    }
    for (const auto& name : *names) {
      if (keepName(name)) continue;
      std::error_code ec;
      fs::remove_all(dir + "/" + name, ec);
      if (ec && first.ok()) first = Internal("remove " + dir + "/" + name + ": " + ec.message());
    }
  };
  auto stem = [](const std::string& name) {
    return name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0
               ? name.substr(0, name.size() - 5)
               : name;
  };
  sweep(im.blob_dir, [&](const std::string& n) { return keep_blobs.count(n) > 0; });
  sweep(im.layer_dir, [&](const std::string& n) { return keep_layers.count(stem(n)) > 0; });
  {
    std::lock_guard lk(im.meta_mu);
    sweep(im.dist_dir, [&](const std::string& n) { return keep_diffs.count(stem(n)) > 0; });
    sweep(im.image_dir, [&](const std::string& n) { return keep_images.count(stem(n)) > 0; });
  }
  return first;
}

}  // namespace arca::image
