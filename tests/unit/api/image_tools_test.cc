// history rows, prune decisions and df sizes (pure parts of the image tools).
#include "api/image_tools.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "runtime/image/digest.h"

namespace arca::api {
namespace {

std::string diff(char c) { return "sha256:" + std::string(64, c); }

v1::ImageRecord record(const std::string& id_char, const std::vector<std::string>& diffs,
                       const std::string& created, const std::string& extra_config = "",
                       const std::vector<std::string>& tags = {}) {
  v1::ImageRecord r;
  r.set_id("sha256:" + std::string(64, id_char[0]));
  for (const auto& d : diffs) r.add_diff_ids(d);
  r.set_created(created);
  std::string cfg = R"({"created":")" + created + R"(")" + extra_config + "}";
  r.set_config_json(cfg);
  for (const auto& t : tags) r.add_repo_tags(t);
  return r;
}

TEST(ImageHistory, FromConfigHistoryNewestFirst) {
  auto r = record("a", {diff('1'), diff('2')}, "2024-01-02T00:00:00Z",
                  R"(,"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs","comment":"c1"},)"
                  R"({"created":"2024-01-01T00:00:01Z","created_by":"ENV A=1","empty_layer":true},)"
                  R"({"created":"2024-01-02T00:00:00Z","created_by":"RUN x"}])");
  auto chains = imageChainIds(r);
  LayerSizes sizes = {{chains[0], 100}, {chains[1], 20}};
  auto rows = imageHistory(r, {"busybox:latest"}, sizes);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, r.id());
  EXPECT_EQ((*rows)[0].created_by, "RUN x");
  EXPECT_EQ((*rows)[0].size, 20);
  EXPECT_EQ((*rows)[0].tags, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ((*rows)[0].created, 1704153600);
  EXPECT_EQ((*rows)[1].id, "<missing>");
  EXPECT_EQ((*rows)[1].size, 0);  // empty_layer
  EXPECT_TRUE((*rows)[1].tags.empty());
  EXPECT_EQ((*rows)[2].size, 100);
  EXPECT_EQ((*rows)[2].comment, "c1");
  std::string json = historyJson(*rows);
  EXPECT_NE(json.find(R"("Tags":["busybox:latest"])"), std::string::npos);
  EXPECT_NE(json.find(R"({"Id":"<missing>","Created":1704067201,"CreatedBy":"ENV A=1","Tags":null,"Size":0,"Comment":""})"),
            std::string::npos)
      << json;
}

TEST(ImageHistory, AncestorsNameTheRowsBelowTheTop) {
  // issue #7: a built image's rows carry its parents' ids (dockerd walks
  // the parent chain); rows past the chain stay <missing>.
  auto r = record("a", {diff('1')}, "2024-01-02T00:00:00Z",
                  R"(,"history":[{"created":"2024-01-01T00:00:00Z","created_by":"ADD rootfs"},)"
                  R"({"created":"2024-01-01T00:00:01Z","created_by":"ENV A=1","empty_layer":true},)"
                  R"({"created":"2024-01-02T00:00:00Z","created_by":"CMD x","empty_layer":true}])");
  auto rows = imageHistory(r, {"app:1"}, {}, {{"sha256:p1", {}}, {"sha256:p2", {"busybox:latest"}}});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].id, r.id());
  EXPECT_EQ((*rows)[1].id, "sha256:p1");
  EXPECT_TRUE((*rows)[1].tags.empty());
  EXPECT_EQ((*rows)[2].id, "sha256:p2");
  EXPECT_EQ((*rows)[2].tags, std::vector<std::string>{"busybox:latest"});
  auto short_chain = imageHistory(r, {}, {}, {{"sha256:p1", {}}});
  ASSERT_TRUE(short_chain.ok());
  EXPECT_EQ((*short_chain)[2].id, "<missing>");
}

