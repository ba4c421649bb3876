// Native spike delivery of snnjax.sim, registered with XLA through JAX's FFI (each the
// bit-for-bit twin of a pure-JAX function, which stays the reference and the GPU path;
// tests/test_sim_native.py compares both):
// * snnjax_deliver: spike delivery of one block into the ring buffer, and the block's spike
//   list (snnjax.sim._delivery.deliver and spike_list). Multi-threaded by ring slot: each
//   thread owns a range of slots, reads only the synapses that land there (a contiguous
//   part of each row, rows being sorted by delay) and adds them in the canonical order
//   (step, source, CSR order), so every ring element's float32 sum is the serial one.
// * snnjax_take: a block's inputs out of both ring buffers, its slots cleared
//   (snnjax.sim._network.take_inputs).
// Compiled with -ffp-contract=off (setup.py): no multiply-add is fused.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "clones.h"
#include "csr_rows.h"
#include "ffi_common.h"

namespace ffi = xla::ffi;

namespace {

using snnjax_ffi::Batch;
using snnjax_ffi::CheckBatch;
using snnjax_ffi::ParallelFor;
using snnjax_ffi::Threads;
using snnjax_rows::OffsetCuts;
using snnjax_rows::Row;
using snnjax_rows::Spike;
using snnjax_rows::SpikeList;

// ---------------------------------------------------------------- delivery
constexpr int64_t kSynapsesPerThread = 8192;  // below this per thread, fewer threads

// One spike's CSR row [first, last) into the ring. A tile of synapses is decoded at a time
// (ring index and value: a branch-free loop the compiler vectorises), then added in CSR
// order. The slot needs no division: D >= the largest delay + m, so base + delay < 2 D.
// For rings of fewer than 2**31 elements.
SNNJAX_CLONES void DeliverRow(const Row& r, int64_t first, int64_t last, int32_t base,
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

template <typename Ptr>
int64_t DeliverTyped(ffi::ThreadPool& pool, int64_t threads, const std::vector<Spike>& list,
                     float* ring, int64_t D, int64_t n, const Ptr* ptr, const uint32_t* packed,
                     const float* weight, uint32_t shift, const int32_t* wide, int64_t t0) {
  int64_t n_syn = 0;
  for (const Spike& sp : list) n_syn += static_cast<int64_t>(ptr[sp.source + 1] - ptr[sp.source]);
  if (n_syn == 0 || n == 0) return n_syn;
  const Row r = Row::Of(ring, D, n, packed, weight, wide, shift);
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
      if (parts > 1 && !r.Clip(sp.step, o_lo, o_hi, first, last)) continue;
      if (small) {
        DeliverRow(r, first, last, static_cast<int32_t>(base + sp.step), sp.count);
      } else {
        DeliverRowWide(r, first, last, base + sp.step, sp.count);
      }
    }
  });
  return n_syn;
}

// One instance of snnjax_deliver (pointers at its data): the ring updated, its spike list
// written (capacity-bound like spike_list); returns the synapses expanded.
template <typename Ptr>
int64_t DeliverOne(ffi::ThreadPool& pool, int64_t threads, float* ring, int64_t D, int64_t n,
                   const Ptr* ptr, const uint32_t* packed, const float* weight, uint32_t shift,
                   const int32_t* wide, const float* spikes, int64_t m, int64_t n_src,
                   int64_t t0, int32_t* idx, float* cnt, int64_t cap, int32_t* n_spikes) {
  const std::vector<Spike> list = SpikeList(spikes, m, n_src);
  for (int64_t k = 0; k < cap; ++k) {
    const bool real = k < static_cast<int64_t>(list.size());
    idx[k] = real ? static_cast<int32_t>(list[k].step * n_src + list[k].source) : 0;
    cnt[k] = real ? list[k].count : 0.0f;
  }
  *n_spikes = static_cast<int32_t>(list.size());
  return DeliverTyped(pool, threads, list, ring, D, n, ptr, packed, weight, shift, wide, t0);
}

