// WWW-Authenticate parsing for the distribution API client (pure; fuzzed).
//
// A registry answers an unauthenticated request with 401 and one or more
// challenges, e.g. Docker Hub:
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io"
// and a basic-auth registry: Basic realm="Registry Realm".
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace arca::registry {

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lowercase: realm, service, scope, error
  std::string token68;                        // "Negotiate abc=="-style credentials, if any
};

// Parses a WWW-Authenticate header value (RFC 7235: one or more challenges,
// quoted strings with backslash escapes, token68). Never crashes on any
// input; returns the challenges it could parse. The first value of a
// repeated parameter wins.
std::vector<Challenge> parseChallenges(std::string_view header);

}  // namespace arca::registry
