// Native CPU kernels of snnjax.sim, registered with XLA through JAX's FFI, and the Python
// module that exposes them (_sim_kernels).
//
// Each kernel is the bit-for-bit twin of a pure-JAX function (named in its comment), which
// stays the reference and the path on GPU; tests/test_sim_native.py compares both.
//
// * snnjax_poisson (here): Poisson counts times weights per (step, connection)
//   (snnjax.sim._network._poisson): threefry-2x32 (20 rounds, as jax.random) keyed per
//   connection on (stream, step), inverted through the connection's CDF table.
// * snnjax_emit (here): the generators' output of a block added into their ring buffer
//   (snnjax.sim._network._emit's scatter-add).
// * snnjax_deliver, snnjax_take: deliver.cc; snnjax_deliver_plastic: plastic.cc;
//   snnjax_rkf45: neuron_ode.cc (those two not bit for bit their twins);
//   snnjax_exact_block: neuron_exact.cc. Build-time functions (not FFI): csr_build.cc,
//   source_draws.cc.
//
// Built by the package's install (setup.py); compiled with -ffp-contract=off so that no
// multiply-add is fused (the JAX reference rounds the product before the sum).

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "clones.h"
#include "ffi_common.h"
#include "threefry.h"

namespace ffi = xla::ffi;

XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxDeliver);  // deliver.cc
XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxTake);     // deliver.cc
XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxDeliverPlastic);  // plastic.cc
XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxRkf45);  // neuron_ode.cc
XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxOdeBlock);  // neuron_ode.cc
XLA_FFI_DECLARE_HANDLER_SYMBOL(SnnjaxExactBlock);  // neuron_exact.cc

