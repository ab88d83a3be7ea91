// The json-file logging driver's options (HostConfig.LogConfig.Config) as
// dockerd parses them: create-time key checks, start-time value parsing with
// Docker's texts. Pure.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "engine/status.h"

namespace arca::engine {

struct JsonFileOptions {
  int64_t max_size = -1;  // bytes; -1: no rotation
  int max_files = 1;      // files kept, the live one included
};

// At create: unknown keys get Docker's 400 ("unknown log opt 'x' for json-file
// log driver"); keys Docker knows but Arca does not implement (labels, env,
// tag, ..., compress=true) a clear 400 of their own.
Status validateLogOptions(const std::map<std::string, std::string>& opts);

// At start: the values, with dockerd's messages ("max-size must be a positive
// number", "invalid size: 'x'", "max-file cannot be less than 1", ...). The
// caller prefixes "failed to initialize logging driver: ".
StatusOr<JsonFileOptions> parseJsonFileOptions(const std::map<std::string, std::string>& opts);

// go-units' FromHumanSize: decimal units ("10k" = 10000, "1.5MB", "2 g").
StatusOr<int64_t> parseHumanSize(const std::string& s);

}  // namespace arca::engine
