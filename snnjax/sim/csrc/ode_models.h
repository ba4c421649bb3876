// The right-hand sides of the models snnjax_rkf45 integrates (neuron_ode.cc), as
// functors over the lanes of a chunk (rkf45.h): `kN` state variables, `kParams` parameter
// buffers (the first is h), the OdeDefaults they override (rkf45.h); constructed from
// the parameters of the lanes' neurons (`at`: Consecutive or Gathered), `operator()(y,
// dydt)` the derivative. Divisions by a parameter are multiplications by its reciprocal
// (within an ulp of the JAX ones).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ffi_common.h"
#include "rkf45.h"

namespace snnjax_ode {

// The vector of kLanes elements of type E (float: vf, int32_t: vi).
template <class E>
using LaneVector = std::conditional_t<std::is_same_v<E, float>, vf, vi>;

// `lanes` elements from p (the rest: copies of p[0]), and back.
template <class E>
SNNJAX_INLINE LaneVector<E> LoadLanes(const E* p, int64_t lanes) {
  LaneVector<E> v;
  if (lanes == kLanes) {
    std::memcpy(&v, p, sizeof v);
  } else {
    v = LaneVector<E>{} + p[0];
    for (int64_t l = 1; l < lanes; ++l) v[l] = p[l];
  }
  return v;
}

template <class E>
SNNJAX_INLINE void StoreLanes(LaneVector<E> v, E* p, int64_t lanes) {
  if (lanes == kLanes) {
    std::memcpy(p, &v, sizeof v);
  } else {
    for (int64_t l = 0; l < lanes; ++l) p[l] = v[l];
  }
}

using snnjax_ffi::Param;

// A parameter's values for the lanes of a chunk of consecutive neurons i0 .. i0 + lanes
// (the rest: copies of the first).
struct Consecutive {
  int64_t i0, lanes;
  SNNJAX_INLINE vf operator()(const Param& p) const {
    return p.shared ? vf{} + p.data[0] : LoadLanes(p.data + i0, lanes);
  }
};

// A parameter's values for the neurons `index` (>= 0) of the lanes.
struct Gathered {
  vi index;
  SNNJAX_INLINE vf operator()(const Param& p) const {
    vf v = vf{} + p.data[0];
    if (!p.shared) {
      for (int l = 0; l < kLanes; ++l) v[l] = p.data[index[l]];
    }
    return v;
  }
};

// The membrane equation of iaf_cond_* (C_m dV/dt = -g_L (V - E_L) - g_ex (V - E_ex)
// - g_in (V - E_in) + I), at min(V, V_th), at V_reset with dV/dt = 0 while refractory.
struct Membrane {
  // refractory: 1 or 0 (a mask member, vi, makes GCC 12's AVX-512 clone crash)
  vf refractory, stim, v_reset, v_th, e_l, g_l, inv_c, e_ex, e_in;
  Membrane() = default;
  template <class At>
  SNNJAX_INLINE Membrane(const Param* p, const At& at)
      : refractory(at(p[1])),
        stim(at(p[2])),
        v_reset(at(p[3])),
        v_th(at(p[4])),
        e_l(at(p[5])),
        g_l(at(p[6])),
        inv_c(1.0f / at(p[7])),
        e_ex(at(p[8])),
        e_in(at(p[9])) {}
  SNNJAX_INLINE vf dV(vf v_m, vf g_ex, vf g_in) const {
    const vi r = refractory != 0.0f;
    const vf v = Select(r, v_reset, Min(v_m, v_th));
    const vf i_ex = g_ex * (v - e_ex), i_in = g_in * (v - e_in);
    const vf dv = ((-(g_l * (v - e_l)) - i_ex) - i_in + stim) * inv_c;
    return Select(r, vf{}, dv);
  }
};

struct IafCondExp : OdeDefaults {  // y = (V_m, g_ex, g_in)
  static constexpr int kN = 3;
  static constexpr int kParams = 12;
  Membrane m;
  vf inv_tau_ex, inv_tau_in;
  IafCondExp() = default;
  template <class At>
  SNNJAX_INLINE IafCondExp(const Param* p, const At& at)
      : m(p, at),
        inv_tau_ex(1.0f / at(p[10])),
        inv_tau_in(1.0f / at(p[11])) {}
  SNNJAX_INLINE void operator()(const vf* y, vf* dy) const {
    dy[0] = m.dV(y[0], y[1], y[2]);
    dy[1] = -y[1] * inv_tau_ex;
    dy[2] = -y[2] * inv_tau_in;
  }
};

struct IafCondBeta : OdeDefaults {  // y = (V_m, dg_ex, g_ex, dg_in, g_in); alpha: rise = decay
  static constexpr int kN = 5;
  static constexpr int kParams = 14;
  Membrane m;
  vf inv_rise_ex, inv_decay_ex, inv_rise_in, inv_decay_in;
  IafCondBeta() = default;
  template <class At>
  SNNJAX_INLINE IafCondBeta(const Param* p, const At& at)
      : m(p, at),
        inv_rise_ex(1.0f / at(p[10])),
        inv_decay_ex(1.0f / at(p[11])),
        inv_rise_in(1.0f / at(p[12])),
        inv_decay_in(1.0f / at(p[13])) {}
  SNNJAX_INLINE void operator()(const vf* y, vf* dy) const {
    dy[0] = m.dV(y[0], y[2], y[4]);
    dy[1] = -y[1] * inv_decay_ex;
    dy[2] = y[1] - y[2] * inv_rise_ex;
    dy[3] = -y[3] * inv_decay_in;
    dy[4] = y[3] - y[4] * inv_rise_in;
  }
};


// Hodgkin-Huxley (snnjax.sim.models._hh): C_m dV/dt = -g_Na m^3 h (V - E_Na) - g_K n^4
// (V - E_K) - g_L (V - E_L) + I_syn + I, dx/dt = alpha_x (1 - x) - beta_x x; the state
// compensated (kLo). Rates of x / (e^(x/c) - 1) with their limit c near 0, as the JAX ones.
SNNJAX_INLINE vf XOverExpm1(vf x, float c) {
  const vi small = Abs(x) < 1e-4f;
  const vf safe = Select(small, Splat(1.0f), x);
  return Select(small, c * (1.0f - x * (1.0f / (2.0f * c))), safe / Expm1(safe * (1.0f / c)));
}

struct HHCore {  // the parameters both share: p[1 .. 8]
  vf stim, g_na, g_k, g_l, inv_c, e_na, e_k, e_l;
  HHCore() = default;
  template <class At>
  SNNJAX_INLINE HHCore(const Param* p, const At& at)
      : stim(at(p[1])),
        g_na(at(p[2])),
        g_k(at(p[3])),
        g_l(at(p[4])),
        inv_c(1.0f / at(p[5])),
        e_na(at(p[6])),
        e_k(at(p[7])),
        e_l(at(p[8])) {}
  // dV/dt and the gates' derivatives from the rates ((alpha, beta) of m, h, n).
  SNNJAX_INLINE void Derivatives(const vf* y, vf i_syn, const vf (&rates)[6], vf* dy) const {
    const vf v = y[0], m = y[1], h = y[2], n = y[3];
    const vf i_na = g_na * m * m * m * h * (v - e_na);
    const vf i_k = g_k * n * n * n * n * (v - e_k);
    const vf i_l = g_l * (v - e_l);
    dy[0] = (-(i_na + i_k + i_l) + i_syn + stim) * inv_c;
    for (int x = 0; x < 3; ++x) {  // m, h, n
      dy[1 + x] = rates[2 * x] * (1.0f - y[1 + x]) - rates[2 * x + 1] * y[1 + x];
    }
  }
};

struct HHCondExpTraub : OdeDefaults {  // y = (V_m, Act_m, Inact_h, Act_n, g_ex, g_in)
  static constexpr int kN = 6;
  static constexpr int kParams = 14;
  static constexpr bool kLo = true;
  static constexpr bool kRefill = true;
  HHCore core;
  vf v_t, e_ex, e_in, inv_tau_ex, inv_tau_in;
  HHCondExpTraub() = default;
  template <class At>
  SNNJAX_INLINE HHCondExpTraub(const Param* p, const At& at)
      : core(p, at),
        v_t(at(p[9])),
        e_ex(at(p[10])),
        e_in(at(p[11])),
        inv_tau_ex(1.0f / at(p[12])),
        inv_tau_in(1.0f / at(p[13])) {}
  SNNJAX_INLINE void operator()(const vf* y, vf* dy) const {
    const vf v = y[0] - v_t;  // Traub & Miles' rates of V_m - V_T
    const vf rates[6] = {0.32f * XOverExpm1(13.0f - v, 4.0f), 0.28f * XOverExpm1(v - 40.0f, 5.0f),
                         0.128f * Exp((17.0f - v) * (1.0f / 18.0f)),
                         4.0f / (1.0f + Exp((40.0f - v) * (1.0f / 5.0f))),
                         0.032f * XOverExpm1(15.0f - v, 5.0f),
                         0.5f * Exp((10.0f - v) * (1.0f / 40.0f))};
    const vf i_syn = -y[4] * (y[0] - e_ex) - y[5] * (y[0] - e_in);
    core.Derivatives(y, i_syn, rates, dy);
    dy[4] = -y[4] * inv_tau_ex;
    dy[5] = -y[5] * inv_tau_in;
  }
};

struct HHPscAlpha : OdeDefaults {  // y = (V_m, Act_m, Inact_h, Act_n, dI_ex, I_ex, dI_in, I_in)
  static constexpr int kN = 8;
  static constexpr int kParams = 11;
  static constexpr bool kLo = true;
  static constexpr bool kRefill = true;
  HHCore core;
  vf inv_tau_ex, inv_tau_in;
  HHPscAlpha() = default;
  template <class At>
  SNNJAX_INLINE HHPscAlpha(const Param* p, const At& at)
      : core(p, at),
        inv_tau_ex(1.0f / at(p[9])),
        inv_tau_in(1.0f / at(p[10])) {}
  SNNJAX_INLINE void operator()(const vf* y, vf* dy) const {
    const vf v = y[0];  // the squid axon's rates (mV)
    const vf rates[6] = {0.1f * XOverExpm1(-(v + 40.0f), 10.0f),
                         4.0f * Exp(-(v + 65.0f) * (1.0f / 18.0f)),
                         0.07f * Exp(-(v + 65.0f) * (1.0f / 20.0f)),
                         1.0f / (1.0f + Exp(-(v + 35.0f) * (1.0f / 10.0f))),
                         0.01f * XOverExpm1(-(v + 55.0f), 10.0f),
                         0.125f * Exp(-(v + 65.0f) * (1.0f / 80.0f))};
    core.Derivatives(y, y[5] + y[7], rates, dy);
    dy[4] = -y[4] * inv_tau_ex;
    dy[5] = y[4] - y[5] * inv_tau_ex;
    dy[6] = -y[6] * inv_tau_in;
    dy[7] = y[6] - y[7] * inv_tau_in;
  }
};

// AdEx (snnjax.sim.models._aeif, NEST's aeif_cond_exp / aeif_cond_alpha / aeif_psc_exp):
// C_m dV/dt = -g_L (V - E_L) + g_L Delta_T e^((V - V_th) / Delta_T) + I_syn - w + I,
// tau_w dw/dt = a (V - E_L) - w, the right-hand side at min(V, V_peak) (V_reset with
// dV/dt = 0 while refractory; no exponential term where Delta_T = 0); I_syn = -g_ex (V -
// E_ex) - g_in (V - E_in) with exponential (kSyn 0) or alpha (1) conductances, or I_ex -
// I_in (2: exponential currents). After every accepted attempt (After): V_m < -1e3 or
// |w| > 1e6 or a non-finite V_m is an instability; a refractory neuron is clamped to
// V_reset, another spikes at V_m >= v_spike (V_m = V_reset, w += b, refractory for its
// counts + 1 steps); the spikes are counted (a multiplicity). Its kAux rows (`aux`, loaded
// and stored by the kernel): the refractory steps left (a float), the spike count, the
// instability (0/1).
template <int kSyn>
struct Aeif : OdeDefaults {
  static constexpr int kN = kSyn == 1 ? 6 : 4;  // V_m, the synapses' variables, w
  static constexpr int kW = kN - 1;
  static constexpr int kParams = kSyn == 2 ? 17 : 19;
  static constexpr bool kAfter = true;
  static constexpr int kAux = 3;
  vf aux[kAux];  // the lanes' refractory steps left, spike counts, instabilities
  vf stim, v_reset, v_peak, v_th, e_l, g_l, inv_c, delta_t, inv_slope, a, b, inv_tau_w, tol,
      v_spike, r_spike, e_ex, e_in, inv_tau_ex, inv_tau_in;
  Aeif() = default;
  template <class At>
  SNNJAX_INLINE Aeif(const Param* p, const At& at)
      : stim(at(p[1])),
        v_reset(at(p[2])),
        v_peak(at(p[3])),
        v_th(at(p[4])),
        e_l(at(p[5])),
        g_l(at(p[6])),
        inv_c(1.0f / at(p[7])),
        delta_t(at(p[8])),
        inv_slope(1.0f / Select(delta_t > 0.0f, delta_t, Splat(1.0f))),
        a(at(p[9])),
        b(at(p[10])),
        inv_tau_w(1.0f / at(p[11])),
        tol(at(p[12])),
        v_spike(at(p[13])),
        r_spike(at(p[14])) {
    constexpr int k = kSyn == 2 ? 15 : 17;  // the time constants
    if constexpr (kSyn != 2) {
      e_ex = at(p[15]);
      e_in = at(p[16]);
    }
    inv_tau_ex = 1.0f / at(p[k]);
    inv_tau_in = 1.0f / at(p[k + 1]);
    r_spike = Select(r_spike > 0.0f, r_spike + 1.0f, vf{});  // the count after a spike
  }
  SNNJAX_INLINE void operator()(const vf* y, vf* dy) const {
    const vi refractory = aux[0] > 0.0f;
    const vf v = Select(refractory, v_reset, Min(y[0], v_peak)), w = y[kW];
    const vf i_spike = Select(delta_t > 0.0f, g_l * delta_t * Exp((v - v_th) * inv_slope), vf{});
    vf i_syn;
    if constexpr (kSyn == 2) {
      i_syn = y[1] - y[2];
    } else {
      const vf g_ex = kSyn == 1 ? y[2] : y[1], g_in = kSyn == 1 ? y[4] : y[2];
      i_syn = -g_ex * (v - e_ex) - g_in * (v - e_in);
    }
    const vf dv = ((((-(g_l * (v - e_l))) + i_spike) + i_syn) - w + stim) * inv_c;
    dy[0] = Select(refractory, vf{}, dv);
    if constexpr (kSyn == 1) {
      dy[1] = -y[1] * inv_tau_ex;
      dy[2] = y[1] - y[2] * inv_tau_ex;
      dy[3] = -y[3] * inv_tau_in;
      dy[4] = y[3] - y[4] * inv_tau_in;
    } else {
      dy[1] = -y[1] * inv_tau_ex;
      dy[2] = -y[2] * inv_tau_in;
    }
    dy[kW] = (a * (v - e_l) - w) * inv_tau_w;
  }
  // The accepted lanes `ok` after their attempt (see above); the lanes whose right-hand
  // side that changed: those that spiked (a refractory lane's clamped V_m is V_reset in the
  // right-hand side already).
  SNNJAX_INLINE vi After(vf* y, vi ok) {
    const vf v = y[0], w = y[kW];
    const vi unstable = (v < -1e3f) | (Abs(w) > 1e6f) | ~(Abs(v) <= FLT_MAX);
    const vi refractory = aux[0] > 0.0f;
    const vi spike = (v - v_spike >= 0.0f) & ~refractory;
    const vf s = Select(spike, Splat(1.0f), vf{});
    y[0] = Select(ok, Select(refractory, v_reset, Select(spike, v - (v - v_reset), v)), v);
    y[kW] = Select(ok, w + s * b, w);
    aux[0] = Select(ok & spike, r_spike, aux[0]);
    aux[1] = Select(ok, aux[1] + s, aux[1]);
    aux[2] = Select(ok & unstable, Splat(1.0f), aux[2]);
    return ok & spike;
  }
};

}  // namespace snnjax_ode