namespace {

using snnjax_ffi::Batch;
using snnjax_ffi::CheckBatch;
using snnjax_ffi::ParallelFor;
using snnjax_ffi::Threads;

// ---------------------------------------------------------------- Poisson input

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

struct PoissonArgs {  // one instance
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

// The random words of connections [a, b) at every step into words[step * c + connection]
// (a branch-free loop the compiler vectorises).
SNNJAX_CLONES void PoissonWords(const PoissonArgs& p, int64_t a, int64_t b, uint32_t* words) {
  for (int64_t j = 0; j < p.steps; ++j) {
    const uint32_t t = static_cast<uint32_t>(p.t0 + static_cast<int32_t>(j));
    for (int64_t i = a; i < b; ++i) {
      uint32_t x0 = p.counter[i], x1 = t;
      snnjax::Threefry2x32(p.k0, p.k1, x0, x1);
      words[j * p.c + i] = x0;
    }
  }
}

// Connections [a, b) of every step, a tile at a time: the random words first (drawn, or
// read from `words` where instances share them: PoissonWords), then the counts: with one
// small table for all connections (one generator), by comparing each tile against each
// threshold in turn (vectorised); otherwise by a branch-free binary search per connection.
SNNJAX_CLONES void PoissonRange(const PoissonArgs& p, int64_t a, int64_t b,
                                const uint32_t* words) {
  constexpr int64_t kTile = 256;
  uint32_t drawn[kTile];
  int32_t count[kTile];
  for (int64_t j = 0; j < p.steps; ++j) {
    const int32_t t = p.t0 + static_cast<int32_t>(j);
    for (int64_t i0 = a; i0 < b; i0 += kTile) {
      const int64_t len = std::min(kTile, b - i0);
      const uint32_t* bits = drawn;
      if (words != nullptr) {
        bits = words + j * p.c + i0;
      } else {
        for (int64_t k = 0; k < len; ++k) {
          uint32_t x0 = p.counter[i0 + k], x1 = static_cast<uint32_t>(t);
          snnjax::Threefry2x32(p.k0, p.k1, x0, x1);
          drawn[k] = x0;
        }
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
      float* o = p.out + j * p.c;
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
  const Batch batch(od, 2);
  const size_t b = batch.rank();
  auto td = table.dimensions();
  ffi::Error fits = CheckBatch(
      batch, "snnjax_poisson",
      {{od, 2}, {key.dimensions(), 1}, {counter.dimensions(), 1}, {weight.dimensions(), 1},
       {row.dimensions(), 1}, {td, 2}, {size.dimensions(), 1}, {lo.dimensions(), 1},
       {hi.dimensions(), 1}, {t0.dimensions(), 1}});
  if (fits.failure()) return fits;
  std::vector<PoissonArgs> ps;
  for (int64_t i = 0; i < batch.size(); ++i) {
    const uint32_t* k = key.typed_data() + batch.Offset(key.dimensions(), i);
    ps.push_back({k[0], k[1], counter.typed_data() + batch.Offset(counter.dimensions(), i),
                  weight.typed_data() + batch.Offset(weight.dimensions(), i),
                  row.typed_data() + batch.Offset(row.dimensions(), i),
                  table.typed_data() + batch.Offset(td, i), td[b], td[b + 1],
                  size.typed_data() + batch.Offset(size.dimensions(), i),
                  lo.typed_data() + batch.Offset(lo.dimensions(), i),
                  hi.typed_data() + batch.Offset(hi.dimensions(), i),
                  t0.typed_data()[batch.Offset(t0.dimensions(), i)], od[b], od[b + 1],
                  out->typed_data() + i * od[b] * od[b + 1]});
  }
  const int64_t B = batch.size(), nt = Threads(pool, threads);
  const int64_t c = od[b + 1], steps = od[b];
  // Connections in several parts per thread (a pool thread that starts late still takes its
  // share), where the work pays for them.
  const int64_t split = nt > 1 && c * steps >= 16384
                            ? std::min<int64_t>(4 * nt, std::max<int64_t>(1, c / 512))
                            : 1;
  // Instances that share key, counter and t0 (not batched) share the random words: drawn
  // once, then each instance's counts (threads by instance).
  if (B > 1 && batch.Shared(key.dimensions()) && batch.Shared(counter.dimensions()) &&
      batch.Shared(t0.dimensions())) {
    std::vector<uint32_t> words(static_cast<size_t>(steps * c));
    ParallelFor(pool, split, nt, [&](int64_t q) {
      PoissonWords(ps[0], c * q / split, c * (q + 1) / split, words.data());
    });
    ParallelFor(pool, B, nt, [&](int64_t i) { PoissonRange(ps[i], 0, c, words.data()); });
  } else {
    ParallelFor(pool, B * split, nt, [&](int64_t part) {
      const int64_t i = part / split, q = part % split;
      PoissonRange(ps[i], c * q / split, c * (q + 1) / split, nullptr);
    });
  }
  return ffi::Error::Success();
}

// ---------------------------------------------------------------- generator output
// EmitOne's common case, the same sums in the same order: every column lands in the same
// slot (delays equal mod Dx) and the same channel (or all by sign), its targets contiguous
// (target[c] = target[0] + c): then each step adds one row, vectorised (by sign: both
// channel rows read, each value added to one of them). False (nothing done) otherwise.
SNNJAX_CLONES bool EmitRows(float* ext, int64_t Dx, int64_t n, const float* value,
                            int64_t steps, int64_t C, int32_t dmod, const int32_t* target,
                            int32_t channel, int32_t t0) {
  const int32_t first = target[0];
  for (int64_t c = 1; c < C; ++c) {
    if (target[c] != first + c) return false;
  }
  for (int64_t j = 0; j < steps; ++j) {
    int64_t slot = (int64_t{t0} + j) % Dx + dmod;
    slot -= slot >= Dx ? Dx : 0;
    const float* __restrict v = value + j * C;
    if (channel >= 0) {
      float* __restrict row = ext + (channel * Dx + slot) * n + first;
      for (int64_t c = 0; c < C; ++c) row[c] += v[c];
    } else {
      float* __restrict ex = ext + slot * n + first;
      float* __restrict in = ext + (Dx + slot) * n + first;
      for (int64_t c = 0; c < C; ++c) {
        const bool neg = v[c] < 0.0f;
        const float e = ex[c], i = in[c];
        ex[c] = neg ? e : e + v[c];
        in[c] = neg ? i + v[c] : i;
      }
    }
  }
  return true;
}

// What the generators emit in a block's first `live` steps added into the ring `ext`
// [3, Dx, n] (snnjax.sim._network._emit's scatter-add, in its order: step, then column):
// value[j, c] lands in channel[c] (-1: 0 or 1 by the value's sign, 2: current), slot
// (t0 + j + delay[c]) mod Dx (int32 arithmetic, as in JAX), neuron target[c].
void EmitOne(float* ext, int64_t Dx, int64_t n, const float* value, int64_t steps, int64_t C,
             const int32_t* delay, const int32_t* target, const int32_t* channel, int32_t t0,
             int64_t live) {
  if (C == 0) return;
  int32_t max_delay = 0;
  for (int64_t c = 0; c < C; ++c) max_delay = std::max(max_delay, delay[c]);
  // Without int32 overflow (and delays >= 0), slot = ((t0 + j) mod Dx + delay mod Dx) mod Dx:
  // one remainder per step and per column instead of one per value.
  const bool plain = *std::min_element(delay, delay + C) >= 0 &&
                     int64_t{t0} + steps + max_delay <= INT32_MAX && t0 >= 0;
  std::vector<int32_t> dmod(plain ? C : 0);
  for (int64_t c = 0; c < static_cast<int64_t>(dmod.size()); ++c) dmod[c] = delay[c] % Dx;
  if (plain && std::all_of(dmod.begin(), dmod.end(), [&](int32_t d) { return d == dmod[0]; }) &&
      std::all_of(channel, channel + C, [&](int32_t ch) { return ch == channel[0]; }) &&
      EmitRows(ext, Dx, n, value, std::min(steps, live), C, dmod[0], target, channel[0], t0)) {
    return;
  }
  for (int64_t j = 0; j < std::min(steps, live); ++j) {
    const float* v = value + j * C;
    const uint32_t t = static_cast<uint32_t>(t0) + static_cast<uint32_t>(j);
    const int64_t base = plain ? (int64_t{t0} + j) % Dx : 0;
    for (int64_t c = 0; c < C; ++c) {
      int64_t slot;
      if (plain) {
        slot = base + dmod[c];
        slot -= slot >= Dx ? Dx : 0;
      } else {
        const int64_t x = static_cast<int32_t>(t + static_cast<uint32_t>(delay[c]));  // wraps
        slot = ((x % Dx) + Dx) % Dx;
      }
      const int64_t ch = channel[c] >= 0 ? channel[c] : (v[c] < 0.0f ? 1 : 0);
      ext[(ch * Dx + slot) * n + target[c]] += v[c];
    }
  }
}

ffi::Error EmitImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> ext_in,
                    ffi::Buffer<ffi::F32> value, ffi::Buffer<ffi::S32> delay,
                    ffi::Buffer<ffi::S32> target, ffi::Buffer<ffi::S32> channel,
                    ffi::Buffer<ffi::S32> t0, ffi::Buffer<ffi::S32> live,
                    ffi::Result<ffi::Buffer<ffi::F32>> ext, int64_t threads) {
  auto xd = ext->dimensions(), vd = value.dimensions();
  const Batch batch(xd, 3);
  const size_t b = batch.rank();
  ffi::Error fits = CheckBatch(
      batch, "snnjax_emit",
      {{xd, 3}, {ext_in.dimensions(), 3}, {vd, 2}, {delay.dimensions(), 1},
       {target.dimensions(), 1}, {channel.dimensions(), 1}, {t0.dimensions(), 1},
       {live.dimensions(), 1}});
  if (fits.failure()) return fits;
  if (xd[b] != 3) return ffi::Error::InvalidArgument("snnjax_emit: ext must be [3, Dx, n]");
  const int64_t Dx = xd[b + 1], n = xd[b + 2], steps = vd[b], C = vd[b + 1];
  const int64_t per = 3 * Dx * n;
  auto one = [&](int64_t i) {
    float* x = ext->typed_data() + i * per;
    const float* x_in = ext_in.typed_data() + batch.Offset(ext_in.dimensions(), i);
    if (x_in != x) std::copy_n(x_in, per, x);  // not aliased: copy the input
    EmitOne(x, Dx, n, value.typed_data() + batch.Offset(vd, i), steps, C,
            delay.typed_data() + batch.Offset(delay.dimensions(), i),
            target.typed_data() + batch.Offset(target.dimensions(), i),
            channel.typed_data() + batch.Offset(channel.dimensions(), i),
            t0.typed_data()[batch.Offset(t0.dimensions(), i)],
            live.typed_data()[batch.Offset(live.dimensions(), i)]);
  };
  ParallelFor(pool, batch.size(), Threads(pool, threads), one);
  return ffi::Error::Success();
}

}  // namespace

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

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxEmit, EmitImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ext (aliased)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // value [steps, C]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // delay
                                  .Arg<ffi::Buffer<ffi::S32>>()  // target
                                  .Arg<ffi::Buffer<ffi::S32>>()  // channel (-1: by sign)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // t0
                                  .Arg<ffi::Buffer<ffi::S32>>()  // live steps
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ext
                                  .Attr<int64_t>("threads"));

// ---------------------------------------------------------------- Python module
PyObject* CsrBucket(PyObject*, PyObject* args);    // csr_build.cc
PyObject* CsrPlace(PyObject*, PyObject* args);     // csr_build.cc
PyObject* CsrSortRows(PyObject*, PyObject* args);  // csr_build.cc
PyObject* UniformIndexPy(PyObject*, PyObject* args);      // source_draws.cc
PyObject* UniformIndexRunsPy(PyObject*, PyObject* args);  // source_draws.cc
PyObject* SynapseKeysPy(PyObject*, PyObject* args);       // source_draws.cc

namespace {

PyObject* Handlers(PyObject*, PyObject*) {
  PyObject* out = PyDict_New();
  const std::pair<const char*, void*> handlers[] = {
      {"snnjax_deliver", reinterpret_cast<void*>(SnnjaxDeliver)},
      {"snnjax_deliver_plastic", reinterpret_cast<void*>(SnnjaxDeliverPlastic)},
      {"snnjax_emit", reinterpret_cast<void*>(SnnjaxEmit)},
      {"snnjax_exact_block", reinterpret_cast<void*>(SnnjaxExactBlock)},
      {"snnjax_poisson", reinterpret_cast<void*>(SnnjaxPoisson)},
      {"snnjax_ode_block", reinterpret_cast<void*>(SnnjaxOdeBlock)},
      {"snnjax_rkf45", reinterpret_cast<void*>(SnnjaxRkf45)},
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
     "Keyed uniform source indices, as _connect._uniform_index (source_draws.cc)."},
    {"uniform_index_runs", UniformIndexRunsPy, METH_VARARGS,
     "uniform_index for synapses given as runs per owner (source_draws.cc)."},
    {"synapse_keys", SynapseKeysPy, METH_VARARGS,
     "Each synapse's key data, as _connect._synapse_keys (source_draws.cc)."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_sim_kernels",
                       "Native CPU kernels of snnjax.sim (XLA FFI handlers).", -1, kMethods};

}  // namespace

PyMODINIT_FUNC PyInit__sim_kernels() { return PyModule_Create(&kModule); }
