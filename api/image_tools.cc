#include "api/image_tools.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <set>

#include "api/json.h"
#include "api/time_util.h"
#include "engine/clock.h"
#include "runtime/image/digest.h"
#include "runtime/image/reference.h"

namespace arca::api {

StatusOr<std::string> repoTagReference(const std::string& repo, const std::string& tag,
                                       const std::string& digest_error) {
  if (repo.empty()) return std::string();
  ARCA_ASSIGN_OR_RETURN(image::Reference ref, image::parseReference(repo));
  if (!ref.digest.empty()) return InvalidArgument(digest_error);
  if (!tag.empty()) {
    ARCA_ASSIGN_OR_RETURN(ref, image::parseReference(ref.name() + ":" + tag));
  }
  ARCA_ASSIGN_OR_RETURN(image::Reference full, image::parseNormalizedNamed(ref.full()));
  return full.full();
}
namespace {

// Go's zero time.Time as unix seconds (what dockerd reports for a missing date).
constexpr int64_t kZeroTimeUnix = -62135596800;

int64_t unixSeconds(const std::string& rfc3339) {
  int64_t ns = 0;
  if (rfc3339.empty() || !engine::parseRfc3339(rfc3339, &ns)) return kZeroTimeUnix;
  return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

std::string member(const rapidjson::Value& o, const char* k) {
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsString()
             ? std::string(it->value.GetString(), it->value.GetStringLength())
             : "";
}

int64_t sizeOf(const LayerSizes& sizes, const std::string& chain) {
  auto it = sizes.find(chain);
  return it == sizes.end() ? 0 : it->second;
}

}  // namespace

std::vector<std::string> imageChainIds(const v1::ImageRecord& r) {
  std::vector<std::string> out;
  std::string chain;
  for (const auto& d : r.diff_ids()) {
    chain = image::chainId(chain, d);
    out.push_back(chain);
  }
  return out;
}

std::map<std::string, std::string> imageLabels(const v1::ImageRecord& r) {
  std::map<std::string, std::string> out;
  rapidjson::Document d;
  d.Parse(r.config_json().c_str(), r.config_json().size());
  if (d.HasParseError() || !d.IsObject()) return out;
  auto c = d.FindMember("config");
  if (c == d.MemberEnd() || !c->value.IsObject()) return out;
  bool te = false;
  if (auto l = getStringMap(c->value, "Labels", &te)) out = *l;
  return out;
}

bool labelsMatchAll(const std::map<std::string, std::string>& labels,
                    const std::vector<std::string>& filters) {
  return std::all_of(filters.begin(), filters.end(), [&](const std::string& l) {
    auto eq = l.find('=');
    if (eq == std::string::npos) return labels.count(l) > 0;
    auto it = labels.find(l.substr(0, eq));
    return it != labels.end() && it->second == l.substr(eq + 1);
  });
}

// ---------------------------------------------------------------------------

StatusOr<std::vector<HistoryRow>> imageHistory(
    const v1::ImageRecord& r, const std::vector<std::string>& tags, const LayerSizes& sizes,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& ancestors) {
  const std::vector<std::string> chains = imageChainIds(r);
  std::vector<HistoryRow> rows;  // oldest first while building
  rapidjson::Document cfg;
  cfg.Parse(r.config_json().c_str(), r.config_json().size());
  const rapidjson::Value* history = nullptr;
  if (!cfg.HasParseError() && cfg.IsObject()) {
    auto h = cfg.FindMember("history");
    if (h != cfg.MemberEnd() && h->value.IsArray() && !h->value.Empty()) history = &h->value;
  }
  if (history) {
    size_t layer = 0;
    for (const auto& h : history->GetArray()) {
      if (!h.IsObject()) continue;
      HistoryRow row;
      row.id = "<missing>";
      row.created = unixSeconds(member(h, "created"));
      row.created_by = member(h, "created_by");
      row.comment = member(h, "comment");
      auto empty = h.FindMember("empty_layer");
      bool empty_layer = empty != h.MemberEnd() && empty->value.IsBool() && empty->value.GetBool();
      if (!empty_layer) {
        if (layer >= chains.size()) {
          return Internal("too many non-empty layers in History section");
        }
        row.size = sizeOf(sizes, chains[layer++]);
      }
      rows.push_back(std::move(row));
    }
  } else {
    for (const auto& chain : chains) {
      HistoryRow row;
      row.id = "<missing>";
      row.created = unixSeconds(r.created());
      row.size = sizeOf(sizes, chain);
      rows.push_back(std::move(row));
    }
  }
  std::reverse(rows.begin(), rows.end());
  if (!rows.empty()) {
    rows.front().id = r.id();
    rows.front().tags = tags;
  }
  for (size_t i = 0; i < ancestors.size() && i + 1 < rows.size(); ++i) {
    rows[i + 1].id = ancestors[i].first;
    rows[i + 1].tags = ancestors[i].second;
  }
  return rows;
}

std::string historyJson(const std::vector<HistoryRow>& rows) {
  rapidjson::StringBuffer sb;
  JsonWriter j(sb);
  j.StartArray();
  for (const auto& row : rows) {
    j.StartObject();
    jstr(j, "Id", row.id);
    j.Key("Created");
    j.Int64(row.created);
    jstr(j, "CreatedBy", row.created_by);
    jstrArray(j, "Tags", row.tags, true);
    j.Key("Size");
    j.Int64(row.size);
    jstr(j, "Comment", row.comment);
    j.EndObject();
  }
  j.EndArray();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// ---------------------------------------------------------------------------

StatusOr<PruneOptions> pruneOptions(const std::map<std::string, std::vector<std::string>>& f,
                                    int64_t now_ns) {
  static const std::set<std::string> kKeys = {"dangling", "label", "label!", "until"};
  for (const auto& [k, v] : f) {
    if (!kKeys.count(k)) return InvalidArgument("invalid filter '" + k + "'");
  }
  PruneOptions o;
  if (auto it = f.find("dangling"); it != f.end()) {
    for (const auto& d : it->second) {
      if (d == "true" || d == "1") {
        o.dangling_only = true;
      } else if (d == "false" || d == "0") {
        o.dangling_only = false;
      } else {
        return InvalidArgument("invalid filter 'dangling=" + d + "'");
      }
    }
  }
  if (auto it = f.find("until"); it != f.end()) {
    for (const auto& u : it->second) {
      if (!parseTimestampOrDuration(u, now_ns, &o.until_ns)) {
        return InvalidArgument("invalid filter 'until=" + u + "'");
      }
    }
  }
  if (auto it = f.find("label"); it != f.end()) o.labels = it->second;
  if (auto it = f.find("label!"); it != f.end()) o.not_labels = it->second;
  return o;
}

StatusOr<PruneFilters> parsePruneFilters(const std::string& raw, int64_t now_ns) {
  std::map<std::string, std::vector<std::string>> f;
  if (!parseFilters(raw, &f)) return InvalidArgument("invalid filter");
  for (const auto& [k, v] : f) {
    if (k != "until" && k != "label" && k != "label!") {
      return InvalidArgument("invalid filter '" + k + "'");
    }
  }
  PruneFilters out;
  for (const auto& u : f["until"]) {
    if (!parseTimestampOrDuration(u, now_ns, &out.until_ns)) {
      return InvalidArgument("invalid filter 'until=" + u + "'");
    }
  }
  out.labels = f["label"];
  out.not_labels = f["label!"];
  return out;
}

bool PruneFilters::selects(int64_t created_ns,
                           const std::map<std::string, std::string>& object_labels) const {
  if (until_ns && created_ns >= until_ns) return false;
  if (!labelsMatchAll(object_labels, labels)) return false;
  return not_labels.empty() || !labelsMatchAll(object_labels, not_labels);
}

PruneOutcome decideImagePrune(const v1::State& s, const PruneOptions& o, const LayerSizes& sizes,
                              std::vector<v1::Event>* out) {
  std::set<std::string> used;
  for (const auto& [id, c] : s.containers()) used.insert(c.image_id());
  // Oldest first: a stable order for the report.
  std::vector<const v1::ImageRecord*> images;
  for (const auto& [id, img] : s.images()) images.push_back(&img.record());
  std::sort(images.begin(), images.end(), [](const v1::ImageRecord* a, const v1::ImageRecord* b) {
    int64_t ca = unixSeconds(a->created()), cb = unixSeconds(b->created());
    return ca != cb ? ca < cb : a->id() < b->id();
  });
  PruneOutcome res;
  std::set<std::string> deleted;
  // issue #7: an image that is the parent of one that stays stays too
  // (docker build's intermediate images); rounds until nothing changes, so
  // a chain goes from its leaf down, as dockerd prunes parents.
  std::map<std::string, int> children;
  for (const auto* r : images) {
    if (!r->parent().empty()) children[r->parent()]++;
  }
  for (bool changed = true; changed;) {
  changed = false;
  for (const auto* r : images) {
    if (deleted.count(r->id()) || children[r->id()] > 0) continue;
    if (used.count(r->id())) continue;
    if (o.dangling_only && r->repo_tags_size() > 0) continue;
    if (o.until_ns) {
      int64_t created = 0;
      if (r->created().empty() || !engine::parseRfc3339(r->created(), &created) || created > o.until_ns) {
        continue;
      }
    }
    if (!o.labels.empty() || !o.not_labels.empty()) {
      auto labels = imageLabels(*r);
      if (!labelsMatchAll(labels, o.labels)) continue;
      if (!o.not_labels.empty() && labelsMatchAll(labels, o.not_labels)) continue;
    }
    for (const auto& t : r->repo_tags()) {
      v1::Event e;
      e.mutable_image_untagged()->set_id(r->id());
      e.mutable_image_untagged()->set_ref(t);
      out->push_back(std::move(e));
      res.report.push_back({"Untagged", image::familiarString(t)});
    }
    v1::Event e;
    e.mutable_image_deleted()->set_id(r->id());
    out->push_back(std::move(e));
    res.report.push_back({"Deleted", r->id()});
    deleted.insert(r->id());
    if (!r->parent().empty()) children[r->parent()]--;
    changed = true;
  }
  }
  std::set<std::string> kept_chains, gone_chains;
  for (const auto* r : images) {
    for (const auto& c : imageChainIds(*r)) (deleted.count(r->id()) ? gone_chains : kept_chains).insert(c);
  }
  for (const auto& c : gone_chains) {
    if (!kept_chains.count(c)) res.reclaimed += sizeOf(sizes, c);
  }
  return res;
}

// ---------------------------------------------------------------------------

std::map<std::string, int64_t> sharedSizes(const std::vector<v1::ImageRecord>& images,
                                           const LayerSizes& sizes) {
  std::map<std::string, int> refs;
  for (const auto& r : images) {
    for (const auto& c : imageChainIds(r)) refs[c]++;
  }
  std::map<std::string, int64_t> out;
  for (const auto& r : images) {
    int64_t shared = 0;
    for (const auto& c : imageChainIds(r)) {
      if (refs[c] > 1) shared += sizeOf(sizes, c);
    }
    out[r.id()] = shared;
  }
  return out;
}

int64_t layersSize(const std::vector<v1::ImageRecord>& images, const LayerSizes& sizes) {
  std::set<std::string> chains;
  for (const auto& r : images) {
    for (const auto& c : imageChainIds(r)) chains.insert(c);
  }
  int64_t total = 0;
  for (const auto& c : chains) total += sizeOf(sizes, c);
  return total;
}

}  // namespace arca::api
