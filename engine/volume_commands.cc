#include "engine/volume_commands.h"

#include <cctype>
#include <set>

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
  // Containers record their mounts with issue #6's mount support; until then
  // no container uses a volume.
  (void)s;
  (void)name;
  return {};
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
    if (!volumeUsers(s, name).empty()) continue;
    if (keep && keep(v)) continue;
    out.push_back(name);
  }
  return out;
}

}  // namespace arca::engine
