// snnjax_deliver_plastic: one plastic projection's update and delivery for a block's spikes,
// the native twin of snnjax.sim._plastic.deliver_plastic without a weight recorder
// (tests/test_sim_stdp.py compares both). For each spike (the block's spike list, in
// order) and each synapse of its row (CSR order): NEST's update of the synapse
// (snnjax.sim._stdp.pre_spike: facilitation by the target's post spikes in the window,
// then depression, then the presynaptic trace), then its new weight times the spike's
// multiplicity added into the ring buffer.
//
// The same algorithm, order and float32 arithmetic, but not bit for bit: the powers are
// computed inline (PowUnit, within one ulp of libm's powf that XLA calls), and XLA's LLVM
// fuses some multiply-adds of the rules, depending on its fusion decisions, that are not
// fused here (-ffp-contract=off; the trace's K+ e + 1, which it fuses, is fmaf here). The
// exponentials come as tables that XLA computed, tab[k] = exp(-k h / tau) (k clamped to the
// last entry, where XLA's exp is 0).
//
// Synapses are updated 16 at a time (a tile of a row): their data read, the first
// facilitation and the depression as branch-free loops that the compiler vectorises
// (-fno-trapping-math), further post spikes of a window one synapse at a time.
// Threads: as snnjax_deliver, each thread owns a range of ring slots (step + delay) and
// updates the synapses landing there; each synapse is then updated by one thread, once. A
// block in which a source spiked twice (a synapse updated twice, in step order) runs on one
// thread. So the result does not depend on the threads or the split.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "clones.h"
#include "csr_rows.h"
#include "ffi_common.h"

namespace ffi = xla::ffi;

namespace {

using snnjax_ffi::ParallelFor;
using snnjax_ffi::Threads;
using snnjax_rows::OffsetCuts;
using snnjax_rows::Row;
using snnjax_rows::Spike;

constexpr int32_t kEmpty = -(1 << 30);  // snnjax.sim._stdp.EMPTY
constexpr int64_t kSynapsesPerThread = 4096;
constexpr int64_t kLanes = 16;  // synapses updated together (one AVX-512 vector)

enum Model : int64_t { kAllToAll = 0, kNnSymm = 1, kNnPreCentered = 2, kNnRestr = 3 };

int64_t FloorMod(int64_t x, int64_t d) { return ((x % d) + d) % d; }

// x^y for x in [0, 1] and y >= 0 (the rules' normalised weights and exponents), inline and
// branch-free so that a loop over synapses vectorises: in double, 2^(y log2 x), log2 from
// the series of atanh and 2^f from its Taylor series (both to ~1e-13 relative), rounded
// once to float. That is libm's powf (0.5 ulp) but where a double rounding moves the result
// by one ulp (0.07 % of random arguments); y = 0 and y = 1 (additive and multiplicative
// rules) are exact. A call to powf per update cost as much as the rest of the update.
inline __attribute__((always_inline)) float PowUnit(float xf, float yf) {
  const double x = xf > 0.0f ? xf : 1.0;  // normal in double (x = 0: selected below)
  uint64_t b;
  std::memcpy(&b, &x, 8);
  const uint64_t mb = (b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
  const uint64_t eb = 0x4330000000000000ULL | (b >> 52);  // 2^52 + the biased exponent
  double m, ed;
  std::memcpy(&m, &mb, 8);  // x = m 2^e, m in [1, 2)
  std::memcpy(&ed, &eb, 8);
  ed -= 4503599627370496.0 + 1023.0;  // e
  const bool big = m > 1.4142135623730951;
  m = big ? m * 0.5 : m;
  ed = big ? ed + 1.0 : ed;
  const double t = (m - 1.0) / (m + 1.0), t2 = t * t;  // |t| <= 0.1716
  const double series =
      1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11 +
      t2 * (1.0 / 13 + t2 * (1.0 / 15)))))));  // fmt: off
  double l = (ed + 2.0 * t * series * 1.4426950408889634) * static_cast<double>(yf);
  l = l < -200.0 ? -200.0 : l;  // below float's smallest value
  const double kb = l + 6755399441055744.0;  // 1.5 2^52: k = round(l) in its low bits
  const double k = kb - 6755399441055744.0, f = (l - k) * 0.6931471805599453;  // |f| < 0.35
  double p = 1.0 / 479001600;  // 1 / 12!
  p = p * f + 1.0 / 39916800;
  p = p * f + 1.0 / 3628800;
  p = p * f + 1.0 / 362880;
  p = p * f + 1.0 / 40320;
  p = p * f + 1.0 / 5040;
  p = p * f + 1.0 / 720;
  p = p * f + 1.0 / 120;
  p = p * f + 1.0 / 24;
  p = p * f + 1.0 / 6;
  p = p * f + 0.5;
  p = p * f + 1.0;
  p = p * f + 1.0;
  uint64_t kbits, pb;
  std::memcpy(&kbits, &kb, 8);
  std::memcpy(&pb, &p, 8);
  pb += (kbits - 0x4338000000000000ULL) << 52;  // p 2^k (k >= -200: no underflow)
  std::memcpy(&p, &pb, 8);
  const float r = static_cast<float>(p);
  return yf == 0.0f ? 1.0f : xf == 0.0f ? 0.0f : yf == 1.0f ? xf : r;
}

