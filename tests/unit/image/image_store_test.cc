#include "runtime/image/image_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/image/digest.h"
#include "tests/unit/image/tar_builder.h"

namespace arca::image {
namespace {

namespace fs = std::filesystem;
using testing::Compression;
using testing::readAll;
using testing::sha;
using testing::stringReader;
using testing::TarBuilder;
using v1::ImageRecord;

std::string hexOf(const std::string& digest) { return digest.substr(7); }

std::string jsonList(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ",\"" : "\"") + items[i] + "\"";
  return s + "]";
}

std::string imageConfig(const std::vector<std::string>& diff_ids, const std::string& arch = "amd64",
                        const std::string& cmd = "sh") {
  return R"({"architecture":")" + arch + R"(","os":"linux","variant":")" +
         (arch == "arm64" ? "v8" : "") +
         R"(","created":"2024-01-02T03:04:05Z","config":{"Cmd":[")" + cmd +
         R"("]},"rootfs":{"type":"layers","diff_ids":)" + jsonList(diff_ids) + "}}";
}

// Content of /bin/busybox when the machine has it (realistic size), else filler.
std::string busyboxBytes() {
  std::string b = readAll("/bin/busybox");
  return b.empty() ? std::string(300000, 'b') : b;
}

struct Image {
  std::vector<std::string> layers;  // layer blobs as stored in the archive
  std::vector<std::string> diff_ids;
  std::string config;
  std::vector<std::string> tags;
};

Image makeImage(const std::vector<std::string>& plain_layers, const std::vector<std::string>& tags,
                const std::string& cmd = "sh") {
  Image img;
  img.layers = plain_layers;
  for (const auto& l : plain_layers) img.diff_ids.push_back(sha(l));
  img.config = imageConfig(img.diff_ids, "amd64", cmd);
  img.tags = tags;
  return img;
}

// A classic `docker save` archive: <hex>.json configs and <dir>/layer.tar layers.
std::string dockerSave(const std::vector<Image>& images, bool null_tags = false) {
  TarBuilder tar;
  std::string manifest = "[";
  std::set<std::string> written;
  for (size_t i = 0; i < images.size(); ++i) {
    const Image& img = images[i];
    std::vector<std::string> names;
    for (const auto& l : img.layers) {
      std::string dir = sha256Hex(l + "v1id");
      std::string name = dir + "/layer.tar";
      if (written.insert(name).second) tar.dir(dir).file(name, l);
      names.push_back(name);
    }
    std::string cfg_name = sha256Hex(img.config) + ".json";
    tar.file(cfg_name, img.config);
    manifest += std::string(i ? "," : "") + R"({"Config":")" + cfg_name + R"(","RepoTags":)" +
                (null_tags ? "null" : jsonList(img.tags)) + R"(,"Layers":)" + jsonList(names) + "}";
  }
  manifest += "]";
  tar.file("manifest.json", manifest);
  tar.file("repositories", "{}");
  return tar.build();
}

std::string descriptor(const std::string& media, const std::string& blob,
                       const std::string& extra = "") {
  return R"({"mediaType":")" + media + R"(","digest":")" + sha(blob) + R"(","size":)" +
         std::to_string(blob.size()) + extra + "}";
}

std::string manifestFor(const std::string& config, const std::vector<std::string>& layer_blobs,
                        bool gzip) {
  std::string layers = "[";
  for (size_t i = 0; i < layer_blobs.size(); ++i) {
    layers += (i ? "," : "") + descriptor(gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                               : "application/vnd.oci.image.layer.v1.tar",
                                          layer_blobs[i]);
  }
  layers += "]";
  return R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":)" +
         descriptor("application/vnd.oci.image.config.v1+json", config) + R"(,"layers":)" + layers +
         "}";
}

std::string annotations(const std::string& ref_name, const std::string& containerd_name = "") {
  std::string a = R"(,"annotations":{)";
  bool first = true;
  if (!ref_name.empty()) {
    a += R"("org.opencontainers.image.ref.name":")" + ref_name + "\"";
    first = false;
  }
  if (!containerd_name.empty()) {
    a += std::string(first ? "" : ",") + R"("io.containerd.image.name":")" + containerd_name + "\"";
  }
  return a + "}";
}

