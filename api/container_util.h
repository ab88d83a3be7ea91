// Small pieces of api/container_handlers.cc that the other container handler
// files share (attach and exec, and those of later issues).
#pragma once

#include <string>

#include "api/api.h"
#include "api/logs.h"

namespace arca::api {

// "application/vnd.docker.multiplexed-stream" (raw-stream before API 1.42).
std::string attachContentType(const Request& req);
// Resolves {id} to a full container id, or sends 404 and returns false.
bool resolveContainerId(ApiContext& ctx, Request& req, ResponseWriter& w, std::string* id);
// The container's json-file log, opened for reading (created if missing).
int openContainerLog(ApiContext& ctx, const std::string& id);
// A log entry as attach/logs send it: raw for a TTY, else a multiplexed frame.
std::string logEntryFrame(const LogEntry& e, bool timestamps, bool tty);

}  // namespace arca::api
