// Native CPU kernels of snnjax.sim, registered with XLA through JAX's FFI.
//
// Each kernel is the bit-for-bit twin of a pure-JAX function (named in its comment), which
// stays the reference and the path on GPU; tests/test_sim_native.py compares both.
//
// * snnjax_deliver: spike delivery of one block into the ring buffer, and the block's spike
//   list (snnjax.sim._delivery.deliver and spike_list). Multi-threaded by ring slot: each
//   thread owns a range of slots, reads only the synapses that land there (a contiguous
//   part of each row, rows being sorted by delay) and adds them in the canonical order
//   (step, source, CSR order), so every ring element's float32 sum is the serial one.
// * snnjax_take: a block's inputs out of both ring buffers, its slots cleared
//   (snnjax.sim._network.take_inputs).
// * snnjax_poisson: Poisson counts times weights per (step, connection)
//   (snnjax.sim._network._poisson): threefry-2x32 (20 rounds, as jax.random) keyed per
//   connection on (stream, step), inverted through the connection's CDF table.
//
// Built by the package's install (setup.py); compiled with -ffp-contract=off so that no
// multiply-add is fused (the JAX reference rounds the product before the sum).

#include <Python.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

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

int64_t Threads(ffi::ThreadPool& pool, int64_t requested) {
  const int64_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  const int64_t available = std::min(cores, pool.num_threads() + 1);  // pool + caller
  return requested > 0 ? std::min(requested, available) : available;
}

// ---------------------------------------------------------------- delivery
constexpr int64_t kSynapsesPerThread = 8192;  // below this per thread, fewer threads

struct Spike {
  int64_t step;
  int64_t source;
  float count;
};

// The block's spikes (nonzero counts) in step-major order: spike_list in _delivery.py.
std::vector<Spike> SpikeList(const float* spikes, int64_t m, int64_t n_src) {
  std::vector<Spike> list;
  for (int64_t j = 0; j < m; ++j) {
    const float* row = spikes + j * n_src;
    for (int64_t s = 0; s < n_src; ++s) {
      if (row[s] != 0.0f) list.push_back({j, s, row[s]});
    }
  }
  return list;
}

// One spike's CSR row [first, last) into the ring. A tile of synapses is decoded at a time
// (ring index and value: a branch-free loop the compiler vectorises), then added in CSR
// order. The slot needs no division: D >= the largest delay + m, so base + delay < 2 D.
// For rings of fewer than 2**31 elements; compiled for AVX2 and the baseline.
struct Row {
  float* ring;
  int64_t D, n;
  const uint32_t* packed;
  const float* weight;
  const int32_t* wide;  // nullptr: delays packed only
  uint32_t mask, shift, delay_mask;

  // The delay of synapse i (a row is sorted by delay, then target: build_csr's order).
  int64_t Delay(int64_t i) const {
    return static_cast<int64_t>((packed[i] >> shift) & delay_mask) + (wide ? wide[i] : 0);
  }
  // The first synapse of [first, last) with a delay >= d.
  int64_t LowerBound(int64_t first, int64_t last, int64_t d) const {
    while (first < last) {
      const int64_t mid = first + (last - first) / 2;
      if (Delay(mid) < d) {
        first = mid + 1;
      } else {
        last = mid;
      }
    }
    return first;
  }
};

__attribute__((target_clones("avx2", "default"))) void DeliverRow(const Row& r, int64_t first,
                                                                   int64_t last, int32_t base,
                                                                   float count) {
  constexpr int64_t kTile = 256;
  uint32_t index[kTile];
  float value[kTile];
  const int32_t D = static_cast<int32_t>(r.D), n = static_cast<int32_t>(r.n);
  for (int64_t i0 = first; i0 < last; i0 += kTile) {
    const int64_t len = std::min(kTile, last - i0);
    for (int64_t k = 0; k < len; ++k) {
      const uint32_t p = r.packed[i0 + k];
      int32_t delay = static_cast<int32_t>((p >> r.shift) & r.delay_mask);
      if (r.wide != nullptr) delay += r.wide[i0 + k];
      const float v = r.weight[i0 + k] * count;
      int32_t slot = base + delay;
      slot -= slot >= D ? D : 0;
      index[k] = static_cast<uint32_t>(((v < 0.0f ? D : 0) + slot) * n) + (p & r.mask);
      value[k] = v;
    }
    for (int64_t k = 0; k < len; ++k) r.ring[index[k]] += value[k];
  }
}

