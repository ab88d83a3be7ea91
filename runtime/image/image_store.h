// The content-addressed image store on disk (OCI layout) and layer unpacking.
//
// Layout under `root` (the data root's "image/" folder):
//   blobs/sha256/<hex>          every blob: configs, manifests, compressed or plain layers
//   layers/<chainid-hex>/       one unpacked layer (its own diff only), in overlayfs
//                               format: whiteouts as 0/0 char devices, opaque dirs
//                               with the trusted.overlay.opaque="y" xattr
//   layers/<chainid-hex>.json   {"diff_id":..., "parent":..., "size":N} written last
//   images/<id-hex>.json        {"blobs":[...]}: the extra blobs an image keeps alive
//   distribution/<diff-hex>.json registry blobs known to hold that diff id (push/pull)
//   tmp/                        staging; anything here at start-up is garbage
//
// Side effects only: the store never touches the event log. The engine records
// what a load produced (ImageLoaded events); GC is driven by the engine.
//
// Thread-safety: all methods may be called from any thread; loads of the same
// layer are serialized internally (a layer is unpacked once).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <set>
#include <string_view>
#include <string>
#include <vector>

#include "engine/status.h"
#include "eventlog/events.pb.h"

namespace arca::image {

// Pulls bytes from a stream (e.g. an HTTP request body). Returns the number of
// bytes read, 0 at EOF, negative on error.
using ReadFn = std::function<long(char* buf, size_t len)>;

// Progress lines for the client, e.g. "Loading layer 1/2". Free text.
using ProgressFn = std::function<void(const std::string& line)>;

// Receives archive bytes (e.g. an HTTP response body). Returns false once the
// reader is gone: the writer stops.
using WriteFn = std::function<bool(std::string_view data)>;

// One image of a `docker save`: its record and the tags to name it by (fully
// qualified, "docker.io/library/busybox:latest"; empty for an image named by id).
struct SaveItem {
  arca::v1::ImageRecord image;
  std::vector<std::string> tags;
  int64_t created_s = 0;  // mtime of its blobs in the archive (the image's creation)
};

class ImageStore {
 public:
  static StatusOr<std::unique_ptr<ImageStore>> create(const std::string& root);
  ~ImageStore();

  // Reads a `docker save` archive (manifest.json) or an OCI image layout
  // (index.json + oci-layout) from `in`, verifies digests, stores the blobs
  // and unpacks every layer not yet unpacked. Returns one ImageRecord per
  // image in the archive, with `repo_tags` fully qualified
  // ("docker.io/library/busybox:latest"). Compressed (gzip) and plain layer
  // tars are accepted. A corrupt or hostile archive fails with
  // InvalidArgument and leaves no partial layer behind.
  StatusOr<std::vector<arca::v1::ImageRecord>> load(const ReadFn& in, const ProgressFn& progress);

  // Writes `items` as a `docker save` archive in the form Docker 25+ writes:
  // an OCI image layout (oci-layout, index.json, blobs/sha256/: one OCI
  // manifest, the config and the UNCOMPRESSED layer tars per image) plus the
  // legacy manifest.json and repositories files. A layer whose plain tar is
  // not a blob of its own is decompressed from one of the image's compressed
  // blobs into tmp/ (checked against its diff id). Every layer is located
  // before the first byte goes to `out`: an error then leaves `out` untouched
  // (the caller can still answer with an error status). Afterwards the tar is
  // streamed (never buffered whole); Canceled when `out` returns false.
  // Defined in save.cc.
  Status save(const std::vector<SaveItem>& items, const WriteFn& out) const;

  // Directories of the unpacked layers of `image`, top-most first (the order
  // overlayfs wants in lowerdir=). NotFound if a layer is missing on disk.
  StatusOr<std::vector<std::string>> layerDirs(const arca::v1::ImageRecord& image) const;

  // Removes blobs and unpacked layers that no image in `keep` references.
  // Called by the engine after an image is deleted.
  Status garbageCollect(const std::vector<arca::v1::ImageRecord>& keep);

  // --- Primitives for pulls, pushes, imports and saves ---------------------

