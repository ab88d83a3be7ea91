// Docker's time parameters (since/until on logs and events).
#pragma once

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace arca::api {

// Accepts "1700000000", "1700000000.123456789", RFC 3339. The CLI converts
// durations ("5m") to absolute seconds before sending. Returns false if bad.
bool parseTimestamp(const std::string& v, int64_t now_ns, int64_t* out_ns);
// Also a Go duration ("24h", "90m") counted back from now, as dockerd's
// filters (prune's `until`) take it.
bool parseTimestampOrDuration(const std::string& v, int64_t now_ns, int64_t* out_ns);
// Go's time.ParseDuration ("1m30s", "500ms") in ns, with Go's error texts
// ("time: invalid duration \"abc\"").
StatusOr<int64_t> parseGoDuration(const std::string& s);
// RFC 3339 with nanoseconds in UTC (Docker's time.Time JSON).
std::string rfc3339(int64_t ns);
// RFC 3339 in local time with offset (for /info SystemTime).
std::string rfc3339Local(int64_t ns);
// Docker's "Up 5 minutes" / "2 hours ago" words (go-units HumanDuration).
std::string humanDuration(int64_t ns);

}  // namespace arca::api
