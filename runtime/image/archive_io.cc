#include "runtime/image/archive_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace arca::image {

namespace {
constexpr size_t kReadBufSize = 256 * 1024;
}  // namespace

std::string archiveError(archive* a) {
  const char* e = a ? archive_error_string(a) : nullptr;
  return e ? e : "unknown archive error";
}

StreamReader::StreamReader(const ReadFn& in) : in_(in), buf_(kReadBufSize) {}

StreamReader::~StreamReader() = default;

la_ssize_t StreamReader::readCallback(archive* a, void* self, const void** buf) {
  auto* r = static_cast<StreamReader*>(self);
  long n = r->in_(r->buf_.data(), r->buf_.size());
  if (n < 0) {
    archive_set_error(a, EIO, "read error on input stream");
    return -1;
  }
  if (static_cast<size_t>(n) > r->buf_.size()) n = static_cast<long>(r->buf_.size());
  r->bytes_in_ += n;
  *buf = r->buf_.data();
  return n;
}

StatusOr<std::unique_ptr<StreamReader>> StreamReader::open(const ReadFn& in, Format format) {
  std::unique_ptr<StreamReader> r(new StreamReader(in));
  r->a_.reset(archive_read_new());
  if (!r->a_) return Internal("archive_read_new failed");
  archive* a = r->a_.get();
  // Only decoders built into libarchive: filter_all would also run external
  // programs (lrzip, lzop, grzip) on input we do not trust.
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_lz4(a);
  if (format == Format::kTar) {
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
  } else {
    archive_read_support_format_raw(a);
  }
  if (archive_read_open(a, r.get(), nullptr, &StreamReader::readCallback, nullptr) != ARCHIVE_OK) {
    return InvalidArgument("unrecognized archive: " + archiveError(a));
  }
  return r;
}

FdGuard::~FdGuard() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<ReadFn> fileReader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal("open " + path + ": " + std::strerror(errno));
  auto owned = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  // shared_ptr: std::function must be copyable; the fd closes with the last copy.
  return ReadFn([owned](char* buf, size_t len) -> long {
    while (true) {
      ssize_t n = ::read(*owned, buf, len);
      if (n < 0 && errno == EINTR) continue;
      return static_cast<long>(n);
    }
  });
}

}  // namespace arca::image
