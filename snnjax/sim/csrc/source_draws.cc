// Per-synapse draws of snnjax.sim's construction (plain Python functions of _sim_kernels,
// not FFI handlers), bit for bit under snnjax.sim._prng.PRNG (the JAX functions stay the
// reference; tests compare both), vectorised threefry hashes:
// * uniform_index[_runs]: jax.random.randint per synapse (_connect._uniform_index), with an
//   exact multiply-based modulo;
// * synapse_keys: each synapse's key data (_connect._synapse_keys, optionally folded with a
//   redraw attempt), from which JAX draws the synapse's weight or delay.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "build_common.h"
#include "clones.h"
#include "threefry.h"

using snnjax_build::Buffer;
using snnjax_build::Get;
using snnjax_build::Parallel;
using snnjax_build::SliceThreads;

namespace {

using snnjax::Threefry2x32;

// A synapse's key fold_in(fold_in(base, owner), index) under PRNG: (j0, j1).
inline void SynapseKey(uint32_t b0, uint32_t b1, uint32_t owner, uint32_t index, uint32_t& j0,
                       uint32_t& j1) {
  uint32_t k0 = 0, k1 = owner;
  Threefry2x32(b0, b1, k0, k1);
  j0 = 0;
  j1 = index;
  Threefry2x32(k0, k1, j0, j1);
}

// a % d for 32-bit a and d >= 1 by multiplications (Lemire et al. 2019): exact.
struct FastMod {
  uint64_t m;
  uint32_t d;
  explicit FastMod(uint32_t d_) : m(~uint64_t{0} / d_ + 1), d(d_) {}
  uint32_t operator()(uint32_t a) const {
    return static_cast<uint32_t>((static_cast<__uint128_t>(m * a) * d) >> 64);
  }
};

// jax.random.randint(key, (), 0, hi) (int32) with key = fold_in(fold_in(base, owner), index)
// under snnjax.sim._prng.PRNG, hi = n - 1 where self_pos >= 0 (that index then skipped),
// else n: snnjax.sim._connect._uniform_index, bit for bit. Synapse k of a tile of `len`
// (<= kTile) has owner(k), index(k) and self_pos(k).
constexpr int64_t kTile = 256;

struct Randint {
  uint32_t b0, b1, span[2], mult[2];
  FastMod mod[2];

  Randint(const uint32_t* key, int32_t n)
      : b0(key[0]), b1(key[1]), mod{FastMod(1), FastMod(1)} {
    const int32_t his[2] = {n, n - 1};
    for (int k = 0; k < 2; ++k) {  // randint's span and 2**32 % span (as JAX computes it)
      span[k] = his[k] <= 0 ? 1u : static_cast<uint32_t>(his[k]);
      const uint32_t m = (1u << 16) % span[k];
      mult[k] = (m * m) % span[k];
      mod[k] = FastMod(span[k]);
    }
  }

  template <typename Owner, typename Index, typename Self>
  void Tile(int64_t len, Owner owner, Index index, Self self_pos, int32_t* out) const {
    uint32_t o[kTile], x[kTile], high[kTile], low[kTile];
    for (int64_t k = 0; k < len; ++k) o[k] = static_cast<uint32_t>(owner(k));
    for (int64_t k = 0; k < len; ++k) x[k] = static_cast<uint32_t>(index(k));
    Hashes(len, o, x, high, low);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t sp = self_pos(k);
      const int self = sp >= 0 ? 1 : 0;
      const FastMod& md = mod[self];
      const int32_t v = static_cast<int32_t>(md(md(high[k]) * mult[self] + md(low[k])));
      out[k] = v + (self && v >= sp ? 1 : 0);
    }
  }

  // The hashes of a tile: a branch-free loop that vectorises.
  SNNJAX_CLONES void Hashes(int64_t len, const uint32_t* o, const uint32_t* x, uint32_t* high,
                            uint32_t* low) const {
    for (int64_t k = 0; k < len; ++k) {
      uint32_t j0, j1;
      SynapseKey(b0, b1, o[k], x[k], j0, j1);
      uint32_t s0 = 0, s1 = 0, t0 = 0, t1 = 1;  // split: counters (0, 0) and (0, 1)
      Threefry2x32(j0, j1, s0, s1);
      Threefry2x32(j0, j1, t0, t1);
      uint32_t h0 = 0, h1 = 0, l0 = 0, l1 = 0;  // 32 random bits of each: hash of (0, 0)
      Threefry2x32(s0, s1, h0, h1);
      Threefry2x32(t0, t1, l0, l1);
      high[k] = h0 ^ h1;
      low[k] = l0 ^ l1;
    }
  }
};

