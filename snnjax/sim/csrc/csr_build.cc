// Host-side CSR construction for snnjax.sim (plain Python functions of _sim_kernels called
// at build time, not FFI handlers), each the exact twin of a NumPy/JAX path of _connect.py:
// * csr_bucket: the synapses of a shard, packed part by part into uint64 keys
//   `source << low_bits | delay << shift | local target` with a float32 weight each, bucketed
//   by source (a stable, multi-threaded counting sort), each row then sorted stably by its
//   low bits: NumPy's stable argsort of the keys, 8 bytes per synapse out next to the 12 in.
// * csr_place + csr_sort_rows: the same CSR when the rows' lengths are known beforehand:
//   each part placed into its rows as it comes, the rows sorted at the end (8 bytes per
//   synapse and one part at the peak).
// (The source draws are in source_draws.cc.)
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "build_common.h"

namespace {

using snnjax_build::Buffer;
using snnjax_build::Get;
using snnjax_build::Parallel;
using snnjax_build::SliceThreads;

struct Parts {
  std::vector<const uint64_t*> key;
  std::vector<const float*> weight;
  std::vector<int64_t> start;  // global index of each part's first synapse; back() = total

  // Visits the synapses [lo, hi) of the concatenation in order: g(key, weight).
  template <typename G>
  void Visit(int64_t lo, int64_t hi, G&& g) const {
    size_t p = std::upper_bound(start.begin(), start.end(), lo) - start.begin() - 1;
    for (int64_t i = lo; i < hi; ++p) {
      const int64_t end = std::min(hi, start[p + 1]);
      const uint64_t* k = key[p] - start[p];
      const float* w = weight[p] - start[p];
      for (; i < end; ++i) g(k[i], w[i]);
    }
  }
};

// A stable LSD radix sort of one row's (low, weight) pairs by low, 11 bits a pass, as many
// passes as the row's largest key needs: the order of std::stable_sort, in linear time.
template <typename Low>
struct RadixRow {
  std::vector<Low> key;
  std::vector<float> val;

