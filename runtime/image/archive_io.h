// RAII wrappers for libarchive handles and a reader fed by a ReadFn
// (internal to runtime/image/).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/status.h"
#include "runtime/image/image_store.h"

namespace arca::image {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReadPtr = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWritePtr = std::unique_ptr<archive, ArchiveWriteFree>;

// libarchive's last error text for `a`, never null.
std::string archiveError(archive* a);

// A libarchive reader pulling from a ReadFn. The ReadFn is referenced, not
// copied: it must outlive the reader. One thread at a time.
class StreamReader {
 public:
  enum class Format {
    kTar,  // tar (ustar, pax, gnu) or an empty stream
    kRaw,  // the decompressed bytes as one entry
  };
  // Accepts plain, gzip, bzip2, xz, zstd and lz4 input (built-in decoders only:
  // never an external program). InvalidArgument if the format is not recognized.
  static StatusOr<std::unique_ptr<StreamReader>> open(const ReadFn& in, Format format);
  ~StreamReader();

  archive* get() const { return a_.get(); }
  // Bytes pulled from the ReadFn so far (compressed size).
  int64_t bytesIn() const { return bytes_in_; }

 private:
  explicit StreamReader(const ReadFn& in);
  static la_ssize_t readCallback(archive* a, void* self, const void** buf);

  const ReadFn& in_;
  std::vector<char> buf_;
  int64_t bytes_in_ = 0;
  ArchiveReadPtr a_;
};

// Closes a file descriptor on every path out.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard();
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A ReadFn over the file at `path` (-1 on read errors). The function owns the
// open file; it closes with the last copy.
StatusOr<ReadFn> fileReader(const std::string& path);

}  // namespace arca::image
