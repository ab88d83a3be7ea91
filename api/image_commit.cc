// Making an image from a container's writable layer (api/image_commit.h).
#include "api/image_commit.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <cstdlib>
#include <cstring>
#include <set>

#include "api/image_tools.h"
#include "runtime/container_archive.h"
#include "runtime/image/archive_io.h"

namespace arca::api {
namespace {

using rapidjson::Value;
using Alloc = rapidjson::Document::AllocatorType;

Value str(const std::string& s, Alloc& a) {
  return Value(s.c_str(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace

// The committed image's config: the parent's, with the new layer, config and history entry.
StatusOr<std::string> childImageConfig(const v1::ImageRecord& parent, const Value& config,
                                       const ChildImage& child) {
  const std::string& diff_id = child.diff_id;
  const std::string& author = child.author;
  const std::string& comment = child.comment;
  const std::string& created = child.created;
  rapidjson::Document p;
  if (parent.id().empty()) {
    p.SetObject();  // FROM scratch
  } else {
    p.Parse(parent.config_json().c_str(), parent.config_json().size());
  }
  if (p.HasParseError() || !p.IsObject()) {
    return Internal("the config of image " + parent.id() + " is not valid JSON");
  }
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("architecture", str(parent.architecture().empty() ? "amd64" : parent.architecture(), a), a);
  if (!author.empty()) doc.AddMember("author", str(author, a), a);
  doc.AddMember("config", Value(config, a), a);
  if (!child.container_id.empty()) doc.AddMember("container", str(child.container_id, a), a);
  if (child.container_config) doc.AddMember("container_config", Value(*child.container_config, a), a);
  doc.AddMember("created", str(created, a), a);
  Value history(rapidjson::kArrayType);
  if (auto h = p.FindMember("history"); h != p.MemberEnd() && h->value.IsArray()) {
    history.CopyFrom(h->value, a);
  }
  Value entry(rapidjson::kObjectType);
  entry.AddMember("created", str(created, a), a);
  if (!author.empty()) entry.AddMember("author", str(author, a), a);
  entry.AddMember("created_by", str(child.created_by, a), a);
  if (!comment.empty()) entry.AddMember("comment", str(comment, a), a);
  if (diff_id.empty()) entry.AddMember("empty_layer", true, a);
  history.PushBack(entry, a);
  doc.AddMember("history", history, a);
  doc.AddMember("os", str(parent.os().empty() ? "linux" : parent.os(), a), a);
  Value rootfs(rapidjson::kObjectType), diffs(rapidjson::kArrayType);
  rootfs.AddMember("type", "layers", a);
  for (const auto& d : parent.diff_ids()) diffs.PushBack(str(d, a), a);
  if (!diff_id.empty()) diffs.PushBack(str(diff_id, a), a);
  rootfs.AddMember("diff_ids", diffs, a);
  doc.AddMember("rootfs", rootfs, a);
  if (!parent.variant().empty()) doc.AddMember("variant", str(parent.variant(), a), a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> jw(sb);
  doc.Accept(jw);
  return std::string(sb.GetString(), sb.GetSize());
}

namespace {

// The layer tar of directory `upper` (overlay format) into the store.
// `with_upper` runs its callback with that directory.
StatusOr<image::ImageStore::Layer> ingestUpper(
    ApiContext& ctx, const v1::ImageRecord& parent, const std::string& what,
    const std::function<Status(const std::function<Status(const std::string&)>&)>& with_upper) {
  const std::string tmp_dir = ctx.images->root() + "/tmp";
  std::string tmpl = tmp_dir + "/commit-XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0) return Internal("creating " + tmp_dir + "/commit-*: " + std::strerror(errno));
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_tmp{tmpl};
  image::FdGuard guard(fd);
  int64_t entries = 0;
  Status st = with_upper([&](const std::string& upper) {
    return runtime::layerDiffTar(
        upper,
        [&](std::string_view d) {
          while (!d.empty()) {
            ssize_t n = ::write(fd, d.data(), d.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            d.remove_prefix(static_cast<size_t>(n));
          }
          return true;
        },
        &entries);
  });
  if (!st.ok()) return Internal("taking the changes of " + what + ": " + st.message());
  if (entries == 0) return image::ImageStore::Layer{};  // Docker's empty layer: history only
  ARCA_ASSIGN_OR_RETURN(image::ReadFn in, image::fileReader(tmpl));
  auto chains = imageChainIds(parent);
  return ctx.images->ingestLayer(in, chains.empty() ? "" : chains.back(), "", -1, "", nullptr);
}

}  // namespace

StatusOr<image::ImageStore::Layer> commitLayer(ApiContext& ctx, const std::string& container_id,
                                               const std::string& container_name,
                                               const std::vector<std::string>& lowers,
                                               const v1::ImageRecord& parent) {
  return ingestUpper(ctx, parent, container_name, [&](const auto& fn) {
    return ctx.driver->withLayers(container_id, lowers,
                                  [&](const std::string& upper, const std::vector<std::string>&) {
                                    return fn(upper);
                                  });
  });
}

StatusOr<image::ImageStore::Layer> commitDirectory(ApiContext& ctx, const std::string& dir,
                                                   const v1::ImageRecord& parent) {
  return ingestUpper(ctx, parent, dir, [&](const auto& fn) { return fn(dir); });
}

StatusOr<v1::ImageRecord> storeImage(ApiContext& ctx, const std::string& config_json,
                                     const image::ImageStore::Layer& layer) {
  ARCA_ASSIGN_OR_RETURN(std::string digest, ctx.images->putBlob(config_json));
  ARCA_ASSIGN_OR_RETURN(v1::ImageRecord rec, ctx.images->recordFromConfig(config_json));
  std::set<std::string> blobs{digest};
  if (!layer.blob_digest.empty()) blobs.insert(layer.blob_digest);
  ARCA_RETURN_IF_ERROR(ctx.images->recordBlobs(rec.id(), blobs));
  return rec;
}

}  // namespace arca::api
