// docker pull: manifest (through an index to the platform's), config, then
// every missing layer streamed from the registry straight into the image
// store (hashed, spooled and unpacked as it arrives).
#include <spdlog/spdlog.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <set>

#include "runtime/distribution/parallel.h"
#include "runtime/distribution/pull.h"
#include "runtime/image/digest.h"

namespace arca::distribution {
namespace {

constexpr size_t kMaxConfigBytes = 16 << 20;
constexpr int kMaxResumes = 3;  // a broken layer download resumes at most this often

bool samePlatform(const v1::ImageRecord& r, const registry::Platform& want) {
  std::string arch = r.architecture().empty() ? "amd64" : r.architecture();
  std::string os = r.os().empty() ? "linux" : r.os();
  if (os != want.os || arch != want.architecture) return false;
  if (want.variant.empty() || r.variant().empty()) return true;
  return want.variant == r.variant();
}

std::string platformOf(const v1::ImageRecord& r) {
  registry::Platform p{r.os().empty() ? "linux" : r.os(),
                       r.architecture().empty() ? "amd64" : r.architecture(), r.variant()};
  return registry::platformString(p);
}

}  // namespace

StatusOr<PullResult> pull(image::ImageStore& store, const image::Reference& ref,
                          const TransferOptions& opts, Progress& progress) {
  const std::string want = ref.digest.empty() ? ref.tag : ref.digest;
  const std::string repo_name = ref.name();
  ARCA_ASSIGN_OR_RETURN(auto session,
                        registry::Session::open(ref.domain, ref.path, "pull", opts.auth, opts.registry));

  auto top = session->getManifest(want);
  if (!top.ok()) {
    if (top.status().code() == Code::kNotFound) {
      return NotFound("manifest for " + ref.familiar() + " not found: " + top.status().message());
    }
    return top.status();
  }
  ARCA_ASSIGN_OR_RETURN(auto parsed, registry::parseManifest(top->body, top->media_type));
  std::set<std::string> blobs;
  ARCA_RETURN_IF_ERROR(store.putBlob(top->body, top->digest).status());
  blobs.insert(top->digest);

  registry::Session::Manifest manifest = *top;
  bool from_index = false;
  if (parsed.kind == registry::ParsedManifest::Kind::kIndex) {
    ARCA_ASSIGN_OR_RETURN(auto desc, registry::selectPlatform(parsed, opts.platform));
    ARCA_ASSIGN_OR_RETURN(manifest, session->getManifest(desc.digest));
    ARCA_ASSIGN_OR_RETURN(parsed, registry::parseManifest(manifest.body, manifest.media_type));
    if (parsed.kind != registry::ParsedManifest::Kind::kImage) {
      return InvalidArgument("manifest " + desc.digest + " of the index is not an image manifest");
    }
    ARCA_RETURN_IF_ERROR(store.putBlob(manifest.body, manifest.digest).status());
    blobs.insert(manifest.digest);
    from_index = true;
  }
  progress.status("Pulling from " + ref.path, want);

  // The config: what the layers must unpack to (diff ids) and the image id.
  std::string config;
  if (store.hasBlob(parsed.config.digest)) {
    ARCA_ASSIGN_OR_RETURN(config, store.readBlob(parsed.config.digest, kMaxConfigBytes));
  } else {
    ARCA_ASSIGN_OR_RETURN(config, session->getBlob(parsed.config.digest, kMaxConfigBytes));
    ARCA_RETURN_IF_ERROR(store.putBlob(config, parsed.config.digest).status());
  }
  blobs.insert(parsed.config.digest);
  ARCA_ASSIGN_OR_RETURN(v1::ImageRecord rec, store.recordFromConfig(config));
  if (opts.platform_given && !from_index && !samePlatform(rec, opts.platform)) {
    return NotFound("image with reference " + ref.familiar() +
                    " was found but does not match the specified platform: wanted " +
                    registry::platformString(opts.platform) + ", actual: " + platformOf(rec));
  }
  const size_t n = parsed.layers.size();
  if (static_cast<size_t>(rec.diff_ids_size()) != n) {
    return InvalidArgument("invalid image " + ref.familiar() + ": its config lists " +
                           std::to_string(rec.diff_ids_size()) + " layers, its manifest " +
                           std::to_string(n));
  }

  std::vector<std::string> chains(n), parents(n);
  std::string chain;
  for (size_t i = 0; i < n; ++i) {
    parents[i] = chain;
    chain = image::chainId(chain, rec.diff_ids(static_cast<int>(i)));
    chains[i] = chain;
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < n; ++i) {
    const auto& layer = parsed.layers[i];
    if (store.hasLayer(chains[i])) {
      progress.status("Already exists", shortDigest(layer.digest));
    } else {
      progress.status("Pulling fs layer", shortDigest(layer.digest));
      todo.push_back(i);
    }
  }
  for (size_t k = static_cast<size_t>(std::max(1, opts.max_concurrent)); k < todo.size(); ++k) {
    progress.status("Waiting", shortDigest(parsed.layers[todo[k]].digest));
  }

  std::mutex mu;
  Status st = runParallel(
      todo.size(), opts.max_concurrent,
      [&](size_t k) -> Status {
        const size_t i = todo[k];
        const auto& layer = parsed.layers[i];
        const std::string id = shortDigest(layer.digest);
        const std::string& diff = rec.diff_ids(static_cast<int>(i));
        StatusOr<image::ImageStore::Layer> got = Internal("not pulled");
        if (store.hasBlob(layer.digest)) {
          got = store.ingestLayerFromBlob(layer.digest, parents[i], diff);
        } else {
          ARCA_ASSIGN_OR_RETURN(auto reader, session->openBlob(layer.digest));
          std::string read_error;
          int64_t offset = 0;
          int retries = 0;
          // A broken download resumes where it stopped (Range), up to
          // kMaxResumes times with a growing pause, as dockerd retries; the
          // consumer sees one uninterrupted stream.
          image::ReadFn in = [&](char* buf, size_t len) -> long {
            while (true) {
              if (opts.cancel && opts.cancel->load()) {
                read_error = "context canceled";
                return -1;
              }
              long r = reader->read(buf, len);
              if (r >= 0) {
                offset += r;
                return r;
              }
              read_error = reader->error();
              if (retries >= kMaxResumes) return -1;
              ++retries;
              for (int s = retries; s > 0; --s) {
                progress.status("Retrying in " + std::to_string(s) + " second" + (s > 1 ? "s" : ""), id);
                std::this_thread::sleep_for(std::chrono::seconds(1));
                if (opts.cancel && opts.cancel->load()) break;
              }
              auto again = session->openBlob(layer.digest, offset);
              if (!again.ok()) {
                read_error = again.status().message();
                return -1;
              }
              reader = std::move(*again);
            }
          };
          got = store.ingestLayer(in, parents[i], layer.digest, layer.size, diff, [&](int64_t bytes) {
            progress.bytes("Downloading", id, bytes, layer.size);
          });
          if (!got.ok() && !read_error.empty()) {
            return Unavailable("error pulling layer " + layer.digest + ": " + read_error);
          }
        }
        if (!got.ok()) return got.status();
        progress.status("Verifying Checksum", id);
        progress.status("Download complete", id);
        progress.status("Pull complete", id);
        std::lock_guard lk(mu);
        blobs.insert(layer.digest);
        return Status::Ok();
      },
      opts.cancel);
  ARCA_RETURN_IF_ERROR(st);

  for (size_t i = 0; i < n; ++i) {
    const auto& layer = parsed.layers[i];
    image::ImageStore::Distribution d{layer.digest, layer.media_type, layer.size, {repo_name}};
    Status add = store.addDistribution(rec.diff_ids(static_cast<int>(i)), d);
    if (!add.ok()) spdlog::warn("pull {}: {}", ref.full(), add.toString());
  }
  // Sizes are known now that every layer is on disk.
  ARCA_ASSIGN_OR_RETURN(rec, store.recordFromConfig(config));
  rec.set_manifest_digest(manifest.digest);
  if (ref.digest.empty()) rec.add_repo_tags(ref.full());
  rec.add_repo_digests(repo_name + "@" + top->digest);
  ARCA_RETURN_IF_ERROR(store.recordBlobs(rec.id(), blobs));
  progress.status("Digest: " + top->digest);
  PullResult out;
  out.record = std::move(rec);
  out.digest = top->digest;
  return out;
}

}  // namespace arca::distribution
