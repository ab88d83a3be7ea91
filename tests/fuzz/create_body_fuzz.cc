// libFuzzer: POST /containers/create bodies and image config merging.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/container_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  auto c = arca::api::parseCreateContainer(s);
  arca::v1::ContainerConfig cfg;
  if (c.ok()) cfg = c->config;
  (void)arca::api::mergeImageConfig(&cfg, s);
  return 0;
}
