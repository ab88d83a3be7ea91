// Every v1.51 operation not implemented yet answers 501 with a clear message
// naming the issue that brings it (kept in step with docs/API_COVERAGE.md).
#include "api/api.h"
#include "api/json.h"

namespace arca::api {

namespace {
struct Pending {
  const char* method;
  const char* path;
  const char* operation;
  const char* issue;
};
const Pending kPending[] = {
      {"GET", "/containers/{id}/attach/ws", "ContainerAttachWebsocket", "#4"},
      {"PUT", "/volumes/{name}", "VolumeUpdate", "(not planned: cluster volumes need swarm mode)"},
      {"GET", "/plugins/privileges", "GetPluginPrivileges", "(no issue yet)"},
      {"POST", "/plugins/pull", "PluginPull", "(no issue yet)"},
      {"DELETE", "/plugins/{name}", "PluginDelete", "(no issue yet)"},
      {"POST", "/plugins/{name}/enable", "PluginEnable", "(no issue yet)"},
      {"POST", "/plugins/{name}/disable", "PluginDisable", "(no issue yet)"},
      {"POST", "/plugins/{name}/upgrade", "PluginUpgrade", "(no issue yet)"},
      {"POST", "/plugins/create", "PluginCreate", "(no issue yet)"},
      {"POST", "/plugins/{name}/push", "PluginPush", "(no issue yet)"},
      {"POST", "/plugins/{name}/set", "PluginSet", "(no issue yet)"},
      {"GET", "/nodes", "NodeList", "(not planned: swarm mode)"},
      {"GET", "/nodes/{id}", "NodeInspect", "(not planned: swarm mode)"},
      {"DELETE", "/nodes/{id}", "NodeDelete", "(not planned: swarm mode)"},
      {"POST", "/nodes/{id}/update", "NodeUpdate", "(not planned: swarm mode)"},
      {"GET", "/swarm", "SwarmInspect", "(not planned: swarm mode)"},
      {"POST", "/swarm/init", "SwarmInit", "(not planned: swarm mode)"},
      {"POST", "/swarm/join", "SwarmJoin", "(not planned: swarm mode)"},
      {"POST", "/swarm/leave", "SwarmLeave", "(not planned: swarm mode)"},
      {"POST", "/swarm/update", "SwarmUpdate", "(not planned: swarm mode)"},
      {"GET", "/swarm/unlockkey", "SwarmUnlockkey", "(not planned: swarm mode)"},
      {"POST", "/swarm/unlock", "SwarmUnlock", "(not planned: swarm mode)"},
      {"GET", "/services", "ServiceList", "(not planned: swarm mode)"},
      {"POST", "/services/create", "ServiceCreate", "(not planned: swarm mode)"},
      {"GET", "/services/{id}", "ServiceInspect", "(not planned: swarm mode)"},
      {"DELETE", "/services/{id}", "ServiceDelete", "(not planned: swarm mode)"},
      {"POST", "/services/{id}/update", "ServiceUpdate", "(not planned: swarm mode)"},
      {"GET", "/services/{id}/logs", "ServiceLogs", "(not planned: swarm mode)"},
      {"GET", "/tasks", "TaskList", "(not planned: swarm mode)"},
      {"GET", "/tasks/{id}", "TaskInspect", "(not planned: swarm mode)"},
      {"GET", "/tasks/{id}/logs", "TaskLogs", "(not planned: swarm mode)"},
      {"GET", "/secrets", "SecretList", "(not planned: swarm mode)"},
      {"POST", "/secrets/create", "SecretCreate", "(not planned: swarm mode)"},
      {"GET", "/secrets/{id}", "SecretInspect", "(not planned: swarm mode)"},
      {"DELETE", "/secrets/{id}", "SecretDelete", "(not planned: swarm mode)"},
      {"POST", "/secrets/{id}/update", "SecretUpdate", "(not planned: swarm mode)"},
      {"GET", "/configs", "ConfigList", "(not planned: swarm mode)"},
      {"POST", "/configs/create", "ConfigCreate", "(not planned: swarm mode)"},
      {"GET", "/configs/{id}", "ConfigInspect", "(not planned: swarm mode)"},
      {"DELETE", "/configs/{id}", "ConfigDelete", "(not planned: swarm mode)"},
      {"POST", "/configs/{id}/update", "ConfigUpdate", "(not planned: swarm mode)"},
      {"GET", "/distribution/{name}/json", "DistributionInspect", "#3"},
      {"POST", "/session", "Session", "(BuildKit, after #7)"},
      {"POST", "/grpc", "BuildKitGrpc", "(BuildKit, after #7)"},
      {"POST", "/build/cancel", "BuildCancel", "(BuildKit, after #7: the classic builder cancels when the client goes away)"},
};
}  // namespace

void registerNotImplementedRoutes(Router& r) {
  for (const auto& p : kPending) {
    std::string msg = std::string(p.method) + " " + p.path + " (" + p.operation +
                      ") is not implemented yet by arca";
    if (p.issue[0]) msg += std::string("; planned in issue ") + p.issue;
    msg += " (see docs/API_COVERAGE.md)";
    if (std::string(p.path) == "/session" || std::string(p.path) == "/grpc") {
      msg = "BuildKit is not supported by arca yet: unset DOCKER_BUILDKIT (or set "
            "DOCKER_BUILDKIT=0) to use the classic builder";
    }
    r.add(p.method, p.path, [msg](Request&, ResponseWriter& w) {
      sendError(w, NotImplemented(msg));
    });
  }
  // No plugins exist yet: lookups are clean 404s, so
  // that untyped `docker inspect` moves on to "No such object".
  r.add("GET", "/plugins", [](Request&, ResponseWriter& w) { sendJson(w, 200, "[]\n"); });
  r.add("GET", "/plugins/{name}/json", [](Request& q, ResponseWriter& w) {
    sendError(w, NotFound("plugin \"" + q.params["name"] + "\" not found"));
  });
}

}  // namespace arca::api
