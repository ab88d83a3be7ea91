// Pure decisions behind `docker history`, `docker image prune` and
// `docker system df` (no I/O: layer sizes come in as a map; unit-tested).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/status.h"
#include "eventlog/events.pb.h"
#include "reducers/state.pb.h"

namespace arca::api {

// Layer chain id -> unpacked size (ImageStore::layerSize).
using LayerSizes = std::map<std::string, int64_t>;

// Chain ids of an image's layers, bottom first.
std::vector<std::string> imageChainIds(const v1::ImageRecord& r);

// The image config's config.Labels.
std::map<std::string, std::string> imageLabels(const v1::ImageRecord& r);

// Docker's `label` filter values ("k" or "k=v"): true when every one matches.
bool labelsMatchAll(const std::map<std::string, std::string>& labels,
                    const std::vector<std::string>& filters);

// The filters of POST /containers/prune and /networks/prune (until, label,
// label!), checked with dockerd's texts.
struct PruneFilters {
  int64_t until_ns = 0;  // 0: no until
  std::vector<std::string> labels, not_labels;
  // True when an object created at `created_ns` with `labels` is pruned.
  bool selects(int64_t created_ns, const std::map<std::string, std::string>& labels) const;
};
StatusOr<PruneFilters> parsePruneFilters(const std::string& raw, int64_t now_ns);

// moby's RepoTagReference: `repo` (+ `tag`, else "latest") as a fully
// qualified tag; "" when `repo` is empty. A digest reference is refused
// with InvalidArgument(digest_error).
StatusOr<std::string> repoTagReference(const std::string& repo, const std::string& tag,
                                       const std::string& digest_error);

// --- history ---------------------------------------------------------------

struct HistoryRow {
  std::string id;       // the image id on the top row, "<missing>" below
  int64_t created = 0;  // unix seconds
  std::string created_by;
  std::vector<std::string> tags;  // familiar; only on the top row (null when empty)
  int64_t size = 0;
  std::string comment;
};

// Rows newest first, from the config's history: an empty_layer entry has
// size 0, any other takes the next layer's size. A config without history
// gives one row per layer. `tags` go on the top row; `ancestors` (the
// parent, its parent, ... with their tags) name the rows below it, one each.
StatusOr<std::vector<HistoryRow>> imageHistory(
    const v1::ImageRecord& r, const std::vector<std::string>& tags, const LayerSizes& sizes,
    const std::vector<std::pair<std::string, std::vector<std::string>>>& ancestors = {});
std::string historyJson(const std::vector<HistoryRow>& rows);

// --- prune -----------------------------------------------------------------

struct PruneOptions {
  bool dangling_only = true;
  int64_t until_ns = 0;  // 0: no limit
  std::vector<std::string> labels, not_labels;
};

// From the `filters` query parameter (already parsed). InvalidArgument with
// Docker's texts for unknown keys and bad values.
StatusOr<PruneOptions> pruneOptions(const std::map<std::string, std::vector<std::string>>& filters,
                                    int64_t now_ns);

struct PruneOutcome {
  std::vector<std::pair<std::string, std::string>> report;  // ("Untagged"|"Deleted", value)
  int64_t reclaimed = 0;  // unpacked bytes of layers no remaining image uses
};

// Decides what a prune removes: images no container (in any state) uses,
// untagged only unless !dangling_only, created before `until`, matching the
// label filters. Appends ImageUntagged/ImageDeleted events to `out`.
PruneOutcome decideImagePrune(const v1::State& s, const PruneOptions& o, const LayerSizes& sizes,
                              std::vector<v1::Event>* out);

// --- system df ----------------------------------------------------------------

// Per image id: the size of its layers that other images use too.
std::map<std::string, int64_t> sharedSizes(const std::vector<v1::ImageRecord>& images,
                                           const LayerSizes& sizes);
// The size of every distinct layer of `images`.
int64_t layersSize(const std::vector<v1::ImageRecord>& images, const LayerSizes& sizes);

}  // namespace arca::api