// Key data of each synapse's key fold_in(fold_in(base, owner), index), folded again with
// `attempt` when it is >= 0: words 2k, 2k + 1 of `out` for synapse k (a branch-free loop
// that vectorises).
template <typename Id>
SNNJAX_CLONES void SynapseKeys(uint32_t b0, uint32_t b1, const Id* owner, const Id* index,
                               int64_t attempt, int64_t lo, int64_t hi, uint32_t* out) {
  for (int64_t k = lo; k < hi; ++k) {
    uint32_t j0, j1;
    SynapseKey(b0, b1, static_cast<uint32_t>(owner[k]), static_cast<uint32_t>(index[k]), j0, j1);
    if (attempt >= 0) {
      uint32_t a0 = 0, a1 = static_cast<uint32_t>(attempt);
      Threefry2x32(j0, j1, a0, a1);
      j0 = a0;
      j1 = a1;
    }
    out[2 * k] = j0;
    out[2 * k + 1] = j1;
  }
}

}  // namespace

// synapse_keys(key, owner, index, attempt, out, threads): SynapseKeys; owner and index
// both int32 or both int64 [m], out uint32[2 m], attempt < 2**32 (-1: not folded).
PyObject* SynapseKeysPy(PyObject*, PyObject* args) {
  PyObject *key_obj, *own_obj, *idx_obj, *out_obj;
  long long attempt;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOLOi", &key_obj, &own_obj, &idx_obj, &attempt, &out_obj,
                        &threads)) {
    return nullptr;
  }
  Buffer key, out;
  if (!(Get(key_obj, key, 4, false, "key") && Get(out_obj, out, 4, true, "out"))) {
    return nullptr;
  }
  Buffer own, idx;
  Py_buffer probe;  // the ids' item size: 4 or 8 bytes, the same for both
  if (PyObject_GetBuffer(own_obj, &probe, PyBUF_ND) != 0) return nullptr;
  const Py_ssize_t itemsize = probe.itemsize;
  PyBuffer_Release(&probe);
  if (itemsize != 4 && itemsize != 8) {
    PyErr_SetString(PyExc_ValueError, "synapse_keys: owner and index must be int32 or int64");
    return nullptr;
  }
  if (!(Get(own_obj, own, itemsize, false, "owner") &&
        Get(idx_obj, idx, itemsize, false, "index"))) {
    return nullptr;
  }
  const int64_t m = own.view.shape[0];
  if (key.view.shape[0] != 2 || idx.view.shape[0] != m || out.view.shape[0] != 2 * m ||
      attempt < -1 || attempt > UINT32_MAX || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "synapse_keys: shapes or attempt out of range");
    return nullptr;
  }
  const auto* k = static_cast<const uint32_t*>(key.view.buf);
  auto* dst = static_cast<uint32_t*>(out.view.buf);
  const int t = SliceThreads(threads, m, 16384);
  Py_BEGIN_ALLOW_THREADS;
  Parallel(t, m, [&](int, int64_t lo, int64_t hi) {
    if (itemsize == 4) {
      SynapseKeys(k[0], k[1], static_cast<const int32_t*>(own.view.buf),
                  static_cast<const int32_t*>(idx.view.buf), attempt, lo, hi, dst);
    } else {
      SynapseKeys(k[0], k[1], static_cast<const int64_t*>(own.view.buf),
                  static_cast<const int64_t*>(idx.view.buf), attempt, lo, hi, dst);
    }
  });
  Py_END_ALLOW_THREADS;
  Py_RETURN_NONE;
}

