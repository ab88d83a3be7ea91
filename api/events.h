// Docker's /events messages: a projection of the event log computed here,
// never an internal name (STYLE 4). The projector is itself a small fold: it
// remembers container names, images and labels so that later events (die,
// destroy) carry them in Actor.Attributes.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "reducers/state.pb.h"

namespace arca::api {

struct DockerEvent {
  std::string type;    // "container", "image"
  std::string action;  // "create", "start", "die", ...
  std::string id;      // Actor.ID
  std::string from;    // legacy "from" (container events: the image as typed)
  std::map<std::string, std::string> attributes;
  int64_t time_ns = 0;
  std::string toJson() const;
};

struct EventFilters {
  std::map<std::string, std::vector<std::string>> f;
  bool matches(const DockerEvent& e) const;
};

class EventProjector {
 public:
  // Seeds names/images/labels of what exists now (for events whose creation
  // is older than the history being read).
  void seed(const v1::State& s);
  // Docker events for one log entry (0..n), in order.
  std::vector<DockerEvent> project(const v1::Envelope& env);

 private:
  struct ContainerInfo {
    std::string name, image;
    std::map<std::string, std::string> labels;
    bool restarting = false;  // a restart policy's restart is pending (lifecycle)
    std::vector<v1::MountPoint> volumes;  // issue #6: volume mounts (mount/unmount events)
  };
  std::map<std::string, ContainerInfo> containers_;
  // Docker's volume mount / unmount events of container `id`.
  void volumeEvents(std::vector<DockerEvent>& out, const std::string& action, const std::string& id,
                    int64_t t);
  std::map<std::string, std::string> image_names_;  // id -> a familiar name
  struct NetworkInfo {
    std::string name, driver;
  };
  std::map<std::string, NetworkInfo> networks_;  // issue #5
  void networkEvent(std::vector<DockerEvent>& out, const std::string& action,
                    const std::string& id, int64_t t, const std::string& container = "");
  void containerEvent(std::vector<DockerEvent>& out, const std::string& action,
                      const std::string& id, int64_t t,
                      std::map<std::string, std::string> extra = {});
};

}  // namespace arca::api
