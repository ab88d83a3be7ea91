// Commands (imperative) and their deciders: check a command against State and
// return the events that record it, or a Status with Docker's wording.
// Deciders run under the engine lock (Engine::execute) and never touch the
// outside world; ids, names and times come from the engine's sources.
#pragma once

#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/network_commands.h"
#include "engine/status.h"
#include "reducers/state.pb.h"

namespace arca::engine {

struct CreateContainer {
  std::string name;  // "" -> generated
  v1::ContainerConfig config;
  v1::HostConfig host_config;
  std::string platform;
  std::string expected_image_id;  // the image whose defaults were merged into config
  // issue #5: the networks to join (NetworkingConfig.EndpointsConfig, the
  // primary one from HostConfig.NetworkMode first), by name or id.
  std::vector<std::pair<std::string, EndpointRequest>> networks;
};

// Returns the new id through *id.
Status decideCreate(const v1::State& s, const CreateContainer& cmd, IdSource& ids,
                    std::vector<v1::Event>* out, std::string* id);
// NotModified when already running.
// issue #5: NotFound when the primary network is gone; a missing endpoint on
// it is planned here (NetworkConnected before the start request).
Status decideStart(const v1::State& s, const std::string& ref, bool restart,
                   std::vector<v1::Event>* out, std::string* id, IdSource* ids = nullptr);
// NotModified when not running. `signal` "" -> the container's StopSignal or
// SIGTERM; `timeout` < -1 -> the container's StopTimeout or 10.
Status decideStop(const v1::State& s, const std::string& ref, const std::string& signal,
                  int timeout, bool restart, std::vector<v1::Event>* out, std::string* id);
// Conflict when not running; InvalidArgument for a bad signal.
Status decideKill(const v1::State& s, const std::string& ref, const std::string& signal,
                  std::vector<v1::Event>* out, std::string* id);
// Checks that `ref` may be removed (Conflict while running without force).
Status checkRemove(const v1::State& s, const std::string& ref, bool force, std::string* id,
                   bool* running);
// Accepts the removal of a container that is not running (intent event
// ContainerRemovalStarted). Conflict while running/starting or when another
// removal is in progress. `remove_volumes` (rm -v, --rm): the anonymous
// volumes go with it (issue #6).
Status decideRemove(const v1::State& s, const std::string& ref, std::vector<v1::Event>* out,
                    std::string* id, bool remove_volumes = false);
Status decideRename(const v1::State& s, const std::string& ref, const std::string& new_name,
                    std::vector<v1::Event>* out);

// Signal names/numbers as Docker accepts them ("KILL", "SIGKILL", "9").
// Returns 0 when unknown.
int parseSignal(const std::string& s);
// The same with Docker's refusals (InvalidArgument): "invalid signal: X" for
// an unknown name or 0, "the linux daemon does not support signal N" for a
// number Linux does not have. Real-time names: RTMIN, RTMIN+1..15, RTMAX-14..1, RTMAX.
Status parseKillSignal(const std::string& s, int* sig);
std::string signalName(int sig);  // "SIGTERM"

// Docker's container name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+
bool validContainerName(const std::string& name);

}  // namespace arca::engine