// The same for rings of 2**31 elements or more (64-bit indices, no tiles).
void DeliverRowWide(const Row& r, int64_t first, int64_t last, int64_t base, float count) {
  for (int64_t i = first; i < last; ++i) {
    const float value = r.weight[i] * count;
    const int64_t slot = (base + r.Delay(i)) % r.D;
    r.ring[((value < 0.0f ? r.D : 0) + slot) * r.n + (r.packed[i] & r.mask)] += value;
  }
}

// Offset ranges [cut[p], cut[p + 1]) of (step + delay), one per thread, of about equal work.
// A ring slot is base + step + delay (mod D, with D >= m + the largest delay: one slot per
// offset), so a thread that owns a range of offsets owns those slots of the ring: it adds
// every synapse that lands there, in the canonical order (spike list, then CSR order), and
// the synapses it reads are a contiguous part of each row (rows are sorted by delay). The
// work per offset is estimated with each row's synapses spread evenly over its delays.
template <typename Ptr>
std::vector<int64_t> OffsetCuts(const Row& r, const std::vector<Spike>& list, const Ptr* ptr,
                                int64_t parts, int64_t n_syn) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  for (const Spike& sp : list) {
    const int64_t first = ptr[sp.source], last = ptr[sp.source + 1];
    if (first == last) continue;
    lo = std::min(lo, sp.step + r.Delay(first));
    hi = std::max(hi, sp.step + r.Delay(last - 1) + 1);
  }
  std::vector<double> diff(static_cast<size_t>(hi - lo + 1), 0.0);
  for (const Spike& sp : list) {
    const int64_t first = ptr[sp.source], last = ptr[sp.source + 1];
    if (first == last) continue;
    const int64_t a = sp.step + r.Delay(first) - lo, b = sp.step + r.Delay(last - 1) + 1 - lo;
    const double rate = static_cast<double>(last - first) / static_cast<double>(b - a);
    diff[a] += rate;
    diff[b] -= rate;
  }
  std::vector<int64_t> cut(parts + 1, hi);
  cut[0] = lo;
  double rate = 0.0, done = 0.0;
  int64_t p = 1;
  for (int64_t o = 0; o < hi - lo && p < parts; ++o) {
    rate += diff[o];
    done += rate;
    while (p < parts && done >= static_cast<double>(n_syn) * p / parts) cut[p++] = lo + o + 1;
  }
  return cut;
}

template <typename Ptr>
int64_t DeliverTyped(ffi::ThreadPool& pool, int64_t threads, const std::vector<Spike>& list,
                     float* ring, int64_t D, int64_t n, const Ptr* ptr, const uint32_t* packed,
                     const float* weight, uint32_t shift, const int32_t* wide, int64_t t0) {
  int64_t n_syn = 0;
  for (const Spike& sp : list) n_syn += static_cast<int64_t>(ptr[sp.source + 1] - ptr[sp.source]);
  if (n_syn == 0 || n == 0) return n_syn;
  const Row r{ring,
              D,
              n,
              packed,
              weight,
              wide,
              shift >= 32 ? ~0u : ((1u << shift) - 1u),
              shift >= 32 ? 0u : shift,
              shift >= 32 ? 0u : ~0u};
  const int64_t base = t0 % D;
  const bool small = 2 * D * n < (int64_t{1} << 31) && D < (int64_t{1} << 30);
  // Threads where the block has enough synapses to pay for them.
  const int64_t parts = std::min(threads, std::max<int64_t>(1, n_syn / kSynapsesPerThread));
  const std::vector<int64_t> cut = parts > 1 ? OffsetCuts(r, list, ptr, parts, n_syn)
                                             : std::vector<int64_t>{INT64_MIN, INT64_MAX};
  ParallelFor(pool, parts, threads, [&](int64_t part) {
    const int64_t o_lo = cut[part], o_hi = cut[part + 1];
    if (o_lo >= o_hi) return;
    for (const Spike& sp : list) {
      int64_t first = ptr[sp.source], last = ptr[sp.source + 1];
      if (first == last) continue;
      if (parts > 1) {  // this thread's delays: [o_lo - step, o_hi - step)
        const int64_t d_first = r.Delay(first), d_last = r.Delay(last - 1);
        if (d_last < o_lo - sp.step || d_first >= o_hi - sp.step) continue;
        if (d_first < o_lo - sp.step) first = r.LowerBound(first, last, o_lo - sp.step);
        if (d_last >= o_hi - sp.step) last = r.LowerBound(first, last, o_hi - sp.step);
      }
      if (small) {
        DeliverRow(r, first, last, static_cast<int32_t>(base + sp.step), sp.count);
      } else {
        DeliverRowWide(r, first, last, base + sp.step, sp.count);
      }
    }
  });
  return n_syn;
}

