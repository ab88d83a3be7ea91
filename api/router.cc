#include "api/router.h"

#include <cstdlib>

#include "api/json.h"

namespace arca::api {

int compareVersions(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    long x = 0, y = 0;
    while (i < a.size() && a[i] != '.') x = x * 10 + (a[i++] - '0');
    while (j < b.size() && b[j] != '.') y = y * 10 + (b[j++] - '0');
    if (x != y) return x < y ? -1 : 1;
    ++i;
    ++j;
  }
  return 0;
}

int httpStatusFor(Code c) {
  switch (c) {
    case Code::kOk: return 200;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kInvalidArgument: return 400;
    case Code::kFailedPrecondition: return 409;
    case Code::kConflict: return 409;
    case Code::kUnavailable: return 503;
    case Code::kPermissionDenied: return 403;
    case Code::kNotImplemented: return 501;
    case Code::kCanceled: return 499;
    case Code::kDeadlineExceeded: return 504;
    case Code::kInternal: return 500;
    case Code::kDataLoss: return 500;
    case Code::kNotModified: return 304;
  }
  return 500;
}

void sendJson(ResponseWriter& w, int status, const std::string& json) {
  w.send(status, "application/json", json);
}

void sendError(ResponseWriter& w, const Status& st) {
  int code = httpStatusFor(st.code());
  if (code == 304) {
    w.send(304, "", "");
    return;
  }
  sendJson(w, code, "{\"message\":" + jsonEscape(st.message()) + "}\n");
}

void Router::add(const std::string& method, const std::string& pattern, Handler h,
                 bool inline_handler, const std::string& min_version) {
  Route r{method, pattern, "", "", std::move(h), inline_handler, min_version};
  auto open = pattern.find('{');
  if (open == std::string::npos) {
    exact_[pattern].push_back(std::move(r));
    return;
  }
  auto close = pattern.find('}', open);
  r.prefix = pattern.substr(0, open);
  r.param = pattern.substr(open + 1, close - open - 1);
  r.suffix = pattern.substr(close + 1);
  params_.push_back(std::move(r));
}

Dispatch Router::dispatch(Request& req) const {
  const std::string& v = req.apiVersion();
  if (!v.empty()) {
    if (compareVersions(v, kApiVersion) > 0) {
      return {[v](Request&, ResponseWriter& w) {
                sendError(w, InvalidArgument("client version " + v +
                                             " is too new. Maximum supported API version is " +
                                             kApiVersion));
              },
              false};
    }
    if (compareVersions(v, kMinApiVersion) < 0) {
      return {[v](Request&, ResponseWriter& w) {
                sendError(w, InvalidArgument("client version " + v +
                                             " is too old. Minimum supported API version is " +
                                             kMinApiVersion +
                                             ", please upgrade your client to a newer version"));
              },
              false};
    }
  }
  const std::string& path = req.path();
  auto gate = [&](const Route& r) -> Dispatch {
    if (!r.min_version.empty() && !v.empty() && compareVersions(v, r.min_version) < 0) {
      return {[](Request&, ResponseWriter& w) { sendError(w, NotFound("page not found")); }, false};
    }
    return {r.handler, r.inline_handler};
  };
  auto it = exact_.find(path);
  if (it != exact_.end()) {
    for (const auto& r : it->second) {
      if (r.method == req.method()) return gate(r);
    }
  }
  for (const auto& r : params_) {
    if (r.method != req.method()) continue;
    if (path.size() <= r.prefix.size() + r.suffix.size()) continue;
    if (path.compare(0, r.prefix.size(), r.prefix) != 0) continue;
    if (path.compare(path.size() - r.suffix.size(), r.suffix.size(), r.suffix) != 0) continue;
    std::string value = path.substr(r.prefix.size(), path.size() - r.prefix.size() - r.suffix.size());
    // A suffix-less route ("/containers/{id}") must not swallow "/x/json".
    if (r.suffix.empty() && r.param != "name" && value.find('/') != std::string::npos) continue;
    req.params[r.param] = value;
    return gate(r);
  }
  return {[](Request&, ResponseWriter& w) { sendError(w, NotFound("page not found")); }, false};
}

}  // namespace arca::api
