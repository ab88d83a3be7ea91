// Making an image from a container's writable layer: docker commit
// (api/files_handlers.cc) and every step of docker build (api/build.cc).
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "api/api.h"
#include "engine/status.h"

namespace arca::api {

// What the new image's config says besides its `config`.
struct ChildImage {
  std::string diff_id;       // the new layer ("" = none: an empty_layer history entry)
  std::string container_id;  // "container" ("" = left out)
  std::string author, comment, created_by;
  std::string created;       // RFC 3339
  // "container_config" (docker build: the step's config, the cache's key);
  // nullptr = left out.
  const rapidjson::Value* container_config = nullptr;
};

// The child image's config JSON: `parent`'s history and layers (none for a
// parent with an empty id: FROM scratch), `config`, one history entry.
StatusOr<std::string> childImageConfig(const v1::ImageRecord& parent, const rapidjson::Value& config,
                                       const ChildImage& child);

// Takes the writable layer of container `container_id` (image layers
// `lowers`, top-most first, of image `parent`) into the image store. An empty
// Layer (no diff id) when nothing changed.
StatusOr<image::ImageStore::Layer> commitLayer(ApiContext& ctx, const std::string& container_id,
                                               const std::string& container_name,
                                               const std::vector<std::string>& lowers,
                                               const v1::ImageRecord& parent);

// The same for a plain directory `dir` (FROM scratch in docker build): its
// content is the layer on top of `parent` (id "" = none).
StatusOr<image::ImageStore::Layer> commitDirectory(ApiContext& ctx, const std::string& dir,
                                                   const v1::ImageRecord& parent);

// Stores `config_json` as a blob and returns the image's record (the layer's
// plain tar is its only blob, for docker save and push). Not yet recorded:
// the caller records it (ContainerCommitted, ImageBuilt).
StatusOr<v1::ImageRecord> storeImage(ApiContext& ctx, const std::string& config_json,
                                     const image::ImageStore::Layer& layer);

}  // namespace arca::api