TEST(ImageHistory, NoHistoryGivesOneRowPerLayer) {
  auto r = record("b", {diff('1'), diff('2')}, "2024-01-02T00:00:00Z");
  auto chains = imageChainIds(r);
  auto rows = imageHistory(r, {}, {{chains[0], 5}, {chains[1], 7}});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].id, r.id());
  EXPECT_EQ((*rows)[0].size, 7);
  EXPECT_EQ((*rows)[1].size, 5);
  EXPECT_NE(historyJson(*rows).find(R"("Tags":null)"), std::string::npos);
}

TEST(ImageHistory, TooManyLayersInHistory) {
  auto r = record("c", {diff('1')}, "2024-01-02T00:00:00Z", R"(,"history":[{},{}])");
  EXPECT_FALSE(imageHistory(r, {}, {}).ok());
}

TEST(ImagePrune, Options) {
  std::map<std::string, std::vector<std::string>> f;
  auto o = pruneOptions(f, 0);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->dangling_only);
  f["dangling"] = {"false"};
  f["until"] = {"1h"};
  o = pruneOptions(f, 7200000000000);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(o->dangling_only);
  EXPECT_EQ(o->until_ns, 3600000000000);
  EXPECT_EQ(pruneOptions({{"foo", {"1"}}}, 0).status().message(), "invalid filter 'foo'");
  EXPECT_EQ(pruneOptions({{"dangling", {"maybe"}}}, 0).status().message(), "invalid filter 'dangling=maybe'");
  EXPECT_EQ(pruneOptions({{"until", {"soon"}}}, 0).status().message(), "invalid filter 'until=soon'");
}

class PruneDecision : public ::testing::Test {
 protected:
  void SetUp() override {
    // base: tagged, used by a stopped container; dangling: untagged, shares
    // the base layer; tagged: tagged, unused; labeled: untagged with a label.
    base = record("a", {diff('1')}, "2024-01-01T00:00:00Z", "", {"docker.io/library/base:1"});
    dangling = record("b", {diff('1'), diff('2')}, "2024-01-02T00:00:00Z");
    tagged = record("c", {diff('3')}, "2024-01-03T00:00:00Z", "", {"docker.io/library/t:1", "docker.io/library/t:2"});
    labeled = record("d", {diff('4')}, "2024-01-04T00:00:00Z", R"(,"config":{"Labels":{"keep":"yes"}})");
    for (const auto* r : {&base, &dangling, &tagged, &labeled}) {
      (*state.mutable_images())[r->id()].mutable_record()->CopyFrom(*r);
      for (const auto& c : imageChainIds(*r)) sizes[c] = 10;
    }
    for (const auto& c : imageChainIds(dangling)) sizes[c] = 100;  // chain[0] == base's chain
    sizes[imageChainIds(base)[0]] = 1000;
    v1::Container c;
    c.set_id("c1");
    c.set_image_id(base.id());
    c.set_status("exited");
    (*state.mutable_containers())["c1"] = c;
  }
  std::vector<std::string> deleted(const PruneOutcome& o) {
    std::vector<std::string> out;
    for (const auto& [k, v] : o.report) {
      if (k == "Deleted") out.push_back(v);
    }
    return out;
  }
  v1::State state;
  LayerSizes sizes;
  v1::ImageRecord base, dangling, tagged, labeled;
};

TEST_F(PruneDecision, DanglingOnly) {
  std::vector<v1::Event> events;
  auto o = decideImagePrune(state, PruneOptions{}, sizes, &events);
  EXPECT_EQ(deleted(o), (std::vector<std::string>{dangling.id(), labeled.id()}));
  // dangling's first layer is base's: only its own top layer goes.
  EXPECT_EQ(o.reclaimed, 100 + 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].has_image_deleted());
}

