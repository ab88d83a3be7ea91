// libFuzzer target: unpackLayer() on arbitrary bytes (plain or compressed tar).
// It must never crash, and never create or change anything outside the
// destination: a sentinel directory beside it is compared after every input.
// The destination is emptied after each input.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "runtime/image/image_store.h"

namespace {

namespace fs = std::filesystem;

std::string g_base;  // <base>/dest is unpacked into; <base>/outside must not change
std::string g_dest;
std::string g_outside;
std::string g_outside_state;

// Names, types, modes and sizes of everything under `dir` (not following symlinks).
std::string describe(const std::string& dir) {
  std::set<std::string> lines;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    lines.insert(it->path().string() + " " + std::to_string(st.st_mode) + " " +
                 std::to_string(st.st_size) + " " + std::to_string(st.st_mtime) + " " +
                 std::to_string(st.st_uid));
  }
  struct stat st;
  ::lstat(dir.c_str(), &st);
  std::string out = std::to_string(st.st_mode) + " " + std::to_string(st.st_mtime) + "\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/arca-layer-fuzz-XXXXXX";
  if (!::mkdtemp(tmpl)) std::abort();
  g_base = tmpl;
  g_dest = g_base + "/dest";
  g_outside = g_base + "/outside";
  fs::create_directories(g_outside + "/sub");
  std::ofstream(g_outside + "/victim") << "original";
  g_outside_state = describe(g_outside);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(g_base, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::error_code ec;
  fs::remove_all(g_dest, ec);
  if (::mkdir(g_dest.c_str(), 0755) != 0) std::abort();
  size_t off = 0;
  arca::image::ReadFn in = [&](char* buf, size_t len) -> long {
    size_t n = std::min(len, size - off);
    std::memcpy(buf, data + off, n);
    off += n;
    return static_cast<long>(n);
  };
  (void)arca::image::unpackLayer(in, g_dest);
  // Nothing new beside dest, nothing changed in the sentinel.
  size_t entries = 0;
  for (auto it = fs::directory_iterator(g_base, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    ++entries;
  }
  if (entries != 2 || describe(g_outside) != g_outside_state) __builtin_trap();
  fs::remove_all(g_dest, ec);
  return 0;
}
