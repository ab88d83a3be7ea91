// Old logs always replay (STYLE 9): golden logs written by earlier schema
// versions live in tests/replay/fixtures/ and must fold to the same canonical
// State, byte for byte. A fixture is a file of length-prefixed (u32 BE)
// serialized Envelopes plus the expected deterministic State serialization.
//
// Regenerate only when adding a NEW fixture (never rewrite an old one):
//   ARCA_WRITE_GOLDEN=v2_name build/bin/replay_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "reducers/reduce.h"
#include "tests/unit/reducers/event_gen.h"

namespace arca {
namespace {

const std::string kDir = std::string(ARCA_SOURCE_DIR) + "/tests/replay/fixtures/";

std::string readFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<v1::Envelope> decode(const std::string& data) {
  std::vector<v1::Envelope> out;
  size_t i = 0;
  while (i + 4 <= data.size()) {
    uint32_t n = (uint32_t(uint8_t(data[i])) << 24) | (uint32_t(uint8_t(data[i + 1])) << 16) |
                 (uint32_t(uint8_t(data[i + 2])) << 8) | uint32_t(uint8_t(data[i + 3]));
    i += 4;
    v1::Envelope e;
    EXPECT_TRUE(e.ParseFromArray(data.data() + i, static_cast<int>(n)));
    out.push_back(std::move(e));
    i += n;
  }
  EXPECT_EQ(i, data.size());
  return out;
}

TEST(GoldenLogs, WriteNewFixtureWhenAsked) {
  const char* name = std::getenv("ARCA_WRITE_GOLDEN");
  if (!name) GTEST_SKIP() << "set ARCA_WRITE_GOLDEN=<name> to write a new fixture";
  auto evs = testing::randomEvents(20261129, 2000);
  std::string blob;
  v1::State s;
  for (const auto& e : evs) {
    std::string b;
    e.SerializeToString(&b);
    uint32_t n = static_cast<uint32_t>(b.size());
    blob += static_cast<char>(n >> 24);
    blob += static_cast<char>(n >> 16);
    blob += static_cast<char>(n >> 8);
    blob += static_cast<char>(n);
    blob += b;
    reducers::reduce(s, e);
  }
  std::ofstream(kDir + name + ".events", std::ios::binary) << blob;
  std::ofstream(kDir + name + ".state", std::ios::binary) << reducers::serializeState(s);
}

TEST(GoldenLogs, EveryFixtureReplaysToItsRecordedState) {
  int n = 0;
  for (const auto& ent : std::filesystem::directory_iterator(kDir)) {
    if (ent.path().extension() != ".events") continue;
    ++n;
    auto evs = decode(readFile(ent.path()));
    ASSERT_FALSE(evs.empty()) << ent.path();
    v1::State s;
    for (const auto& e : evs) reducers::reduce(s, e);
    std::string want = readFile(ent.path().parent_path() / (ent.path().stem().string() + ".state"));
    EXPECT_EQ(reducers::serializeState(s), want) << "fixture " << ent.path() << " no longer replays";
  }
  EXPECT_GE(n, 1) << "no golden logs found in " << kDir;
}

}  // namespace
}  // namespace arca