  // What ingestLayer() stored.
  struct Layer {
    std::string blob_digest;  // "sha256:..." of the bytes as they came (compressed or not)
    int64_t blob_size = 0;
    std::string diff_id;      // "sha256:..." of the uncompressed tar
    std::string chain_id;
    int64_t size = 0;         // unpacked size
  };
  // Streams one layer blob (plain, gzip or zstd tar) from `in`: the bytes are
  // written to a staging file while hashed, decompressed and unpacked as they
  // arrive (nothing is buffered whole). Then every expectation given is
  // checked (empty / negative = none): the blob's digest and size, the
  // decompressed diff id. Only then is the blob renamed into blobs/ and the
  // layer into layers/<chain id> (chain id from `parent_chain`, "" for the
  // first layer). A layer already unpacked is not unpacked again (its blob is
  // still stored and verified). On any error nothing is left behind.
  // `on_bytes(total)` is called as compressed bytes are read.
  StatusOr<Layer> ingestLayer(const ReadFn& in, const std::string& parent_chain,
                              const std::string& expected_blob_digest, int64_t expected_size,
                              const std::string& expected_diff_id,
                              const std::function<void(int64_t)>& on_bytes);
  // ingestLayer() from a blob already in blobs/.
  StatusOr<Layer> ingestLayerFromBlob(const std::string& blob_digest,
                                      const std::string& parent_chain,
                                      const std::string& expected_diff_id);

  bool hasLayer(const std::string& chain_id) const;
  // Unpacked size of a layer on disk.
  StatusOr<int64_t> layerSize(const std::string& chain_id) const;
  bool hasBlob(const std::string& digest) const;
  // Path of blobs/sha256/<hex> (whether or not it exists); "" for a bad digest.
  std::string blobPath(const std::string& digest) const;
  // Stores a small blob; returns its digest. With `expected_digest` set, the
  // content must match it (InvalidArgument otherwise).
  StatusOr<std::string> putBlob(std::string_view data, const std::string& expected_digest = "");
  StatusOr<std::string> readBlob(const std::string& digest, size_t max_bytes) const;
  // Blobs an image needs besides its config and layers (manifests, indexes,
  // compressed layer blobs): kept by garbageCollect while the image exists.
  Status recordBlobs(const std::string& image_id, const std::set<std::string>& blobs);
  std::vector<std::string> imageBlobs(const std::string& image_id) const;

  // Distribution metadata: which registry blobs hold which diff id (so a
  // push can skip or cross-mount them, and a pull knows a layer it has).
  struct Distribution {
    std::string blob_digest;
    std::string media_type;
    int64_t size = 0;
    std::vector<std::string> repos;  // "127.0.0.1:5000/busybox" where it is known to exist
  };
  Status addDistribution(const std::string& diff_id, const Distribution& d);
  std::vector<Distribution> distributions(const std::string& diff_id) const;

  // An ImageRecord for a config blob: id, diff_ids, created, os/arch/variant,
  // size (sum of the unpacked layers, which must be on disk).
  StatusOr<arca::v1::ImageRecord> recordFromConfig(const std::string& config_json) const;

  const std::string& root() const { return root_; }

 private:
  explicit ImageStore(std::string root);
  std::string root_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The machine's architecture as OCI names it ("amd64", "arm64").
const char* hostArchitecture();

// Extracts one layer tar (plain or gzip) from `in` into the empty directory
// `dest`, converting Docker whiteouts (.wh.<name>, .wh..wh..opq) to overlayfs
// form. Refuses absolute paths, ".." components and any write through a
// symlink (nothing lands outside `dest`). Returns the unpacked size in bytes.
StatusOr<int64_t> unpackLayer(const ReadFn& in, const std::string& dest);

// How unpackTar() differs from a layer unpack (the defaults are a layer's).
struct UnpackOptions {
  // `.wh.` entries become overlay whiteouts (a layer); false: ordinary files
  // (a `docker cp` into a container's merged root).
  bool overlay_whiteouts = true;
  // moby's NoOverwriteDirNonDir: FailedPrecondition instead of replacing a
  // directory by a non-directory or the reverse.
  bool no_overwrite_dir_non_dir = false;
  // Every entry owned by this uid:gid instead of the tar header's ids.
  std::optional<std::pair<uint32_t, uint32_t>> owner;
  // Error texts: "layer entry \"x\" ..." / "tar entry \"x\" ...".
  std::string noun = "layer";
  // How `dest` is shown in NoOverwriteDirNonDir errors (a container path).
  std::string display_root = "/";
};

// unpackLayer() with options: the same path checks (nothing lands outside
// `dest`, nothing is written through a symlink), for `docker cp` too.
StatusOr<int64_t> unpackTar(const ReadFn& in, const std::string& dest, const UnpackOptions& opts);

}  // namespace arca::image