ffi::Error DeliverImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> ring_in, ffi::AnyBuffer ptr,
                       ffi::Buffer<ffi::S32> packed, ffi::Buffer<ffi::F32> weight,
                       ffi::Buffer<ffi::S32> shift, ffi::Buffer<ffi::S32> wide,
                       ffi::Buffer<ffi::F32> spikes, ffi::Buffer<ffi::S32> t0,
                       ffi::Result<ffi::Buffer<ffi::F32>> ring, ffi::Result<ffi::AnyBuffer> n_syn,
                       ffi::Result<ffi::Buffer<ffi::S32>> index,
                       ffi::Result<ffi::Buffer<ffi::F32>> count,
                       ffi::Result<ffi::Buffer<ffi::S32>> n_spikes, int64_t threads) {
  auto rd = ring->dimensions();
  const Batch batch(rd, 3);
  const size_t b = batch.rank();
  auto sd = spikes.dimensions();
  ffi::Error fits = CheckBatch(
      batch, "snnjax_deliver",
      {{rd, 3}, {ring_in.dimensions(), 3}, {ptr.dimensions(), 1}, {packed.dimensions(), 1},
       {weight.dimensions(), 1}, {shift.dimensions(), 1}, {wide.dimensions(), 1}, {sd, 2},
       {t0.dimensions(), 1}, {n_syn->dimensions(), 0}, {index->dimensions(), 1},
       {count->dimensions(), 1}, {n_spikes->dimensions(), 0}});
  if (fits.failure()) return fits;
  if (rd.size() != b + 3 || rd[b] != 2) {
    return ffi::Error::InvalidArgument("snnjax_deliver: ring must be [2, D, n], spikes [m, N]");
  }
  if (ptr.element_type() != ffi::S64 && ptr.element_type() != ffi::S32) {
    return ffi::Error::InvalidArgument("snnjax_deliver: ptr must be int32 or int64");
  }
  const int64_t D = rd[b + 1], n = rd[b + 2], m = sd[b], n_src = sd[b + 1];
  const int64_t cap = index->dimensions()[b], per_ring = 2 * D * n;
  const int64_t nt = Threads(pool, threads);
  // One instance: threads by ring slot; a batch: threads by instance.
  auto one = [&](int64_t i, int64_t instance_threads) {
    float* r = ring->typed_data() + i * per_ring;
    const float* r_in = ring_in.typed_data() + batch.Offset(ring_in.dimensions(), i);
    if (r_in != r) std::copy_n(r_in, per_ring, r);  // not aliased: copy the input
    const auto* pk = reinterpret_cast<const uint32_t*>(packed.typed_data()) +
                     batch.Offset(packed.dimensions(), i);
    const int32_t* wd =
        wide.dimensions()[b] ? wide.typed_data() + batch.Offset(wide.dimensions(), i) : nullptr;
    const float* w = weight.typed_data() + batch.Offset(weight.dimensions(), i);
    const uint32_t sh = static_cast<uint32_t>(shift.typed_data()[batch.Offset(shift.dimensions(), i)]);
    const float* sp = spikes.typed_data() + batch.Offset(sd, i);
    const int64_t t = t0.typed_data()[batch.Offset(t0.dimensions(), i)];
    int32_t* idx = index->typed_data() + i * cap;
    float* cnt = count->typed_data() + i * cap;
    int32_t* ns = n_spikes->typed_data() + i;
    const int64_t p = batch.Offset(ptr.dimensions(), i);
    const int64_t total =
        ptr.element_type() == ffi::S64
            ? DeliverOne(pool, instance_threads, r, D, n, ptr.typed_data<int64_t>() + p, pk, w, sh,
                         wd, sp, m, n_src, t, idx, cnt, cap, ns)
            : DeliverOne(pool, instance_threads, r, D, n, ptr.typed_data<int32_t>() + p, pk, w, sh,
                         wd, sp, m, n_src, t, idx, cnt, cap, ns);
    if (n_syn->element_type() == ffi::S64) {
      n_syn->typed_data<int64_t>()[i] = total;
    } else {
      n_syn->typed_data<int32_t>()[i] = static_cast<int32_t>(total);
    }
  };
  if (batch.size() == 1) {
    one(0, nt);
  } else {
    ParallelFor(pool, batch.size(), nt, [&](int64_t i) { one(i, 1); });
  }
  return ffi::Error::Success();
}