// A rule parameter: one value or one per synapse.
struct Param {
  const float* v;
  int64_t stride;
  float operator[](int64_t syn) const { return v[syn * stride]; }
};

// The per-synapse rule parameters of a tile of synapses, and its weights.
struct Lanes {
  alignas(64) float w[kLanes], k[kLanes], wmax[kLanes], lam[kLanes], mu[kLanes], alpha[kLanes];
  alignas(64) int32_t on[kLanes];
};

// _stdp.facilitate and _stdp.depress of one synapse (inline: Rule's loop vectorises).
inline __attribute__((always_inline)) float Facilitate(float w, float k, float wm, float lam,
                                                       float mu) {
  const float q = w / wm, norm = q + lam * PowUnit(1.0f - q, mu) * k;
  return norm < 1.0f ? norm * wm : wm;
}
inline __attribute__((always_inline)) float Depress(float w, float k, float wm, float lam,
                                                    float mu, float alpha) {
  const float q = w / wm, norm = q - alpha * lam * PowUnit(q, mu) * k;
  return norm > 0.0f ? norm * wm : 0.0f;
}

// Facilitate (alpha unused) or Depress every lane where `on`: a loop without branches or
// calls, which the compiler vectorises (-fno-trapping-math).
template <bool kFacilitate>
SNNJAX_CLONES void Rule(Lanes& t) {
  for (int k = 0; k < kLanes; ++k) {
    const float out = kFacilitate ? Facilitate(t.w[k], t.k[k], t.wmax[k], t.lam[k], t.mu[k])
                                  : Depress(t.w[k], t.k[k], t.wmax[k], t.lam[k], t.mu[k],
                                            t.alpha[k]);
    t.w[k] = t.on[k] ? out : t.w[k];
  }
}

struct Plastic {
  Row row;                               // ring, CSR (row.weight unused)
  float* weight;                         // the state, in CSR order
  float* kplus;
  int32_t* tlast;
  int32_t* seen;
  Param lam, alpha, mu_plus, mu_minus, wmax;
  const float *plus, *minus;             // exp(-k h / tau_plus), exp(-k h / tau_minus)
  int64_t k_plus, k_minus;               // their last entries
  const int32_t *h_step, *h_total, *h_count, *h_last;  // the targets' histories
  const float* h_k;
  int64_t H;
  int64_t model;
  int64_t t0;

