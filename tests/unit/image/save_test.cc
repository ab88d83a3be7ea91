// ImageStore::save: the archive's contents (parsed back with libarchive), a
// compressed-only layer decompressed and verified, and the archive loading
// back into another store.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"
#include "tests/unit/image/tar_builder.h"

namespace arca::image {
namespace {

namespace fs = std::filesystem;
using testing::Compression;
using testing::sha;
using testing::stringReader;
using testing::TarBuilder;

struct Entry {
  std::string data;
  bool dir = false;
  long mtime = 0;
};

std::map<std::string, Entry> readTar(const std::string& tar) {
  std::map<std::string, Entry> out;
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry en;
    en.dir = archive_entry_filetype(e) == AE_IFDIR;
    en.mtime = archive_entry_mtime(e);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) en.data.append(buf, static_cast<size_t>(n));
    out[archive_entry_pathname(e)] = std::move(en);
  }
  archive_read_free(a);
  return out;
}

class SaveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("arca-save-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    auto s = ImageStore::create(dir_ / "store");
    ASSERT_TRUE(s.ok()) << s.status().toString();
    store_ = std::move(*s);
    plain_ = TarBuilder().dir("bin").file("bin/hello", std::string(5000, 'h'), 0755).build();
    gz_plain_ = TarBuilder().dir("etc").file("etc/motd", "welcome\n").build();
    auto l1 = store_->ingestLayer(stringReader(plain_), "", "", -1, "", nullptr);
    ASSERT_TRUE(l1.ok()) << l1.status().toString();
    const std::string gz = TarBuilder().dir("etc").file("etc/motd", "welcome\n").build(Compression::kGzip);
    auto l2 = store_->ingestLayer(stringReader(gz), l1->chain_id, "", -1, sha(gz_plain_), nullptr);
    ASSERT_TRUE(l2.ok()) << l2.status().toString();
    l1_ = *l1;
    l2_ = *l2;
    ASSERT_NE(l2_.blob_digest, l2_.diff_id);  // only the gzip blob is stored
    app_ = makeImage({l1_.diff_id, l2_.diff_id}, "app", {l2_.blob_digest});
    base_ = makeImage({l1_.diff_id}, "base", {});
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  v1::ImageRecord makeImage(const std::vector<std::string>& diffs, const std::string& cmd,
                            const std::set<std::string>& blobs) {
    std::string list;
    for (const auto& d : diffs) list += (list.empty() ? "\"" : ",\"") + d + "\"";
    std::string config = R"({"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",)"
                         R"("config":{"Cmd":[")" + cmd + R"("]},"rootfs":{"type":"layers","diff_ids":[)" +
                         list + "]}}";
    auto digest = store_->putBlob(config);
    EXPECT_TRUE(digest.ok());
    auto rec = store_->recordFromConfig(config);
    EXPECT_TRUE(rec.ok());
    std::set<std::string> keep = blobs;
    keep.insert(*digest);
    EXPECT_TRUE(store_->recordBlobs(rec->id(), keep).ok());
    return *rec;
  }

  StatusOr<std::string> save(const std::vector<SaveItem>& items) {
    std::string out;
    Status st = store_->save(items, [&](std::string_view d) {
      out.append(d);
      return true;
    });
    if (!st.ok()) return st;
    return out;
  }

  fs::path dir_;
  std::unique_ptr<ImageStore> store_;
  std::string plain_, gz_plain_;
  ImageStore::Layer l1_, l2_;
  v1::ImageRecord app_, base_;
};