class OciLayout {
 public:
  // Adds a blob and returns it.
  std::string blob(const std::string& data) {
    blobs_.push_back(data);
    return data;
  }
  void top(const std::string& desc) { top_.push_back(desc); }
  std::string build(bool with_layout_file = true) const {
    TarBuilder tar;
    if (with_layout_file) tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    std::string index = R"({"schemaVersion":2,"manifests":[)";
    for (size_t i = 0; i < top_.size(); ++i) index += (i ? "," : "") + top_[i];
    index += "]}";
    tar.file("./index.json", index).dir("./blobs").dir("./blobs/sha256");
    std::set<std::string> seen;
    for (const auto& b : blobs_) {
      if (seen.insert(sha(b)).second) tar.file("./blobs/sha256/" + hexOf(sha(b)), b);
    }
    return tar.build();
  }

 private:
  std::vector<std::string> blobs_;
  std::vector<std::string> top_;
};

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arca-image-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/image";
    auto s = ImageStore::create(root_);
    ASSERT_TRUE(s.ok()) << s.status().toString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  StatusOr<std::vector<ImageRecord>> load(const std::string& archive, size_t chunk = 1 << 20) {
    progress_.clear();
    return store_->load(stringReader(archive, chunk),
                        [this](const std::string& line) { progress_.push_back(line); });
  }
  std::vector<std::string> names(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(root_ + "/" + dir)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string layerPath(const std::string& chain) { return root_ + "/layers/" + hexOf(chain); }
  void expectClean() {
    EXPECT_TRUE(names("tmp").empty()) << "staging left behind";
    EXPECT_TRUE(names("layers").empty()) << "partial layer left behind";
  }

  std::string base_, root_;
  std::unique_ptr<ImageStore> store_;
  std::vector<std::string> progress_;
};

TarBuilder baseLayerBuilder() {
  return TarBuilder()
      .dir("bin")
      .file("bin/busybox", busyboxBytes(), 0755)
      .symlink("bin/sh", "busybox")
      .dir("etc")
      .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
      .dir("var/cache")
      .file("var/cache/old", "old");
}

std::string baseLayer() { return baseLayerBuilder().build(); }

std::string topLayer(const std::string& marker = "top") {
  return TarBuilder()
      .dir("etc")
      .file("etc/.wh.passwd", "")
      .dir("var/cache")
      .file("var/cache/.wh..wh..opq", "")
      .file("var/cache/" + marker, marker)
      .build();
}

