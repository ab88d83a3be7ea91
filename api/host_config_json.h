// HostConfig as `docker inspect` shows it: Docker's full shape, every field
// present (zero, null or empty as dockerd prints them when unset).
#pragma once

#include <string>
#include <vector>

#include "api/json.h"
#include "eventlog/events.pb.h"

namespace arca::api {

void writeHostConfig(JsonWriter& j, const v1::HostConfig& h);

// ["w1","w2"] (an empty array when none), for {"Warnings": ...} replies.
std::string warningsJson(const std::vector<std::string>& warnings);

}  // namespace arca::api
