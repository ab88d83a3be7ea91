#include "api/mount_config.h"

#include <sys/stat.h>

#include <cctype>
#include <set>
#include <sstream>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/json.h"

namespace arca::api {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool isPropagation(const std::string& m) {
  static const std::set<std::string> k = {"private", "rprivate", "shared",
                                          "rshared", "slave",    "rslave"};
  return k.count(m) > 0;
}

Status invalidSpec(const std::string& spec, const std::string& why) {
  return InvalidArgument("invalid volume specification: '" + spec + "'" +
                         (why.empty() ? "" : ": " + why));
}

Status invalidMount(const std::string& type, const std::string& why) {
  return InvalidArgument("invalid mount config for type \"" + type + "\": " + why);
}

const char* typeName(MountRequest::Type t) {
  switch (t) {
    case MountRequest::Type::kBind: return "bind";
    case MountRequest::Type::kTmpfs: return "tmpfs";
    default: return "volume";
  }
}

}  // namespace

bool validVolumeName(const std::string& name) {
  if (name.size() < 2 || !isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

std::string cleanAbsolutePath(const std::string& p) {
  if (p.empty() || p[0] != '/') return "";
  std::vector<std::string> parts;
  for (const auto& seg : split(p, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(seg);
  }
  std::string out;
  for (const auto& seg : parts) out += "/" + seg;
  return out.empty() ? "/" : out;
}

StatusOr<int64_t> parseByteSize(const std::string& s) {
  if (s.empty()) return InvalidArgument("invalid size: ''");
  size_t i = 0;
  while (i < s.size() && (isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return InvalidArgument("invalid size: '" + s + "'");
  double v = 0;
  try {
    v = std::stod(s.substr(0, i));
  } catch (...) {
    return InvalidArgument("invalid size: '" + s + "'");
  }
  std::string unit = s.substr(i);
  for (auto& c : unit) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b' && unit.size() > 1) unit.pop_back();  // "mb", "kib" -> "m", "ki"
  if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
  double mult = 1;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k") {
    mult = 1024.0;
  } else if (unit == "m") {
    mult = 1024.0 * 1024;
  } else if (unit == "g") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "t") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else {
    return InvalidArgument("invalid size: '" + s + "'");
  }
  return static_cast<int64_t>(v * mult);
}

StatusOr<MountRequest> parseBind(const std::string& spec) {
  if (spec.empty()) return invalidSpec(spec, "");
  std::vector<std::string> parts = split(spec, ':');
  if (parts.size() > 3) return invalidSpec(spec, "");
  MountRequest m;
  m.from_binds = true;
  std::string src, dst, mode;
  if (parts.size() == 1) {
    dst = parts[0];  // anonymous volume
  } else if (parts.size() == 2) {
    // "/dst:ro" is not a thing on Linux: two fields are source and target.
    src = parts[0];
    dst = parts[1];
  } else {
    src = parts[0];
    dst = parts[1];
    mode = parts[2];
  }
  if (dst.empty() || dst[0] != '/') {
    return invalidSpec(spec, "invalid mount config for type \"" +
                                 std::string(src.empty() || src[0] != '/' ? "volume" : "bind") +
                                 "\": invalid mount path: '" + dst + "' mount path must be absolute");
  }
  m.target = cleanAbsolutePath(dst);
  if (m.target == "/") return InvalidArgument("invalid specification: destination can't be '/'");
  if (!src.empty()) {
    if (src[0] == '/') {
      m.type = MountRequest::Type::kBind;
      m.source = cleanAbsolutePath(src);
      m.create_source = true;
    } else {
      if (!validVolumeName(src)) {
        return InvalidArgument("create " + src + ": \"" + src +
                               "\" includes invalid characters for a local volume name, only "
                               "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass "
                               "a host directory, use absolute path");
      }
      m.type = MountRequest::Type::kVolume;
      m.source = src;
    }
  }
  m.mode_text = mode;
  if (!mode.empty()) {
    bool rw_given = false, ro_given = false;
    for (const auto& o : split(mode, ',')) {
      if (o == "ro") {
        ro_given = true;
      } else if (o == "rw") {
        rw_given = true;
      } else if (o == "z" || o == "Z" || o == "consistent" || o == "cached" || o == "delegated") {
        // SELinux relabel / macOS consistency: accepted, nothing to do here
      } else if (o == "nocopy") {
        if (m.type != MountRequest::Type::kVolume) return invalidSpec(spec, "invalid mode: " + mode);
        m.nocopy = true;
      } else if (isPropagation(o)) {
        if (m.type != MountRequest::Type::kBind) return invalidSpec(spec, "invalid mode: " + mode);
        m.propagation = o;
      } else {
        return invalidSpec(spec, "invalid mode: " + mode);
      }
    }
    if (ro_given && rw_given) return invalidSpec(spec, "invalid mode: " + mode);
    m.readonly = ro_given;
  }
  return m;
}

StatusOr<MountRequest> parseMountObject(const rapidjson::Value& v) {
  if (!v.IsObject()) return InvalidArgument("invalid mount: not an object");
  bool te = false;
  MountRequest m;
  std::string type = getString(v, "Type", &te).value_or("");
  if (type == "volume" || type.empty()) {
    m.type = MountRequest::Type::kVolume;
    if (type.empty()) return InvalidArgument("invalid mount config: mount type unknown");
  } else if (type == "bind") {
    m.type = MountRequest::Type::kBind;
  } else if (type == "tmpfs") {
    m.type = MountRequest::Type::kTmpfs;
  } else if (type == "npipe" || type == "cluster" || type == "image") {
    return InvalidArgument("mount type \"" + type + "\" is not supported by arca");
  } else {
    return InvalidArgument("invalid mount config for type \"" + type + "\": mount type unknown");
  }
  m.source = getString(v, "Source", &te).value_or("");
  std::string target = getString(v, "Target", &te).value_or("");
  m.readonly = getBool(v, "ReadOnly", &te).value_or(false);
  if (te) return InvalidArgument("invalid type in mount");
  const std::string tn = typeName(m.type);
  if (target.empty()) return invalidMount(tn, "field Target must not be empty");
  if (target[0] != '/') {
    return invalidMount(tn, "invalid mount path: '" + target + "' mount path must be absolute");
  }
  m.target = cleanAbsolutePath(target);
  if (m.target == "/") return InvalidArgument("invalid specification: destination can't be '/'");
  auto vo = v.FindMember("VolumeOptions");
  auto bo = v.FindMember("BindOptions");
  auto to = v.FindMember("TmpfsOptions");
  bool has_vo = vo != v.MemberEnd() && !vo->value.IsNull();
  bool has_bo = bo != v.MemberEnd() && !bo->value.IsNull();
  bool has_to = to != v.MemberEnd() && !to->value.IsNull();
  switch (m.type) {
    case MountRequest::Type::kBind: {
      if (m.source.empty()) return invalidMount(tn, "field Source must not be empty");
      if (m.source[0] != '/') {
        return invalidMount(tn, "invalid mount path: '" + m.source + "' mount path must be absolute");
      }
      if (has_vo) return invalidMount(tn, "field VolumeOptions must not be specified");
      if (has_to) return invalidMount(tn, "field TmpfsOptions must not be specified");
      m.source = cleanAbsolutePath(m.source);
      if (has_bo) {
        const auto& b = bo->value;
        m.propagation = getString(b, "Propagation", &te).value_or("");
        if (!m.propagation.empty() && !isPropagation(m.propagation)) {
          return invalidMount(tn, "invalid propagation mode: " + m.propagation);
        }
        m.non_recursive = getBool(b, "NonRecursive", &te).value_or(false);
        m.readonly_non_recursive = getBool(b, "ReadOnlyNonRecursive", &te).value_or(false);
        bool force = getBool(b, "ReadOnlyForceRecursive", &te).value_or(false);
        if ((m.readonly_non_recursive || force) && !m.readonly) {
          return invalidMount(tn, "option 'ReadOnlyNonRecursive' and 'ReadOnlyForceRecursive' require 'ReadOnly' to be set");
        }
        if (m.readonly_non_recursive && force) {
          return invalidMount(tn, "option 'ReadOnlyNonRecursive' and 'ReadOnlyForceRecursive' cannot be both set");
        }
        if (m.non_recursive && force) {
          return invalidMount(tn, "option 'ReadOnlyForceRecursive' requires 'NonRecursive' to be unset");
        }
        if (getBool(b, "CreateMountpoint", &te).value_or(false)) m.create_source = true;
      }
      break;
    }
    case MountRequest::Type::kVolume: {
      if (!m.source.empty() && !validVolumeName(m.source)) {
        return InvalidArgument("create " + m.source + ": \"" + m.source +
                               "\" includes invalid characters for a local volume name, only "
                               "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass "
                               "a host directory, use absolute path");
      }
      if (has_bo) return invalidMount(tn, "field BindOptions must not be specified");
      if (has_to) return invalidMount(tn, "field TmpfsOptions must not be specified");
      if (has_vo) {
        const auto& o = vo->value;
        m.nocopy = getBool(o, "NoCopy", &te).value_or(false);
        if (auto l = getStringMap(o, "Labels", &te)) m.volume_labels = *l;
        auto dc = o.FindMember("DriverConfig");
        if (dc != o.MemberEnd() && dc->value.IsObject()) {
          m.volume_driver = getString(dc->value, "Name", &te).value_or("");
          if (auto opts = getStringMap(dc->value, "Options", &te)) m.driver_opts = *opts;
        }
        if (!m.volume_driver.empty() && m.volume_driver != "local") {
          return NotFound("plugin \"" + m.volume_driver + "\" not found");
        }
      }
      break;
    }
    case MountRequest::Type::kTmpfs: {
      if (!m.source.empty()) return invalidMount(tn, "field Source must not be specified");
      if (has_bo) return invalidMount(tn, "field BindOptions must not be specified");
      if (has_vo) return invalidMount(tn, "field VolumeOptions must not be specified");
      if (has_to) {
        const auto& t = to->value;
        auto size = getInt(t, "SizeBytes", &te);
        if (size) {
          if (*size < 0) return invalidMount(tn, "invalid tmpfs size: negative");
          m.tmpfs_size = *size;
        }
        auto mode = getInt(t, "Mode", &te);
        if (mode) {
          if (*mode < 0 || *mode > 07777) return invalidMount(tn, "invalid tmpfs mode");
          m.tmpfs_mode = static_cast<uint32_t>(*mode);
        }
      }
      break;
    }
  }
  if (te) return InvalidArgument("invalid type in mount options");
  return m;
}

StatusOr<MountRequest> parseTmpfs(const std::string& target, const std::string& options) {
  MountRequest m;
  m.type = MountRequest::Type::kTmpfs;
  m.from_tmpfs = true;
  if (target.empty() || target[0] != '/') {
    return InvalidArgument("invalid mount path: '" + target + "' mount path must be absolute");
  }
  m.target = cleanAbsolutePath(target);
  if (m.target == "/") return InvalidArgument("invalid specification: destination can't be '/'");
  static const std::set<std::string> kFlags = {
      "ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "sync", "async",
      "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
      "nostrictatime", "mand", "nomand", "dirsync"};
  if (options.empty()) return m;
  for (const auto& o : split(options, ',')) {
    if (o.empty()) continue;
    auto eq = o.find('=');
    std::string k = o.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (k == "size") {
      auto sz = parseByteSize(val);
      if (!sz.ok()) return InvalidArgument("invalid tmpfs option \"" + o + "\"");
      m.tmpfs_size = *sz;
    } else if (k == "mode") {
      char* end = nullptr;
      long mode = strtol(val.c_str(), &end, 8);
      if (val.empty() || *end || mode < 0 || mode > 07777) {
        return InvalidArgument("invalid tmpfs option \"" + o + "\"");
      }
      m.tmpfs_mode = static_cast<uint32_t>(mode);
    } else if (k == "uid" || k == "gid" || k == "nr_inodes") {
      m.tmpfs_options.push_back(o);
    } else if (kFlags.count(o)) {
      if (o == "ro") m.readonly = true;
      m.tmpfs_options.push_back(o);
    } else {
      return InvalidArgument("invalid tmpfs option \"" + o + "\"");
    }
  }
  return m;
}

StatusOr<std::vector<MountRequest>> parseHostConfigMounts(const rapidjson::Value& h) {
  std::vector<MountRequest> out;
  bool te = false;
  if (auto binds = getStrings(h, "Binds", &te)) {
    for (const auto& b : *binds) {
      auto m = parseBind(b);
      if (!m.ok()) return m.status();
      out.push_back(std::move(*m));
    }
  }
  auto mounts = h.FindMember("Mounts");
  if (mounts != h.MemberEnd() && mounts->value.IsArray()) {
    for (const auto& v : mounts->value.GetArray()) {
      auto m = parseMountObject(v);
      if (!m.ok()) return m.status();
      out.push_back(std::move(*m));
    }
  }
  if (auto tmpfs = getStringMap(h, "Tmpfs", &te)) {
    for (const auto& [target, opts] : *tmpfs) {
      auto m = parseTmpfs(target, opts);
      if (!m.ok()) return m.status();
      out.push_back(std::move(*m));
    }
  }
  if (te) return InvalidArgument("invalid type in HostConfig mounts");
  std::set<std::string> targets;
  for (const auto& m : out) {
    if (!targets.insert(m.target).second) {
      return InvalidArgument("Duplicate mount point: " + m.target);
    }
  }
  return out;
}

v1::MountPoint toMountPoint(const MountRequest& m) {
  v1::MountPoint p;
  p.set_type(typeName(m.type));
  p.set_source(m.source);
  p.set_destination(m.target);
  p.set_read_only(m.readonly);
  p.set_mode(m.mode_text);
  p.set_propagation(m.propagation);
  p.set_non_recursive(m.non_recursive);
  p.set_readonly_non_recursive(m.readonly_non_recursive);
  p.set_no_copy(m.nocopy);
  p.set_tmpfs_size(m.tmpfs_size);
  p.set_tmpfs_mode(m.tmpfs_mode);
  for (const auto& o : m.tmpfs_options) p.add_tmpfs_options(o);
  p.set_origin(m.from_binds ? "binds" : m.from_tmpfs ? "tmpfs" : "mounts");
  p.set_create_source(m.create_source);
  for (const auto& [k, v] : m.volume_labels) (*p.mutable_volume_labels())[k] = v;
  for (const auto& [k, v] : m.driver_opts) (*p.mutable_volume_options())[k] = v;
  return p;
}

Status parseContainerMounts(const rapidjson::Value& h, v1::HostConfig* hc) {
  auto mounts = parseHostConfigMounts(h);
  if (!mounts.ok()) return mounts.status();
  for (const auto& m : *mounts) {
    if (m.type == MountRequest::Type::kBind && !m.create_source) {
      struct stat st {};
      if (stat(m.source.c_str(), &st) != 0) {
        return InvalidArgument("invalid mount config for type \"bind\": bind source path does not exist: " +
                               m.source);
      }
    }
    *hc->add_mounts() = toMountPoint(m);
  }
  bool te = false;
  if (auto binds = getStrings(h, "Binds", &te)) {
    for (const auto& b : *binds) hc->add_binds(b);
  }
  auto mj = h.FindMember("Mounts");
  if (mj != h.MemberEnd() && mj->value.IsArray() && !mj->value.Empty()) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    mj->value.Accept(w);
    hc->set_mounts_json(sb.GetString());
  }
  if (auto tmpfs = getStringMap(h, "Tmpfs", &te)) {
    for (const auto& [k, v] : *tmpfs) (*hc->mutable_tmpfs())[k] = v;
  }
  if (auto vf = getStrings(h, "VolumesFrom", &te)) {
    for (const auto& v : *vf) hc->add_volumes_from(v);
  }
  if (te) return InvalidArgument("invalid type in HostConfig mounts");
  return Status::Ok();
}

}  // namespace arca::api
