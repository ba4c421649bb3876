// What snnjax.sim's delivery kernels share (deliver.cc, plastic.cc): a block's spike list,
// the decoding of CSR rows (target | delay packed in uint32, rows sorted by delay, then
// target), and the cut of a block's (step + delay) offsets into ranges of equal work, one
// per thread (each thread then owns those ring slots).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "clones.h"

namespace snnjax_rows {

struct Spike {
  int64_t step;
  int64_t source;
  float count;
};

// Whether any of row[0..16) is nonzero (x != 0 is bits & 0x7fffffff != 0: NaN counts,
// signed zeros do not): one vectorised test, a fixed trip count the compiler unrolls.
inline bool Any16(const float* row) {
  uint32_t any = 0;
  for (int k = 0; k < 16; ++k) {
    uint32_t bits;
    std::memcpy(&bits, row + k, sizeof bits);
    any |= bits & 0x7fffffffu;
  }
  return any != 0;
}

// The block's spikes (nonzero counts) in step-major order: spike_list in _delivery.py.
// Most groups of 16 neurons are silent: each group is tested at once first.
SNNJAX_CLONES inline std::vector<Spike> SpikeList(const float* spikes, int64_t m,
                                                  int64_t n_src) {
  std::vector<Spike> list;
  for (int64_t j = 0; j < m; ++j) {
    const float* row = spikes + j * n_src;
    for (int64_t s = 0; s < n_src; s += 16) {
      const int64_t end = std::min(s + 16, n_src);
      if (end == s + 16 && !Any16(row + s)) continue;
      for (int64_t k = s; k < end; ++k) {
        if (row[k] != 0.0f) list.push_back({j, k, row[k]});
      }
    }
  }
  return list;
}

struct Row {
  float* ring;
  int64_t D, n;
  const uint32_t* packed;
  const float* weight;
  const int32_t* wide;  // nullptr: delays packed only
  uint32_t mask, shift, delay_mask;

  // A row view of a CSR whose synapses pack target | delay << shift (shift >= 32: targets
  // only, the delays all in `wide`).
  static Row Of(float* ring, int64_t D, int64_t n, const uint32_t* packed,
                const float* weight, const int32_t* wide, uint32_t shift) {
    const bool none = shift >= 32;
    return Row{ring, D, n, packed, weight, wide, none ? ~0u : ((1u << shift) - 1u),
               none ? 0u : shift, none ? 0u : ~0u};
  }

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
  // The part of row [first, last) of a spike at `step` whose offsets step + delay lie in
  // [o_lo, o_hi) (a thread's slots); false if there is none.
  bool Clip(int64_t step, int64_t o_lo, int64_t o_hi, int64_t& first, int64_t& last) const {
    const int64_t d_first = Delay(first), d_last = Delay(last - 1);
    if (d_last < o_lo - step || d_first >= o_hi - step) return false;
    if (d_first < o_lo - step) first = LowerBound(first, last, o_lo - step);
    if (d_last >= o_hi - step) last = LowerBound(first, last, o_hi - step);
    return true;
  }
};

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

}  // namespace snnjax_rows
