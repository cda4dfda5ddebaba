#pragma once
// Per-image work (decoding, resizing) spread over threads, with a progress bar.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "forgery/core/progress.h"

namespace forgery {

// Runs fn(i) for i in [0, n) on `threads` threads while the calling thread draws progress.
template <typename Fn>
void parallel_for_with_progress(int64_t n, int threads, const std::string& label, ProgressMode mode, Fn fn) {
  std::atomic<int64_t> next{0}, done{0};
  auto work = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      fn(i);
      done.fetch_add(1);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(threads, 1); ++t) pool.emplace_back(work);
  ProgressBar bar(label, n, 1, mode);
  if (pool.empty()) {
    for (int64_t i = 0; i < n; ++i) {
      fn(i);
      bar.update(i + 1, i + 1);
    }
  } else {
    while (done.load() < n && next.load() < n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      bar.update(done.load(), done.load());
    }
    work();  // the calling thread helps with what is left
    for (auto& t : pool) t.join();
    bar.update(n, n);
  }
  bar.finish();
}

}  // namespace forgery
