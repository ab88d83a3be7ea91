#include "engine/volume_commands.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "engine/lookup.h"

namespace arca::engine {
namespace {

bool validName(const std::string& name) {
  if (name.size() < 2 || !isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

}  // namespace

StatusOr<const v1::Volume*> findVolume(const v1::State& s, const std::string& name) {
  auto it = s.volumes().find(name);
  if (it == s.volumes().end()) return NotFound("get " + name + ": no such volume");
  return &it->second;
}

std::vector<std::string> volumeUsers(const v1::State& s, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [id, c] : s.containers()) {
    for (const auto& m : c.host_config().mounts()) {
      if (m.type() == "volume" && m.source() == name) {
        out.push_back(id);
        break;
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status planContainerMounts(const v1::State& s,
                           const google::protobuf::RepeatedPtrField<v1::MountPoint>& explicit_mounts,
                           const google::protobuf::RepeatedPtrField<std::string>& volumes_from,
                           const google::protobuf::RepeatedPtrField<std::string>& config_volumes,
                           IdSource& ids, std::vector<v1::Event>* out,
                           google::protobuf::RepeatedPtrField<v1::MountPoint>* mounts) {
  std::set<std::string> targets;
  for (const auto& m : explicit_mounts) {
    targets.insert(m.destination());
    *mounts->Add() = m;
  }
  for (const auto& spec : volumes_from) {
    std::string ref = spec, mode;
    if (auto colon = spec.find(':'); colon != std::string::npos) {
      ref = spec.substr(0, colon);
      mode = spec.substr(colon + 1);
    }
    bool set_ro = false, ro = false;
    for (size_t i = 0; i <= mode.size() && !mode.empty();) {
      size_t comma = mode.find(',', i);
      std::string o = mode.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      if (o == "ro" || o == "rw") {
        set_ro = true;
        ro = o == "ro";
      } else if (o != "z" && o != "Z") {
        return InvalidArgument("invalid mode: " + mode);
      }
      if (comma == std::string::npos) break;
      i = comma + 1;
    }
    auto other = findContainer(s, ref);
    if (!other.ok()) return other.status();
    for (const auto& m : (*other)->host_config().mounts()) {
      if (m.type() == "tmpfs" || targets.count(m.destination())) continue;
      targets.insert(m.destination());
      v1::MountPoint copy = m;
      copy.set_origin("volumes-from");
      if (set_ro && ro) copy.set_read_only(true);  // ":rw" never loosens a read-only mount
      copy.set_create_source(false);
      copy.set_no_copy(true);  // dockerd never copies up into an inherited volume
      copy.set_volume_created(false);
      *mounts->Add() = std::move(copy);
    }
  }
  for (const auto& dest : config_volumes) {
    if (targets.count(dest)) continue;
    targets.insert(dest);
    v1::MountPoint m;
    m.set_type("volume");
    m.set_destination(dest);
    m.set_origin("volumes");
    *mounts->Add() = std::move(m);
  }
  // The volumes: anonymous ones get a name; missing ones are created.
  std::set<std::string> creating;
  for (auto& m : *mounts) {
    if (m.type() != "volume") continue;
    if (!m.source().empty() && (s.volumes().count(m.source()) || creating.count(m.source()))) {
      continue;
    }
    CreateVolume cv;
    cv.name = m.source();
    cv.anonymous = m.source().empty();
    if (cv.anonymous) cv.labels["com.docker.volume.anonymous"] = "";
    for (const auto& [k, v] : m.volume_labels()) cv.labels[k] = v;
    for (const auto& [k, v] : m.volume_options()) cv.options[k] = v;
    std::string name;
    ARCA_RETURN_IF_ERROR(decideCreateVolume(s, cv, ids, out, &name));
    creating.insert(name);
    m.set_source(name);
    m.set_volume_created(true);
  }
  return Status::Ok();
}

std::vector<std::string> anonymousVolumesOf(const v1::State& s, const std::string& id) {
  std::vector<std::string> out;
  auto c = s.containers().find(id);
  if (c == s.containers().end()) return out;
  for (const auto& m : c->second.host_config().mounts()) {
    if (m.type() != "volume") continue;
    auto v = s.volumes().find(m.source());
    if (v == s.volumes().end() || !v->second.anonymous()) continue;
    if (std::find(out.begin(), out.end(), m.source()) != out.end()) continue;
    bool shared = false;
    for (const auto& u : volumeUsers(s, m.source())) shared = shared || u != id;
    if (!shared) out.push_back(m.source());
  }
  return out;
}

Status decideCreateVolume(const v1::State& s, const CreateVolume& cmd, IdSource& ids,
                          std::vector<v1::Event>* out, std::string* name_out) {
  std::string driver = cmd.driver.empty() ? "local" : cmd.driver;
  if (driver != "local") return NotFound("plugin \"" + driver + "\" not found");
  std::string name = cmd.name;
  if (name.empty()) {
    do {
      name = ids.newId();
    } while (s.volumes().count(name) > 0);
  } else if (!validName(name)) {
    return InvalidArgument("create " + name + ": \"" + name +
                           "\" includes invalid characters for a local volume name, only "
                           "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
                           "host directory, use absolute path");
  }
  static const std::set<std::string> kKeys = {"type", "device", "o", "size"};
  for (const auto& [k, v] : cmd.options) {
    if (!kKeys.count(k)) return InvalidArgument("create " + name + ": invalid option key: \"" + k + "\"");
  }
  if (cmd.options.count("size")) {
    return InvalidArgument("create " + name + ": quota size requested but no quota support");
  }
  auto type = cmd.options.find("type");
  auto device = cmd.options.find("device");
  if ((type != cmd.options.end()) != (device != cmd.options.end()) &&
      !(type != cmd.options.end() && type->second == "tmpfs")) {
    return InvalidArgument("create " + name + ": missing required option: \"" +
                           std::string(type == cmd.options.end() ? "type" : "device") + "\"");
  }
  auto existing = s.volumes().find(name);
  if (existing != s.volumes().end()) {
    if (existing->second.driver() != driver) {
      return Conflict("volume name " + name + " already in use with driver " +
                      existing->second.driver());
    }
    *name_out = name;
    return Status::Ok();  // dockerd answers the existing volume
  }
  v1::Event e;
  auto* ev = e.mutable_volume_created();
  ev->set_name(name);
  ev->set_driver(driver);
  for (const auto& [k, v] : cmd.labels) (*ev->mutable_labels())[k] = v;
  for (const auto& [k, v] : cmd.options) (*ev->mutable_options())[k] = v;
  ev->set_anonymous(cmd.anonymous);
  out->push_back(std::move(e));
  *name_out = name;
  return Status::Ok();
}

Status decideRemoveVolume(const v1::State& s, const std::string& name, bool force,
                          std::vector<v1::Event>* out) {
  auto v = findVolume(s, name);
  if (!v.ok()) return force ? Status::Ok() : v.status();
  auto users = volumeUsers(s, name);
  if (!users.empty()) {
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : " ") + u;
    return Conflict("remove " + name + ": volume is in use - [" + list + "]");
  }
  v1::Event e;
  e.mutable_volume_removed()->set_name(name);
  out->push_back(std::move(e));
  return Status::Ok();
}

std::vector<std::string> pruneableVolumes(const v1::State& s, bool all,
                                          const std::function<bool(const v1::Volume&)>& keep) {
  std::vector<std::string> out;
  for (const auto& [name, v] : s.volumes()) {
    if (!all && !v.anonymous()) continue;
    if (!v.options().empty()) continue;  // dockerd keeps volumes with driver options
    if (!volumeUsers(s, name).empty()) continue;
    if (keep && keep(v)) continue;
    out.push_back(name);
  }
  return out;
}

}  // namespace arca::engine