// ---------------------------------------------------------------- block inputs
// The inputs of a block's steps t0 + j (j < m), taken out of both rings, and the slots of
// its first `live` steps cleared, in place (snnjax.sim._network.take_inputs):
// in[0, j] = ring[0, s] + ext[0, x], in[1, j] = ring[1, s] + ext[1, x], in[2, j] = ext[2, x]
// with s = (t0 + j) % D, x = (t0 + j) % Dx; attribute ext = 0: no generator feeds the
// network, ext (all zero) is neither read nor cleared.
// Sums of two rows (restrict: a loop the compiler vectorises; it does not version a loop of
// many pointers for aliasing).
SNNJAX_CLONES void AddRows(const float* __restrict a, const float* __restrict b,
                           float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void TakeOne(float* r, float* x, float* out, int64_t D, int64_t Dx, int64_t n, int64_t m,
             int64_t t0, int64_t live, bool ext) {
  for (int64_t j = 0; j < m; ++j) {
    const int64_t s = (t0 + j) % D, q = (t0 + j) % Dx;
    float *r0 = r + s * n, *r1 = r + (D + s) * n;
    float *x0 = x + q * n, *x1 = x + (Dx + q) * n, *x2 = x + (2 * Dx + q) * n;
    if (ext) {
      AddRows(r0, x0, out + j * n, n);
      AddRows(r1, x1, out + (m + j) * n, n);
      std::copy_n(x2, n, out + (2 * m + j) * n);
    } else {  // no generators: ext stays zero
      std::copy_n(r0, n, out + j * n);
      std::copy_n(r1, n, out + (m + j) * n);
      std::fill_n(out + (2 * m + j) * n, n, 0.0f);
    }
    if (j < live) {
      for (float* row : {r0, r1}) std::fill_n(row, n, 0.0f);
      if (ext) {
        for (float* row : {x0, x1, x2}) std::fill_n(row, n, 0.0f);
      }
    }
  }
}

ffi::Error TakeImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> ring_in,
                    ffi::Buffer<ffi::F32> ext_in, ffi::Buffer<ffi::S32> t0_buf,
                    ffi::Buffer<ffi::S32> live_buf, ffi::Result<ffi::Buffer<ffi::F32>> ring,
                    ffi::Result<ffi::Buffer<ffi::F32>> ext,
                    ffi::Result<ffi::Buffer<ffi::F32>> inputs, int64_t use_ext) {
  auto rd = ring->dimensions(), xd = ext->dimensions(), id = inputs->dimensions();
  const Batch batch(rd, 3);
  const size_t b = batch.rank();
  ffi::Error fits = CheckBatch(batch, "snnjax_take",
                               {{rd, 3}, {ring_in.dimensions(), 3}, {ext_in.dimensions(), 3}, {xd, 3},
                                {id, 3}, {t0_buf.dimensions(), 1}, {live_buf.dimensions(), 1}});
  if (fits.failure()) return fits;
  if (rd[b] != 2 || xd[b] != 3 || id[b] != 3 || rd[b + 2] != xd[b + 2] || id[b + 2] != rd[b + 2]) {
    return ffi::Error::InvalidArgument("snnjax_take: ring [2, D, n], ext [3, Dx, n], in [3, m, n]");
  }
  const int64_t D = rd[b + 1], Dx = xd[b + 1], n = rd[b + 2], m = id[b + 1];
  auto one = [&](int64_t i) {
    float* r = ring->typed_data() + i * 2 * D * n;
    float* x = ext->typed_data() + i * 3 * Dx * n;
    const float* r_in = ring_in.typed_data() + batch.Offset(ring_in.dimensions(), i);
    const float* x_in = ext_in.typed_data() + batch.Offset(ext_in.dimensions(), i);
    if (r_in != r) std::copy_n(r_in, 2 * D * n, r);  // not aliased: copy the inputs
    if (x_in != x) std::copy_n(x_in, 3 * Dx * n, x);
    TakeOne(r, x, inputs->typed_data() + i * 3 * m * n, D, Dx, n, m,
            t0_buf.typed_data()[batch.Offset(t0_buf.dimensions(), i)],
            live_buf.typed_data()[batch.Offset(live_buf.dimensions(), i)], use_ext != 0);
  };
  // Threads by instance (by neurons, with the parts the block kernels step: slower for
  // Brette's COBA, one more hand-over per step).
  ParallelFor(pool, batch.size(), Threads(pool, 0), one);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxDeliver, DeliverImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()       // ring (aliased)
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
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ring (aliased)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ext (aliased)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // t0
                                  .Arg<ffi::Buffer<ffi::S32>>()  // live steps
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ring
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ext
                                  .Ret<ffi::Buffer<ffi::F32>>()  // inputs [3, m, n]
                                  .Attr<int64_t>("ext"));