  float Plus(int64_t k) const { return plus[std::min(k, k_plus)]; }
  float Minus(int64_t k) const { return minus[std::min(k, k_minus)]; }
  int64_t ModH(int64_t x) const { return (H & (H - 1)) == 0 ? x & (H - 1) : FloorMod(x, H); }

  // The post spike histories that Tile(i0, len, ...) will read first (at random: the
  // targets of a row are spread over the shard), requested ahead.
  void Prefetch(int64_t i0, int64_t len) const {
    for (int64_t syn = i0; syn < i0 + len; ++syn) {
      __builtin_prefetch(h_step + (row.packed[syn] & row.mask) * H + ModH(seen[syn]));
    }
  }

  // Synapses [i0, i0 + len) (len <= kLanes) of a row, passed by a spike of the block's step
  // `step` (multiplicity `count`, at ring slot `j_slot` = (t0 + step) mod D): the update of
  // _stdp.pre_spike and the delivery, in four passes over the tile: read (and the factors
  // of the first facilitation and of the depression), the first facilitation (vectorised),
  // the window's further post spikes (all-to-all rules; one synapse at a time), the
  // depression (vectorised), write. Returns the updates that missed a dropped spike.
  int64_t Tile(int64_t i0, int64_t len, int64_t step, int64_t j_slot, float count) const {
    const int32_t j = static_cast<int32_t>(t0 + step);
    const bool uses_kplus = model == kAllToAll || model == kNnPreCentered;
    const bool every = model == kAllToAll || model == kNnSymm;
    Lanes fac, dep;
    int64_t target[kLanes], slot[kLanes];
    int32_t n_in[kLanes], lo[kLanes], ordinal[kLanes], n_upto[kLanes];
    float kp_new[kLanes], scale[kLanes];
    int64_t lost = 0;
    for (int64_t k = 0; k < kLanes; ++k) {
      if (k >= len) {  // padding: left as it is
        fac.w[k] = 0.0f, fac.on[k] = dep.on[k] = 0;
        fac.k[k] = dep.k[k] = fac.lam[k] = dep.lam[k] = dep.alpha[k] = 0.0f;
        fac.wmax[k] = dep.wmax[k] = fac.mu[k] = dep.mu[k] = 1.0f;
        continue;
      }
      const int64_t syn = i0 + k;
      const int64_t t = row.packed[syn] & row.mask, delay = row.Delay(syn);
      const int32_t hi = j - static_cast<int32_t>(delay);  // the window's right end
      int64_t at = j_slot - delay;  // hi mod D (delay < D)
      at += at < 0 ? row.D : 0;
      const int64_t before = (at == 0 ? row.D - 1 : at - 1) * row.n + t;
      const int32_t seen0 = seen[syn], tl = tlast[syn], upto = h_count[at * row.n + t];
      const int32_t last = h_last[before];
      const float kp = kplus[syn];
      const bool has_prev = last > kEmpty;
      const float nearest = has_prev ? Minus(int64_t{hi} - last) : 0.0f;
      target[k] = t;
      n_in[k] = upto - seen0;
      n_upto[k] = upto;
      lo[k] = tl - static_cast<int32_t>(delay);
      ordinal[k] = static_cast<int32_t>(ModH(seen0));
      scale[k] = uses_kplus ? kp : 1.0f;
      const int32_t e = h_step[t * H + ordinal[k]];  // the window's first post spike
      fac.w[k] = weight[syn];
      fac.on[k] = n_in[k] > 0;
      fac.k[k] = scale[k] * Plus(-std::min<int64_t>(int64_t{lo[k]} - e, 0));
      fac.wmax[k] = dep.wmax[k] = wmax[syn];
      fac.lam[k] = dep.lam[k] = lam[syn];
      fac.mu[k] = mu_plus[syn];
      dep.mu[k] = mu_minus[syn];
      dep.alpha[k] = alpha[syn];
      dep.k[k] = model == kAllToAll ? (has_prev ? h_k[before] : 0.0f) * nearest : nearest;
      dep.on[k] = model != kNnRestr || n_in[k] > 0;
      const bool needs_window = !uses_kplus || kp != 0.0f;  // _stdp.needs_window
      lost += seen0 < h_total[t] - H && needs_window;
      float kn = model == kNnPreCentered && n_in[k] > 0 ? 0.0f : kp;
      if (uses_kplus) kn = std::fmaf(kn, Plus(int64_t{j} - tl), 1.0f);
      kp_new[k] = kn;
      int64_t s = j_slot + delay;
      slot[k] = s - (s >= row.D ? row.D : 0);
    }
    Rule<true>(fac);
    if (every) {  // the window's further post spikes, in time order
      for (int64_t k = 0; k < len; ++k) {
        const int32_t* entries = h_step + target[k] * H;
        for (int32_t i = 1, o = ordinal[k]; i < n_in[k]; ++i) {
          o = o + 1 == H ? 0 : o + 1;
          const float f = scale[k] * Plus(-std::min<int64_t>(int64_t{lo[k]} - entries[o], 0));
          fac.w[k] = Facilitate(fac.w[k], f, fac.wmax[k], fac.lam[k], fac.mu[k]);
        }
      }
    }
    std::copy_n(fac.w, kLanes, dep.w);
    Rule<false>(dep);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t syn = i0 + k;
      const float w = dep.w[k], value = w * count;
      weight[syn] = w;
      kplus[syn] = kp_new[k];
      tlast[syn] = j;
      seen[syn] = n_upto[k];
      row.ring[((value < 0.0f ? row.D : 0) + slot[k]) * row.n + target[k]] += value;
    }
    return lost;
  }
};

