// Route table with Docker's routing rules: every route is served with and
// without a "/vX.Y" prefix (the server strips it into Request::apiVersion());
// a path parameter matches greedily across '/' (moby's {name:.*}); unknown
// routes and wrong methods answer 404 {"message":"page not found"}.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "api/http_server.h"

namespace arca::api {

inline constexpr const char* kApiVersion = "1.51";
inline constexpr const char* kMinApiVersion = "1.24";

class Router {
 public:
  // `pattern` is a literal path or one with a single "{param}" segment, e.g.
  // "/containers/{id}/json". Routes with a parameter are tried in the order
  // added, after exact literal routes. `min_version` gates by API version.
  void add(const std::string& method, const std::string& pattern, Handler h,
           bool inline_handler = false, const std::string& min_version = "");
  // Resolves the request (sets req.params). Unknown -> a 404 handler; an API
  // version outside [1.24, 1.51] -> a 400 handler with Docker's message.
  Dispatch dispatch(Request& req) const;

 private:
  struct Route {
    std::string method;
    std::string prefix, param, suffix;  // prefix{param}suffix
    Handler handler;
    bool inline_handler;
    std::string min_version;
  };
  std::unordered_map<std::string, std::vector<Route>> exact_;  // path -> routes by method
  std::vector<Route> params_;
};

// Compares "1.50" and "1.9" numerically. <0, 0, >0.
int compareVersions(const std::string& a, const std::string& b);

// Sends {"message": status.message()} with Docker's status code for the code
// (STYLE 13); 304 has no body.
void sendError(ResponseWriter& w, const Status& st);
int httpStatusFor(Code c);
void sendJson(ResponseWriter& w, int status, const std::string& json);

}  // namespace arca::api
