// Helpers shared by the FFI kernels of snnjax.sim (deliver.cc, sim_kernels.cc): a parallel
// for over XLA's intra-op thread pool, and the instances of a batched (vmapped) call.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <sched.h>

#include "xla/ffi/api/ffi.h"

namespace snnjax_ffi {

namespace ffi = xla::ffi;

// ---------------------------------------------------------------- parallel for
// Runs fn(part) for part in [0, parts) on the caller and on XLA's intra-op pool. The caller
// takes parts too and waits only for parts already taken, so it never waits on a task that
// the pool has not started (no deadlock when every pool thread is busy); it spins for them
// up to kSpinUs before it sleeps. Parts are taken and counted with atomics (a mutex per
// part cost two cache-line transfers between the cores per lock), from both ends (Job).
//
// A pool thread that helped lingers: it spins up to kLingerUs for the next parallel for
// (of any kernel) and joins it without being scheduled. On the Intel VM measured, a pool
// thread scheduled from sleep took 47 us on average to start (futex wake-up of an idle
// vCPU), longer than COBA's whole ODE step on one thread (4,000 neurons, 35 us), so the
// caller had done all parts before help arrived. A simulation calls a parallel for every
// few tens of microseconds: one lingering helper stays awake for the whole run and goes
// back to the pool kLingerUs after the last.
struct Job {
  // Parts not yet taken: [lo, hi) packed as lo | hi << 32. Threads on even-numbered cores
  // take them from the front, the others from the back (FromFront): on two cores each part
  // goes to the same core call after call while the split point settles where both finish
  // together, so a part's neurons stay in one core's caches (parts taken in turn moved
  // between the cores every step: Brette's COBA ODE cost 1.4x as much per neuron on two
  // threads as on one).
  std::atomic<uint64_t> range{0};
  std::atomic<int64_t> done{0};  // parts finished
  int64_t parts = 0;
  std::mutex mu;  // for the caller's sleep, once it stops spinning
  std::condition_variable finished;
  std::function<void(int64_t)> fn;  // never called once the caller has returned
};

// Takes the next part from the front (or the back): its index, or -1 when none is left.
inline int64_t Take(Job& job, bool front) {
  uint64_t r = job.range.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t lo = r & 0xffffffffu, hi = r >> 32;
    if (lo >= hi) return -1;
    const uint64_t next = front ? r + 1 : r - (uint64_t{1} << 32);
    if (job.range.compare_exchange_weak(r, next)) return static_cast<int64_t>(front ? lo : hi - 1);
  }
}

// Whether this thread takes parts from the front: on an even-numbered core (XLA's executor
// runs consecutive kernels on different threads, and on either core: by core, not by the
// caller/helper role, a part's neurons stay on one core).
inline bool FromFront() { return sched_getcpu() % 2 == 0; }

inline void Drain(Job& job, bool front) {
  for (int64_t part; (part = Take(job, front)) >= 0;) {
    job.fn(part);
    if (job.done.fetch_add(1) + 1 == job.parts) {
      std::lock_guard<std::mutex> lock(job.mu);
      job.finished.notify_all();
    }
  }
}

// How long the caller spins for the pool's parts before it sleeps: on some VMs waking a
// sleeping thread costs tens of microseconds (Brunel order 500 on an Intel VM: 13 % of the
// simulate time, order 2500: 4 %), which the caller would pay after most parallel fors.
constexpr int64_t kSpinUs = 200;
// How long a helper spins for the next parallel for before it goes back to the pool.
constexpr int64_t kLingerUs = 200;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins (pausing) until done() or `us` microseconds have passed; done()'s last value.
template <typename P>
bool SpinFor(int64_t us, P done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  bool ok;
  while (!(ok = done()) && std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 8; ++i) CpuRelax();
  }
  return ok;
}

