// Deterministic ids and names for decider tests: "<prefix>000...N".
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "engine/clock.h"

namespace arca::testing {

class FixedIds : public engine::IdSource {
 public:
  explicit FixedIds(char prefix = 'f') : prefix_(prefix) {}
  std::string newId() override {
    char b[65];
    snprintf(b, sizeof b, "%c%063x", prefix_, ++n_);
    return b;
  }
  std::string newName(const std::function<bool(const std::string&)>& taken) override {
    std::string n = "gen_" + std::to_string(n_);
    while (taken(n)) n += "x";
    return n;
  }
  int n_ = 0;

 private:
  char prefix_;
};

}  // namespace arca::testing
