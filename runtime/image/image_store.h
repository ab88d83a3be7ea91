// The content-addressed image store on disk (OCI layout) and layer unpacking.
//
// Layout under `root` (the data root's "image/" folder):
//   blobs/sha256/<hex>          every blob: configs, manifests, compressed or plain layers
//   layers/<chainid-hex>/       one unpacked layer (its own diff only), in overlayfs
//                               format: whiteouts as 0/0 char devices, opaque dirs
//                               with the trusted.overlay.opaque="y" xattr
//   layers/<chainid-hex>.json   {"diff_id":..., "parent":..., "size":N} written last
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

  // Directories of the unpacked layers of `image`, top-most first (the order
  // overlayfs wants in lowerdir=). NotFound if a layer is missing on disk.
  StatusOr<std::vector<std::string>> layerDirs(const arca::v1::ImageRecord& image) const;

  // Removes blobs and unpacked layers that no image in `keep` references.
  // Called by the engine after an image is deleted.
  Status garbageCollect(const std::vector<arca::v1::ImageRecord>& keep);

  const std::string& root() const { return root_; }

 private:
  explicit ImageStore(std::string root);
  std::string root_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Extracts one layer tar (plain or gzip) from `in` into the empty directory
// `dest`, converting Docker whiteouts (.wh.<name>, .wh..wh..opq) to overlayfs
// form. Refuses absolute paths, ".." components and any write through a
// symlink (nothing lands outside `dest`). Returns the unpacked size in bytes.
StatusOr<int64_t> unpackLayer(const ReadFn& in, const std::string& dest);

}  // namespace arca::image