// The latest parallel for, where helpers find it; `helpers`: helpers helping or lingering.
struct Board {
  std::mutex mu;
  std::shared_ptr<Job> job;  // guarded by mu
  std::atomic<uint64_t> posted{0};  // jobs posted (changed under mu)
  std::atomic<int64_t> helpers{0};
};

inline Board& TheBoard() {
  static Board* board = new Board;  // never destroyed: a helper may linger past exit()
  return *board;
}

// A pool task: help with the latest job, then with each job posted within kLingerUs of the
// last; at most `most` helpers at a time.
inline bool Join(Board& board, int64_t most) {  // counted as a helper if fewer than most
  if (board.helpers.fetch_add(1) < most) return true;
  board.helpers.fetch_sub(1);
  return false;
}

inline void Help(int64_t most) {
  Board& board = TheBoard();
  if (!Join(board, most)) return;
  for (;;) {
    std::shared_ptr<Job> job;
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(board.mu);
      job = board.job;
      seen = board.posted.load();
    }
    if (job) Drain(*job, FromFront());
    job.reset();
    if (SpinFor(kLingerUs, [&] { return board.posted.load() != seen; })) continue;
    board.helpers.fetch_sub(1);
    // A job posted as it left may have counted on it: stay if it can.
    if (board.posted.load() == seen || !Join(board, most)) return;
  }
}

template <typename F>
void ParallelFor(ffi::ThreadPool& pool, int64_t parts, int64_t threads, F fn) {
  if (parts <= 1 || threads <= 1) {
    for (int64_t p = 0; p < parts; ++p) fn(p);
    return;
  }
  auto job = std::make_shared<Job>();
  job->parts = parts;
  job->range.store(static_cast<uint64_t>(parts) << 32);
  job->fn = std::move(fn);
  Board& board = TheBoard();
  {
    std::lock_guard<std::mutex> lock(board.mu);
    board.job = job;
    board.posted.fetch_add(1);
  }
  const int64_t helpers = std::min(threads, parts) - 1;
  for (int64_t t = board.helpers.load(); t < helpers; ++t) {
    pool.Schedule([helpers] { Help(helpers); });
  }
  Drain(*job, FromFront());
  if (SpinFor(kSpinUs, [&] { return job->done.load() == parts; })) return;
  std::unique_lock<std::mutex> lock(job->mu);
  job->finished.wait(lock, [&] { return job->done.load() == parts; });
}

inline int64_t Threads(ffi::ThreadPool& pool, int64_t requested) {
  // Read once: glibc answers hardware_concurrency() by opening and parsing
  // /sys/devices/system/cpu/online, which cost more than a small block's whole delivery.
  static const int64_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  const int64_t available = std::min(cores, pool.num_threads() + 1);  // pool + caller
  return requested > 0 ? std::min(requested, available) : available;
}

// Neurons per part of a kernel over n neurons of `instances` instances on `workers`
// threads: about `least` at least (handing a part to another core costs), at most
// kPartsPerThread parts per thread (load balance); a multiple of `unit`.
inline int64_t PartSize(int64_t n, int64_t instances, int64_t workers, int64_t least,
                        int64_t unit) {
  constexpr int64_t kPartsPerThread = 4;
  const int64_t units = (n + unit - 1) / unit;
  const int64_t wanted = std::max<int64_t>(
      1, std::min((n + least - 1) / least, (kPartsPerThread * workers + instances - 1) / instances));
  return (units + wanted - 1) / wanted * unit;
}

// One parameter of one instance's neurons: a [n] or [1] buffer (`shared`: one value).
struct Param {
  const float* data;
  bool shared;
};

// ---------------------------------------------------------------- batches (jax.vmap)
// The kernels are bound with vmap_method="expand_dims": under jax.vmap every argument and
// result gets the same leading batch dimensions, of size 1 in an argument that is not
// batched (one copy shared by all instances). A Batch reads the batch shape off a result of
// known rank and gives each instance's offset into any argument (broadcasting its size-1
// dimensions); without vmap it has one instance at offset 0.
class Batch {
 public:
  // `dims`: a result's dimensions, `rank`: its rank without batch dimensions.
  Batch(ffi::Span<const int64_t> dims, size_t rank) {
    for (size_t k = 0; k + rank < dims.size(); ++k) {
      shape_.push_back(dims[k]);
      size_ *= dims[k];
    }
  }
  int64_t size() const { return size_; }
  size_t rank() const { return shape_.size(); }

