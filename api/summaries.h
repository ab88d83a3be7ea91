// The list-endpoint summaries, shared by GET /images/json, GET
// /containers/json and GET /system/df (internal to api/).
#pragma once

#include <cstdint>
#include <string>

#include "api/json.h"
#include "reducers/state.pb.h"

#include "runtime/volumes.h"

namespace arca::api {

struct ApiContext;

// One ImageSummary object. `shared_size` is -1 when not computed.
void writeImageSummary(JsonWriter& j, const v1::ImageRecord& r, int containers, int64_t shared_size);

// One ContainerSummary object. With `size`: SizeRw (0: no per-container
// layer accounting yet) and SizeRootFs (the image's size). Defined in
// container_handlers.cc. `volumes` gives named volumes' Source in Mounts.
void writeContainerSummary(JsonWriter& j, const v1::State& s, const v1::Container& c, int64_t now_ns,
                           bool size, const runtime::LocalVolumes* volumes = nullptr);

// One Volume object (issue #6, api/volume_handlers.cc); with `ref_count` >= 0
// its UsageData (system df: `size` in bytes, -1 unknown).
void writeVolume(JsonWriter& j, const ApiContext& ctx, const v1::Volume& v,
                 int64_t size = -1, int64_t ref_count = -1);

// The container's Config object as `docker inspect` shows it (JSON text).
// Defined in container_handlers.cc.
std::string containerConfigJson(const v1::Container& c);

}  // namespace arca::api