template <typename Ptr>
int32_t PlasticTyped(ffi::ThreadPool& pool, int64_t threads, const Plastic& pl,
                     const std::vector<Spike>& list, const Ptr* ptr) {
  int64_t n_syn = 0;
  std::vector<int64_t> sources;
  for (const Spike& sp : list) {
    n_syn += static_cast<int64_t>(ptr[sp.source + 1] - ptr[sp.source]);
    sources.push_back(sp.source);
  }
  std::sort(sources.begin(), sources.end());
  const bool twice = std::adjacent_find(sources.begin(), sources.end()) != sources.end();
  if (n_syn == 0) return 0;
  const int64_t parts =
      twice ? 1 : std::min(threads, std::max<int64_t>(1, n_syn / kSynapsesPerThread));
  const std::vector<int64_t> cut = parts > 1 ? OffsetCuts(pl.row, list, ptr, parts, n_syn)
                                             : std::vector<int64_t>{INT64_MIN, INT64_MAX};
  std::vector<int64_t> lost(parts, 0);
  ParallelFor(pool, parts, threads, [&](int64_t part) {
    const int64_t o_lo = cut[part], o_hi = cut[part + 1];
    if (o_lo >= o_hi) return;
    for (const Spike& sp : list) {
      int64_t first = ptr[sp.source], last = ptr[sp.source + 1];
      if (first == last) continue;
      if (parts > 1 && !pl.row.Clip(sp.step, o_lo, o_hi, first, last)) continue;
      const int64_t j_slot = FloorMod(pl.t0 + sp.step, pl.row.D);
      for (int64_t i0 = first; i0 < last; i0 += kLanes) {
        const int64_t ahead = i0 + 2 * kLanes;  // two tiles ahead
        if (ahead < last) pl.Prefetch(ahead, std::min(kLanes, last - ahead));
        lost[part] += pl.Tile(i0, std::min(kLanes, last - i0), sp.step, j_slot, sp.count);
      }
    }
  });
  int64_t total = 0;
  for (int64_t x : lost) total += x;
  return static_cast<int32_t>(total);
}

Param ParamOf(const ffi::Buffer<ffi::F32>& x) {
  return {x.typed_data(), x.element_count() > 1 ? 1 : 0};
}

