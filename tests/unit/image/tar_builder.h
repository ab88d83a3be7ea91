// Test helpers: tar archives built in memory with libarchive's write API,
// and ReadFns over strings.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "runtime/image/digest.h"
#include "runtime/image/image_store.h"

namespace arca::image::testing {

enum class Compression { kNone, kGzip, kZstd };

class TarBuilder {
 public:
  TarBuilder& file(const std::string& name, const std::string& data, int mode = 0644) {
    entries_.push_back(makeEntry(name, data, AE_IFREG, mode));
    return *this;
  }
  TarBuilder& dir(const std::string& name, int mode = 0755) {
    entries_.push_back(makeEntry(name, "", AE_IFDIR, mode));
    return *this;
  }
  TarBuilder& symlink(const std::string& name, const std::string& target) {
    Entry e = makeEntry(name, "", AE_IFLNK, 0777);
    e.link = target;
    entries_.push_back(std::move(e));
    return *this;
  }
  TarBuilder& hardlink(const std::string& name, const std::string& target) {
    Entry e = makeEntry(name, "", AE_IFREG, 0644);
    e.link = target;
    e.hard = true;
    entries_.push_back(std::move(e));
    return *this;
  }
  // Owner of the last entry.
  TarBuilder& owner(int uid, int gid) {
    entries_.back().uid = uid;
    entries_.back().gid = gid;
    return *this;
  }
  // Adds an xattr to the last entry.
  TarBuilder& xattr(const std::string& name, const std::string& value) {
    entries_.back().xattrs.emplace_back(name, value);
    return *this;
  }
  TarBuilder& mtime(long t) {
    entries_.back().mtime = t;
    return *this;
  }

  std::string build(Compression c = Compression::kNone) const {
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (c == Compression::kGzip) archive_write_add_filter_gzip(a);
    if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, &out, nullptr, &TarBuilder::writeCb, nullptr);
    for (const auto& e : entries_) {
      archive_entry* ae = archive_entry_new();
      archive_entry_set_pathname(ae, e.name.c_str());
      archive_entry_set_filetype(ae, e.type);
      archive_entry_set_perm(ae, e.mode);
      archive_entry_set_uid(ae, e.uid);
      archive_entry_set_gid(ae, e.gid);
      archive_entry_set_mtime(ae, e.mtime, 0);
      if (e.type == AE_IFLNK) archive_entry_set_symlink(ae, e.link.c_str());
      if (e.hard) archive_entry_set_hardlink(ae, e.link.c_str());
      for (const auto& [k, v] : e.xattrs) {
        archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
      }
      archive_entry_set_size(ae, e.type == AE_IFREG && !e.hard ? e.data.size() : 0);
      if (archive_write_header(a, ae) != ARCHIVE_OK) {
        throw std::runtime_error(std::string("tar header: ") + archive_error_string(a));
      }
      if (e.type == AE_IFREG && !e.hard && !e.data.empty()) {
        archive_write_data(a, e.data.data(), e.data.size());
      }
      archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
  }

 private:
  struct Entry {
    std::string name;
    std::string data;
    unsigned type = AE_IFREG;
    int mode = 0644;
    std::string link;
    bool hard = false;
    int uid = 0;
    int gid = 0;
    long mtime = 1700000000;
    std::vector<std::pair<std::string, std::string>> xattrs;
  };
  static Entry makeEntry(const std::string& name, const std::string& data, unsigned type,
                         int mode) {
    Entry e;
    e.name = name;
    e.data = data;
    e.type = type;
    e.mode = mode;
    return e;
  }
  static la_ssize_t writeCb(archive*, void* client, const void* buf, size_t len) {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), len);
    return static_cast<la_ssize_t>(len);
  }
  std::vector<Entry> entries_;
};

// A ReadFn serving `data` in chunks of at most `chunk` bytes.
inline ReadFn stringReader(std::string data, size_t chunk = 1 << 20) {
  auto state = std::make_shared<std::pair<std::string, size_t>>(std::move(data), 0);
  return [state, chunk](char* buf, size_t len) -> long {
    auto& [d, off] = *state;
    size_t n = std::min({len, chunk, d.size() - off});
    std::memcpy(buf, d.data() + off, n);
    off += n;
    return static_cast<long>(n);
  };
}

inline std::string sha(const std::string& data) { return "sha256:" + sha256Hex(data); }

inline std::string readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace arca::image::testing
