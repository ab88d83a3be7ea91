// A bounded worker pool for layer transfers (internal to runtime/distribution/).
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/status.h"

namespace arca::distribution {

// Runs fn(0..n-1) on up to `workers` threads. After the first failure (or
// when *cancel is set) no new item starts; the first error is returned.
inline Status runParallel(size_t n, int workers, const std::function<Status(size_t)>& fn,
                          const std::atomic<bool>* cancel) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto work = [&] {
    while (!failed.load()) {
      if (cancel && cancel->load()) {
        std::lock_guard lk(mu);
        if (first.ok()) first = Canceled("context canceled");
        failed = true;
        return;
      }
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard lk(mu);
        if (first.ok()) first = st;
        failed = true;
      }
    }
  };
  size_t threads = std::min<size_t>(n, static_cast<size_t>(std::max(1, workers)));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  if (threads > 0) work();
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace arca::distribution
