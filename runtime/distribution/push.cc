// docker push: for every layer the cheapest way to get its blob into the
// repository (already there > cross-repository mount > upload), then the
// config and a schema 2 manifest naming the blobs.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <mutex>

#include "runtime/distribution/parallel.h"
#include "runtime/distribution/pull.h"
#include "runtime/image/archive_io.h"
#include "runtime/image/digest.h"

namespace arca::distribution {
namespace {

using media::kDockerConfig;
using media::kDockerGzipLayer;
using media::kOciConfig;
using media::kOciGzipLayer;
using media::kOciZstdLayer;

// A ReadFn yielding the gzip compression of `src` (for layers the store only
// holds uncompressed: images loaded from `docker save` or imported).
image::ReadFn gzipReader(image::ReadFn src) {
  struct State {
    image::ReadFn src;
    z_stream z{};
    std::vector<char> in = std::vector<char>(256 * 1024);
    bool src_eof = false;
    bool done = false;
    bool ok = false;
    ~State() {
      if (ok) deflateEnd(&z);
    }
  };
  auto s = std::make_shared<State>();
  s->src = std::move(src);
  // windowBits 15 + 16: a gzip header and trailer, as Docker's layers have.
  s->ok = deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  return [s](char* buf, size_t len) -> long {
    if (!s->ok) return -1;
    if (s->done) return 0;
    s->z.next_out = reinterpret_cast<Bytef*>(buf);
    s->z.avail_out = static_cast<uInt>(std::min<size_t>(len, 1 << 30));
    while (s->z.avail_out == static_cast<uInt>(std::min<size_t>(len, 1 << 30))) {
      if (s->z.avail_in == 0 && !s->src_eof) {
        long n = s->src(s->in.data(), s->in.size());
        if (n < 0) return -1;
        if (n == 0) s->src_eof = true;
        s->z.next_in = reinterpret_cast<Bytef*>(s->in.data());
        s->z.avail_in = static_cast<uInt>(n);
      }
      int r = deflate(&s->z, s->src_eof ? Z_FINISH : Z_NO_FLUSH);
      if (r == Z_STREAM_END) {
        s->done = true;
        break;
      }
      if (r != Z_OK && r != Z_BUF_ERROR) return -1;
    }
    return static_cast<long>(std::min<size_t>(len, 1 << 30) - s->z.avail_out);
  };
}

std::string repoOf(const image::Reference& ref) { return ref.domain + "/" + ref.path; }

// Where a layer's blob comes from for this push.
struct Plan {
  std::string diff_id, chain;
  image::ImageStore::Distribution blob;  // the registry blob pushed
  bool have_blob = false;                // a compressed blob is in the store
  // The id the progress lines show: the blob's, or the diff id's until one is known.
  std::string progressId() const { return shortDigest(blob.blob_digest.empty() ? diff_id : blob.blob_digest); }
};

std::string buildManifest(const std::string& config_digest, int64_t config_size,
                          const std::vector<Plan>& layers, bool oci) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto desc = [&](const std::string& media, int64_t size, const std::string& digest) {
    w.StartObject();
    w.Key("mediaType");
    w.String(media.c_str());
    w.Key("size");
    w.Int64(size);
    w.Key("digest");
    w.String(digest.c_str());
    w.EndObject();
  };
  w.StartObject();
  w.Key("schemaVersion");
  w.Int(2);
  w.Key("mediaType");
  w.String(oci ? registry::kOciManifest : registry::kDockerManifest);
  w.Key("config");
  desc(oci ? kOciConfig : kDockerConfig, config_size, config_digest);
  w.Key("layers");
  w.StartArray();
  for (const auto& l : layers) {
    std::string media = l.blob.media_type;
    if (media == kOciZstdLayer) {
      // only in OCI manifests (oci is set then)
    } else if (oci) {
      media = kOciGzipLayer;
    } else {
      media = kDockerGzipLayer;
    }
    desc(media, l.blob.size, l.blob.blob_digest);
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

bool isGzip(const std::string& path) {
  auto r = image::fileReader(path);
  if (!r.ok()) return false;
  unsigned char magic[2] = {0, 0};
  return (*r)(reinterpret_cast<char*>(magic), 2) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

}  // namespace

StatusOr<PushResult> push(image::ImageStore& store, const v1::ImageRecord& img,
                          const image::Reference& ref, const TransferOptions& opts,
                          Progress& progress) {
  const std::string repo = repoOf(ref);
  progress.status("The push refers to repository [" + ref.familiarName() + "]");
  ARCA_ASSIGN_OR_RETURN(auto session, registry::Session::open(ref.domain, ref.path, "pull,push",
                                                              opts.auth, opts.registry));
  // Plan each layer: a compressed blob of the store, else gzip the plain one.
  const int n = img.diff_ids_size();
  std::vector<Plan> plans(static_cast<size_t>(n));
  std::string chain;
  for (int i = 0; i < n; ++i) {
    Plan& p = plans[static_cast<size_t>(i)];
    p.diff_id = img.diff_ids(i);
    chain = image::chainId(chain, p.diff_id);
    p.chain = chain;
    auto known = store.distributions(p.diff_id);
    // Prefer a blob already in this repository, then one of this registry, then any we hold.
    const image::ImageStore::Distribution* best = nullptr;
    int best_rank = -1;
    for (const auto& d : known) {
      bool here = std::find(d.repos.begin(), d.repos.end(), repo) != d.repos.end();
      bool same_registry = std::any_of(d.repos.begin(), d.repos.end(), [&](const std::string& r) {
        return r.compare(0, ref.domain.size() + 1, ref.domain + "/") == 0;
      });
      bool local = store.hasBlob(d.blob_digest);
      int rank = here ? 3 : same_registry ? 2 : local ? 1 : -1;
      if (d.blob_digest == p.diff_id) rank = -1;  // the plain tar: compress instead
      if (rank > best_rank) {
        best_rank = rank;
        best = &d;
      }
    }
    if (best) {
      p.blob = *best;
      p.have_blob = store.hasBlob(best->blob_digest);
      if (p.blob.media_type.empty() || p.blob.media_type.find("zstd") == std::string::npos) {
        p.blob.media_type = kDockerGzipLayer;
      }
    }
    progress.status("Preparing", p.progressId());
  }

  std::mutex mu;
  Status st = runParallel(
      plans.size(), opts.max_concurrent,
      [&](size_t i) -> Status {
        Plan& p = plans[i];
        const std::string id = p.progressId();
        if (!p.blob.blob_digest.empty()) {
          ARCA_ASSIGN_OR_RETURN(bool exists, session->blobExists(p.blob.blob_digest));
          if (exists) {
            progress.status("Layer already exists", id);
            return Status::Ok();
          }
          for (const auto& from : p.blob.repos) {
            if (from == repo || from.compare(0, ref.domain.size() + 1, ref.domain + "/") != 0) continue;
            const std::string from_path = from.substr(ref.domain.size() + 1);
            ARCA_ASSIGN_OR_RETURN(bool mounted, session->mountBlob(p.blob.blob_digest, from_path));
            if (mounted) {
              progress.status("Mounted from " + from_path, id);
              return Status::Ok();
            }
          }
        }
        const bool usable = !p.blob.blob_digest.empty() && p.have_blob &&
                            (p.blob.media_type != kDockerGzipLayer ||
                             isGzip(store.blobPath(p.blob.blob_digest)));
        if (!usable) {
          // Compress the plain layer tar into a new blob of the store.
          std::string plain = store.blobPath(p.diff_id);
          if (!store.hasBlob(p.diff_id)) {
            return FailedPrecondition("layer " + p.diff_id +
                                      " cannot be pushed: the store holds no blob of it");
          }
          ARCA_ASSIGN_OR_RETURN(auto src, image::fileReader(plain));
          const std::string parent = i == 0 ? "" : plans[i - 1].chain;
          ARCA_ASSIGN_OR_RETURN(auto layer, store.ingestLayer(gzipReader(src), parent, "", -1, p.diff_id, nullptr));
          p.blob.blob_digest = layer.blob_digest;
          p.blob.size = layer.blob_size;
          p.blob.media_type = kDockerGzipLayer;
          p.have_blob = true;
          ARCA_ASSIGN_OR_RETURN(bool exists, session->blobExists(p.blob.blob_digest));
          if (exists) {
            progress.status("Layer already exists", id);
            return Status::Ok();
          }
        }
        ARCA_ASSIGN_OR_RETURN(auto body, image::fileReader(store.blobPath(p.blob.blob_digest)));
        const int64_t total = p.blob.size;
        ARCA_RETURN_IF_ERROR(session->uploadBlob(p.blob.blob_digest, total, body, [&](int64_t sent) {
          progress.bytes("Pushing", id, sent, total);
        }));
        progress.status("Pushed", id);
        return Status::Ok();
      },
      opts.cancel);
  ARCA_RETURN_IF_ERROR(st);

  // The config, then the manifest.
  const std::string config_digest = img.id();
  const std::string& config = img.config_json();
  ARCA_ASSIGN_OR_RETURN(bool config_there, session->blobExists(config_digest));
  if (!config_there) {
    size_t off = 0;
    image::ReadFn body = [&](char* buf, size_t len) -> long {
      size_t k = std::min(len, config.size() - off);
      std::memcpy(buf, config.data() + off, k);
      off += k;
      return static_cast<long>(k);
    };
    ARCA_RETURN_IF_ERROR(session->uploadBlob(config_digest, static_cast<int64_t>(config.size()), body,
                                             nullptr));
  }
  bool oci = std::any_of(plans.begin(), plans.end(),
                         [](const Plan& p) { return p.blob.media_type == kOciZstdLayer; });
  const std::string manifest =
      buildManifest(config_digest, static_cast<int64_t>(config.size()), plans, oci);
  ARCA_ASSIGN_OR_RETURN(std::string digest,
                        session->putManifest(ref.tag, oci ? registry::kOciManifest : registry::kDockerManifest, manifest));
  ARCA_RETURN_IF_ERROR(store.putBlob(manifest, digest).status());
  std::set<std::string> blobs = {digest};
  for (auto& p : plans) {
    blobs.insert(p.blob.blob_digest);
    image::ImageStore::Distribution d = p.blob;
    d.repos = {repo};
    Status add = store.addDistribution(p.diff_id, d);
    if (!add.ok()) spdlog::warn("push {}: {}", ref.full(), add.toString());
  }
  ARCA_RETURN_IF_ERROR(store.recordBlobs(img.id(), blobs));

  progress.status(ref.tag + ": digest: " + digest + " size: " + std::to_string(manifest.size()));
  progress.raw(auxMessage("{\"Tag\":\"" + ref.tag + "\",\"Digest\":\"" + digest +
                          "\",\"Size\":" + std::to_string(manifest.size()) + "}"));
  PushResult out;
  out.digest = digest;
  out.size = static_cast<int64_t>(manifest.size());
  return out;
}

}  // namespace arca::distribution
