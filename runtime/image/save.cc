// `docker save`: images out of the store as a tar stream in the form Docker
// 25+ writes (OCI image layout + the legacy manifest.json / repositories).
//
//   blobs/sha256/<hex>   OCI manifests, configs and uncompressed layer tars
//   index.json           one manifest descriptor per tag (or one, unnamed, per
//                        untagged image), annotated with the image's names
//   manifest.json        [{"Config","RepoTags","Layers"}] for older loaders
//   oci-layout           {"imageLayoutVersion":"1.0.0"}
//   repositories         {"name":{"tag":"<top layer hex>"}} when anything is tagged
//
// Step 1 (prepare) finds an uncompressed tar for every layer and opens it:
// the blob named by the diff id itself, or a compressed blob decompressed into
// an unlinked temporary file under tmp/ while its sha256 is checked. Step 2
// writes the archive with libarchive into `out` through a small buffer.
#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/image/archive_io.h"
#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "runtime/image/media_types.h"
#include "runtime/image/reference.h"

namespace arca::image {
namespace {

constexpr const char* kIndexType = media::kOciIndex;
constexpr const char* kManifestType = media::kOciManifest;
constexpr const char* kConfigType = media::kOciConfig;
constexpr const char* kLayerType = media::kOciLayer;
constexpr size_t kMaxManifestSize = 4 << 20;
constexpr size_t kCopyBuf = 256 * 1024;
constexpr size_t kOutBuf = 512 * 1024;

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

std::string errnoText() { return std::strerror(errno); }

void key(JsonWriter& w, const char* k, const std::string& v) {
  w.Key(k);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

std::string jsonText(const rapidjson::StringBuffer& sb) { return std::string(sb.GetString(), sb.GetSize()); }

struct LayerTar {
  std::shared_ptr<FdGuard> file;  // closed with the last owner
  int64_t size = 0;
};

Status writeFd(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("write temporary layer: " + errnoText());
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Decompresses the blob at `path` into `fd` (truncated first) and returns the
// sha256 hex of what came out; InvalidArgument when it does not decompress.
StatusOr<std::string> decompressInto(const std::string& path, int fd, int64_t* size) {
  if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
    return Internal("reset temporary layer: " + errnoText());
  }
  ARCA_ASSIGN_OR_RETURN(ReadFn file, fileReader(path));
  ARCA_ASSIGN_OR_RETURN(auto reader, StreamReader::open(file, StreamReader::Format::kRaw));
  archive_entry* e = nullptr;
  int r = archive_read_next_header(reader->get(), &e);
  Sha256 h;
  *size = 0;
  if (r == ARCHIVE_EOF) return h.hexDigest();
  if (r < ARCHIVE_WARN) return InvalidArgument(archiveError(reader->get()));
  std::vector<char> buf(kCopyBuf);
  while (true) {
    la_ssize_t n = archive_read_data(reader->get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) return InvalidArgument(archiveError(reader->get()));
    h.update(buf.data(), static_cast<size_t>(n));
    ARCA_RETURN_IF_ERROR(writeFd(fd, buf.data(), static_cast<size_t>(n)));
    *size += n;
  }
  return h.hexDigest();
}

// The compressed blobs that may hold layer `index` (diff id `diff`) of `img`,
// most likely first: registry blobs known to hold it, the blob its manifest
// names, then any other blob the image keeps.
std::vector<std::string> candidateBlobs(const ImageStore& store, const v1::ImageRecord& img,
                                        size_t index, const std::string& diff) {
  std::vector<std::string> out;
  auto add = [&](const std::string& d) {
    if (d.empty() || d == diff || d == img.id() || d == img.manifest_digest()) return;
    if (std::find(out.begin(), out.end(), d) == out.end() && store.hasBlob(d)) out.push_back(d);
  };
  for (const auto& dist : store.distributions(diff)) add(dist.blob_digest);
  if (!img.manifest_digest().empty()) {
    auto text = store.readBlob(img.manifest_digest(), kMaxManifestSize);
    rapidjson::Document m;
    if (text.ok()) m.Parse(text->data(), text->size());
    if (text.ok() && !m.HasParseError() && m.IsObject()) {
      auto layers = m.FindMember("layers");
      if (layers != m.MemberEnd() && layers->value.IsArray() &&
          layers->value.Size() == static_cast<rapidjson::SizeType>(img.diff_ids_size())) {
        const auto& l = layers->value[static_cast<rapidjson::SizeType>(index)];
        auto d = l.IsObject() ? l.FindMember("digest") : l.MemberEnd();
        if (l.IsObject() && d != l.MemberEnd() && d->value.IsString()) add(d->value.GetString());
      }
    }
  }
  for (const auto& b : store.imageBlobs(img.id())) add(b);
  return out;
}

StatusOr<LayerTar> openLayerTar(const ImageStore& store, const v1::ImageRecord& img, size_t index) {
  const std::string& diff = img.diff_ids(static_cast<int>(index));
  ARCA_ASSIGN_OR_RETURN(std::string diff_hex, sha256HexOf(diff));
  LayerTar out;
  if (store.hasBlob(diff)) {
    int fd = ::open(store.blobPath(diff).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Internal("open blob " + diff + ": " + errnoText());
    out.file = std::make_shared<FdGuard>(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0) return Internal("stat blob " + diff + ": " + errnoText());
    out.size = st.st_size;
    return out;
  }
  auto candidates = candidateBlobs(store, img, index, diff);
  if (candidates.empty()) {
    return NotFound("layer " + diff + " of image " + img.id() + " is not in the image store");
  }
  std::string templ = store.root() + "/tmp/save-XXXXXX";
  std::vector<char> name(templ.begin(), templ.end());
  name.push_back('\0');
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return Internal("create temporary file in " + store.root() + "/tmp: " + errnoText());
  ::unlink(name.data());  // the open descriptor keeps it while the save runs
  out.file = std::make_shared<FdGuard>(fd);
  for (const auto& blob : candidates) {
    int64_t size = 0;
    auto got = decompressInto(store.blobPath(blob), fd, &size);
    if (!got.ok()) {
      if (got.status().code() == Code::kInvalidArgument) continue;  // not this one
      return got.status();
    }
    if (*got != diff_hex) continue;
    if (::lseek(fd, 0, SEEK_SET) != 0) return Internal("rewind temporary layer: " + errnoText());
    out.size = size;
    return out;
  }
  return DataLoss("no blob in the image store decompresses to layer " + diff + " of image " + img.id());
}

// libarchive's tar writer over a WriteFn, through a buffer (one HTTP chunk
// per ~512 KiB instead of one per tar header).
class TarStream {
 public:
  explicit TarStream(const WriteFn& out) : out_(out) {}
  TarStream(const TarStream&) = delete;
  TarStream& operator=(const TarStream&) = delete;

  Status open() {
    a_.reset(archive_write_new());
    if (!a_) return Internal("archive_write_new failed");
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_per_block(a_.get(), 0);  // no blocking: our buffer batches
    if (archive_write_open(a_.get(), this, nullptr, &TarStream::writeCb, nullptr) != ARCHIVE_OK) {
      return Internal("open tar writer: " + archiveError(a_.get()));
    }
    return Status::Ok();
  }

  Status dir(const std::string& name, int64_t mtime) { return header(name, AE_IFDIR, 0755, 0, mtime); }

  Status file(const std::string& name, std::string_view data, int64_t mtime) {
    ARCA_RETURN_IF_ERROR(header(name, AE_IFREG, 0644, static_cast<int64_t>(data.size()), mtime));
    return body(data.data(), data.size());
  }

  Status file(const std::string& name, const LayerTar& src, int64_t mtime) {
    ARCA_RETURN_IF_ERROR(header(name, AE_IFREG, 0644, src.size, mtime));
    std::vector<char> buf(kCopyBuf);
    int64_t off = 0;
    while (off < src.size) {
      size_t want = static_cast<size_t>(std::min<int64_t>(src.size - off, static_cast<int64_t>(buf.size())));
      ssize_t n = ::pread(src.file->get(), buf.data(), want, off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Internal("read layer for " + name + ": " + errnoText());
      if (n == 0) return DataLoss("layer " + name + " shrank while it was being saved");
      ARCA_RETURN_IF_ERROR(body(buf.data(), static_cast<size_t>(n)));
      off += n;
    }
    return Status::Ok();
  }

  Status close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) return failure("finish tar");
    return flush();
  }

 private:
  Status header(const std::string& name, unsigned type, int perm, int64_t size, int64_t mtime) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), size);
    archive_entry_set_mtime(e.get(), mtime, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK) return failure("write " + name);
    return Status::Ok();
  }

