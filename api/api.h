// The Docker Engine API surface: route registration per resource (STYLE 17).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "api/router.h"
#include "engine/engine.h"
#include "runtime/executor.h"
#include "runtime/image/image_store.h"

namespace arca::api {

inline constexpr const char* kArcaVersion = "0.1.0";

// What handlers need; owned by the daemon, outlives the server.
struct ApiContext {
  engine::Engine* engine = nullptr;
  runtime::Executor* executor = nullptr;
  image::ImageStore* images = nullptr;
  std::string data_root;
  std::string exec_root;
  std::string runtime_name = "runc";
  std::string runtime_path;
  std::string storage_driver = "overlay2";
  std::string daemon_id;
  std::string hostname;
  std::string log_level = "info";
  int64_t started_ns = 0;
  // Held while a load writes layers until its ImageLoaded is recorded, and
  // while garbage collection runs: GC never sees layers of a load in flight.
  std::mutex image_gc_mu;
};

void registerSystemRoutes(Router& r, ApiContext& ctx);
void registerContainerRoutes(Router& r, ApiContext& ctx);
void registerImageRoutes(Router& r, ApiContext& ctx);
// Every other v1.51 operation: 501 with a clear message (docs/API_COVERAGE.md).
void registerNotImplementedRoutes(Router& r);

// Headers moby sets on every response.
const Headers& defaultHeaders();

}  // namespace arca::api