ffi::Error PlasticImpl(
    ffi::ThreadPool pool, ffi::Buffer<ffi::F32> ring_in, ffi::Buffer<ffi::F32> weight_in,
    ffi::Buffer<ffi::F32> kplus_in, ffi::Buffer<ffi::S32> tlast_in, ffi::Buffer<ffi::S32> seen_in,
    ffi::AnyBuffer ptr, ffi::Buffer<ffi::S32> packed, ffi::Buffer<ffi::S32> shift,
    ffi::Buffer<ffi::S32> wide, ffi::Buffer<ffi::F32> lam, ffi::Buffer<ffi::F32> alpha,
    ffi::Buffer<ffi::F32> mu_plus, ffi::Buffer<ffi::F32> mu_minus, ffi::Buffer<ffi::F32> wmax,
    ffi::Buffer<ffi::F32> plus, ffi::Buffer<ffi::F32> minus, ffi::Buffer<ffi::F32> h_tau_minus,
    ffi::Buffer<ffi::S32> h_step,
    ffi::Buffer<ffi::S32> h_total, ffi::Buffer<ffi::S32> h_count, ffi::Buffer<ffi::S32> h_last,
    ffi::Buffer<ffi::F32> h_k, ffi::Buffer<ffi::S32> index, ffi::Buffer<ffi::F32> count,
    ffi::Buffer<ffi::S32> t0, ffi::Result<ffi::Buffer<ffi::F32>> ring,
    ffi::Result<ffi::Buffer<ffi::F32>> weight, ffi::Result<ffi::Buffer<ffi::F32>> kplus,
    ffi::Result<ffi::Buffer<ffi::S32>> tlast, ffi::Result<ffi::Buffer<ffi::S32>> seen,
    ffi::Result<ffi::Buffer<ffi::S32>> lost, int64_t model, int64_t threads) {
  auto rd = ring->dimensions();
  if (rd.size() != 3 || rd[0] != 2 || h_step.dimensions().size() != 2) {
    return ffi::Error::InvalidArgument(
        "snnjax_deliver_plastic: ring must be [2, D, n] and the history [n, H] (no batch)");
  }
  if (ptr.element_type() != ffi::S64 && ptr.element_type() != ffi::S32) {
    return ffi::Error::InvalidArgument("snnjax_deliver_plastic: ptr must be int32 or int64");
  }
  if (model < kAllToAll || model > kNnRestr) {
    return ffi::Error::InvalidArgument("snnjax_deliver_plastic: unknown model");
  }
  // The tables must reach exp's underflow (their last entry stands for every k beyond),
  // and every target share the tau_minus of the `minus` table (snnjax.sim checks both
  // when it builds; a change since without a rebuild would end here, never silently).
  const float* tm = h_tau_minus.typed_data();
  const int64_t n_tm = static_cast<int64_t>(h_tau_minus.element_count());
  if (plus.element_count() == 0 || minus.element_count() == 0 ||
      plus.typed_data()[plus.element_count() - 1] != 0.0f ||
      minus.typed_data()[minus.element_count() - 1] != 0.0f ||
      std::any_of(tm, tm + n_tm, [&](float x) { return x != tm[0]; })) {
    return ffi::Error::InvalidArgument(
        "snnjax_deliver_plastic: tau_plus or tau_minus no longer match the tables built "
        "for them (a bug: please report it; native=False avoids this kernel)");
  }
  const int64_t D = rd[1], n = rd[2], nnz = weight->element_count();
  const int64_t n_src = static_cast<int64_t>(ptr.element_count()) - 1;
  // the state is updated in place (aliased); copy where XLA did not alias it
  auto copy = [](const auto& in, auto& out) {
    if (in.typed_data() != out->typed_data()) {
      std::copy_n(in.typed_data(), in.element_count(), out->typed_data());
    }
  };
  copy(ring_in, ring);
  copy(weight_in, weight);
  copy(kplus_in, kplus);
  copy(tlast_in, tlast);
  copy(seen_in, seen);
  const uint32_t sh = static_cast<uint32_t>(shift.typed_data()[0]);
  const Plastic pl{
      Row::Of(ring->typed_data(), D, n, reinterpret_cast<const uint32_t*>(packed.typed_data()),
              nullptr, wide.element_count() ? wide.typed_data() : nullptr, sh),
      weight->typed_data(), kplus->typed_data(), tlast->typed_data(), seen->typed_data(),
      ParamOf(lam), ParamOf(alpha), ParamOf(mu_plus), ParamOf(mu_minus), ParamOf(wmax),
      plus.typed_data(), minus.typed_data(),
      static_cast<int64_t>(plus.element_count()) - 1,
      static_cast<int64_t>(minus.element_count()) - 1,
      h_step.typed_data(), h_total.typed_data(), h_count.typed_data(), h_last.typed_data(),
      h_k.typed_data(), h_step.dimensions()[1], model, t0.typed_data()[0]};
  std::vector<Spike> list;
  for (int64_t k = 0; k < static_cast<int64_t>(count.element_count()); ++k) {
    const float c = count.typed_data()[k];
    if (c > 0.0f) {
      const int64_t i = index.typed_data()[k];
      list.push_back({i / n_src, i % n_src, c});
    }
  }
  int32_t n_lost = 0;
  if (nnz > 0 && n_src > 0) {
    const int64_t nt = Threads(pool, threads);
    n_lost = ptr.element_type() == ffi::S64
                 ? PlasticTyped(pool, nt, pl, list, ptr.typed_data<int64_t>())
                 : PlasticTyped(pool, nt, pl, list, ptr.typed_data<int32_t>());
  }
  lost->typed_data()[0] = n_lost;
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxDeliverPlastic, PlasticImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // ring (aliased)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // weight (aliased)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // K+ (aliased)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // last pre spike (aliased)
                                  .Arg<ffi::Buffer<ffi::S32>>()  // post spikes paired (aliased)
                                  .Arg<ffi::AnyBuffer>()         // ptr
                                  .Arg<ffi::Buffer<ffi::S32>>()  // packed
                                  .Arg<ffi::Buffer<ffi::S32>>()  // shift
                                  .Arg<ffi::Buffer<ffi::S32>>()  // wide delays
                                  .Arg<ffi::Buffer<ffi::F32>>()  // lambda
                                  .Arg<ffi::Buffer<ffi::F32>>()  // alpha
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mu_plus
                                  .Arg<ffi::Buffer<ffi::F32>>()  // mu_minus
                                  .Arg<ffi::Buffer<ffi::F32>>()  // Wmax
                                  .Arg<ffi::Buffer<ffi::F32>>()  // exp(-k h / tau_plus)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // exp(-k h / tau_minus)
                                  .Arg<ffi::Buffer<ffi::F32>>()  // h / tau_minus [n]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // history: steps [n, H]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // history: total [n]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // history: count [D, n]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // history: last [D, n]
                                  .Arg<ffi::Buffer<ffi::F32>>()  // history: K- [D, n]
                                  .Arg<ffi::Buffer<ffi::S32>>()  // spike list: index
                                  .Arg<ffi::Buffer<ffi::F32>>()  // spike list: count
                                  .Arg<ffi::Buffer<ffi::S32>>()  // t0
                                  .Ret<ffi::Buffer<ffi::F32>>()  // ring
                                  .Ret<ffi::Buffer<ffi::F32>>()  // weight
                                  .Ret<ffi::Buffer<ffi::F32>>()  // K+
                                  .Ret<ffi::Buffer<ffi::S32>>()  // last pre spike
                                  .Ret<ffi::Buffer<ffi::S32>>()  // post spikes paired
                                  .Ret<ffi::Buffer<ffi::S32>>()  // updates that missed a spike
                                  .Attr<int64_t>("model")
                                  .Attr<int64_t>("threads"));