  void Sort(Low* low, float* weight, int64_t n) {
    Low top = 0;
    for (int64_t i = 0; i < n; ++i) top |= low[i];
    key.resize(n);
    val.resize(n);
    Low *src_k = low, *dst_k = key.data();
    float *src_v = weight, *dst_v = val.data();
    constexpr int kBits = 11;
    int64_t count[1 << kBits];
    for (int shift = 0; shift < static_cast<int>(8 * sizeof(Low)) && (top >> shift) != 0;
         shift += kBits) {
      std::fill(count, count + (1 << kBits), 0);
      for (int64_t i = 0; i < n; ++i) ++count[(src_k[i] >> shift) & ((1 << kBits) - 1)];
      int64_t at = 0;
      for (int d = 0; d < (1 << kBits); ++d) {
        const int64_t c = count[d];
        count[d] = at;
        at += c;
      }
      for (int64_t i = 0; i < n; ++i) {
        const int64_t j = count[(src_k[i] >> shift) & ((1 << kBits) - 1)]++;
        dst_k[j] = src_k[i];
        dst_v[j] = src_v[i];
      }
      std::swap(src_k, dst_k);
      std::swap(src_v, dst_v);
    }
    if (src_k != low) {  // an odd number of passes: the result is in the scratch arrays
      std::copy(src_k, src_k + n, low);
      std::copy(src_v, src_v + n, weight);
    }
  }
};

// Each row [ptr[s], ptr[s + 1]) stably by its low bits (delay, then local target), `threads`
// threads, rows split by synapses.
template <typename Low>
void SortRows(const int64_t* ptr, int64_t n_sources, Low* low, float* weight, int threads) {
  const int64_t n = ptr[n_sources];
  Parallel(threads, n, [&](int, int64_t lo, int64_t hi) {
    int64_t s = std::upper_bound(ptr, ptr + n_sources + 1, lo) - ptr - 1;
    if (ptr[s] < lo) ++s;  // a row belongs to the slice that holds its first synapse
    std::vector<std::pair<Low, float>> row;
    RadixRow<Low> radix;
    for (; s < n_sources && ptr[s] < hi; ++s) {
      const int64_t a = ptr[s], b = ptr[s + 1];
      if (std::is_sorted(low + a, low + b)) continue;
      if (b - a >= 256) {
        radix.Sort(low + a, weight + a, b - a);
        continue;
      }
      row.resize(b - a);
      for (int64_t i = a; i < b; ++i) row[i - a] = {low[i], weight[i]};
      std::stable_sort(row.begin(), row.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      for (int64_t i = a; i < b; ++i) low[i] = row[i - a].first, weight[i] = row[i - a].second;
    }
  });
}

template <typename Low>
void Bucket(const Parts& parts, int64_t n_sources, int low_bits, int threads, int64_t* ptr,
            Low* low, float* weight, bool* bad) {
  const int64_t n = parts.start.back();
  const uint64_t mask = low_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << low_bits) - 1;
  std::vector<std::vector<int64_t>> counts(threads, std::vector<int64_t>(n_sources, 0));
  Parallel(threads, n, [&](int t, int64_t lo, int64_t hi) {
    auto& c = counts[t];
    parts.Visit(lo, hi, [&](uint64_t k, float) {
      const uint64_t s = k >> low_bits;
      if (s >= static_cast<uint64_t>(n_sources)) {
        *bad = true;
        return;
      }
      ++c[s];
    });
  });
  if (*bad) return;
  // Row starts, then each thread's first slot in every row (stable: threads in order).
  ptr[0] = 0;
  for (int64_t s = 0; s < n_sources; ++s) {
    int64_t total = 0;
    for (int t = 0; t < threads; ++t) total += counts[t][s];
    ptr[s + 1] = ptr[s] + total;
  }
  for (int64_t s = 0; s < n_sources; ++s) {
    int64_t at = ptr[s];
    for (int t = 0; t < threads; ++t) {
      const int64_t c = counts[t][s];
      counts[t][s] = at;
      at += c;
    }
  }
  Parallel(threads, n, [&](int t, int64_t lo, int64_t hi) {
    auto& next = counts[t];
    parts.Visit(lo, hi, [&](uint64_t k, float w) {
      const int64_t at = next[k >> low_bits]++;
      low[at] = static_cast<Low>(k & mask);
      weight[at] = w;
    });
  });
  SortRows(ptr, n_sources, low, weight, threads);
}

}  // namespace

