// The "runtime" component logger when arcad has set one up, else spdlog's default.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace arca::runtime {

inline std::shared_ptr<spdlog::logger> runtimeLogger() {
  static const auto instance = [] {
    auto l = spdlog::get("runtime");
    return l ? l : spdlog::default_logger();
  }();
  return instance;
}

}  // namespace arca::runtime