ffi::Error DeliverImpl(ffi::ThreadPool pool, ffi::AnyBuffer ring_in, ffi::AnyBuffer ptr,
                       ffi::Buffer<ffi::S32> packed, ffi::Buffer<ffi::F32> weight,
                       ffi::Buffer<ffi::S32> shift, ffi::Buffer<ffi::S32> wide,
                       ffi::Buffer<ffi::F32> spikes, ffi::Buffer<ffi::S32> t0,
                       ffi::Result<ffi::Buffer<ffi::F32>> ring, ffi::Result<ffi::AnyBuffer> n_syn,
                       ffi::Result<ffi::Buffer<ffi::S32>> index,
                       ffi::Result<ffi::Buffer<ffi::F32>> count,
                       ffi::Result<ffi::Buffer<ffi::S32>> n_spikes, int64_t threads) {
  auto rd = ring->dimensions();
  auto sd = spikes.dimensions();
  if (rd.size() != 3 || rd[0] != 2 || sd.size() != 2) {
    return ffi::Error::InvalidArgument("snnjax_deliver: ring must be [2, D, n], spikes [m, N]");
  }
  if (ring_in.untyped_data() != ring->untyped_data()) {  // not aliased: copy the input
    std::copy_n(static_cast<const float*>(ring_in.untyped_data()), ring->element_count(),
                ring->typed_data());
  }
  const int64_t D = rd[1], n = rd[2], m = sd[0], n_src = sd[1];
  const std::vector<Spike> list = SpikeList(spikes.typed_data(), m, n_src);
  // The spike list for the caller (recording, plasticity), capacity-bound like spike_list.
  const int64_t cap = static_cast<int64_t>(index->element_count());
  int32_t* idx = index->typed_data();
  float* cnt = count->typed_data();
  for (int64_t k = 0; k < cap; ++k) {
    const bool real = k < static_cast<int64_t>(list.size());
    idx[k] = real ? static_cast<int32_t>(list[k].step * n_src + list[k].source) : 0;
    cnt[k] = real ? list[k].count : 0.0f;
  }
  n_spikes->typed_data()[0] = static_cast<int32_t>(list.size());
  const auto* pk = reinterpret_cast<const uint32_t*>(packed.typed_data());
  const int32_t* wd = wide.element_count() ? wide.typed_data() : nullptr;
  const uint32_t sh = static_cast<uint32_t>(shift.typed_data()[0]);
  const int64_t nt = Threads(pool, threads);
  int64_t total;
  if (ptr.element_type() == ffi::S64) {
    total = DeliverTyped(pool, nt, list, ring->typed_data(), D, n, ptr.typed_data<int64_t>(), pk,
                         weight.typed_data(), sh, wd, t0.typed_data()[0]);
  } else if (ptr.element_type() == ffi::S32) {
    total = DeliverTyped(pool, nt, list, ring->typed_data(), D, n, ptr.typed_data<int32_t>(), pk,
                         weight.typed_data(), sh, wd, t0.typed_data()[0]);
  } else {
    return ffi::Error::InvalidArgument("snnjax_deliver: ptr must be int32 or int64");
  }
  if (n_syn->element_type() == ffi::S64) {
    n_syn->typed_data<int64_t>()[0] = total;
  } else {
    n_syn->typed_data<int32_t>()[0] = static_cast<int32_t>(total);
  }
  return ffi::Error::Success();
}

