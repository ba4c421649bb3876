// Helpers shared by the FFI kernels of snnjax.sim (deliver.cc, sim_kernels.cc): a parallel
// for over XLA's intra-op thread pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "xla/ffi/api/ffi.h"

namespace snnjax_ffi {

namespace ffi = xla::ffi;

// ---------------------------------------------------------------- parallel for
// Runs fn(part) for part in [0, parts) on the caller and on XLA's intra-op pool. The caller
// takes parts too and waits only for parts already taken, so it never waits on a task that
// the pool has not started (no deadlock when every pool thread is busy).
struct ForState {
  std::atomic<int64_t> next{0};
  int64_t parts = 0;
  int64_t running = 0;  // parts taken and not finished (guarded by mu)
  std::mutex mu;
  std::condition_variable done;
};

template <typename F>
void Drain(ForState& st, const F& fn) {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(st.mu);
      if (st.next.load() >= st.parts) return;
      ++st.running;
    }
    int64_t part = st.next.fetch_add(1);
    if (part < st.parts) fn(part);
    std::lock_guard<std::mutex> lock(st.mu);
    if (--st.running == 0) st.done.notify_all();
  }
}

template <typename F>
void ParallelFor(ffi::ThreadPool& pool, int64_t parts, int64_t threads, F fn) {
  if (parts <= 1 || threads <= 1) {
    for (int64_t p = 0; p < parts; ++p) fn(p);
    return;
  }
  auto st = std::make_shared<ForState>();
  st->parts = parts;
  auto shared_fn = std::make_shared<F>(std::move(fn));
  for (int64_t t = 1; t < std::min(threads, parts); ++t) {
    pool.Schedule([st, shared_fn] { Drain(*st, *shared_fn); });
  }
  Drain(*st, *shared_fn);
  std::unique_lock<std::mutex> lock(st->mu);
  st->done.wait(lock, [&] { return st->running == 0; });
}

inline int64_t Threads(ffi::ThreadPool& pool, int64_t requested) {
  const int64_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  const int64_t available = std::min(cores, pool.num_threads() + 1);  // pool + caller
  return requested > 0 ? std::min(requested, available) : available;
}

}  // namespace snnjax_ffi