// csr_bucket(keys, weights, n_sources, low_bits, ptr, low, weight, threads): `keys`/`weights`
// sequences of uint64/float32 arrays (the parts, in order); fills `ptr` (int64[n_sources+1]),
// `low` (uint32 or uint64[n]: the keys' low `low_bits` bits) and `weight` (float32[n]).
PyObject* CsrBucket(PyObject*, PyObject* args) {
  PyObject *keys_obj, *weights_obj, *ptr_obj, *low_obj, *weight_obj;
  long long n_sources;
  int low_bits, threads;
  if (!PyArg_ParseTuple(args, "OOLiOOOi", &keys_obj, &weights_obj, &n_sources, &low_bits,
                        &ptr_obj, &low_obj, &weight_obj, &threads)) {
    return nullptr;
  }
  if (n_sources < 1 || low_bits < 1 || low_bits > 64 || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "csr_bucket: n_sources, low_bits, threads out of range");
    return nullptr;
  }
  PyObject* keys_seq = PySequence_Fast(keys_obj, "csr_bucket: `keys` must be a sequence");
  if (keys_seq == nullptr) return nullptr;
  PyObject* weights_seq = PySequence_Fast(weights_obj, "csr_bucket: `weights` must be a sequence");
  if (weights_seq == nullptr) {
    Py_DECREF(keys_seq);
    return nullptr;
  }
  const Py_ssize_t n_parts = PySequence_Fast_GET_SIZE(keys_seq);
  std::vector<Buffer> held;
  held.reserve(2 * n_parts + 3);
  Parts parts;
  parts.start.push_back(0);
  bool ok = n_parts == PySequence_Fast_GET_SIZE(weights_seq);
  if (!ok) PyErr_SetString(PyExc_ValueError, "csr_bucket: as many `keys` as `weights` parts");
  for (Py_ssize_t p = 0; ok && p < n_parts; ++p) {
    held.emplace_back();
    Buffer& k = held.back();
    ok = Get(PySequence_Fast_GET_ITEM(keys_seq, p), k, 8, false, "keys");
    if (!ok) break;
    held.emplace_back();
    Buffer& w = held.back();
    ok = Get(PySequence_Fast_GET_ITEM(weights_seq, p), w, 4, false, "weights");
    if (ok && w.view.shape[0] != k.view.shape[0]) {
      PyErr_SetString(PyExc_ValueError, "csr_bucket: a part's keys and weights differ in length");
      ok = false;
    }
    if (ok) {
      parts.key.push_back(static_cast<const uint64_t*>(k.view.buf));
      parts.weight.push_back(static_cast<const float*>(w.view.buf));
      parts.start.push_back(parts.start.back() + k.view.shape[0]);
    }
  }
  Py_DECREF(keys_seq);
  Py_DECREF(weights_seq);
  Buffer ptr, low, weight;
  ok = ok && Get(ptr_obj, ptr, 8, true, "ptr") && Get(weight_obj, weight, 4, true, "weight");
  ok = ok && PyObject_GetBuffer(low_obj, &low.view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) == 0;
  if (!ok) return nullptr;
  low.held = true;
  const int64_t n = parts.start.back();
  if (ptr.view.shape[0] != n_sources + 1 || low.view.ndim != 1 || low.view.shape[0] != n ||
      weight.view.shape[0] != n || (low.view.itemsize != 4 && low.view.itemsize != 8)) {
    PyErr_SetString(PyExc_ValueError, "csr_bucket: output shapes do not match the synapses");
    return nullptr;
  }
  const int t = SliceThreads(threads, n, 65536);
  bool bad = false;
  Py_BEGIN_ALLOW_THREADS;
  auto* p = static_cast<int64_t*>(ptr.view.buf);
  auto* w = static_cast<float*>(weight.view.buf);
  if (low.view.itemsize == 4) {
    Bucket(parts, n_sources, low_bits, t, p, static_cast<uint32_t*>(low.view.buf), w, &bad);
  } else {
    Bucket(parts, n_sources, low_bits, t, p, static_cast<uint64_t*>(low.view.buf), w, &bad);
  }
  Py_END_ALLOW_THREADS;
  if (bad) {
    PyErr_SetString(PyExc_ValueError, "csr_bucket: a key's source is >= n_sources");
    return nullptr;
  }
  Py_RETURN_NONE;
}