// ---------------------------------------------------------------- block inputs
// The inputs of a block's steps t0 + j (j < m), taken out of both rings, and the slots of
// its first `live` steps cleared, in place (snnjax.sim._network.take_inputs):
// in[0, j] = ring[0, s] + ext[0, x], in[1, j] = ring[1, s] + ext[1, x], in[2, j] = ext[2, x]
// with s = (t0 + j) % D, x = (t0 + j) % Dx.
ffi::Error TakeImpl(ffi::Buffer<ffi::F32> ring_in, ffi::Buffer<ffi::F32> ext_in,
                    ffi::Buffer<ffi::S32> t0_buf, ffi::Buffer<ffi::S32> live_buf,
                    ffi::Result<ffi::Buffer<ffi::F32>> ring, ffi::Result<ffi::Buffer<ffi::F32>> ext,
                    ffi::Result<ffi::Buffer<ffi::F32>> inputs) {
  auto rd = ring->dimensions(), xd = ext->dimensions(), id = inputs->dimensions();
  if (rd.size() != 3 || rd[0] != 2 || xd.size() != 3 || xd[0] != 3 || id.size() != 3 ||
      id[0] != 3 || rd[2] != xd[2] || id[2] != rd[2]) {
    return ffi::Error::InvalidArgument("snnjax_take: ring [2, D, n], ext [3, Dx, n], in [3, m, n]");
  }
  float* r = ring->typed_data();
  float* x = ext->typed_data();
  if (ring_in.typed_data() != r) std::copy_n(ring_in.typed_data(), ring->element_count(), r);
  if (ext_in.typed_data() != x) std::copy_n(ext_in.typed_data(), ext->element_count(), x);
  const int64_t D = rd[1], Dx = xd[1], n = rd[2], m = id[1];
  const int64_t t0 = t0_buf.typed_data()[0], live = live_buf.typed_data()[0];
  float* out = inputs->typed_data();
  for (int64_t j = 0; j < m; ++j) {
    const int64_t s = (t0 + j) % D, q = (t0 + j) % Dx;
    float *r0 = r + s * n, *r1 = r + (D + s) * n;
    float *x0 = x + q * n, *x1 = x + (Dx + q) * n, *x2 = x + (2 * Dx + q) * n;
    float *o0 = out + j * n, *o1 = out + (m + j) * n, *o2 = out + (2 * m + j) * n;
    for (int64_t i = 0; i < n; ++i) {
      o0[i] = r0[i] + x0[i];
      o1[i] = r1[i] + x1[i];
      o2[i] = x2[i];
    }
    if (j < live) {
      for (float* row : {r0, r1, x0, x1, x2}) std::fill_n(row, n, 0.0f);
    }
  }
  return ffi::Error::Success();
}

// ---------------------------------------------------------------- Poisson input
inline uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

// Threefry-2x32 with 20 rounds (Salmon et al. 2011), as jax.random's threefry2x32_p; the
// first output word. Constant rotations, no branches: the caller's loop vectorises.
#define SNNJAX_ROUND(r) \
  x0 += x1;             \
  x1 = Rotl(x1, r) ^ x0;
#define SNNJAX_ROUNDS_A SNNJAX_ROUND(13) SNNJAX_ROUND(15) SNNJAX_ROUND(26) SNNJAX_ROUND(6)
#define SNNJAX_ROUNDS_B SNNJAX_ROUND(17) SNNJAX_ROUND(29) SNNJAX_ROUND(16) SNNJAX_ROUND(24)

inline uint32_t Threefry(uint32_t k0, uint32_t k1, uint32_t x0, uint32_t x1) {
  const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  x0 += k0;
  x1 += k1;
  SNNJAX_ROUNDS_A
  x0 += k1;
  x1 += k2 + 1u;
  SNNJAX_ROUNDS_B
  x0 += k2;
  x1 += k0 + 2u;
  SNNJAX_ROUNDS_A
  x0 += k0;
  x1 += k1 + 3u;
  SNNJAX_ROUNDS_B
  x0 += k1;
  x1 += k2 + 4u;
  SNNJAX_ROUNDS_A
  x0 += k2;
  return x0;  // (x1 += k0 + 5 would finish the second word)
}

#undef SNNJAX_ROUNDS_B
#undef SNNJAX_ROUNDS_A
#undef SNNJAX_ROUND

// #(cdf[0 .. size) <= x) for an ascending cdf: searchsorted(side="right"), branch-free (the
// loop runs ceil(log2(size)) times whatever x is, so consecutive searches overlap).
inline int32_t CountAtMost(const uint32_t* cdf, int32_t size, uint32_t x) {
  if (size <= 0) return 0;
  const uint32_t* base = cdf;
  int32_t n = size;
  while (n > 1) {
    const int32_t half = n / 2;
    base += static_cast<int32_t>(base[half] <= x) * half;  // no branch
    n -= half;
  }
  return static_cast<int32_t>(base - cdf) + static_cast<int32_t>(*base <= x);
}

