// libFuzzer: event decoding from the log, folding, and the /events projection.
// A log record that decodes must fold and project without crashing.
#include <cstddef>
#include <cstdint>

#include "api/events.h"
#include "reducers/reduce.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static arca::v1::State state;
  static arca::api::EventProjector proj;
  arca::v1::Envelope env;
  if (!env.ParseFromArray(data, static_cast<int>(size))) return 0;
  arca::reducers::reduce(state, env);
  for (const auto& e : proj.project(env)) (void)e.toJson();
  if (state.containers_size() > 1000) state.Clear();
  return 0;
}