// uniform_index(key, owner, index, self_pos, n, out, threads): Randint per synapse; `key`
// the base key's two uint32 words, owner/index/self_pos int64[m], out int32[m].
PyObject* UniformIndexPy(PyObject*, PyObject* args) {
  PyObject *key_obj, *own_obj, *idx_obj, *self_obj, *out_obj;
  long long n;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOOLOi", &key_obj, &own_obj, &idx_obj, &self_obj, &n, &out_obj,
                        &threads)) {
    return nullptr;
  }
  Buffer key, own, idx, self, out;
  if (!(Get(key_obj, key, 4, false, "key") && Get(own_obj, own, 8, false, "owner") &&
        Get(idx_obj, idx, 8, false, "index") && Get(self_obj, self, 8, false, "self_pos") &&
        Get(out_obj, out, 4, true, "out"))) {
    return nullptr;
  }
  const int64_t m = own.view.shape[0];
  if (key.view.shape[0] != 2 || idx.view.shape[0] != m || self.view.shape[0] != m ||
      out.view.shape[0] != m || n < 1 || n > INT32_MAX || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "uniform_index: shapes or n out of range");
    return nullptr;
  }
  const Randint r(static_cast<const uint32_t*>(key.view.buf), static_cast<int32_t>(n));
  const auto* o = static_cast<const int64_t*>(own.view.buf);
  const auto* x = static_cast<const int64_t*>(idx.view.buf);
  const auto* sp = static_cast<const int64_t*>(self.view.buf);
  auto* dst = static_cast<int32_t*>(out.view.buf);
  const int t = SliceThreads(threads, m, 16384);
  Py_BEGIN_ALLOW_THREADS;
  Parallel(t, m, [&](int, int64_t lo, int64_t hi) {
    for (int64_t i0 = lo; i0 < hi; i0 += kTile) {
      r.Tile(
          std::min(kTile, hi - i0), [&](int64_t k) { return o[i0 + k]; },
          [&](int64_t k) { return x[i0 + k]; }, [&](int64_t k) { return sp[i0 + k]; },
          dst + i0);
    }
  });
  Py_END_ALLOW_THREADS;
  Py_RETURN_NONE;
}

// uniform_index_runs(key, owner, counts, self_pos, n, out, threads): the same for synapses
// given as runs -- counts[t] synapses of owner[t] (indices 0, 1, ...), all with self_pos[t]
// -- without the per-synapse arrays; out int32[sum(counts)].
PyObject* UniformIndexRunsPy(PyObject*, PyObject* args) {
  PyObject *key_obj, *own_obj, *cnt_obj, *self_obj, *out_obj;
  long long n;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOOLOi", &key_obj, &own_obj, &cnt_obj, &self_obj, &n, &out_obj,
                        &threads)) {
    return nullptr;
  }
  Buffer key, own, cnt, self, out;
  if (!(Get(key_obj, key, 4, false, "key") && Get(own_obj, own, 8, false, "owner") &&
        Get(cnt_obj, cnt, 8, false, "counts") && Get(self_obj, self, 8, false, "self_pos") &&
        Get(out_obj, out, 4, true, "out"))) {
    return nullptr;
  }
  const int64_t runs = own.view.shape[0];
  const auto* c = static_cast<const int64_t*>(cnt.view.buf);
  std::vector<int64_t> start(runs + 1, 0);
  bool ok = cnt.view.shape[0] == runs && self.view.shape[0] == runs && key.view.shape[0] == 2;
  for (int64_t t = 0; ok && t < runs; ++t) {
    ok = c[t] >= 0;
    start[t + 1] = start[t] + c[t];
  }
  if (!ok || out.view.shape[0] != start[runs] || n < 1 || n > INT32_MAX || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "uniform_index_runs: shapes, counts or n out of range");
    return nullptr;
  }
  const Randint r(static_cast<const uint32_t*>(key.view.buf), static_cast<int32_t>(n));
  const auto* o = static_cast<const int64_t*>(own.view.buf);
  const auto* sp = static_cast<const int64_t*>(self.view.buf);
  auto* dst = static_cast<int32_t*>(out.view.buf);
  const int64_t m = start[runs];
  const int t = SliceThreads(threads, m, 16384);
  Py_BEGIN_ALLOW_THREADS;
  Parallel(t, m, [&](int, int64_t lo, int64_t hi) {
    int64_t run = std::upper_bound(start.begin(), start.end(), lo) - start.begin() - 1;
    int64_t own_of[kTile], idx_of[kTile], self_of[kTile];
    for (int64_t i0 = lo; i0 < hi; i0 += kTile) {
      const int64_t len = std::min(kTile, hi - i0);
      for (int64_t k = 0; k < len; ++k) {  // synapse i0 + k: its run, index within it
        while (start[run + 1] <= i0 + k) ++run;
        own_of[k] = o[run];
        idx_of[k] = i0 + k - start[run];
        self_of[k] = sp[run];
      }
      r.Tile(
          len, [&](int64_t k) { return own_of[k]; }, [&](int64_t k) { return idx_of[k]; },
          [&](int64_t k) { return self_of[k]; }, dst + i0);
    }
  });
  Py_END_ALLOW_THREADS;
  Py_RETURN_NONE;
}