struct PoissonArgs {
  uint32_t k0, k1;
  const uint32_t* counter;
  const float* weight;
  const int32_t* row;
  const uint32_t* table;  // [R, K]
  int64_t R, K;
  const int32_t *size, *lo, *hi;
  int32_t t0;
  int64_t steps, c;
  float* out;  // [steps, c]
};

// Connections [a, b) of every step, a tile at a time: the random words first (a branch-free
// loop the compiler vectorises), then the counts: with one small table for all connections
// (one generator), by comparing each tile against each threshold in turn (vectorised);
// otherwise by a branch-free binary search per connection. Compiled for AVX2 and for the
// baseline, picked at load time.
__attribute__((target_clones("avx2", "default"))) void PoissonRange(const PoissonArgs& p,
                                                                     int64_t a, int64_t b) {
  constexpr int64_t kTile = 256;
  uint32_t bits[kTile];
  int32_t count[kTile];
  for (int64_t j = 0; j < p.steps; ++j) {
    const int32_t t = p.t0 + static_cast<int32_t>(j);
    float* o = p.out + j * p.c;
    for (int64_t i0 = a; i0 < b; i0 += kTile) {
      const int64_t len = std::min(kTile, b - i0);
      for (int64_t k = 0; k < len; ++k) {
        bits[k] = Threefry(p.k0, p.k1, p.counter[i0 + k], static_cast<uint32_t>(t));
      }
      if (p.R == 1 && p.size[0] <= 64) {
        const bool active = t >= p.lo[0] && t < p.hi[0];
        const int32_t size = active ? p.size[0] : 0;
        std::fill_n(count, len, 0);
        for (int32_t q = 0; q < size; ++q) {
          const uint32_t threshold = p.table[q];
          for (int64_t k = 0; k < len; ++k) count[k] += static_cast<int32_t>(threshold <= bits[k]);
        }
      } else {
        for (int64_t k = 0; k < len; ++k) {
          const int32_t r = p.row[i0 + k];
          const bool active = t >= p.lo[r] && t < p.hi[r];
          count[k] = active ? CountAtMost(p.table + r * p.K, p.size[r], bits[k]) : 0;
        }
      }
      for (int64_t k = 0; k < len; ++k) o[i0 + k] = static_cast<float>(count[k]) * p.weight[i0 + k];
    }
  }
}

