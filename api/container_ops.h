// docker stats / top / pause / unpause (issue #4): shared helpers.
#pragma once

#include <string>

#include "engine/status.h"
#include "reducers/state.pb.h"
#include "runtime/sandbox_stats.h"

namespace arca::api {

// Docker's State.Status: a frozen running container is "paused" (State keeps
// status "running" plus the paused flag, so every "is it running" check holds).
inline std::string dockerStatus(const v1::Container& c) {
  return c.paused() && c.status() == "running" ? "paused" : c.status();
}

// dockerd's check of ps_args: a column may only be renamed to PID as "pid=PID".
Status validatePsArgs(const std::string& ps_args);
// {"Processes":[[...]],"Titles":[...]} (Processes null when empty), as dockerd.
std::string topJson(const runtime::ProcessList& list);

}  // namespace arca::api
