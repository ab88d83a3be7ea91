// libFuzzer: -v / --tmpfs mount specifications and --mount objects (issue #6,
// api/mount_config.cc). Input: "<kind byte><text>".
#include <cstddef>
#include <cstdint>
#include <string>

#include <rapidjson/document.h>

#include "api/mount_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string s(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto m = arca::api::parseBind(s);
      if (m.ok()) (void)arca::api::toMountPoint(*m);
      break;
    }
    case 1: {
      auto colon = s.find(':');
      (void)arca::api::parseTmpfs(s.substr(0, colon), colon == std::string::npos ? "" : s.substr(colon + 1));
      break;
    }
    case 2: {
      rapidjson::Document d;
      d.Parse(s.c_str(), s.size());
      if (!d.HasParseError()) (void)arca::api::parseMountObject(d);
      break;
    }
    default:
      (void)arca::api::parseByteSize(s);
      (void)arca::api::cleanAbsolutePath(s);
      break;
  }
  return 0;
}