ffi::Error PoissonImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::U32> key,
                       ffi::Buffer<ffi::U32> counter, ffi::Buffer<ffi::F32> weight,
                       ffi::Buffer<ffi::S32> row, ffi::Buffer<ffi::U32> table,
                       ffi::Buffer<ffi::S32> size, ffi::Buffer<ffi::S32> lo,
                       ffi::Buffer<ffi::S32> hi, ffi::Buffer<ffi::S32> t0,
                       ffi::Result<ffi::Buffer<ffi::F32>> out, int64_t threads) {
  auto od = out->dimensions();
  auto td = table.dimensions();
  if (od.size() != 2 || td.size() != 2) {
    return ffi::Error::InvalidArgument("snnjax_poisson: out must be [steps, c], table [R, K]");
  }
  const PoissonArgs p{key.typed_data()[0], key.typed_data()[1], counter.typed_data(),
                      weight.typed_data(), row.typed_data(), table.typed_data(), td[0], td[1],
                      size.typed_data(), lo.typed_data(), hi.typed_data(), t0.typed_data()[0],
                      od[0], od[1], out->typed_data()};
  const int64_t nt = Threads(pool, threads);
  // Several parts per thread (a pool thread that starts late still takes its share), where
  // the work pays for them.
  const bool split = nt > 1 && p.c * p.steps >= 16384;
  const int64_t parts = split ? std::min<int64_t>(4 * nt, std::max<int64_t>(1, p.c / 512)) : 1;
  ParallelFor(pool, parts, nt, [&](int64_t part) {
    PoissonRange(p, p.c * part / parts, p.c * (part + 1) / parts);
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxDeliver, DeliverImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::AnyBuffer>()              // ring (aliased)
                                  .Arg<ffi::AnyBuffer>()              // ptr
                                  .Arg<ffi::Buffer<ffi::S32>>()       // packed
                                  .Arg<ffi::Buffer<ffi::F32>>()       // weight
                                  .Arg<ffi::Buffer<ffi::S32>>()       // shift
                                  .Arg<ffi::Buffer<ffi::S32>>()       // wide delays
                                  .Arg<ffi::Buffer<ffi::F32>>()       // spikes
                                  .Arg<ffi::Buffer<ffi::S32>>()       // t0
                                  .Ret<ffi::Buffer<ffi::F32>>()       // ring
                                  .Ret<ffi::AnyBuffer>()              // synapses expanded
                                  .Ret<ffi::Buffer<ffi::S32>>()       // spike list: index
                                  .Ret<ffi::Buffer<ffi::F32>>()       // spike list: count
                                  .Ret<ffi::Buffer<ffi::S32>>()       // spikes in the block
                                  .Attr<int64_t>("threads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxTake, TakeImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ring (aliased)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ext (aliased)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // t0
                                  .Arg<ffi::Buffer<ffi::S32>>()  // live steps
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ring
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ext
                                  .Ret<ffi::Buffer<ffi::F32>>());  // inputs [3, m, n]

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxPoisson, PoissonImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::U32>>()  // key
                                  .Arg<ffi::Buffer<ffi::U32>>()  // counter
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weight
                                  .Arg<ffi::Buffer<ffi::S32>>()  // row
                                  .Arg<ffi::Buffer<ffi::U32>>()  // table
                                  .Arg<ffi::Buffer<ffi::S32>>()  // size
                                  .Arg<ffi::Buffer<ffi::S32>>()  // lo
                                  .Arg<ffi::Buffer<ffi::S32>>()  // hi
                                  .Arg<ffi::Buffer<ffi::S32>>()  // t0
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("threads"));

// ---------------------------------------------------------------- Python module
PyObject* CsrBucket(PyObject*, PyObject* args);    // csr_build.cc
PyObject* CsrPlace(PyObject*, PyObject* args);     // csr_build.cc
PyObject* CsrSortRows(PyObject*, PyObject* args);  // csr_build.cc
PyObject* UniformIndexPy(PyObject*, PyObject* args);      // csr_build.cc
PyObject* UniformIndexRunsPy(PyObject*, PyObject* args);  // csr_build.cc

namespace {

PyObject* Handlers(PyObject*, PyObject*) {
  PyObject* out = PyDict_New();
  const std::pair<const char*, void*> handlers[] = {
      {"snnjax_deliver", reinterpret_cast<void*>(SnnjaxDeliver)},
      {"snnjax_poisson", reinterpret_cast<void*>(SnnjaxPoisson)},
      {"snnjax_take", reinterpret_cast<void*>(SnnjaxTake)},
  };
  for (const auto& [name, fn] : handlers) {
    PyObject* capsule = PyCapsule_New(fn, nullptr, nullptr);
    if (capsule == nullptr || PyDict_SetItemString(out, name, capsule) != 0) {
      Py_XDECREF(capsule);
      Py_DECREF(out);
      return nullptr;
    }
    Py_DECREF(capsule);
  }
  return out;
}

PyMethodDef kMethods[] = {
    {"handlers", Handlers, METH_NOARGS, "FFI handler capsules by target name."},
    {"csr_bucket", CsrBucket, METH_VARARGS,
     "Stable bucketing of packed synapse keys by source, rows sorted (csr_build.cc)."},
    {"csr_place", CsrPlace, METH_VARARGS,
     "One part of a CSR with known row lengths placed into its rows (csr_build.cc)."},
    {"csr_sort_rows", CsrSortRows, METH_VARARGS,
     "Each CSR row sorted stably by its low bits (csr_build.cc)."},
    {"uniform_index", UniformIndexPy, METH_VARARGS,
     "Keyed uniform source indices, as _connect._uniform_index (csr_build.cc)."},
    {"uniform_index_runs", UniformIndexRunsPy, METH_VARARGS,
     "uniform_index for synapses given as runs per owner (csr_build.cc)."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_sim_kernels",
                       "Native CPU kernels of snnjax.sim (XLA FFI handlers).", -1, kMethods};

}  // namespace

PyMODINIT_FUNC PyInit__sim_kernels() { return PyModule_Create(&kModule); }
