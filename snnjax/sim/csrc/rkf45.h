// GSL's adaptive RKF45 as NEST drives it (snnjax.sim.models._rkf45.evolve), for the lanes of
// chunks of neurons in lockstep: float32 vectors of kLanes neurons (GCC vector
// extensions: 8 lanes, one AVX2 register; 16, one AVX-512 register, measured no faster),
// each lane its own time, step size and derivative, every iteration one try_step of each
// lane short of h, until all lanes reach h. Quiet neurons finish in one iteration; a
// chunk pays only for its own slowest lane (the XLA loop pays, per iteration, for all
// neurons).
//
// The same algorithm, order of operations and float32 state as the pure-JAX evolve, but
// not its bits: the compiler and XLA fuse different multiply-adds (the includer enables
// contraction), XLA's exp and log are not these, and the right-hand sides multiply by
// reciprocals where the JAX ones divide (within an ulp).
#pragma once

#include <cfloat>
#include <cstdint>

namespace snnjax_ode {

constexpr int kLanes = 8;
typedef float vf __attribute__((vector_size(4 * kLanes)));
typedef int32_t vi __attribute__((vector_size(4 * kLanes)));  // masks: -1 true, 0 false

#define SNNJAX_INLINE inline __attribute__((always_inline))

SNNJAX_INLINE vf Splat(float x) { return vf{} + x; }
SNNJAX_INLINE vf Min(vf a, vf b) { return a < b ? a : b; }
SNNJAX_INLINE vf Max(vf a, vf b) { return a > b ? a : b; }
SNNJAX_INLINE vf Abs(vf a) { return (vf)((vi)a & 0x7fffffff); }
SNNJAX_INLINE vf Select(vi mask, vf a, vf b) { return mask ? a : b; }
SNNJAX_INLINE vi LaneIndex() {
  vi index;
  for (int l = 0; l < kLanes; ++l) index[l] = l;
  return index;
}
SNNJAX_INLINE bool Any(vi mask) {
  int32_t any = 0;
  for (int l = 0; l < kLanes; ++l) any |= mask[l];
  return any != 0;
}

// c[0] x^(K-1) + ... + c[K-1] by Horner's rule.
template <int K>
SNNJAX_INLINE vf Horner(vf x, const float (&c)[K]) {
  vf p = Splat(c[0]);
  for (int i = 1; i < K; ++i) p = p * x + c[i];
  return p;
}

// e^x (float32, within ~2 ulp; x clamped to [-87, 88]): 2^k e^r, |r| <= ln(2)/2, a
// degree-7 Taylor polynomial for e^r.
SNNJAX_INLINE vf Exp(vf x) {
  x = Min(Max(x, Splat(-87.0f)), Splat(88.0f));
  const vf shift = Splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vf k = (x * 1.44269504088896341f + shift) - shift;
  const vf r = (x - k * 0.693145751953125f) - k * 1.428606820309417e-06f;
  constexpr float kTaylor[] = {1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f,
                          1.0f / 6.0f, 0.5f, 1.0f, 1.0f};
  const vf p = Horner(r, kTaylor);
  const vi e = (__builtin_convertvector(k, vi) + 127) << 23;
  return p * (vf)e;
}

// e^x - 1 (float32): a degree-9 Taylor polynomial for |x| < 0.5, else Exp(x) - 1.
SNNJAX_INLINE vf Expm1(vf x) {
  constexpr float kTaylor[] = {1.0f / 362880.0f, 1.0f / 40320.0f, 1.0f / 5040.0f, 1.0f / 720.0f,
                          1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f};
  const vf p = Horner(x, kTaylor);
  return Select(Abs(x) < 0.5f, x * p, Exp(x) - 1.0f);
}

// ln x for normal x > 0 (float32, within ~2 ulp): x = m 2^e, m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), by its series to s^13.
SNNJAX_INLINE vf Log(vf x) {
  const vi bits = (vi)x;
  vi e = ((bits >> 23) & 0xff) - 127;
  vf m = (vf)((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  const vi big = m > 1.41421356f;
  m = Select(big, m * 0.5f, m);
  e = e - big;  // big is -1 where true
  const vf s = (m - 1.0f) / (m + 1.0f), z = s * s;
  constexpr float kSeries[] = {2.0f / 13.0f, 2.0f / 11.0f, 2.0f / 9.0f, 2.0f / 7.0f,
                          2.0f / 5.0f, 2.0f / 3.0f, 2.0f};
  const vf p = Horner(z, kSeries);
  return __builtin_convertvector(e, vf) * 0.693147180559945f + s * p;
}

// GSL's standard step-size control (gsl_odeiv_control_standard_new).
struct Control {
  float eps_abs, eps_rel, a_y, a_dydt;
};

// Runge-Kutta-Fehlberg coefficients (GSL's rkf45.c), rounded to float32 as the JAX
// reference's Python floats are.
constexpr float kA2 = 1.0 / 4.0;
constexpr float kB3[] = {3.0 / 32.0, 9.0 / 32.0};
constexpr float kB4[] = {1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0};
constexpr float kB5[] = {8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0};
constexpr float kB6[] = {-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0,
                         9295.0 / 20520.0, -5643.0 / 20520.0};
constexpr float kC[] = {902880.0 / 7618050.0, 0.0, 3953664.0 / 7618050.0,
                        3855735.0 / 7618050.0, -1371249.0 / 7618050.0, 277020.0 / 7618050.0};
constexpr float kEC[] = {1.0 / 360.0, 0.0, -128.0 / 4275.0, -2197.0 / 75240.0, 1.0 / 50.0,
                         2.0 / 55.0};
constexpr int kOrder = 5;

// y_i + h0 * sum_j c_j k_j[i] over the nonzero c_j, in the JAX reference's order.
template <int N, int J>
SNNJAX_INLINE void Axpy(const vf* y, vf h0, const float (&c)[J], const vf (*k)[N], vf* out) {
  for (int i = 0; i < N; ++i) {
    vf sum = c[0] * k[0][i];  // c[0] is never 0; 0 + x would be x
    for (int j = 1; j < J; ++j) {
      if (c[j] != 0.0f) sum = sum + c[j] * k[j][i];
    }
    out[i] = y == nullptr ? h0 * sum : y[i] + h0 * sum;
  }
}

// What a model (F below) says besides its right-hand side; a model derives from it and
// overrides what differs. kAfter: NEST's aeif models, whose spikes are handled inside the
// loop: after every accepted attempt `vi After(vf* y, vi ok)` changes the accepted
// lanes' state (and the model's own per-lane values the right-hand side reads), and the
// next attempt's derivative is evaluated anew (GSL's evolve_apply, the JAX `after`) where
// that changed the right-hand side (After's result: the lanes where it did); their
// step-size control is GSL's `yp` one with each neuron's tolerance `tol` (eps_abs =
// eps_rel = tol, a_y = 0, a_dydt = 1) instead of the Control argument's.
struct OdeDefaults {
  static constexpr bool kLo = false;      // a compensated state
  static constexpr bool kRefill = false;  // lanes refilled as they finish (neuron_ode.cc)
  static constexpr bool kAfter = false;
  static constexpr int kAux = 0;  // rows besides y the kernel loads into and stores from
                                  // the model's `vf aux[kAux]` (the lanes' values)
};

// The lanes of G chunks integrated together (their operations interleaved: one chunk's
// RKF45 step is a chain of dependent operations, too short of independent work to keep a
// core busy), each lane a neuron with its state `y`, compensation `lo` (used where
// `compensated`), derivative `k[0]` = f(y), carried step size `step`, time `t` and step
// `h` (0 for an unused lane: never active). F: an OdeDefaults with `void operator()(const
// vf* y, vf* dydt) const`.
template <int N, int G>
struct Lanes {
  vf y[G][N], lo[G][N], k[G][6][N], step[G], h[G], t[G];

  // Row r of chunk g's state as the kernels store it: y, then lo.
  SNNJAX_INLINE vf& Row(int g, int r) { return r < N ? y[g][r] : lo[g][r - N]; }

  // One try_step of every lane short of h (GSL's gsl_odeiv_evolve_apply; the JAX
  // reference's lockstep iteration); false if no lane was. Compensated: y + lo, each
  // accepted step y' = y + d, lo' = d - (y' - y) with d = h0 sum_j c_j k_j + lo (Fast2Sum;
  // exact while |d| <= |y|), as the JAX reference's `evolve(lo=...)`.
  template <class F>
  SNNJAX_INLINE bool TryStep(F* f, const Control& c, bool compensated) {
    vf stage[G][N], fresh[G][N], fresh_lo[G][N], err[G][N], k_new[G][N], h0[G];
    vi active[G], final_step[G];
    vi any = vi{};
    for (int g = 0; g < G; ++g) any |= active[g] = t[g] < h[g];
    if (!Any(any)) return false;
    const float a2[] = {kA2};
    for (int g = 0; g < G; ++g) {
      const vf dt = h[g] - t[g];
      final_step[g] = step[g] > dt;
      h0[g] = Select(final_step[g], dt, step[g]);
      Axpy<N>(y[g], h0[g], a2, k[g], stage[g]);
    }
    for (int g = 0; g < G; ++g) f[g](stage[g], k[g][1]);
    for (int g = 0; g < G; ++g) Axpy<N>(y[g], h0[g], kB3, k[g], stage[g]);
    for (int g = 0; g < G; ++g) f[g](stage[g], k[g][2]);
    for (int g = 0; g < G; ++g) Axpy<N>(y[g], h0[g], kB4, k[g], stage[g]);
    for (int g = 0; g < G; ++g) f[g](stage[g], k[g][3]);
    for (int g = 0; g < G; ++g) Axpy<N>(y[g], h0[g], kB5, k[g], stage[g]);
    for (int g = 0; g < G; ++g) f[g](stage[g], k[g][4]);
    for (int g = 0; g < G; ++g) Axpy<N>(y[g], h0[g], kB6, k[g], stage[g]);
    for (int g = 0; g < G; ++g) f[g](stage[g], k[g][5]);
    for (int g = 0; g < G; ++g) {
      Axpy<N>(nullptr, h0[g], kEC, k[g], err[g]);
      if (!compensated) {
        Axpy<N>(y[g], h0[g], kC, k[g], fresh[g]);
      } else {
        Axpy<N>(nullptr, h0[g], kC, k[g], fresh_lo[g]);
        for (int i = 0; i < N; ++i) {
          const vf d = fresh_lo[g][i] + lo[g][i];
          fresh[g][i] = y[g][i] + d;
          fresh_lo[g][i] = d - (fresh[g][i] - y[g][i]);
        }
      }
    }
    for (int g = 0; g < G; ++g) f[g](fresh[g], k_new[g]);
    vf rmax[G], r[G];
    for (int g = 0; g < G; ++g) {  // std_control_hadjust: rmax = max_i |yerr_i| / D_i
      if constexpr (F::kAfter) {  // yp: D_i = tol (0 |y'_i| + h0 |dy'_i/dt|) + tol
        rmax[g] = Splat(FLT_MIN);
        for (int i = 0; i < N; ++i) {
          const vf d = f[g].tol * (0.0f * Abs(fresh[g][i]) + Abs(h0[g] * k_new[g][i]));
          rmax[g] = Max(rmax[g], Abs(err[g][i]) / Abs(d + f[g].tol));
        }
      } else if (c.eps_rel == 0.0f) {  // D_i = eps_abs (y finite): max_i |yerr_i| / eps_abs, the same
        vf e = Abs(err[g][0]);
        for (int i = 1; i < N; ++i) e = Max(e, Abs(err[g][i]));
        rmax[g] = Max(Splat(FLT_MIN), e / c.eps_abs);
      } else {
        rmax[g] = Splat(FLT_MIN);
        for (int i = 0; i < N; ++i) {
          const vf d = c.eps_rel * (c.a_y * Abs(fresh[g][i]) + c.a_dydt * Abs(h0[g] * k_new[g][i]));
          rmax[g] = Max(rmax[g], Abs(err[g][i]) / Abs(d + c.eps_abs));
        }
      }
    }
    for (int g = 0; g < G; ++g) {  // 0.9 / rmax^(1/q): one exp per lane, of its branch
      const vf q = Select(rmax[g] > 1.1f, Splat(1.0f / kOrder), Splat(1.0f / (kOrder + 1.0f)));
      r[g] = 0.9f / Exp(Log(rmax[g]) * q);
    }
    for (int g = 0; g < G; ++g) {
      const vi dec = rmax[g] > 1.1f, inc = rmax[g] < 0.5f;
      const vf t_new = Select(final_step[g], h[g], t[g] + h0[g]);
      const vf h_adj = Select(dec, Max(r[g], Splat(0.2f)) * h0[g],
                              Select(inc, Min(Max(r[g], Splat(1.0f)), Splat(5.0f)) * h0[g], h0[g]));
      const vi retry = dec & (Abs(h_adj) < Abs(h0[g])) & (t_new + h_adj != t_new);
      const vi ok = active[g] & ~retry;
      step[g] = Select(active[g], Select(dec & ~retry, h0[g], h_adj), step[g]);
      for (int i = 0; i < N; ++i) {
        y[g][i] = Select(ok, fresh[g][i], y[g][i]);
        k[g][0][i] = Select(ok, k_new[g][i], k[g][0][i]);
        if (compensated) lo[g][i] = Select(ok, fresh_lo[g][i], lo[g][i]);
      }
      if constexpr (F::kAfter) {  // the accepted lanes' spikes, then f(y) anew
        const vi changed = f[g].After(y[g], ok);
        if (Any(changed)) {  // elsewhere f(y) is k_new, bit for bit
          f[g](y[g], k_new[g]);
          for (int i = 0; i < N; ++i) k[g][0][i] = Select(changed, k_new[g][i], k[g][0][i]);
        }
      }
      t[g] = Select(ok, t_new, t[g]);
    }
    return true;
  }
};

}  // namespace snnjax_ode
