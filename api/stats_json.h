// Docker's stats document (GET /containers/{id}/stats, Linux shape) from
// the raw counters a sandbox reports (issue #4). Pure; any thread.
#pragma once

#include <string>

#include "runtime/sandbox_stats.h"

namespace arca::api {

// One stats object as dockerd encodes it (with its trailing newline).
// `cur` not running: the empty document dockerd sends for a stopped
// container (zero times, null blkio lists). `prev` (may be null, or not
// running) fills preread and precpu_stats. `name` is "/<name>".
std::string statsJson(const runtime::SandboxStats& cur, const runtime::SandboxStats* prev,
                      const std::string& name, const std::string& id);

}  // namespace arca::api
