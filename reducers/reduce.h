// Pure reducers: State' = reduce(State, Envelope).
//
// No I/O, no clock, no randomness, no logging (STYLE 2): everything a reducer
// needs is in the event or its envelope. Unknown event kinds are ignored (an
// old daemon never sees them: the envelope's schema version guards that).
// Thread: callers own the State; reduce() touches nothing else.
#pragma once

#include <string>

#include "reducers/state.pb.h"

namespace arca::reducers {

// Folds one event into `state` (also advances state.seq / last_time_ns).
void reduce(v1::State& state, const v1::Envelope& env);

// Deterministic serialization (sorted map keys): equal States give equal bytes.
std::string serializeState(const v1::State& state);

}  // namespace arca::reducers