TEST_F(PruneDecision, BuildParentsGoOnlyWithTheirLastChild) {
  // issue #7: intermediate images (untagged parents) stay while a child
  // stays; a dangling leaf takes its untagged parents with it.
  v1::ImageRecord mid = record("m", {diff('1')}, "2024-01-03T00:00:00Z");
  mid.set_parent(base.id());
  v1::ImageRecord app = record("p", {diff('1')}, "2024-01-04T00:00:00Z", "", {"docker.io/library/app:1"});
  app.set_parent(mid.id());
  v1::ImageRecord old_leaf = record("o", {diff('1')}, "2024-01-05T00:00:00Z");
  old_leaf.set_parent(mid.id());
  v1::ImageRecord old_mid = record("q", {diff('1')}, "2024-01-06T00:00:00Z");
  old_mid.set_parent(base.id());
  v1::ImageRecord old_top = record("r", {diff('1')}, "2024-01-07T00:00:00Z");
  old_top.set_parent(old_mid.id());
  for (const auto* r : {&mid, &app, &old_leaf, &old_mid, &old_top}) {
    (*state.mutable_images())[r->id()].mutable_record()->CopyFrom(*r);
  }
  std::vector<v1::Event> events;
  auto got = deleted(decideImagePrune(state, PruneOptions{}, sizes, &events));
  std::set<std::string> gone(got.begin(), got.end());
  EXPECT_FALSE(gone.count(mid.id()));  // app:1 needs it
  EXPECT_TRUE(gone.count(old_leaf.id()));
  EXPECT_TRUE(gone.count(old_top.id()));
  EXPECT_TRUE(gone.count(old_mid.id()));  // after old_top, in a later round
  EXPECT_LT(std::find(got.begin(), got.end(), old_top.id()), std::find(got.begin(), got.end(), old_mid.id()));
}

TEST_F(PruneDecision, AllUnusedNeverAContainersImage) {
  std::vector<v1::Event> events;
  PruneOptions opts;
  opts.dangling_only = false;
  auto o = decideImagePrune(state, opts, sizes, &events);
  EXPECT_EQ(deleted(o), (std::vector<std::string>{dangling.id(), tagged.id(), labeled.id()}));
  ASSERT_GE(o.report.size(), 5u);
  EXPECT_EQ(o.report[1], (std::pair<std::string, std::string>{"Untagged", "t:1"}));
  EXPECT_EQ(o.report[2], (std::pair<std::string, std::string>{"Untagged", "t:2"}));
  int untags = 0;
  for (const auto& e : events) untags += e.has_image_untagged();
  EXPECT_EQ(untags, 2);
  EXPECT_EQ(o.reclaimed, 100 + 10 + 10);
}

TEST_F(PruneDecision, LabelAndUntilFilters) {
  std::vector<v1::Event> events;
  PruneOptions opts;
  opts.labels = {"keep=yes"};
  EXPECT_EQ(deleted(decideImagePrune(state, opts, sizes, &events)), std::vector<std::string>{labeled.id()});
  opts = PruneOptions{};
  opts.not_labels = {"keep"};
  EXPECT_EQ(deleted(decideImagePrune(state, opts, sizes, &events)), std::vector<std::string>{dangling.id()});
  opts = PruneOptions{};
  opts.until_ns = 1704153600LL * 1000000000;  // 2024-01-02T00:00:00Z
  EXPECT_EQ(deleted(decideImagePrune(state, opts, sizes, &events)), std::vector<std::string>{dangling.id()});
}

TEST_F(PruneDecision, SharedAndLayersSize) {
  std::vector<v1::ImageRecord> images = {base, dangling, tagged, labeled};
  auto shared = sharedSizes(images, sizes);
  EXPECT_EQ(shared[base.id()], 1000);
  EXPECT_EQ(shared[dangling.id()], 1000);
  EXPECT_EQ(shared[tagged.id()], 0);
  EXPECT_EQ(layersSize(images, sizes), 1000 + 100 + 10 + 10);
}

}  // namespace
}  // namespace arca::api