TEST_F(ImageStoreTest, LoadsDockerSaveArchive) {
  std::string base = baseLayer(), top = topLayer();
  Image img = makeImage({base, top}, {"busybox:latest", "me/app:v1"});
  auto r = load(dockerSave({img}), 4096);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->size(), 1u);
  const ImageRecord& rec = (*r)[0];
  EXPECT_EQ(rec.id(), sha(img.config));
  ASSERT_EQ(rec.repo_tags_size(), 2);
  EXPECT_EQ(rec.repo_tags(0), "docker.io/library/busybox:latest");
  EXPECT_EQ(rec.repo_tags(1), "docker.io/me/app:v1");
  EXPECT_EQ(rec.config_json(), img.config);
  ASSERT_EQ(rec.diff_ids_size(), 2);
  EXPECT_EQ(rec.diff_ids(0), sha(base));
  EXPECT_EQ(rec.diff_ids(1), sha(top));
  const int64_t busybox_size = static_cast<int64_t>(busyboxBytes().size());
  EXPECT_EQ(rec.size(), busybox_size + 30 + 3 + 3);
  EXPECT_EQ(rec.created(), "2024-01-02T03:04:05Z");
  EXPECT_EQ(rec.os(), "linux");
  EXPECT_EQ(rec.architecture(), "amd64");
  EXPECT_EQ(rec.variant(), "");
  EXPECT_EQ(rec.manifest_digest(), "");

  // Blobs: the config and both layers.
  EXPECT_EQ(readAll(root_ + "/blobs/sha256/" + hexOf(rec.id())), img.config);
  EXPECT_EQ(readAll(root_ + "/blobs/sha256/" + hexOf(sha(base))), base);
  EXPECT_TRUE(fs::exists(root_ + "/images/" + hexOf(rec.id()) + ".json"));

  // Layers, top-most first, keyed by chain id.
  auto dirs = store_->layerDirs(rec);
  ASSERT_TRUE(dirs.ok()) << dirs.status().toString();
  ASSERT_EQ(dirs->size(), 2u);
  const std::string chain0 = sha(base);
  const std::string chain1 = "sha256:" + sha256Hex(chain0 + " " + sha(top));
  EXPECT_EQ((*dirs)[0], layerPath(chain1));
  EXPECT_EQ((*dirs)[1], layerPath(chain0));
  EXPECT_EQ(readAll((*dirs)[1] + "/bin/busybox"), busyboxBytes());
  EXPECT_EQ(fs::read_symlink((*dirs)[1] + "/bin/sh"), "busybox");
  struct stat st;
  ASSERT_EQ(::lstat((*dirs)[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);  // the container's "/"
  ASSERT_EQ(::lstat(((*dirs)[0] + "/etc/passwd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char v[4];
  EXPECT_EQ(::lgetxattr(((*dirs)[0] + "/var/cache").c_str(), "trusted.overlay.opaque", v, 4), 1);
  std::string meta = readAll(layerPath(chain1) + ".json");
  EXPECT_NE(meta.find("\"diff_id\":\"" + sha(top) + "\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"parent\":\"" + chain0 + "\""), std::string::npos) << meta;

  ASSERT_EQ(progress_.size(), 2u);
  EXPECT_EQ(progress_[0], "Loading layer sha256:" + hexOf(sha(base)).substr(0, 12) + " 1/2");
  EXPECT_EQ(progress_[1], "Loading layer sha256:" + hexOf(sha(top)).substr(0, 12) + " 2/2");
  EXPECT_TRUE(names("tmp").empty());
}

TEST_F(ImageStoreTest, LoadsUntaggedAndDuplicateTags) {
  Image a = makeImage({topLayer("a")}, {"x:1", "y:1"}, "a");
  Image b = makeImage({topLayer("b")}, {"x:1"}, "b");
  auto r = load(dockerSave({a, b}));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->size(), 2u);
  // x:1 is claimed last by b.
  ASSERT_EQ((*r)[0].repo_tags_size(), 1);
  EXPECT_EQ((*r)[0].repo_tags(0), "docker.io/library/y:1");
  ASSERT_EQ((*r)[1].repo_tags_size(), 1);
  EXPECT_EQ((*r)[1].repo_tags(0), "docker.io/library/x:1");

  r = load(dockerSave({a}, /*null_tags=*/true));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].repo_tags_size(), 0);
}

TEST_F(ImageStoreTest, LoadsLegacyArchiveWithSymlinkedLayer) {
  std::string layer = topLayer();
  Image img = makeImage({layer, layer}, {"dup:1"});  // same diff twice: two chain ids
  std::string manifest =
      R"([{"Config":")" + hexOf(sha(img.config)) +
      R"(.json","RepoTags":["dup:1"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}])";
  std::string tar = TarBuilder()
                        .dir("aaa")
                        .file("aaa/layer.tar", layer)
                        .dir("bbb")
                        .symlink("bbb/layer.tar", "../aaa/layer.tar")
                        .file(hexOf(sha(img.config)) + ".json", img.config)
                        .file("manifest.json", manifest)
                        .build();
  auto r = load(tar);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto dirs = store_->layerDirs((*r)[0]);
  ASSERT_TRUE(dirs.ok());
  ASSERT_EQ(dirs->size(), 2u);
  EXPECT_NE((*dirs)[0], (*dirs)[1]);
}

