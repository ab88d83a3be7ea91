#include "engine/lookup.h"

#include "runtime/image/reference.h"

namespace arca::engine {
namespace {

// The one value whose key starts with `prefix` (protobuf maps are unordered:
// a scan). nullptr when none; InvalidArgument when several.
template <typename Map>
StatusOr<const typename Map::mapped_type*> uniquePrefix(const Map& m, const std::string& prefix,
                                                        const std::string& ref) {
  const typename Map::mapped_type* found = nullptr;
  for (const auto& kv : m) {
    if (kv.first.compare(0, prefix.size(), prefix) != 0) continue;
    if (found) return InvalidArgument("multiple IDs found with provided prefix: " + ref);
    found = &kv.second;
  }
  return found;
}

}  // namespace

StatusOr<const v1::Container*> findContainer(const v1::State& s, const std::string& ref) {
  if (ref.empty()) return NotFound("No such container: " + ref);
  auto it = s.containers().find(ref);
  if (it != s.containers().end()) return &it->second;
  std::string name = ref[0] == '/' ? ref.substr(1) : ref;
  auto n = s.names().find(name);
  if (n != s.names().end()) {
    auto c = s.containers().find(n->second);
    if (c != s.containers().end()) return &c->second;
  }
  // Unique id prefix.
  auto found = uniquePrefix(s.containers(), ref, ref);
  if (!found.ok()) return found.status();
  if (*found) return *found;
  return NotFound("No such container: " + ref);
}

StatusOr<const v1::Image*> findImage(const v1::State& s, const std::string& ref) {
  if (ref.empty()) return NotFound("No such image: " + ref);
  auto byId = [&](const std::string& id) -> const v1::Image* {
    auto it = s.images().find(id);
    return it == s.images().end() ? nullptr : &it->second;
  };
  if (ref.rfind("sha256:", 0) == 0 && ref.size() == 71) {
    if (auto* img = byId(ref)) return img;
  }
  // A name (tag or digest reference).
  auto parsed = image::parseNormalizedNamed(ref);
  if (parsed.ok()) {
    if (!parsed->digest.empty()) {
      for (const auto& [id, img] : s.images()) {
        for (const auto& d : img.record().repo_digests()) {
          if (d == parsed->name() + "@" + parsed->digest) return &img;
        }
      }
    } else {
      auto t = s.tags().find(parsed->full());
      if (t != s.tags().end()) {
        if (auto* img = byId(t->second)) return img;
      }
    }
  }
  // An id prefix (with or without "sha256:").
  if (image::looksLikeIdPrefix(ref)) {
    std::string prefix = ref.rfind("sha256:", 0) == 0 ? ref : "sha256:" + ref;
    auto found = uniquePrefix(s.images(), prefix, ref);
    if (!found.ok()) return found.status();
    if (*found) return *found;
  }
  std::string shown = ref;
  if (parsed.ok() && parsed->digest.empty() && ref.find(':') == std::string::npos &&
      !image::looksLikeIdPrefix(ref)) {
    shown = ref + ":latest";
  }
  return NotFound("No such image: " + shown);
}

int countContainersUsingImage(const v1::State& s, const std::string& image_id) {
  int n = 0;
  for (const auto& [id, c] : s.containers()) n += c.image_id() == image_id;
  return n;
}

}  // namespace arca::engine
