// POST /build for the classic builder (issue #7), the two pure halves of the
// handler:
//  - parseBuildRequest(): the query parameters and the X-Registry-Config
//    header of API v1.51 turned into a BuildRequest, with dockerd's checks,
//    order, error texts and status codes (moby's build_routes.go,
//    backend/build and builder/dockerfile);
//  - BuildOutput: the JSON message stream `docker build` reads, byte for byte
//    as dockerd writes it for the classic builder (Go's encoding/json escaping,
//    "\r\n" after each message), including quiet mode (q=1).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"
#include "engine/status.h"
#include "runtime/image/reference.h"
#include "runtime/registry/client.h"
#include "runtime/registry/manifest.h"

namespace arca::api {

struct BuildUlimit {
  std::string name;
  int64_t soft = 0;
  int64_t hard = 0;
};

// One entry of `outputs` (BuildKit only: dockerd's classic builder ignores it).
struct BuildOutputSpec {
  std::string type;
  std::map<std::string, std::string> attrs;
};

struct BuildRequest {
  std::string dockerfile = "Dockerfile";  // path in the context; "" never
  // `t`, each normalized with ":latest" added when it has no tag, duplicates
  // dropped, in the order given. Print with Reference::familiar().
  std::vector<image::Reference> tags;
  std::vector<std::string> extra_hosts;  // `extrahosts`, as given ("host:ip")
  bool quiet = false;                    // q
  bool no_cache = false;                 // nocache
  bool pull = false;                     // pull
  bool remove = true;                    // rm (default true; forcerm implies it)
  bool force_remove = false;             // forcerm
  std::vector<std::string> cache_from;   // cachefrom
  // Resource limits; dockerd reads a malformed value as 0.
  int64_t memory = 0, memory_swap = 0, cpu_shares = 0, cpu_period = 0, cpu_quota = 0;
  std::string cpuset_cpus, cpuset_mems, cgroup_parent;
  int64_t shm_size = 0;  // bytes, 0 = the default
  std::string network_mode;
  // `buildargs`: nullopt is `--build-arg K` with K unset in the CLI's
  // environment (kept so "not consumed" warnings can name it).
  std::map<std::string, std::optional<std::string>> build_args;
  std::map<std::string, std::string> labels;
  bool squash = false;
  std::string platform_text;                  // `platform` as given ("" = none)
  std::optional<registry::Platform> platform;  // parsed and normalized
  std::string target;
  std::vector<BuildOutputSpec> outputs;
  std::vector<BuildUlimit> ulimits;
  std::string isolation;  // "" or "default"
  std::string session_id, build_id;
  // X-Registry-Config: registry host -> credentials for FROM pulls.
  std::map<std::string, registry::AuthConfig> auth_configs;
};

struct BuildRequestOptions {
  std::string api_version;    // the request's ("" = kApiVersion)
  bool experimental = false;  // the daemon runs with experimental features
};

// Parses POST /build's query (decoded, repeated keys kept, as
// Request::query()) and headers (lower-cased names, as Request::head()).
// Errors, in dockerd's order: security options, isolation, ulimits, build
// args, labels, cache-from, outputs and version (InvalidArgument, 400);
// shmsize (Internal, 500, as dockerd); squash without experimental (400);
// version=2, BuildKit (NotImplemented); tags (Internal, 500, as dockerd);
// remote (see below); platform (400). An unreadable X-Registry-Config is
// ignored, as dockerd does. `remote`: "client-session" is dockerd's 400, a
// git or http(s) URL is NotImplemented (the docker CLI never sends one: it
// fetches such contexts and sends a tar), anything else is dockerd's 500.
StatusOr<BuildRequest> parseBuildRequest(const std::multimap<std::string, std::string>& query,
                                         const Headers& headers,
                                         const BuildRequestOptions& opts = {});
// The same, reading everything from the handler's request.
StatusOr<BuildRequest> parseBuildRequest(const Request& req, bool experimental);

// Go's encoding/json text of a JSON parse error in `json` ("invalid
// character 'x' looking for beginning of value", "unexpected end of JSON
// input"), or "" when `json` parses.
std::string goJsonSyntaxError(std::string_view json);

// Writes the classic builder's JSON message stream. Every message is one
// sink call: a JSON object followed by "\r\n" (dockerd's line end). The sink
// returns false once the client is gone; from then on nothing is written and
// every method returns false. Not thread-safe: one writer per build.
//
// Quiet mode (q=1) follows dockerd: messages are kept in memory; succeeded()
// writes only {"stream":"sha256:<id>\n"}; fail() first writes every kept
// message, then the error.
class BuildOutput {
 public:
  using Sink = std::function<bool(std::string_view)>;

