// Manifest and index parsing, platform strings and platform selection.
//
// Parsing is strict where a wrong answer would be pulled and run (digests,
// sizes, layer media types, the kind of document) and lenient about fields
// it does not use. Everything here is pure so it can be fuzzed.
#include "runtime/registry/manifest.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "runtime/image/digest.h"

namespace arca::registry {
namespace {

using JsonValue = rapidjson::Value;

constexpr size_t kMaxLayers = 1000;

constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kSchema1Prefix = "application/vnd.docker.distribution.manifest.v1";

// Layers we can unpack. Foreign / non-distributable layers live outside the
// registry (Windows base layers) and are refused with their own message.
// (The plain and zstd docker types are not in the schema 2 spec, but dockerd
// and containerd pull them; the bytes are detected by their magic anyway.)
constexpr std::array<std::string_view, 6> kLayerTypes = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
};
constexpr std::array<std::string_view, 4> kForeignLayerTypes = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
};

constexpr std::array<std::string_view, 17> kKnownOs = {
    "aix",   "android", "darwin", "dragonfly", "freebsd", "hurd",    "illumos", "ios", "js",
    "linux", "nacl",    "netbsd", "openbsd",   "plan9",   "solaris", "windows", "zos"};
constexpr std::array<std::string_view, 24> kKnownArch = {
    "386",     "amd64",   "amd64p32", "arm",    "armbe",  "arm64",    "arm64be",   "ppc64",
    "ppc64le", "loong64", "mips",     "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le",
    "ppc",     "riscv",   "riscv64",  "s390",   "s390x",  "sparc",    "sparc64",   "wasm"};

