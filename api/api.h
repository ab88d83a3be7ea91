// The Docker Engine API surface: route registration per resource (STYLE 17).
#pragma once

#include <cstdint>
#include <atomic>
#include <map>
#include <vector>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "api/router.h"
#include "engine/engine.h"
#include "runtime/container_archive.h"
#include "runtime/executor.h"
#include "runtime/network_attacher.h"
#include "runtime/volumes.h"
#include "runtime/vm/vm_backend.h"
#include "runtime/image/image_store.h"
#include "runtime/registry/client.h"

namespace arca::api {

inline constexpr const char* kArcaVersion = "0.1.0";

// What handlers need; owned by the daemon, outlives the server.
struct ApiContext {
  engine::Engine* engine = nullptr;
  runtime::Executor* executor = nullptr;
  image::ImageStore* images = nullptr;
  runtime::SandboxDriver* driver = nullptr;  // the executor's sandbox driver
  class HealthMonitor* health = nullptr;      // health checks (api/health.h)
  runtime::NetworkAttacher* network = nullptr;  // issue #5: the network plane (may be null)
  runtime::LocalVolumes* volumes = nullptr;     // issue #6: volume data (<data-root>/volumes)
  std::string data_root;
  std::string exec_root;
  std::string runtime_name = "runc";
  std::string default_runtime = "runc";  // --default-runtime (HostConfig.Runtime when unset)
  runtime::VmBackend* vm = nullptr;      // issue #8: the VM sandbox (null: unavailable)
  std::string vm_unavailable;            // why
  std::string runtime_path;
  std::string storage_driver = "overlay2";
  std::string daemon_id;
  std::string hostname;
  std::string log_level = "info";
  int64_t started_ns = 0;
  registry::RegistryOptions registry;  // insecure registries, mirrors (daemon.json)
  int max_concurrent_downloads = 3;
  int max_concurrent_uploads = 5;
  // Held shared by every transfer (load, pull, import) from its first layer
  // until its image is recorded, and exclusively while garbage collection
  // runs: GC never sees the layers of a transfer in flight. A GC that finds
  // transfers running is left pending for the last of them.
  std::shared_mutex image_gc_mu;
  std::atomic<bool> gc_pending{false};
};

// Unpacked sizes of the layers of `images` (read from disk: outside the engine lock).
std::map<std::string, int64_t> readLayerSizes(ApiContext& ctx, const std::vector<v1::ImageRecord>& images);

// Removes blobs and layers no image needs (now, or after running transfers).
void requestImageGc(ApiContext& ctx);

// Marks a transfer for its lifetime (see ApiContext::image_gc_mu).
class ImageTransfer {
 public:
  explicit ImageTransfer(ApiContext& ctx) : ctx_(ctx), lock_(ctx.image_gc_mu) {}
  ~ImageTransfer() {
    lock_.unlock();
    if (ctx_.gc_pending.exchange(false)) requestImageGc(ctx_);
  }
  ImageTransfer(const ImageTransfer&) = delete;
  ImageTransfer& operator=(const ImageTransfer&) = delete;

 private:
  ApiContext& ctx_;
  std::shared_lock<std::shared_mutex> lock_;
};

void registerSystemRoutes(Router& r, ApiContext& ctx);
void registerContainerRoutes(Router& r, ApiContext& ctx);
// /networks (issue #5): api/network_handlers.cc.
void registerNetworkRoutes(Router& r, ApiContext& ctx);
// /volumes (issue #6): api/volume_handlers.cc.
void registerVolumeRoutes(Router& r, ApiContext& ctx);
// POST /build (the classic builder) and /build/prune (issue #7): api/build.cc.
void registerBuildRoutes(Router& r, ApiContext& ctx);
// attach, resize, exec create/start/resize/inspect (api/attach_exec.cc).
void registerAttachExecRoutes(Router& r, ApiContext& ctx);
void registerImageRoutes(Router& r, ApiContext& ctx);
// POST /images/create (pull; import when fromSrc is set), push, /auth, search.
void registerRegistryRoutes(Router& r, ApiContext& ctx);
// POST /images/create?fromSrc=- (docker import): the body is one layer tar
// (plain, gzip, bzip2, xz or zstd); repo, tag, message, changes, platform.
// registerRegistryRoutes() routes /images/create here when fromSrc is given.
void importImage(ApiContext& ctx, Request& req, ResponseWriter& w);
// POST /containers/{id}/update (docker update): api/container_update.cc.
void registerContainerUpdateRoutes(Router& r, ApiContext& ctx);
// A container's files: HEAD/GET/PUT /containers/{id}/archive (docker cp),
// GET /containers/{id}/export, GET /containers/{id}/changes, POST /commit.
void registerFileRoutes(Router& r, ApiContext& ctx);
// The X-Docker-Container-Path-Stat value: standard base64 of the JSON
// {"name","size","mode" (Go os.FileMode),"mtime" (RFC 3339),"linkTarget"}.
std::string pathStatHeader(const runtime::PathStat& st);
// issue #4: GET /containers/{id}/stats, GET /containers/{id}/top,
// POST /containers/{id}/pause and /unpause (api/container_ops.cc).
void registerContainerOpsRoutes(Router& r, ApiContext& ctx);
// Every other v1.51 operation: 501 with a clear message (docs/API_COVERAGE.md).
void registerNotImplementedRoutes(Router& r);

// Headers moby sets on every response.
const Headers& defaultHeaders();

}  // namespace arca::api
