// Small helpers the runtime's host side and the VM guest's agent share:
// an errno message, a whole small file as text, a descriptor's closer.
#pragma once

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace arca::runtime {

// "what: <strerror(errno)>".
inline std::string errnoText(const std::string& what) { return what + ": " + strerror(errno); }

// The file's bytes ("" when it cannot be read): for small files of the
// system (/proc, /sys, pid files), not for input from clients.
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Closes a descriptor when it goes out of scope.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace arca::runtime
