#include "runtime/agent/log_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace arca::agent {
namespace {

Status errnoStatus(const std::string& what) { return Internal(what + ": " + strerror(errno)); }

}  // namespace

StatusOr<std::unique_ptr<LogWriter>> LogWriter::open(std::string path, int64_t max_size,
                                                     int max_files) {
  std::unique_ptr<LogWriter> w(new LogWriter(std::move(path), max_size, max_files < 1 ? 1 : max_files));
  w->fd_ = ::open(w->path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (w->fd_ < 0) return errnoStatus("open log " + w->path_);
  struct stat st {};
  if (fstat(w->fd_, &st) == 0) w->size_ = st.st_size;
  return w;
}

LogWriter::~LogWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status LogWriter::append(std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errnoStatus("write " + path_);
    off += static_cast<size_t>(n);
    size_ += n;
  }
  return Status::Ok();
}

Status LogWriter::rotate() {
  if (max_files_ < 2) {
    if (ftruncate(fd_, 0) != 0) return errnoStatus("truncate " + path_);
    size_ = 0;
    return Status::Ok();
  }
  // Readers hold their own descriptors: close, shift, start afresh.
  ::close(fd_);
  fd_ = -1;
  for (int k = max_files_ - 1; k >= 2; --k) {
    std::string from = path_ + "." + std::to_string(k - 1);
    std::string to = path_ + "." + std::to_string(k);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      Status st = errnoStatus("rotate " + from);
      (void)st;  // keep going: the live file must move on regardless
    }
  }
  Status moved = Status::Ok();
  if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) moved = errnoStatus("rotate " + path_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  size_ = 0;
  if (fd_ < 0) return errnoStatus("open log " + path_);
  return moved;
}

Status LogWriter::write(std::string_view lines) {
  if (fd_ < 0) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) return errnoStatus("open log " + path_);
  }
  if (max_size_ < 0) return append(lines);
  size_t p = 0;
  while (p < lines.size()) {
    if (size_ >= max_size_) ARCA_RETURN_IF_ERROR(rotate());
    // Whole lines while the file is below max-size; the line that reaches it
    // is written too (dockerd checks before each entry).
    const int64_t room = max_size_ - size_;
    size_t q = p;
    while (q < lines.size() && static_cast<int64_t>(q - p) < room) {
      size_t nl = lines.find('\n', q);
      q = nl == std::string_view::npos ? lines.size() : nl + 1;
    }
    ARCA_RETURN_IF_ERROR(append(lines.substr(p, q - p)));
    p = q;
  }
  return Status::Ok();
}

}  // namespace arca::agent
