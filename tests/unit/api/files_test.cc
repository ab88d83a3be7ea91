#include <gtest/gtest.h>

#include "api/api.h"

namespace arca::api {
namespace {

std::string decodeBase64(const std::string& in) {
  static const std::string abc =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    auto pos = abc.find(c);
    EXPECT_NE(pos, std::string::npos) << "not standard base64: " << c;
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

TEST(PathStatHeader, DockersJsonInStandardBase64) {
  runtime::PathStat st;
  st.name = "etclink";
  st.size = 4;
  st.mode = 134218239;  // os.ModeSymlink|0777
  st.mtime_ns = 1795996135879960976;
  st.link_target = "/etc";
  const std::string h = pathStatHeader(st);
  // What dockerd sent for the same symlink.
  EXPECT_EQ(decodeBase64(h),
            R"({"name":"etclink","size":4,"mode":134218239,"mtime":"2026-11-29T23:48:55.879960976Z","linkTarget":"/etc"})");
  EXPECT_EQ(h,
            "eyJuYW1lIjoiZXRjbGluayIsInNpemUiOjQsIm1vZGUiOjEzNDIxODIzOSwibXRpbWUiOiIyMDI2LTExLTI5VDIzOjQ4"
            "OjU1Ljg3OTk2MDk3NloiLCJsaW5rVGFyZ2V0IjoiL2V0YyJ9");
  runtime::PathStat dir;
  dir.name = "/";
  dir.mode = 2147484141;  // os.ModeDir|0755
  EXPECT_EQ(decodeBase64(pathStatHeader(dir)),
            R"({"name":"/","size":0,"mode":2147484141,"mtime":"1970-01-01T00:00:00Z","linkTarget":""})");
}

}  // namespace
}  // namespace arca::api