template <size_t N>
bool oneOf(std::string_view s, const std::array<std::string_view, N>& set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool isImageType(std::string_view t) { return t == kDockerManifest || t == kOciManifest; }
bool isIndexType(std::string_view t) { return t == kDockerManifestList || t == kOciIndex; }

// "application/json; charset=utf-8" -> "application/json"
std::string bareContentType(std::string_view ct) {
  ct = ct.substr(0, ct.find(';'));
  while (!ct.empty() && (ct.front() == ' ' || ct.front() == '\t')) ct.remove_prefix(1);
  while (!ct.empty() && (ct.back() == ' ' || ct.back() == '\t')) ct.remove_suffix(1);
  return lower(ct);
}

Status invalid(const std::string& what) { return InvalidArgument("invalid manifest: " + what); }

std::string str(const JsonValue& v) { return std::string(v.GetString(), v.GetStringLength()); }

const JsonValue* member(const JsonValue& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

// An optional string member; a present value of another type is an error,
// as it is for Go's encoding/json which registries and Docker use.
Status optString(const JsonValue& obj, const char* key, const std::string& what, std::string* out) {
  const JsonValue* v = member(obj, key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsString()) return invalid(what + ": " + key + " is not a string");
  *out = str(*v);
  return Status::Ok();
}

Status parsePlatformObject(const JsonValue& v, const std::string& what, Platform* out) {
  if (!v.IsObject()) return invalid(what + ": platform is not an object");
  ARCA_RETURN_IF_ERROR(optString(v, "os", what, &out->os));
  ARCA_RETURN_IF_ERROR(optString(v, "architecture", what, &out->architecture));
  return optString(v, "variant", what, &out->variant);
}

StatusOr<Descriptor> parseDescriptor(const JsonValue& v, const std::string& what) {
  if (!v.IsObject()) return invalid(what + " is not an object");
  Descriptor d;
  ARCA_RETURN_IF_ERROR(optString(v, "mediaType", what, &d.media_type));
  const JsonValue* digest = member(v, "digest");
  if (!digest || !digest->IsString()) return invalid(what + " has no digest");
  d.digest = str(*digest);
  auto hex = image::sha256HexOf(d.digest);
  if (!hex.ok()) return invalid(what + ": " + hex.status().message());
  const JsonValue* size = member(v, "size");
  if (!size || !size->IsNumber()) return invalid(what + " has no size");
  if (!size->IsInt64()) return invalid(what + " has an invalid size");
  d.size = size->GetInt64();
  if (d.size < 0) return invalid(what + " has a negative size");
  if (const JsonValue* urls = member(v, "urls"); urls && !urls->IsNull()) {
    if (!urls->IsArray()) return invalid(what + ": urls is not an array");
    for (const auto& u : urls->GetArray()) {
      if (!u.IsString()) return invalid(what + ": urls must be strings");
      d.urls.push_back(str(u));
    }
  }
  if (const JsonValue* p = member(v, "platform"); p && !p->IsNull()) {
    ARCA_RETURN_IF_ERROR(parsePlatformObject(*p, what, &d.platform));
    d.has_platform = true;
  }
  if (const JsonValue* a = member(v, "annotations"); a && !a->IsNull()) {
    if (!a->IsObject()) return invalid(what + ": annotations is not an object");
    for (auto it = a->MemberBegin(); it != a->MemberEnd(); ++it) {
      if (!it->value.IsString()) return invalid(what + ": annotation values must be strings");
      d.annotations[str(it->name)] = str(it->value);
    }
  }
  return d;
}

Status parseImage(const JsonValue& doc, ParsedManifest* m) {
  const JsonValue* config = member(doc, "config");
  if (!config) return invalid("missing config");
  if (!config->IsObject()) return invalid("config is not an object");
  ARCA_ASSIGN_OR_RETURN(m->config, parseDescriptor(*config, "config"));
  const std::string& ct = m->config.media_type;
  // Helm charts, plugins and other artifacts use their own config types;
  // pulling them as images would fail later with a less helpful error.
  if (!ct.empty() && ct != kDockerConfig && ct != kOciConfig) {
    return invalid("config media type \"" + ct + "\" is not a container image config");
  }
  const JsonValue* layers = member(doc, "layers");
  if (!layers || layers->IsNull()) return Status::Ok();  // no layers: a FROM scratch image
  if (!layers->IsArray()) return invalid("layers is not an array");
  if (layers->Size() > kMaxLayers) {
    return invalid(std::to_string(layers->Size()) + " layers (at most " +
                   std::to_string(kMaxLayers) + " are supported)");
  }
  for (rapidjson::SizeType i = 0; i < layers->Size(); ++i) {
    std::string what = "layer " + std::to_string(i);
    ARCA_ASSIGN_OR_RETURN(Descriptor d, parseDescriptor((*layers)[i], what));
    if (oneOf(d.media_type, kForeignLayerTypes)) {
      return invalid(what + " is a foreign (non-distributable) layer (" + d.media_type +
                     "); foreign layers are not supported");
    }
    if (!oneOf(d.media_type, kLayerTypes)) {
      return invalid(what + " has unsupported media type \"" + d.media_type + "\"");
    }
    m->layers.push_back(std::move(d));
  }
  return Status::Ok();
}

Status parseIndex(const JsonValue& doc, ParsedManifest* m) {
  const JsonValue* manifests = member(doc, "manifests");
  if (!manifests) return invalid("missing manifests");
  if (!manifests->IsArray()) return invalid("manifests is not an array");
  for (rapidjson::SizeType i = 0; i < manifests->Size(); ++i) {
    ARCA_ASSIGN_OR_RETURN(Descriptor d,
                          parseDescriptor((*manifests)[i], "manifest " + std::to_string(i)));
    m->manifests.push_back(std::move(d));
  }
  return Status::Ok();
}

bool validComponent(std::string_view c) {
  if (c.empty()) return false;
  for (char ch : c) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

std::string normalizeOs(std::string_view os) {
  std::string o = lower(os);
  return o == "macos" ? "darwin" : o;
}

Platform hostPlatform() {
#if defined(__aarch64__)
  return {"linux", "arm64", "v8"};
#elif defined(__arm__)
  return {"linux", "arm", "v7"};
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return {"linux", "ppc64le", ""};
#elif defined(__s390x__)
  return {"linux", "s390x", ""};
#elif defined(__riscv) && __riscv_xlen == 64
  return {"linux", "riscv64", ""};
#else
  return {"linux", "amd64", ""};
#endif
}

// Appends rather than `"\"" + std::string`: GCC 12 warns falsely (-Wrestrict,
// bug 105329) on a literal plus a temporary string.
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

}  // namespace

Platform normalizePlatform(Platform p) {
  p.os = normalizeOs(p.os);
  p.architecture = lower(p.architecture);
  p.variant = lower(p.variant);
  std::string& a = p.architecture;
  std::string& v = p.variant;
  if (a == "i386") {
    a = "386";
    v.clear();
  } else if (a == "x86_64" || a == "x86-64" || a == "amd64") {
    a = "amd64";
    if (v == "v1") v.clear();
  } else if (a == "aarch64" || a == "arm64") {
    a = "arm64";
    if (v == "8" || v == "v8.0") v = "v8";
    if (v == "9" || v == "v9.0") v = "v9";
  } else if (a == "armhf") {
    a = "arm";
    v = "v7";
  } else if (a == "armel") {
    a = "arm";
    v = "v6";
  } else if (a == "arm") {
    if (v.empty() || v == "7") v = "v7";
    if (v == "5" || v == "6" || v == "8") v = "v" + v;
  }
  return p;
}

StatusOr<Platform> parsePlatform(std::string_view s) {
  if (s.empty()) return hostPlatform();
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    parts.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (std::string_view c : parts) {
    if (!validComponent(c)) {
      return InvalidArgument(quoted(c) +
                             ": invalid platform specifier component, must match "
                             "\"^[A-Za-z0-9_-]+$\": invalid argument");
    }
  }
  if (parts.size() > 3) {
    return InvalidArgument(quoted(s) + ": cannot parse platform specifier: invalid argument");
  }
  std::string os = normalizeOs(parts[0]);
  if (parts.size() == 1) {
    // One component is an os ("linux": the host's architecture) or an
    // architecture ("arm64": linux), as containerd reads it.
    if (oneOf(os, kKnownOs)) {
      if (os != "linux") return InvalidArgument(quoted(os) + ": operating system is not supported");
      return hostPlatform();
    }
    Platform p = normalizePlatform({"linux", std::string(parts[0]), ""});
    if (!oneOf(p.architecture, kKnownArch)) {
      return InvalidArgument(quoted(s) +
                             ": unknown operating system or architecture: invalid argument");
    }
    return p;
  }
  if (os != "linux") {
    if (oneOf(os, kKnownOs))
      return InvalidArgument(quoted(os) + ": operating system is not supported");
    return InvalidArgument(quoted(s) +
                           ": unknown operating system or architecture: invalid argument");
  }
  return normalizePlatform(
      {os, std::string(parts[1]), parts.size() == 3 ? std::string(parts[2]) : std::string()});
}

std::string platformString(const Platform& p) {
  std::string s = p.os + "/" + p.architecture;
  if (!p.variant.empty()) s += "/" + p.variant;
  return s;
}

StatusOr<ParsedManifest> parseManifest(std::string_view body, std::string_view content_type) {
  rapidjson::Document doc;
  // Iterative parsing: a hostile body of nested brackets must not exhaust the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    return invalid(std::string("not valid JSON (") +
                   rapidjson::GetParseError_En(doc.GetParseError()) + " at offset " +
                   std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return invalid("not a JSON object");

  std::string ct = bareContentType(content_type);
  std::string body_type;
  ARCA_RETURN_IF_ERROR(optString(doc, "mediaType", "manifest", &body_type));
  const JsonValue* version = member(doc, "schemaVersion");
  bool schema1 = (version && version->IsInt64() && version->GetInt64() == 1) ||
                 body_type.rfind(kSchema1Prefix, 0) == 0 ||
                 (body_type.empty() && ct.rfind(kSchema1Prefix, 0) == 0);
  if (schema1) {
    return InvalidArgument(
        "Docker Image manifest version 2, schema 1 manifests are not supported; the image must "
        "be pushed again in the OCI or Docker schema 2 format (see "
        "https://docs.docker.com/go/deprecated-image-specs/)");
  }
  if (!version) return invalid("missing schemaVersion");
  if (!version->IsInt64() || version->GetInt64() != 2) {
    return invalid("unsupported schemaVersion (only 2 is supported)");
  }

  ParsedManifest m;
  m.media_type = body_type.empty() ? ct : body_type;
  bool has_manifests = doc.HasMember("manifests");
  bool has_image_fields = doc.HasMember("config") || doc.HasMember("layers");
  if (isIndexType(m.media_type)) {
    if (has_image_fields) {
      return invalid("media type " + m.media_type +
                     " is an index but the body has config or layers");
    }
    m.kind = ParsedManifest::Kind::kIndex;
  } else if (isImageType(m.media_type)) {
    if (has_manifests) {
      return invalid("media type " + m.media_type +
                     " is an image manifest but the body has manifests");
    }
    m.kind = ParsedManifest::Kind::kImage;
  } else if (!body_type.empty()) {
    return invalid("unsupported media type \"" + body_type + "\"");
  } else if (has_manifests && !has_image_fields) {
    m.kind = ParsedManifest::Kind::kIndex;  // no usable type anywhere: go by the shape
  } else if (has_image_fields && !has_manifests) {
    m.kind = ParsedManifest::Kind::kImage;
  } else {
    return invalid("neither an image manifest nor an image index");
  }
  if (m.kind == ParsedManifest::Kind::kIndex) {
    ARCA_RETURN_IF_ERROR(parseIndex(doc, &m));
  } else {
    ARCA_RETURN_IF_ERROR(parseImage(doc, &m));
  }
  return m;
}

StatusOr<Descriptor> selectPlatform(const ParsedManifest& index, const Platform& want) {
  if (index.kind != ParsedManifest::Kind::kIndex) {
    return InvalidArgument("cannot select a platform: not an image index");
  }
  Platform w = normalizePlatform(want);
  auto variantMatches = [&](const Platform& p) {
    if (p.variant == w.variant) return true;
    // An arm64 entry without a variant is v8, the only arm64 variant in use.
    bool p8 = p.variant.empty() || p.variant == "v8";
    bool w8 = w.variant.empty() || w.variant == "v8";
    return w.architecture == "arm64" && p8 && w8;
  };
  for (const Descriptor& d : index.manifests) {
    if (!d.has_platform || d.annotations.count("vnd.docker.reference.type")) continue;
    if (!d.media_type.empty() && !isImageType(d.media_type) && !isIndexType(d.media_type)) continue;
    Platform p = normalizePlatform(d.platform);
    if (p.os == "unknown" || p.architecture == "unknown") continue;  // attestations
    if (p.os == w.os && p.architecture == w.architecture && variantMatches(p)) return d;
  }
  return NotFound("no matching manifest for " + platformString(want) +
                  " in the manifest list entries");
}

}  // namespace arca::registry