  Status body(const char* data, size_t len) {
    while (len > 0) {
      la_ssize_t n = archive_write_data(a_.get(), data, len);
      if (n <= 0) return failure("write data");
      data += n;
      len -= static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status failure(const std::string& what) {
    if (gone_) return Canceled("the client went away during the save");
    return Internal(what + ": " + archiveError(a_.get()));
  }

  Status flush() {
    if (!buf_.empty() && !gone_ && !out_(buf_)) gone_ = true;
    buf_.clear();
    return gone_ ? Canceled("the client went away during the save") : Status::Ok();
  }

  static la_ssize_t writeCb(archive* a, void* self, const void* data, size_t len) {
    auto* t = static_cast<TarStream*>(self);
    t->buf_.append(static_cast<const char*>(data), len);
    if (t->buf_.size() >= kOutBuf && !t->flush().ok()) {
      archive_set_error(a, EPIPE, "client gone");
      return -1;
    }
    return static_cast<la_ssize_t>(len);
  }

  const WriteFn& out_;
  ArchiveWritePtr a_;
  std::string buf_;
  bool gone_ = false;
};

// One image as it goes into the archive.
struct Entry {
  const SaveItem* item;
  std::string config_hex;
  std::string manifest;  // OCI manifest JSON
  std::string manifest_hex;
};

std::string ociManifest(const v1::ImageRecord& img, const std::map<std::string, LayerTar>& layers) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("schemaVersion");
  w.Int(2);
  key(w, "mediaType", kManifestType);
  w.Key("config");
  w.StartObject();
  key(w, "mediaType", kConfigType);
  key(w, "digest", img.id());
  w.Key("size");
  w.Int64(static_cast<int64_t>(img.config_json().size()));
  w.EndObject();
  w.Key("layers");
  w.StartArray();
  for (const auto& d : img.diff_ids()) {
    w.StartObject();
    key(w, "mediaType", kLayerType);
    key(w, "digest", d);
    w.Key("size");
    w.Int64(layers.at(d).size);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return jsonText(sb);
}

std::string indexJson(const std::vector<Entry>& entries) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  w.Key("schemaVersion");
  w.Int(2);
  key(w, "mediaType", kIndexType);
  w.Key("manifests");
  w.StartArray();
  for (const auto& e : entries) {
    auto descriptor = [&](const std::string& tag) {
      w.StartObject();
      key(w, "mediaType", kManifestType);
      key(w, "digest", "sha256:" + e.manifest_hex);
      w.Key("size");
      w.Int64(static_cast<int64_t>(e.manifest.size()));
      if (!tag.empty()) {
        auto ref = parseReference(tag);
        w.Key("annotations");
        w.StartObject();
        key(w, "io.containerd.image.name", tag);
        key(w, "org.opencontainers.image.ref.name", ref.ok() ? ref->tag : "");
        w.EndObject();
      }
      w.EndObject();
    };
    if (e.item->tags.empty()) descriptor("");
    for (const auto& t : e.item->tags) descriptor(t);
  }
  w.EndArray();
  w.EndObject();
  return jsonText(sb);
}

std::string manifestJson(const std::vector<Entry>& entries) {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  for (const auto& e : entries) {
    w.StartObject();
    key(w, "Config", "blobs/sha256/" + e.config_hex);
    w.Key("RepoTags");
    if (e.item->tags.empty()) {
      w.Null();
    } else {
      w.StartArray();
      for (const auto& t : e.item->tags) {
        std::string f = familiarString(t);
        w.String(f.c_str(), static_cast<rapidjson::SizeType>(f.size()));
      }
      w.EndArray();
    }
    w.Key("Layers");
    w.StartArray();
    for (const auto& d : e.item->image.diff_ids()) {
      std::string p = "blobs/sha256/" + d.substr(7);
      w.String(p.c_str(), static_cast<rapidjson::SizeType>(p.size()));
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  return jsonText(sb);
}

// {"busybox":{"latest":"<top layer hex>"}}; "" when nothing is tagged.
std::string repositoriesJson(const std::vector<Entry>& entries) {
  std::map<std::string, std::map<std::string, std::string>> repos;
  for (const auto& e : entries) {
    const auto& img = e.item->image;
    if (img.diff_ids_size() == 0) continue;
    for (const auto& t : e.item->tags) {
      auto ref = parseReference(t);
      if (!ref.ok() || ref->tag.empty()) continue;
      repos[ref->familiarName()][ref->tag] = img.diff_ids(img.diff_ids_size() - 1).substr(7);
    }
  }
  if (repos.empty()) return "";
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  for (const auto& [name, tags] : repos) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.StartObject();
    for (const auto& [tag, layer] : tags) key(w, tag.c_str(), layer);
    w.EndObject();
  }
  w.EndObject();
  return jsonText(sb);
}

}  // namespace

Status ImageStore::save(const std::vector<SaveItem>& items, const WriteFn& out) const {
  // 1. Prepare: every config checked, every layer tar found and opened.
  std::vector<Entry> entries;
  std::map<std::string, LayerTar> layers;            // diff id -> tar
  std::map<std::string, std::string> small_blobs;    // hex -> configs and manifests
  std::map<std::string, int64_t> blob_mtime;         // hex -> mtime
  for (const auto& item : items) {
    const auto& img = item.image;
    Entry e;
    e.item = &item;
    ARCA_ASSIGN_OR_RETURN(e.config_hex, sha256HexOf(img.id()));
    if (sha256Hex(img.config_json()) != e.config_hex) {
      return DataLoss("the config of image " + img.id() + " does not match its id");
    }
    for (int i = 0; i < img.diff_ids_size(); ++i) {
      const std::string& d = img.diff_ids(i);
      if (layers.count(d)) continue;
      ARCA_ASSIGN_OR_RETURN(layers[d], openLayerTar(*this, img, static_cast<size_t>(i)));
      blob_mtime.emplace(d.substr(7), item.created_s);
    }
    e.manifest = ociManifest(img, layers);
    e.manifest_hex = sha256Hex(e.manifest);
    small_blobs[e.config_hex] = img.config_json();
    small_blobs[e.manifest_hex] = e.manifest;
    blob_mtime.emplace(e.config_hex, item.created_s);
    blob_mtime.emplace(e.manifest_hex, 0);
    entries.push_back(std::move(e));
  }
  std::map<std::string, const LayerTar*> layer_by_hex;
  for (const auto& [d, tar] : layers) layer_by_hex[d.substr(7)] = &tar;

  // 2. Write, in the order a directory walk gives (names sorted).
  TarStream tar(out);
  ARCA_RETURN_IF_ERROR(tar.open());
  ARCA_RETURN_IF_ERROR(tar.dir("blobs/", 0));
  ARCA_RETURN_IF_ERROR(tar.dir("blobs/sha256/", 0));
  std::set<std::string> names;
  for (const auto& [hex, _] : small_blobs) names.insert(hex);
  for (const auto& [hex, _] : layer_by_hex) names.insert(hex);
  for (const auto& hex : names) {
    const std::string path = "blobs/sha256/" + hex;
    if (auto l = layer_by_hex.find(hex); l != layer_by_hex.end()) {
      ARCA_RETURN_IF_ERROR(tar.file(path, *l->second, blob_mtime[hex]));
    } else {
      ARCA_RETURN_IF_ERROR(tar.file(path, small_blobs[hex], blob_mtime[hex]));
    }
  }
  ARCA_RETURN_IF_ERROR(tar.file("index.json", indexJson(entries), 0));
  ARCA_RETURN_IF_ERROR(tar.file("manifest.json", manifestJson(entries), 0));
  ARCA_RETURN_IF_ERROR(tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})", 0));
  std::string repos = repositoriesJson(entries);
  if (!repos.empty()) ARCA_RETURN_IF_ERROR(tar.file("repositories", repos, 0));
  return tar.close();
}

}  // namespace arca::image