TEST_F(ImageStoreTest, LoadsOciLayout) {
  std::string base = baseLayer(), top = topLayer();
  std::string base_gz = TarBuilder()
                            .dir("bin")
                            .file("bin/busybox", busyboxBytes(), 0755)
                            .symlink("bin/sh", "busybox")
                            .dir("etc")
                            .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
                            .dir("var/cache")
                            .file("var/cache/old", "old")
                            .build(Compression::kGzip);
  // The gzip layer decompresses to the same tar as `base`.
  ASSERT_EQ(sha(base), sha(TarBuilder()
                               .dir("bin")
                               .file("bin/busybox", busyboxBytes(), 0755)
                               .symlink("bin/sh", "busybox")
                               .dir("etc")
                               .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
                               .dir("var/cache")
                               .file("var/cache/old", "old")
                               .build()));
  std::string top_zst = TarBuilder()
                            .dir("etc")
                            .file("etc/.wh.passwd", "")
                            .dir("var/cache")
                            .file("var/cache/.wh..wh..opq", "")
                            .file("var/cache/top", "top")
                            .build(Compression::kZstd);
  const std::vector<std::string> diffs = {sha(base), sha(top)};

  OciLayout oci;
  // Image 1: a multi-platform index (arm64 listed first, and an attestation).
  std::string cfg_arm = imageConfig(diffs, "arm64");
  std::string cfg_amd = imageConfig(diffs, "amd64");
  oci.blob(cfg_arm);
  oci.blob(cfg_amd);
  oci.blob(base_gz);
  oci.blob(top_zst);
  std::string m_arm = oci.blob(manifestFor(cfg_arm, {base_gz, top_zst}, true));
  std::string m_amd = oci.blob(manifestFor(cfg_amd, {base_gz, top_zst}, true));
  std::string att_cfg = oci.blob("{}");
  std::string m_att = oci.blob(manifestFor(att_cfg, {}, false));
  const std::string man = "application/vnd.oci.image.manifest.v1+json";
  std::string index = oci.blob(
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[)" +
      descriptor(man, m_att, R"(,"platform":{"architecture":"unknown","os":"unknown"})") + "," +
      descriptor(man, m_arm,
                 R"(,"platform":{"architecture":"arm64","os":"linux","variant":"v8"})") +
      "," + descriptor(man, m_amd, R"(,"platform":{"architecture":"amd64","os":"linux"})") + "]}");
  oci.top(descriptor("application/vnd.oci.image.index.v1+json", index,
                     annotations("docker.io/library/multi:1")));
  // Image 2: tag-only ref.name plus containerd's full name.
  std::string cfg2 = imageConfig({sha(top)}, "amd64", "two");
  oci.blob(cfg2);
  oci.blob(top);
  std::string m2 = oci.blob(manifestFor(cfg2, {top}, false));
  oci.top(descriptor(man, m2, annotations("latest", "example.com/two:latest")));
  // Image 3: a bare tag and no name: loaded untagged.
  std::string cfg3 = imageConfig({sha(top)}, "amd64", "three");
  oci.blob(cfg3);
  std::string m3 = oci.blob(manifestFor(cfg3, {top}, false));
  oci.top(descriptor(man, m3, annotations("3.0")));
  // Image 4: a short full reference in ref.name.
  oci.top(descriptor(man, m3, annotations("short:4")));

  auto r = load(oci.build());
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->size(), 3u);
  const ImageRecord& r1 = (*r)[0];
  EXPECT_EQ(r1.id(), sha(cfg_amd));
  EXPECT_EQ(r1.architecture(), "amd64");
  ASSERT_EQ(r1.repo_tags_size(), 1);
  EXPECT_EQ(r1.repo_tags(0), "docker.io/library/multi:1");
  EXPECT_EQ(r1.manifest_digest(), sha(index));
  auto dirs = store_->layerDirs(r1);
  ASSERT_TRUE(dirs.ok());
  EXPECT_EQ(readAll((*dirs)[1] + "/bin/busybox"), busyboxBytes());
  EXPECT_EQ(readAll((*dirs)[0] + "/var/cache/top"), "top");
  // Compressed blobs are stored as they came.
  EXPECT_EQ(readAll(root_ + "/blobs/sha256/" + hexOf(sha(base_gz))), base_gz);
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(index))));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(m_amd))));

  const ImageRecord& r2 = (*r)[1];
  EXPECT_EQ(r2.id(), sha(cfg2));
  ASSERT_EQ(r2.repo_tags_size(), 1);
  EXPECT_EQ(r2.repo_tags(0), "example.com/two:latest");
  EXPECT_EQ(r2.manifest_digest(), sha(m2));

  const ImageRecord& r3 = (*r)[2];
  EXPECT_EQ(r3.id(), sha(cfg3));
  ASSERT_EQ(r3.repo_tags_size(), 1);
  EXPECT_EQ(r3.repo_tags(0), "docker.io/library/short:4");
  // The top layer on its own (no parent) is a different layer dir from the
  // same diff on top of `base`.
  auto d2 = store_->layerDirs(r2);
  ASSERT_TRUE(d2.ok());
  ASSERT_EQ(d2->size(), 1u);
  EXPECT_NE((*d2)[0], (*dirs)[0]);
  EXPECT_EQ(names("tmp").size(), 0u);
}

TEST_F(ImageStoreTest, LoadsDocker25ArchiveWithOciIndex) {
  // docker save >= 25: manifest.json pointing into an OCI layout.
  std::string layer = topLayer();
  std::string cfg = imageConfig({sha(layer)});
  std::string m = manifestFor(cfg, {layer}, false);
  std::string index = R"({"schemaVersion":2,"manifests":[)" +
                      descriptor("application/vnd.oci.image.manifest.v1+json", m,
                                 annotations("latest", "docker.io/library/new:latest")) +
                      "]}";
  std::string manifest = R"([{"Config":"blobs/sha256/)" + hexOf(sha(cfg)) +
                         R"(","RepoTags":["new:latest"],"Layers":["blobs/sha256/)" +
                         hexOf(sha(layer)) + R"("]}])";
  std::string tar = TarBuilder()
                        .file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")
                        .file("index.json", index)
                        .file("manifest.json", manifest)
                        .dir("blobs/sha256")
                        .file("blobs/sha256/" + hexOf(sha(cfg)), cfg)
                        .file("blobs/sha256/" + hexOf(sha(layer)), layer)
                        .file("blobs/sha256/" + hexOf(sha(m)), m)
                        .build();
  auto r = load(tar);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].repo_tags(0), "docker.io/library/new:latest");
  EXPECT_EQ((*r)[0].manifest_digest(), sha(m));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(m))));
}

