// States the engine's tests start from (test helper).
#pragma once

#include <string>
#include <vector>

#include "tests/unit/support/fold.h"

namespace arca::testing {

// One image, sha256:aaaa..., tagged busybox:latest.
inline v1::State withBusybox() {
  v1::State s;
  std::vector<v1::Event> evs(1);
  auto* r = evs[0].mutable_image_loaded()->mutable_image();
  r->set_id("sha256:" + std::string(64, 'a'));
  r->add_repo_tags("docker.io/library/busybox:latest");
  apply(s, evs);
  return s;
}

}  // namespace arca::testing
