// Name / id resolution against State, with Docker's error texts. Pure.
#pragma once

#include <string>

#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::engine {

// Full id, name (with or without "/"), or a unique id prefix.
// NotFound: "No such container: <ref>".
StatusOr<const v1::Container*> findContainer(const v1::State& s, const std::string& ref);

// "busybox", "busybox:1", "docker.io/library/busybox:latest", "sha256:<id>",
// an id prefix, or "name@sha256:digest". NotFound: "No such image: <ref>".
StatusOr<const v1::Image*> findImage(const v1::State& s, const std::string& ref);

// Containers (any state) created from `image_id`.
int countContainersUsingImage(const v1::State& s, const std::string& image_id);

// "CONTAINER_ID"[:12]
inline std::string shortId(const std::string& id) {
  std::string h = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return h.substr(0, 12);
}

}  // namespace arca::engine
