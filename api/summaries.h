// The list-endpoint summaries, shared by GET /images/json, GET
// /containers/json and GET /system/df (internal to api/).
#pragma once

#include <cstdint>
#include <string>

#include "api/json.h"
#include "reducers/state.pb.h"

namespace arca::api {

// One ImageSummary object. `shared_size` is -1 when not computed.
void writeImageSummary(JsonWriter& j, const v1::ImageRecord& r, int containers, int64_t shared_size);

// One ContainerSummary object. With `size`: SizeRw (0: no per-container
// layer accounting yet) and SizeRootFs (the image's size). Defined in
// container_handlers.cc.
void writeContainerSummary(JsonWriter& j, const v1::State& s, const v1::Container& c, int64_t now_ns,
                           bool size);

// The container's Config object as `docker inspect` shows it (JSON text).
// Defined in container_handlers.cc.
std::string containerConfigJson(const v1::Container& c);

}  // namespace arca::api