  // Whether `dims` (rank `rank` plus the batch's) broadcasts to the batch shape.
  bool Fits(ffi::Span<const int64_t> dims, size_t rank) const {
    if (dims.size() != rank + shape_.size()) return false;
    for (size_t k = 0; k < shape_.size(); ++k) {
      if (dims[k] != 1 && dims[k] != shape_[k]) return false;
    }
    return true;
  }
  // Whether all instances share the argument (every batch dimension of size 1).
  bool Shared(ffi::Span<const int64_t> dims) const {
    for (size_t k = 0; k < shape_.size(); ++k) {
      if (dims[k] != 1) return false;
    }
    return true;
  }
  // The element offset of instance i in an argument of dimensions `dims` (Fits).
  int64_t Offset(ffi::Span<const int64_t> dims, int64_t i) const {
    int64_t per = 1;
    for (size_t k = shape_.size(); k < dims.size(); ++k) per *= dims[k];
    int64_t offset = 0, stride = 1;
    for (size_t k = shape_.size(); k-- > 0;) {
      const int64_t index = i % shape_[k];
      i /= shape_[k];
      if (dims[k] != 1) offset += index * stride;
      stride *= dims[k];
    }
    return offset * per;
  }

 private:
  std::vector<int64_t> shape_;
  int64_t size_ = 1;
};

// Checks that every (dims, rank) pair fits `batch`; an error naming the kernel otherwise.
inline ffi::Error CheckBatch(const Batch& batch, const char* kernel,
                             std::initializer_list<std::pair<ffi::Span<const int64_t>, size_t>> args) {
  for (const auto& [dims, rank] : args) {
    if (!batch.Fits(dims, rank)) {
      return ffi::Error::InvalidArgument(std::string(kernel) +
                                         ": arguments do not share the batch dimensions");
    }
  }
  return ffi::Error::Success();
}

// The buffers of a kernel over the neurons of one group: `rest` holds `R` state rows, each
// [n], then parameters, each [n] or [1] (with the batch dimensions); `rows` the `R` rows
// written (batch x n each). Fills `args` (the rows, then the parameters) and `out` (the
// written rows' data); an error naming `kernel` otherwise.
inline ffi::Error StateRows(const std::string& kernel, const Batch& batch, int64_t n, int R,
                            ffi::RemainingArgs& rest, ffi::RemainingRets& rows,
                            std::vector<ffi::Buffer<ffi::F32>>& args, std::vector<float*>& out) {
  const size_t b = batch.rank();
  for (size_t k = 0; k < rest.size(); ++k) {
    auto p = rest.get<ffi::Buffer<ffi::F32>>(k);
    if (p.has_error()) return p.error();
    auto pd = p->dimensions();
    const bool row = static_cast<int>(k) < R;
    if (!batch.Fits(pd, 1) || (pd[b] != n && (row || pd[b] != 1))) {
      return ffi::Error::InvalidArgument(
          kernel + ": " +
          (row ? "state row " + std::to_string(k) + " must be [n]"
               : "parameter " + std::to_string(k - R) + " must be [n] or [1]"));
    }
    args.push_back(*p);
  }
  for (int k = 0; k < R; ++k) {
    auto y = rows.get<ffi::Buffer<ffi::F32>>(k);
    if (y.has_error()) return y.error();
    if ((*y)->element_count() != batch.size() * n) {
      return ffi::Error::InvalidArgument(kernel + ": results of the wrong size");
    }
    out.push_back((*y)->typed_data());
  }
  return ffi::Error::Success();
}

}  // namespace snnjax_ffi
