// Property: folding is deterministic, and snapshot + tail == full fold,
// byte for byte in the canonical serialization.
#include <gtest/gtest.h>

#include "reducers/reduce.h"
#include "tests/unit/reducers/event_gen.h"

namespace arca {
namespace {

v1::State fold(const std::vector<v1::Envelope>& evs, size_t from, size_t to, v1::State s = {}) {
  for (size_t i = from; i < to; ++i) reducers::reduce(s, evs[i]);
  return s;
}

TEST(ReduceProperty, FoldTwiceIsByteIdentical) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    auto evs = testing::randomEvents(seed, 300);
    auto a = reducers::serializeState(fold(evs, 0, evs.size()));
    auto b = reducers::serializeState(fold(evs, 0, evs.size()));
    ASSERT_EQ(a, b) << "seed " << seed;
  }
}

TEST(ReduceProperty, SnapshotPlusTailEqualsFullFold) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    auto evs = testing::randomEvents(seed, 300);
    size_t cut = seed % evs.size();
    v1::State prefix = fold(evs, 0, cut);
    // The snapshot goes through its wire form, as it does in RocksDB.
    std::string wire = reducers::serializeState(prefix);
    v1::State restored;
    ASSERT_TRUE(restored.ParseFromString(wire));
    auto tail = reducers::serializeState(fold(evs, cut, evs.size(), restored));
    auto full = reducers::serializeState(fold(evs, 0, evs.size()));
    ASSERT_EQ(tail, full) << "seed " << seed << " cut " << cut;
  }
}

TEST(ReduceProperty, DifferentHistoriesDiffer) {
  // Guards the property tests against a serializer that ignores content.
  auto a = testing::randomEvents(1, 100);
  auto b = testing::randomEvents(2, 100);
  EXPECT_NE(reducers::serializeState(fold(a, 0, a.size())),
            reducers::serializeState(fold(b, 0, b.size())));
}

}  // namespace
}  // namespace arca