TEST_F(SaveTest, ArchiveInDocker25Form) {
  SaveItem app{app_, {"docker.io/library/app:1", "docker.io/library/app:2"}, 1704164645};
  SaveItem base{base_, {}, 1704164645};
  auto tar = save({app, base});
  ASSERT_TRUE(tar.ok()) << tar.status().toString();
  auto files = readTar(*tar);

  EXPECT_EQ(files["oci-layout"].data, R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_TRUE(files["blobs/"].dir);
  // Configs verbatim, layers uncompressed and named by their diff ids.
  EXPECT_EQ(files["blobs/sha256/" + app_.id().substr(7)].data, app_.config_json());
  EXPECT_EQ(files["blobs/sha256/" + app_.id().substr(7)].mtime, 1704164645);
  EXPECT_EQ(files["blobs/sha256/" + l1_.diff_id.substr(7)].data, plain_);
  EXPECT_EQ(files["blobs/sha256/" + l2_.diff_id.substr(7)].data, gz_plain_);
  EXPECT_EQ(files.count("blobs/sha256/" + l2_.blob_digest.substr(7)), 0u);

  rapidjson::Document manifest;
  manifest.Parse(files["manifest.json"].data.c_str());
  ASSERT_TRUE(manifest.IsArray());
  ASSERT_EQ(manifest.Size(), 2u);
  EXPECT_EQ(std::string(manifest[0]["Config"].GetString()), "blobs/sha256/" + app_.id().substr(7));
  EXPECT_EQ(std::string(manifest[0]["RepoTags"][0].GetString()), "app:1");
  EXPECT_EQ(std::string(manifest[0]["RepoTags"][1].GetString()), "app:2");
  ASSERT_EQ(manifest[0]["Layers"].Size(), 2u);
  EXPECT_EQ(std::string(manifest[0]["Layers"][1].GetString()), "blobs/sha256/" + l2_.diff_id.substr(7));
  EXPECT_TRUE(manifest[1]["RepoTags"].IsNull());

  rapidjson::Document index;
  index.Parse(files["index.json"].data.c_str());
  ASSERT_TRUE(index.IsObject());
  EXPECT_EQ(index["schemaVersion"].GetInt(), 2);
  const auto& descs = index["manifests"];
  ASSERT_EQ(descs.Size(), 3u);  // one per tag, one for the untagged image
  EXPECT_EQ(std::string(descs[0]["annotations"]["io.containerd.image.name"].GetString()),
            "docker.io/library/app:1");
  EXPECT_EQ(std::string(descs[0]["annotations"]["org.opencontainers.image.ref.name"].GetString()), "1");
  EXPECT_FALSE(descs[2].HasMember("annotations"));
  // The OCI manifest points at the config and the plain layers.
  std::string mdigest = descs[0]["digest"].GetString();
  const std::string& mtext = files["blobs/sha256/" + mdigest.substr(7)].data;
  EXPECT_EQ(sha(mtext), mdigest);
  EXPECT_EQ(static_cast<size_t>(descs[0]["size"].GetInt64()), mtext.size());
  rapidjson::Document m;
  m.Parse(mtext.c_str());
  EXPECT_EQ(std::string(m["mediaType"].GetString()), "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(std::string(m["config"]["digest"].GetString()), app_.id());
  EXPECT_EQ(std::string(m["layers"][1]["mediaType"].GetString()), "application/vnd.oci.image.layer.v1.tar");
  EXPECT_EQ(m["layers"][1]["size"].GetInt64(), static_cast<int64_t>(gz_plain_.size()));

  rapidjson::Document repos;
  repos.Parse(files["repositories"].data.c_str());
  EXPECT_EQ(std::string(repos["app"]["2"].GetString()), l2_.diff_id.substr(7));

  // Nothing left in tmp/ (the decompressed layer was an unlinked file).
  EXPECT_TRUE(fs::is_empty(dir_ / "store" / "tmp"));

  // The archive loads into another store as the same images.
  auto other = ImageStore::create(dir_ / "other");
  ASSERT_TRUE(other.ok());
  auto loaded = (*other)->load(stringReader(*tar, 4096), nullptr);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].id(), app_.id());
  EXPECT_EQ((*loaded)[0].repo_tags_size(), 2);
  EXPECT_EQ((*loaded)[0].manifest_digest(), mdigest);
  EXPECT_EQ((*loaded)[1].id(), base_.id());
  EXPECT_EQ((*loaded)[1].repo_tags_size(), 0);
  EXPECT_TRUE((*other)->layerDirs((*loaded)[0]).ok());
}

TEST_F(SaveTest, NoTagsNoRepositoriesFile) {
  auto tar = save({SaveItem{base_, {}, 0}});
  ASSERT_TRUE(tar.ok());
  auto files = readTar(*tar);
  EXPECT_EQ(files.count("repositories"), 0u);
  EXPECT_EQ(files.count("manifest.json"), 1u);
}

TEST_F(SaveTest, MissingLayerFailsBeforeWriting) {
  v1::ImageRecord broken = base_;
  broken.set_diff_ids(0, "sha256:" + std::string(64, '9'));
  broken.set_config_json(base_.config_json());
  bool wrote = false;
  Status st = store_->save({SaveItem{broken, {}, 0}}, [&](std::string_view) {
    wrote = true;
    return true;
  });
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(wrote);
  // A config that does not hash to the id is refused too.
  v1::ImageRecord lying = base_;
  lying.set_config_json(base_.config_json() + " ");
  EXPECT_EQ(store_->save({SaveItem{lying, {}, 0}}, [](std::string_view) { return true; }).code(),
            Code::kDataLoss);
}

TEST_F(SaveTest, StopsWhenTheReaderIsGone) {
  int calls = 0;
  Status st = store_->save({SaveItem{app_, {"docker.io/library/app:1"}, 0}}, [&](std::string_view) {
    ++calls;
    return false;
  });
  EXPECT_EQ(st.code(), Code::kCanceled);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace arca::image