// csr_place(source, low, weight, ptr, cursor, low_out, weight_out, threads): one part of a
// CSR whose row lengths are known (ptr), placed as it comes: synapse i (int64 source, uint32
// low bits, float32 weight) goes to cursor[source[i]]++ -- with the parts in order, the
// order of a stable sort of all of them by source; `threads` threads, each a slice of the
// part with its own cursors. ValueError if a source is out of range or a row overflows.
PyObject* CsrPlace(PyObject*, PyObject* args) {
  PyObject *src_obj, *low_obj, *w_obj, *ptr_obj, *cur_obj, *lo_out_obj, *w_out_obj;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOOOOOi", &src_obj, &low_obj, &w_obj, &ptr_obj, &cur_obj,
                        &lo_out_obj, &w_out_obj, &threads)) {
    return nullptr;
  }
  Buffer src, low, w, ptr, cur, low_out, w_out;
  if (!(Get(src_obj, src, 8, false, "source") && Get(low_obj, low, 4, false, "low") &&
        Get(w_obj, w, 4, false, "weight") && Get(ptr_obj, ptr, 8, false, "ptr") &&
        Get(cur_obj, cur, 8, true, "cursor") && Get(lo_out_obj, low_out, 4, true, "low_out") &&
        Get(w_out_obj, w_out, 4, true, "weight_out"))) {
    return nullptr;
  }
  const int64_t n = src.view.shape[0], n_sources = cur.view.shape[0];
  if (low.view.shape[0] != n || w.view.shape[0] != n || ptr.view.shape[0] != n_sources + 1 ||
      low_out.view.shape[0] != w_out.view.shape[0] || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "csr_place: shapes do not match");
    return nullptr;
  }
  const auto* source = static_cast<const int64_t*>(src.view.buf);
  const auto* lo_in = static_cast<const uint32_t*>(low.view.buf);
  const auto* w_in = static_cast<const float*>(w.view.buf);
  const auto* row_end = static_cast<const int64_t*>(ptr.view.buf) + 1;
  auto* cursor = static_cast<int64_t*>(cur.view.buf);
  auto* lo_dst = static_cast<uint32_t*>(low_out.view.buf);
  auto* w_dst = static_cast<float*>(w_out.view.buf);
  const int64_t nnz = low_out.view.shape[0];
  const int t = SliceThreads(threads, n, 65536);
  bool bad = false;
  Py_BEGIN_ALLOW_THREADS;
  // Each thread's synapses per source, then its first slot in every row.
  std::vector<std::vector<int64_t>> next(t, std::vector<int64_t>(t > 1 ? n_sources : 0, 0));
  if (t > 1) {
    Parallel(t, n, [&](int k, int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        if (static_cast<uint64_t>(source[i]) < static_cast<uint64_t>(n_sources)) {
          ++next[k][source[i]];
        }
      }
    });
    for (int64_t s = 0; s < n_sources; ++s) {
      int64_t at = cursor[s];
      for (int k = 0; k < t; ++k) {
        const int64_t c = next[k][s];
        next[k][s] = at;
        at += c;
      }
      cursor[s] = at;
    }
  }
  std::atomic<bool> overflow{false};
  Parallel(t, n, [&](int k, int64_t lo, int64_t hi) {
    int64_t* at = t > 1 ? next[k].data() : cursor;
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t s = source[i];
      if (static_cast<uint64_t>(s) >= static_cast<uint64_t>(n_sources) || at[s] >= row_end[s] ||
          at[s] >= nnz) {
        overflow = true;
        return;
      }
      const int64_t j = at[s]++;
      lo_dst[j] = lo_in[i];
      w_dst[j] = w_in[i];
    }
  });
  bad = overflow;
  Py_END_ALLOW_THREADS;
  if (bad) {
    PyErr_SetString(PyExc_ValueError,
                    "csr_place: a source out of range, or more synapses than its row holds");
    return nullptr;
  }
  Py_RETURN_NONE;
}

// csr_sort_rows(ptr, low, weight, threads): each row stably by its (uint32) low bits.
PyObject* CsrSortRows(PyObject*, PyObject* args) {
  PyObject *ptr_obj, *low_obj, *w_obj;
  int threads;
  if (!PyArg_ParseTuple(args, "OOOi", &ptr_obj, &low_obj, &w_obj, &threads)) return nullptr;
  Buffer ptr, low, w;
  if (!(Get(ptr_obj, ptr, 8, false, "ptr") && Get(low_obj, low, 4, true, "low") &&
        Get(w_obj, w, 4, true, "weight"))) {
    return nullptr;
  }
  const auto* p = static_cast<const int64_t*>(ptr.view.buf);
  const int64_t n_sources = ptr.view.shape[0] - 1;
  if (n_sources < 0 || low.view.shape[0] != w.view.shape[0] ||
      p[n_sources] != low.view.shape[0] || threads < 1) {
    PyErr_SetString(PyExc_ValueError, "csr_sort_rows: shapes do not match");
    return nullptr;
  }
  Py_BEGIN_ALLOW_THREADS;
  SortRows(p, n_sources, static_cast<uint32_t*>(low.view.buf), static_cast<float*>(w.view.buf),
           SliceThreads(threads, p[n_sources], 65536));
  Py_END_ALLOW_THREADS;
  Py_RETURN_NONE;
}