TEST_F(ImageStoreTest, RejectsLayerDigestMismatch) {
  Image img = makeImage({baseLayer(), topLayer()}, {"bad:1"});
  img.diff_ids[1] = sha("something else");
  img.config = imageConfig(img.diff_ids);
  auto r = load(dockerSave({img}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(names("tmp").empty());
  // The first layer was valid and may stay; the bad one left nothing.
  for (const auto& n : names("layers")) EXPECT_EQ(n.rfind(hexOf(img.diff_ids[0]), 0), 0u) << n;
}

TEST_F(ImageStoreTest, RejectsCompressedLayerDigestMismatch) {
  std::string layer = topLayer();
  std::string gz = TarBuilder().file("other", "x").build(Compression::kGzip);
  OciLayout oci;
  std::string cfg = oci.blob(imageConfig({sha(layer)}));
  oci.blob(gz);
  std::string m = oci.blob(manifestFor(cfg, {gz}, true));
  oci.top(descriptor("application/vnd.oci.image.manifest.v1+json", m, annotations("x:1")));
  auto r = load(oci.build());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos);
  expectClean();
}

TEST_F(ImageStoreTest, RejectsCorruptCompressedLayer) {
  std::string layer = TarBuilder().file("data", std::string(200000, 'q')).build();
  std::string gz = TarBuilder().file("data", std::string(200000, 'q')).build(Compression::kGzip);
  gz = gz.substr(0, gz.size() / 2);  // truncated gzip stream
  OciLayout oci;
  std::string cfg = oci.blob(imageConfig({sha(layer)}));
  oci.blob(gz);
  std::string m = oci.blob(manifestFor(cfg, {gz}, true));
  oci.top(descriptor("application/vnd.oci.image.manifest.v1+json", m, annotations("x:1")));
  auto r = load(oci.build());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().toString();
  expectClean();
}

TEST_F(ImageStoreTest, RejectsConfigAndBlobDigestMismatch) {
  Image img = makeImage({topLayer()}, {"x:1"});
  std::string manifest = R"([{"Config":")" + sha256Hex("not the config") +
                         R"(.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}])";
  std::string tar = TarBuilder()
                        .file("l/layer.tar", img.layers[0])
                        .file(sha256Hex("not the config") + ".json", img.config)
                        .file("manifest.json", manifest)
                        .build();
  auto r = load(tar);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos);
  expectClean();

  // An OCI blob whose bytes do not match its name.
  std::string layer = topLayer();
  std::string cfg = imageConfig({sha(layer)});
  std::string m = manifestFor(cfg, {layer}, false);
  std::string index =
      R"({"manifests":[)" + descriptor("application/vnd.oci.image.manifest.v1+json", m) + "]}";
  tar = TarBuilder()
            .file("index.json", index)
            .file("blobs/sha256/" + hexOf(sha(m)), m)
            .file("blobs/sha256/" + hexOf(sha(cfg)), cfg + " ")
            .file("blobs/sha256/" + hexOf(sha(layer)), layer)
            .build();
  r = load(tar);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("digest mismatch"), std::string::npos);
  expectClean();
}

TEST_F(ImageStoreTest, RejectsHostileLayers) {
  const std::vector<std::string> hostile = {
      TarBuilder().file("../evil", "x").build(),
      TarBuilder().file("/tmp/arca-evil-abs", "x").build(),
      TarBuilder().symlink("l", "/tmp").file("l/arca-evil-link", "x").build(),
      TarBuilder().hardlink("h", "/etc/passwd").build(),
  };
  for (const auto& layer : hostile) {
    Image img = makeImage({baseLayer(), layer}, {"evil:1"});
    auto r = load(dockerSave({img}));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().toString();
    EXPECT_TRUE(names("tmp").empty());
    EXPECT_EQ(names("layers").size(), 2u);  // the good base layer: dir + json
  }
  EXPECT_FALSE(fs::exists("/tmp/arca-evil-abs"));
  EXPECT_FALSE(fs::exists("/tmp/arca-evil-link"));
  EXPECT_FALSE(fs::exists(base_ + "/evil"));
  EXPECT_FALSE(fs::exists(root_ + "/evil"));
}

