#include "runtime/namespace/devices.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>

namespace arca::runtime {
namespace {

bool deviceAt(const std::string& path, const std::string& in_container, OciDevice* out) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return false;
  if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) return false;
  out->path = in_container;
  out->type = S_ISCHR(st.st_mode) ? 'c' : 'b';
  out->major = major(st.st_rdev);
  out->minor = minor(st.st_rdev);
  out->file_mode = st.st_mode & 07777;
  out->uid = st.st_uid;
  out->gid = st.st_gid;
  return true;
}

// Device nodes below `dir` (recursive), with their path relative to it.
void walk(const std::string& dir, const std::string& rel,
          const std::function<bool(const std::string&)>& skip,
          const std::function<void(const std::string&, const std::string&)>& visit) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    entries.emplace_back(e->d_name, e->d_type);
  }
  closedir(d);
  for (const auto& [name, type] : entries) {
    std::string r = rel.empty() ? name : rel + "/" + name;
    if (skip(r)) continue;
    std::string full = dir + "/" + name;
    if (type == DT_DIR) {
      walk(full, r, skip, visit);
    } else if (type == DT_CHR || type == DT_BLK) {
      visit(full, r);
    }
  }
}

}  // namespace

Status devicesFromPath(const std::string& host, const std::string& container,
                       const std::string& perms, std::vector<OciDevice>* devices,
                       std::vector<OciDeviceRule>* rules) {
  auto add = [&](const OciDevice& d) {
    devices->push_back(d);
    rules->push_back({true, std::string(1, d.type), d.major, d.minor, perms});
  };
  OciDevice dev;
  if (deviceAt(host, container, &dev)) {
    add(dev);
    return Status::Ok();
  }
  struct stat st {};
  if (stat(host.c_str(), &st) != 0) {
    std::string why = strerror(errno);  // Go's spelling: lower case ("no such file or directory")
    if (!why.empty()) why[0] = static_cast<char>(tolower(static_cast<unsigned char>(why[0])));
    return InvalidArgument("error gathering device information while adding custom device \"" +
                           host + "\": " + why);
  }
  if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument("error gathering device information while adding custom device \"" +
                           host + "\": not a device node");
  }
  walk(host, "", [](const std::string&) { return false; },
       [&](const std::string& full, const std::string& rel) {
         OciDevice d;
         if (deviceAt(full, container + "/" + rel, &d)) add(d);
       });
  return Status::Ok();
}

std::vector<OciDevice> hostDevices() {
  std::vector<OciDevice> out;
  walk("/dev", "",
       [](const std::string& rel) {
         return rel == "pts" || rel == "shm" || rel == "mqueue" || rel == "fd" ||
                rel == "console" || rel == ".lxc" || rel == ".lxd-mounts" || rel == ".udev";
       },
       [&](const std::string& full, const std::string& rel) {
         OciDevice d;
         if (deviceAt(full, "/dev/" + rel, &d)) out.push_back(d);
       });
  return out;
}

}  // namespace arca::runtime