  // `want_aux`: the API version is at least 1.30 (older clients get no aux).
  BuildOutput(Sink sink, bool quiet, bool want_aux = true);

  // "Step 2/6 : RUN make" then "\n", as two messages (dockerd's two writes).
  bool step(int index, int total, std::string_view instruction);
  // " ---> <12 hex>\n" after each instruction (the image id, "sha256:" cut).
  bool imageId(std::string_view image_id);
  // " ---> Using cache\n".
  bool usingCache();
  // " ---> Running in <12 hex>\n" for a RUN container.
  bool runningIn(std::string_view container_id);
  // " ---> [Warning] <text>\n" (a container-create warning).
  bool warning(std::string_view text);
  // " ---> Removed intermediate container <12 hex>\n" (rm / forcerm).
  bool removedIntermediate(std::string_view container_id);
  // "Removing intermediate container <12 hex>: <error>\n" (removal failed).
  bool removeIntermediateFailed(std::string_view container_id, std::string_view error);
  // "# Executing N build trigger" [+ "s"] + "\n": ONBUILD triggers of FROM,
  // as dockerd's two or three writes.
  bool executingTriggers(int count);
  // "[Warning] One or more build-args [a b] were not consumed\n" (names sorted).
  bool unusedBuildArgs(std::vector<std::string> names);
  // "Build cancelled\n".
  bool cancelled();
  // A chunk of a RUN container's stdout (or any other builder text), one
  // message per call, bytes as given.
  bool stdoutChunk(std::string_view bytes);
  // A chunk of stderr: dockerd wraps it in "\033[91m" ... "\033[0m".
  bool stderrChunk(std::string_view bytes);
  // A pull progress message (one serialized JSON object, as
  // distribution::Progress produces) passed through; "\r\n" is added when it
  // does not end with "\n".
  bool progress(std::string_view json_message);
  // {"aux":{"ID":"sha256:..."}} at the end of each stage (none when !want_aux).
  bool stageImage(std::string_view image_id);
  // "Successfully built <12 hex>\n".
  bool successfullyBuilt(std::string_view image_id);
  // "Successfully tagged <familiar name:tag>\n".
  bool successfullyTagged(std::string_view name);
  // Ends a successful build: in quiet mode {"stream":"<image_id>\n"} (the
  // full "sha256:..." id) and the kept messages are dropped; else nothing.
  bool succeeded(std::string_view image_id);
  // Ends a failed build: {"errorDetail":{"code":N,"message":M},"error":M}
  // ("code" only when non-zero: a RUN's exit status). In quiet mode the kept
  // messages go first. Returns false, writing nothing, when nothing has
  // reached the sink (then dockerd answers with the error's HTTP status and
  // {"message":M}; the handler must do the same with sendError()), or when
  // the client is gone.
  bool fail(std::string_view message, int code = 0);

  // True once a message has reached the sink.
  bool streaming() const { return streaming_; }

 private:
  bool emit(std::string msg);
  bool stream(std::string_view text);
  bool put(std::string_view msg);

  Sink sink_;
  bool quiet_;
  bool want_aux_;
  bool streaming_ = false;
  bool gone_ = false;
  std::vector<std::string> kept_;  // quiet mode
};

// The message for {"stream": text} with Go's escaping and "\r\n".
std::string buildStreamMessage(std::string_view text);

}  // namespace arca::api