TEST_F(ImageStoreTest, RejectsMalformedArchives) {
  auto expectInvalid = [&](const std::string& archive, const std::string& what) {
    auto r = load(archive);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << what << ": " << r.status().toString();
    expectClean();
  };
  expectInvalid("garbage garbage garbage", "not a tar");
  expectInvalid(TarBuilder().file("hello", "x").build(), "no manifest");
  expectInvalid(TarBuilder().file("manifest.json", "{not json").build(), "bad json");
  expectInvalid(TarBuilder().file("manifest.json", "{}").build(), "not an array");
  expectInvalid(TarBuilder().file("manifest.json", R"([{"Config":"c.json"}])").build(),
                "missing config");
  Image img = makeImage({topLayer()}, {"Bad:Tag"});
  expectInvalid(dockerSave({img}), "uppercase tag");
  img = makeImage({topLayer()}, {"nodigest@sha256:" + std::string(64, 'a')});
  expectInvalid(dockerSave({img}), "digest as tag");
  img = makeImage({topLayer()}, {"x:1"});
  img.config = imageConfig({});
  expectInvalid(dockerSave({img}), "layer count mismatch");
  std::string save = dockerSave({makeImage({topLayer()}, {"x:1"})});
  expectInvalid(save.substr(0, save.size() / 2), "truncated");
  expectInvalid(TarBuilder().file("index.json", R"({"manifests":[{"digest":"md5:abc"}]})").build(),
                "bad digest");
  ReadFn failing = [](char*, size_t) -> long { return -1; };
  auto r = store_->load(failing, nullptr);
  EXPECT_FALSE(r.ok());
}

