#include "api/events.h"

#include <algorithm>

#include "api/json.h"
#include "runtime/image/reference.h"

namespace arca::api {

std::string DockerEvent::toJson() const {
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  if (type == "container" || type == "image") {
    jstr(w, "status", action);
    jstr(w, "id", id);
    if (!from.empty()) jstr(w, "from", from);
  }
  jstr(w, "Type", type);
  jstr(w, "Action", action);
  w.Key("Actor");
  w.StartObject();
  jstr(w, "ID", id);
  jstrMap(w, "Attributes", attributes);
  w.EndObject();
  jstr(w, "scope", "local");
  w.Key("time");
  w.Int64(time_ns / 1000000000);
  w.Key("timeNano");
  w.Int64(time_ns);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

namespace {
bool labelMatches(const std::map<std::string, std::string>& attrs, const std::string& want) {
  auto eq = want.find('=');
  if (eq == std::string::npos) return attrs.count(want) > 0;
  auto it = attrs.find(want.substr(0, eq));
  return it != attrs.end() && it->second == want.substr(eq + 1);
}
}  // namespace

bool EventFilters::matches(const DockerEvent& e) const {
  for (const auto& [key, vals] : f) {
    if (vals.empty()) continue;
    bool any = false;
    for (const auto& v : vals) {
      if (key == "type") {
        any = e.type == v;
      } else if (key == "event") {
        // "health_status" style prefixes match too (Docker matches the action prefix before ':').
        any = e.action == v || e.action.rfind(v + ":", 0) == 0;
      } else if (key == "container") {
        auto n = e.attributes.find("name");
        any = e.type == "container" &&
              (e.id == v || e.id.rfind(v, 0) == 0 || (n != e.attributes.end() && n->second == v));
      } else if (key == "image") {
        auto im = e.attributes.find("image");
        auto nm = e.attributes.find("name");
        std::string vf = image::familiarString(v);
        if (e.type == "container") {
          any = im != e.attributes.end() && (im->second == v || image::familiarString(im->second) == vf);
        } else if (e.type == "image") {
          any = e.id == v || e.id == "sha256:" + v ||
                (nm != e.attributes.end() && image::familiarString(nm->second) == vf);
        }
      } else if (key == "volume") {
        any = e.type == "volume" && e.id == v;
      } else if (key == "network") {
        auto n = e.attributes.find("name");
        any = e.type == "network" &&
              (e.id == v || e.id.rfind(v, 0) == 0 || (n != e.attributes.end() && n->second == v));
      } else if (key == "label") {
        any = labelMatches(e.attributes, v);
      } else if (key == "scope") {
        any = v == "local";
      } else {
        any = true;  // unknown keys are rejected by the handler
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

void EventProjector::seed(const v1::State& s) {
  for (const auto& [id, c] : s.containers()) {
    ContainerInfo ci{c.name(), c.config().image(), {}};
    for (const auto& [k, v] : c.config().labels()) ci.labels[k] = v;
    ci.restarting = c.status() == "restarting";
    for (const auto& m : c.host_config().mounts()) {
      if (m.type() == "volume") ci.volumes.push_back(m);
    }
    containers_[id] = std::move(ci);
  }
  for (const auto& [id, n] : s.networks()) networks_[id] = {n.name(), n.driver()};
  for (const auto& [id, img] : s.images()) {
    if (img.record().repo_tags_size() > 0) {
      image_names_[id] = image::familiarString(img.record().repo_tags(0));
    }
  }
}

void EventProjector::containerEvent(std::vector<DockerEvent>& out, const std::string& action,
                                    const std::string& id, int64_t t,
                                    std::map<std::string, std::string> extra) {
  DockerEvent e;
  e.type = "container";
  e.action = action;
  e.id = id;
  e.time_ns = t;
  auto it = containers_.find(id);
  if (it != containers_.end()) {
    e.attributes = it->second.labels;
    e.attributes["name"] = it->second.name;
    e.attributes["image"] = it->second.image;
    e.from = it->second.image;
  }
  for (auto& [k, v] : extra) e.attributes[k] = v;
  out.push_back(std::move(e));
}

void EventProjector::volumeEvents(std::vector<DockerEvent>& out, const std::string& action,
                                  const std::string& id, int64_t t) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  for (const auto& m : it->second.volumes) {
    DockerEvent e;
    e.type = "volume";
    e.action = action;
    e.id = m.source();
    e.time_ns = t;
    e.attributes = {{"container", id}, {"driver", "local"}};
    if (action == "mount") {
      e.attributes["destination"] = m.destination();
      e.attributes["propagation"] = "";
      e.attributes["read/write"] = m.read_only() ? "false" : "true";
    }
    out.push_back(std::move(e));
  }
}

void EventProjector::networkEvent(std::vector<DockerEvent>& out, const std::string& action,
                                  const std::string& id, int64_t t, const std::string& container) {
  DockerEvent e;
  e.type = "network";
  e.action = action;
  e.id = id;
  e.time_ns = t;
  auto it = networks_.find(id);
  if (it != networks_.end()) {
    e.attributes["name"] = it->second.name;
    e.attributes["type"] = it->second.driver;
  }
  if (!container.empty()) e.attributes["container"] = container;
  out.push_back(std::move(e));
}

std::vector<DockerEvent> EventProjector::project(const v1::Envelope& env) {
  std::vector<DockerEvent> out;
  const auto& e = env.event();
  int64_t t = env.time_ns();
  switch (e.kind_case()) {
    case v1::Event::kContainerCreated: {
      const auto& ev = e.container_created();
      ContainerInfo ci{ev.name(), ev.config().image(), {}};
      for (const auto& [k, v] : ev.config().labels()) ci.labels[k] = v;
      // dockerd says "create" for every volume a new container names, new or not.
      for (const auto& m : ev.host_config().mounts()) {
        if (m.type() != "volume") continue;
        ci.volumes.push_back(m);
        if (!m.volume_created()) {  // else its VolumeCreated said it
          out.push_back({"volume", "create", m.source(), "", {{"driver", "local"}}, t});
        }
      }
      containers_[ev.id()] = std::move(ci);
      containerEvent(out, "create", ev.id(), t);
      break;
    }
    case v1::Event::kContainerHealthChanged:
      containerEvent(out, "health_status: " + e.container_health_changed().status(),
                     e.container_health_changed().id(), t);
      break;
    case v1::Event::kContainerStarted:
      volumeEvents(out, "mount", e.container_started().id(), t);  // issue #6
      containerEvent(out, "start", e.container_started().id(), t);
      if (e.container_started().restart()) containerEvent(out, "restart", e.container_started().id(), t);
      break;
    case v1::Event::kContainerSignaled:
      if (e.container_signaled().error().empty()) {
        containerEvent(out, "kill", e.container_signaled().id(), t,
                       {{"signal", std::to_string(e.container_signaled().signal())}});
      }
      break;
    case v1::Event::kContainerExited: {
      const auto& ev = e.container_exited();
      containerEvent(out, "die", ev.id(), t, {{"exitCode", std::to_string(ev.exit_code())}});
      volumeEvents(out, "unmount", ev.id(), t);  // issue #6
      if (ev.stopped_by_request()) containerEvent(out, "stop", ev.id(), t);
      break;
    }
    // Restart policies (lifecycle): dockerd's stop of a restarting container
    // says "stop" (no kill, no die: the process had already died).
    case v1::Event::kContainerRestartScheduled:
      if (auto it = containers_.find(e.container_restart_scheduled().id()); it != containers_.end()) {
        it->second.restarting = true;
      }
      break;
    case v1::Event::kContainerStartRequested:
      if (auto it = containers_.find(e.container_start_requested().id()); it != containers_.end()) {
        it->second.restarting = false;
      }
      break;
    case v1::Event::kContainerStopRequested:
      if (auto it = containers_.find(e.container_stop_requested().id());
          it != containers_.end() && it->second.restarting) {
        it->second.restarting = false;
        containerEvent(out, "stop", it->first, t);
      }
      break;
    case v1::Event::kContainerStopMarked:
      if (auto it = containers_.find(e.container_stop_marked().id());
          it != containers_.end() && e.container_stop_marked().cancel_restart()) {
        it->second.restarting = false;
      }
      break;
    case v1::Event::kContainerRenamed: {
      const auto& ev = e.container_renamed();
      auto it = containers_.find(ev.id());
      if (it != containers_.end()) it->second.name = ev.new_name();
      containerEvent(out, "rename", ev.id(), t, {{"oldName", "/" + ev.old_name()}});
      break;
    }
    case v1::Event::kContainerUpdated:  // docker update
      containerEvent(out, "update", e.container_updated().id(), t);
      break;
    case v1::Event::kContainerCommitted: {
      const auto& ev = e.container_committed();
      std::string ref = ev.ref().empty() ? "" : image::familiarString(ev.ref());
      if (!ref.empty()) {
        image_names_[ev.image().id()] = ref;
        out.push_back({"image", "tag", ev.image().id(), "", {{"name", ref}}, t});
      }
      containerEvent(out, "commit", ev.id(), t,
                     {{"comment", ev.comment()}, {"imageID", ev.image().id()}, {"imageRef", ref}});
      break;
    }
    case v1::Event::kContainerPaused:  // issue #4
      containerEvent(out, "pause", e.container_paused().id(), t);
      break;
    case v1::Event::kContainerUnpaused:  // issue #4
      containerEvent(out, "unpause", e.container_unpaused().id(), t);
      break;
    case v1::Event::kContainerRemoved:
      containerEvent(out, "destroy", e.container_removed().id(), t);
      containers_.erase(e.container_removed().id());
      break;
    case v1::Event::kNetworkCreated: {  // issue #5
      const auto& ev = e.network_created();
      networks_[ev.id()] = {ev.name(), ev.driver()};
      networkEvent(out, "create", ev.id(), t);
      break;
    }
    case v1::Event::kNetworkRemoved:
      networkEvent(out, "destroy", e.network_removed().id(), t);
      networks_.erase(e.network_removed().id());
      break;
    case v1::Event::kVolumeCreated:  // issue #6
      out.push_back({"volume", "create", e.volume_created().name(), "",
                     {{"driver", e.volume_created().driver()}}, t});
      break;
    case v1::Event::kVolumeRemoved:
      out.push_back({"volume", "destroy", e.volume_removed().name(), "", {{"driver", "local"}}, t});
      break;
    case v1::Event::kNetworkConnected:
      networkEvent(out, "connect", e.network_connected().endpoint().network_id(), t,
                   e.network_connected().container_id());
      break;
    case v1::Event::kNetworkDisconnected:
      networkEvent(out, "disconnect", e.network_disconnected().network_id(), t,
                   e.network_disconnected().container_id());
      break;
    case v1::Event::kImageLoaded: {
      const auto& rec = e.image_loaded().image();
      std::string name = rec.repo_tags_size() > 0 ? image::familiarString(rec.repo_tags(0)) : rec.id();
      if (rec.repo_tags_size() > 0) image_names_[rec.id()] = name;
      const std::string& action = e.image_loaded().action();
      if (action == "pull") {
        // Docker names the reference pulled: id "busybox:latest", name "busybox".
        std::string ref = image::familiarString(e.image_loaded().ref());
        std::string short_name = ref.substr(0, ref.find_first_of("@"));
        auto colon = short_name.rfind(':');
        if (colon != std::string::npos && short_name.find('/', colon) == std::string::npos) {
          short_name.resize(colon);
        }
        out.push_back({"image", "pull", ref, "", {{"name", short_name}}, t});
      } else if (action == "import") {
        out.push_back({"image", "import", rec.id(), "", {{"name", rec.id()}}, t});
      } else {
        out.push_back({"image", "load", rec.id(), "", {{"name", name}}, t});
      }
      break;
    }
    case v1::Event::kImagePushed: {
      const auto& ev = e.image_pushed();
      std::string ref = image::familiarString(ev.ref());
      std::string short_name = ref;
      auto colon = short_name.rfind(':');
      if (colon != std::string::npos && short_name.find('/', colon) == std::string::npos) {
        short_name.resize(colon);
      }
      out.push_back({"image", "push", ref, "", {{"name", short_name}}, t});
      break;
    }
    case v1::Event::kImageSaved: {
      const auto& id = e.image_saved().id();
      auto it = image_names_.find(id);
      out.push_back({"image", "save", id, "", {{"name", it != image_names_.end() ? it->second : id}}, t});
      break;
    }
    case v1::Event::kImageTagged: {
      const auto& ev = e.image_tagged();
      image_names_[ev.id()] = image::familiarString(ev.ref());
      out.push_back({"image", "tag", ev.id(), "", {{"name", image::familiarString(ev.ref())}}, t});
      break;
    }
    case v1::Event::kImageUntagged: {
      const auto& ev = e.image_untagged();
      out.push_back({"image", "untag", ev.id(), "", {{"name", image::familiarString(ev.ref())}}, t});
      break;
    }
    case v1::Event::kImageDeleted: {
      const auto& id = e.image_deleted().id();
      auto it = image_names_.find(id);
      out.push_back({"image", "delete", id, "", {{"name", it != image_names_.end() ? it->second : id}}, t});
      break;
    }
    default:
      break;
  }
  return out;
}

}  // namespace arca::api
