// Folds decided events into a State the way the engine does (test helper).
#pragma once

#include <vector>

#include "reducers/reduce.h"

namespace arca::testing {

// Appends `evs` to `s` (seq+1 each, time = seq) and clears them.
inline void apply(v1::State& s, std::vector<v1::Event>& evs) {
  for (auto& e : evs) {
    v1::Envelope env;
    env.set_seq(s.seq() + 1);
    env.set_time_ns(static_cast<int64_t>(s.seq() + 1));
    *env.mutable_event() = e;
    reducers::reduce(s, env);
  }
  evs.clear();
}

}  // namespace arca::testing