TEST_F(ImageStoreTest, ReusesLayers) {
  std::string base = baseLayer();
  Image a = makeImage({base, topLayer("a")}, {"a:1"}, "a");
  Image b = makeImage({base, topLayer("b")}, {"b:1"}, "b");
  auto ra = load(dockerSave({a}));
  ASSERT_TRUE(ra.ok()) << ra.status().toString();
  struct stat before;
  ASSERT_EQ(::stat((layerPath(sha(base)) + "/bin/busybox").c_str(), &before), 0);

  auto rb = load(dockerSave({b}));
  ASSERT_TRUE(rb.ok()) << rb.status().toString();
  ASSERT_EQ(progress_.size(), 2u);
  EXPECT_EQ(progress_[0], "Layer sha256:" + hexOf(sha(base)).substr(0, 12) + " already exists 1/2");
  EXPECT_EQ(progress_[1].rfind("Loading layer", 0), 0u);
  struct stat after;
  ASSERT_EQ(::stat((layerPath(sha(base)) + "/bin/busybox").c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);  // not unpacked again
  // Sizes still count the shared layer.
  EXPECT_EQ((*rb)[0].size(), static_cast<int64_t>(busyboxBytes().size()) + 30 + 3 + 1);

  // Loading the same archive again changes nothing.
  auto again = load(dockerSave({a}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].SerializeAsString(), (*ra)[0].SerializeAsString());
  EXPECT_EQ(names("layers").size(), 6u);  // base, top a, top b: dirs + json
}

TEST_F(ImageStoreTest, ConcurrentLoadsShareLayers) {
  std::string base = baseLayer();
  std::vector<std::string> archives;
  for (int i = 0; i < 4; ++i) {
    std::string tag = "c" + std::to_string(i);
    archives.push_back(dockerSave({makeImage({base, topLayer(tag)}, {tag + ":1"}, tag)}));
  }
  std::vector<std::thread> threads;
  std::vector<Status> results(archives.size());
  for (size_t i = 0; i < archives.size(); ++i) {
    threads.emplace_back([&, i] {
      auto r = store_->load(stringReader(archives[i], 65536), nullptr);
      results[i] = r.ok() ? Status::Ok() : r.status();
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.toString();
  EXPECT_EQ(names("layers").size(), 10u);  // one base + four tops, dir + json each
  EXPECT_TRUE(names("tmp").empty());
}

TEST_F(ImageStoreTest, EmptyLayerBlob) {
  // A zero-byte layer is an empty tar stream: nothing to unpack.
  Image img = makeImage({""}, {"empty:1"});
  auto r = load(dockerSave({img}));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ((*r)[0].size(), 0);
  EXPECT_TRUE(store_->layerDirs((*r)[0]).ok());
}

TEST_F(ImageStoreTest, GarbageCollect) {
  std::string base = baseLayer();
  Image a = makeImage({base, topLayer("a")}, {"a:1"}, "a");
  std::string m_b;
  auto ra = load(dockerSave({a}));
  ASSERT_TRUE(ra.ok());
  // b comes from an OCI layout with a gzip layer and a manifest blob.
  std::string top_b = topLayer("b");
  std::string top_b_gz = TarBuilder()
                             .dir("etc")
                             .file("etc/.wh.passwd", "")
                             .dir("var/cache")
                             .file("var/cache/.wh..wh..opq", "")
                             .file("var/cache/b", "b")
                             .build(Compression::kGzip);
  ASSERT_EQ(sha(top_b), sha(TarBuilder()
                                .dir("etc")
                                .file("etc/.wh.passwd", "")
                                .dir("var/cache")
                                .file("var/cache/.wh..wh..opq", "")
                                .file("var/cache/b", "b")
                                .build()));
  OciLayout oci;
  std::string cfg_b = oci.blob(imageConfig({sha(base), sha(top_b)}, "amd64", "b"));
  oci.blob(base);
  oci.blob(top_b_gz);
  m_b = oci.blob(manifestFor(cfg_b, {base, top_b_gz}, true));
  oci.top(descriptor("application/vnd.oci.image.manifest.v1+json", m_b, annotations("b:1")));
  auto rb = load(oci.build());
  ASSERT_TRUE(rb.ok()) << rb.status().toString();
  const ImageRecord& A = (*ra)[0];
  const ImageRecord& B = (*rb)[0];
  // A stray file in blobs/ (e.g. from an older version) goes too.
  std::ofstream(root_ + "/blobs/sha256/" + std::string(64, 'f')) << "stray";

  ASSERT_TRUE(store_->garbageCollect({A, B}).ok());
  EXPECT_TRUE(store_->layerDirs(A).ok());
  EXPECT_TRUE(store_->layerDirs(B).ok());
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(m_b))));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(top_b_gz))));
  EXPECT_FALSE(fs::exists(root_ + "/blobs/sha256/" + std::string(64, 'f')));

  ASSERT_TRUE(store_->garbageCollect({A}).ok());
  EXPECT_TRUE(store_->layerDirs(A).ok());
  auto gone = store_->layerDirs(B);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_TRUE(fs::exists(layerPath(sha(base))));  // shared with A
  EXPECT_FALSE(fs::exists(root_ + "/blobs/sha256/" + hexOf(B.id())));
  EXPECT_FALSE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(m_b))));
  EXPECT_FALSE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(top_b_gz))));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(A.id())));
  EXPECT_TRUE(fs::exists(root_ + "/blobs/sha256/" + hexOf(sha(base))));
  EXPECT_FALSE(fs::exists(root_ + "/images/" + hexOf(B.id()) + ".json"));
  EXPECT_EQ(names("layers").size(), 4u);

  ASSERT_TRUE(store_->garbageCollect({}).ok());
  EXPECT_TRUE(names("layers").empty());
  EXPECT_TRUE(names("blobs/sha256").empty());
  EXPECT_TRUE(names("images").empty());
  EXPECT_FALSE(store_->layerDirs(A).ok());

  // Loading again after GC works (nothing stale is assumed).
  ra = load(dockerSave({a}));
  ASSERT_TRUE(ra.ok());
  EXPECT_TRUE(store_->layerDirs((*ra)[0]).ok());
}

TEST_F(ImageStoreTest, CreateCleansLeftovers) {
  fs::create_directories(root_ + "/tmp/load-old/x");
  fs::create_directories(root_ + "/layers/" + std::string(64, 'a') + "/etc");
  store_.reset();
  auto s = ImageStore::create(root_);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s.value()->root(), root_);
  EXPECT_TRUE(names("tmp").empty());
  EXPECT_TRUE(names("layers").empty());
}

TEST_F(ImageStoreTest, LayerDirsOfImageWithoutLayers) {
  ImageRecord rec;
  rec.set_id(sha("{}"));
  auto dirs = store_->layerDirs(rec);
  ASSERT_TRUE(dirs.ok());
  EXPECT_TRUE(dirs->empty());
  rec.add_diff_ids("sha256:nothex");
  EXPECT_FALSE(store_->layerDirs(rec).ok());
}

}  // namespace
}  // namespace arca::image

// --- Streaming ingest (pulls, imports) --------------------------------------

namespace arca::image {
namespace {

TEST_F(ImageStoreTest, IngestsCompressedLayerStreamAndVerifies) {
  const std::string plain = baseLayer();
  const std::string gz = baseLayerBuilder().build(Compression::kGzip);
  int64_t seen = 0;
  auto layer = store_->ingestLayer(stringReader(gz, 4096), "", sha(gz),
                                   static_cast<int64_t>(gz.size()), sha(plain),
                                   [&](int64_t n) { seen = n; });
  ASSERT_TRUE(layer.ok()) << layer.status().toString();
  EXPECT_EQ(layer->blob_digest, sha(gz));
  EXPECT_EQ(layer->diff_id, sha(plain));
  EXPECT_EQ(layer->chain_id, sha(plain));
  EXPECT_EQ(seen, static_cast<int64_t>(gz.size()));
  EXPECT_TRUE(store_->hasLayer(layer->chain_id));
  EXPECT_TRUE(store_->hasBlob(sha(gz)));
  EXPECT_TRUE(fs::exists(layerPath(layer->chain_id) + "/bin/busybox"));
  EXPECT_TRUE(names("tmp").empty());

  // The same layer again (another registry blob of the same diff): not unpacked twice.
  auto again = store_->ingestLayer(stringReader(plain, 4096), "", "", -1, sha(plain), nullptr);
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(again->blob_digest, sha(plain));
  EXPECT_EQ(again->size, layer->size);

  // On top of it, with the parent chain.
  const std::string top = topLayer();
  auto second = store_->ingestLayer(stringReader(top, 100), layer->chain_id, "", -1, "", nullptr);
  ASSERT_TRUE(second.ok()) << second.status().toString();
  EXPECT_EQ(second->chain_id, chainId(layer->chain_id, sha(top)));
  EXPECT_TRUE(store_->hasLayer(second->chain_id));
}

TEST_F(ImageStoreTest, IngestFailuresLeaveNothing) {
  const std::string plain = baseLayer();
  const std::string gz = baseLayerBuilder().build(Compression::kGzip);
  std::string corrupt = gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  struct Case {
    std::string name, data, blob_digest, diff_id;
    int64_t size;
  };
  std::vector<Case> cases = {
      {"wrong blob digest", gz, sha("other"), sha(plain), static_cast<int64_t>(gz.size())},
      {"wrong diff id", gz, sha(gz), sha("other"), static_cast<int64_t>(gz.size())},
      {"size lie (smaller)", gz, sha(gz), sha(plain), static_cast<int64_t>(gz.size()) - 10},
      {"size lie (larger)", gz, sha(gz), sha(plain), static_cast<int64_t>(gz.size()) + 10},
      {"corrupt gzip", corrupt, sha(gz), sha(plain), static_cast<int64_t>(gz.size())},
      {"hostile tar", TarBuilder().file("../escape", "x").build(), "", "", -1},
      {"truncated", gz.substr(0, gz.size() / 2), sha(gz), sha(plain), static_cast<int64_t>(gz.size())},
  };
  for (const auto& c : cases) {
    auto r = store_->ingestLayer(stringReader(c.data, 1000), "", c.blob_digest, c.size, c.diff_id, nullptr);
    EXPECT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.name << ": " << r.status().toString();
    expectClean();
    EXPECT_TRUE(names("blobs/sha256").empty()) << c.name;
  }
  EXPECT_FALSE(fs::exists(base_ + "/escape"));
}

TEST_F(ImageStoreTest, BlobsAndDistributionMetadata) {
  auto d = store_->putBlob("{}");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, sha("{}"));
  EXPECT_FALSE(store_->putBlob("{}", sha("x")).ok());
  auto back = store_->readBlob(*d, 100);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "{}");
  EXPECT_EQ(store_->readBlob(sha("missing"), 100).status().code(), Code::kNotFound);

  const std::string diff = sha("layer");
  ImageStore::Distribution dist{sha("gz"), "application/vnd.oci.image.layer.v1.tar+gzip", 42, {"r/a"}};
  ASSERT_TRUE(store_->addDistribution(diff, dist).ok());
  dist.repos = {"r/b"};
  ASSERT_TRUE(store_->addDistribution(diff, dist).ok());
  auto all = store_->distributions(diff);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].repos, (std::vector<std::string>{"r/a", "r/b"}));
  EXPECT_EQ(all[0].size, 42);
  // GC drops metadata of diff ids no image has.
  ASSERT_TRUE(store_->garbageCollect({}).ok());
  EXPECT_TRUE(store_->distributions(diff).empty());
  EXPECT_FALSE(store_->hasBlob(*d));
}

}  // namespace
}  // namespace arca::image
