// snnjax_exact_block: the steps of one block of NEST's exactly integrated models natively
// (iaf_psc_delta, iaf_psc_exp, iaf_psc_alpha; the model's step function of
// snnjax.sim.models applied `live` times), each neuron through all the block's steps
// before the next (its state stays in cache), parts of neurons spread over XLA's
// intra-op threads. In XLA the block's step loop cost ~10 small kernels per step: for
// Brunel order 500 (2,500 neurons, blocks of 15 steps) 440 us per block, this kernel 26.
//
// Bit for bit the JAX step: the same float32 operations in the same order, with the
// multiply-adds XLA:CPU fuses (LLVM contracts fadd(fmul(a, b), c) into fma(a, b, c), the
// left product first where both operands are products) written as fmaf, and no other
// contraction (-ffp-contract=off). fmaf is correctly rounded on every clone. The one
// exception is iaf_psc_delta with refractory_input (the discount e^{-r h/tau_m} is libm's
// expf here, XLA's own exp there: float32 rounding apart).
//
// Buffers as block.h says. Models (attribute `model`), their float rows and parameters:
//   0 iaf_psc_delta  rows (v, i_0, refr_spikes); parameters expm1(-h/tau_m), P30, I_e,
//       V_min - E_L, V_th - E_L, V_reset - E_L, refractory counts, refractory_input
//       (0/1), h/tau_m
//   1 iaf_psc_exp  rows (v, i_syn_ex, i_syn_in, i_0); parameters P21ex, P21in, P20,
//       expm1(-h/tau_m), expm1(-h/tau_syn_ex), expm1(-h/tau_syn_in), I_e, V_th - E_L,
//       V_reset - E_L, refractory counts
//   2 iaf_psc_alpha  rows (v, dI_ex, I_ex, dI_in, I_in, i_0); parameters P30, P31ex,
//       P32ex, P31in, P32in, expm1(-h/tau_m), P21ex, expm1(-h/tau_syn_ex), psc_ex, P21in,
//       expm1(-h/tau_syn_in), psc_in, I_e, V_min - E_L, V_th - E_L, V_reset - E_L,
//       refractory counts

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "block.h"
#include "clones.h"

namespace ffi = xla::ffi;

namespace {

using snnjax_block::kMaxParams;
using snnjax_block::Part;
using snnjax_ffi::Param;

// Parts of >= kPartNeurons neurons (PartSize), multiples of kUnit (a vector of AVX-512).
struct ExactParts {
  static constexpr int64_t kPartNeurons = 1024, kUnit = 16;
};
constexpr int64_t kChunk = 256;  // neurons stepped through the block together (state in L1)

// One chunk of a part: its parameters (shared ones expanded), neurons a .. a + len.
struct Chunk {
  float p[kMaxParams][kChunk];
  int64_t a, len;
};

// The chunks of a part, each through the part's live steps: step(chunk, t).
template <int P, class F>
void Chunks(const Part& c, F step) {
  Chunk k;
  for (k.a = c.a; k.a < c.b; k.a += kChunk) {
    k.len = std::min(kChunk, c.b - k.a);
    for (int j = 0; j < P; ++j) {
      const float* data = c.p[j].data;
      if (c.p[j].shared) {
        std::fill(k.p[j], k.p[j] + k.len, data[0]);
      } else {
        std::copy(data + k.a, data + k.a + k.len, k.p[j]);
      }
    }
    for (int64_t t = 0; t < c.live; ++t) step(k, t);
  }
}

// The models: Step(state rows, parameter rows, the step's inputs and spikes, len) runs one
// step of `len` neurons (restrict-qualified parameters, so that GCC vectorizes it; it does
// not for restrict locals); Run(part) takes each chunk of the part through its live steps.
#define SNNJAX_F float* __restrict
#define SNNJAX_C const float* __restrict

// snnjax.neurons's hard reset v - s (v - v_reset) (s (v - v_reset) is 0 or v - v_reset
// exactly, so XLA's fused form rounds the same) and the refractory restart.
#define SNNJAX_FIRE(vn, rn)                                  \
  const bool s = (vn) - theta[i] >= 0.0f;                    \
  v[i] = s ? (vn) - ((vn) - reset[i]) : (vn);                \
  r[i] = s ? static_cast<int32_t>(counts[i]) : (rn);         \
  spk[i] = s ? 1.0f : 0.0f

struct IafPscDelta : ExactParts {
  static constexpr int kFloat = 3, kParams = 9;
  enum { kRefrInput = 7 };

  template <bool kGather>
  SNNJAX_ARCH_CLONES static void Step(SNNJAX_F v, SNNJAX_F i0, SNNJAX_F b,
                                       int32_t* __restrict r, SNNJAX_C em, SNNJAX_C P30,
                                       SNNJAX_C Ie, SNNJAX_C lower, SNNJAX_C theta,
                                       SNNJAX_C reset, SNNJAX_C counts, SNNJAX_C refr_input,
                                       SNNJAX_C h_tau, SNNJAX_C ex, SNNJAX_C in, SNNJAX_C stim,
                                       SNNJAX_F spk, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      const float w = ex[i] + in[i];
      const float vi = v[i], bi = b[i];
      const int32_t ri = r[i];
      const bool free = ri == 0;
      float vf = std::fmaf(P30[i], i0[i] + Ie[i], em[i] * vi) + vi + w + bi;
      vf = vf < lower[i] ? lower[i] : vf;  // max, NaN kept
      float gathered = 0.0f;
      if constexpr (kGather) {
        const float discount = std::exp(-static_cast<float>(ri) * h_tau[i]);
        gathered = refr_input[i] != 0.0f ? std::fmaf(w, discount, bi) : 0.0f;
      }
      SNNJAX_FIRE(free ? vf : vi, free ? ri : ri - 1);
      b[i] = free ? 0.0f : gathered;
      i0[i] = stim[i];
    }
  }

  static void Run(const Part& c) {
    bool gather = false;  // any neuron of the chunk with refractory_input
    Chunks<kParams>(c, [&c, &gather](const Chunk& k, int64_t t) {
      if (t == 0) gather = std::any_of(k.p[kRefrInput], k.p[kRefrInput] + k.len,
                                       [](float x) { return x != 0.0f; });
      const int64_t a = k.a, x = t * c.stride + a;
      (gather ? Step<true> : Step<false>)(
          c.f[0] + a, c.f[1] + a, c.f[2] + a, c.r + a, k.p[0], k.p[1], k.p[2], k.p[3], k.p[4],
          k.p[5], k.p[6], k.p[7], k.p[8], c.ex + x, c.in + x, c.stim + x,
          c.spikes + t * c.n + a, k.len);
    });
  }
};

struct IafPscExp : ExactParts {
  static constexpr int kFloat = 4, kParams = 10;

  SNNJAX_ARCH_CLONES static void Step(SNNJAX_F v, SNNJAX_F iex, SNNJAX_F iin, SNNJAX_F i0,
                                       int32_t* __restrict r, SNNJAX_C P21ex, SNNJAX_C P21in,
                                       SNNJAX_C P20, SNNJAX_C em, SNNJAX_C eex, SNNJAX_C ein,
                                       SNNJAX_C Ie, SNNJAX_C theta, SNNJAX_C reset,
                                       SNNJAX_C counts, SNNJAX_C ex, SNNJAX_C in, SNNJAX_C stim,
                                       SNNJAX_F spk, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      const float vi = v[i], ei = iex[i], ii = iin[i];
      const int32_t ri = r[i];
      const bool free = ri == 0;
      const float sum = std::fmaf(ei, P21ex[i], ii * P21in[i]);
      const float vf = std::fmaf(em[i], vi, std::fmaf(Ie[i] + i0[i], P20[i], sum)) + vi;
      SNNJAX_FIRE(free ? vf : vi, free ? ri : ri - 1);
      iex[i] = std::fmaf(eex[i], ei, ei) + ex[i];
      iin[i] = std::fmaf(ein[i], ii, ii) + in[i];
      i0[i] = stim[i];
    }
  }

  static void Run(const Part& c) {
    Chunks<kParams>(c, [&c](const Chunk& k, int64_t t) {
      const int64_t a = k.a, x = t * c.stride + a;
      Step(c.f[0] + a, c.f[1] + a, c.f[2] + a, c.f[3] + a, c.r + a, k.p[0], k.p[1], k.p[2],
           k.p[3], k.p[4], k.p[5], k.p[6], k.p[7], k.p[8], k.p[9], c.ex + x, c.in + x,
           c.stim + x, c.spikes + t * c.n + a, k.len);
    });
  }
};

struct IafPscAlpha : ExactParts {
  static constexpr int kFloat = 6, kParams = 17;

  SNNJAX_ARCH_CLONES static void Step(SNNJAX_F v, SNNJAX_F dex, SNNJAX_F iex, SNNJAX_F din,
                                       SNNJAX_F iin, SNNJAX_F i0, int32_t* __restrict r,
                                       SNNJAX_C P30, SNNJAX_C P31ex, SNNJAX_C P32ex,
                                       SNNJAX_C P31in, SNNJAX_C P32in, SNNJAX_C em,
                                       SNNJAX_C P21ex, SNNJAX_C eex, SNNJAX_C psc_ex,
                                       SNNJAX_C P21in, SNNJAX_C ein, SNNJAX_C psc_in, SNNJAX_C Ie,
                                       SNNJAX_C lower, SNNJAX_C theta, SNNJAX_C reset,
                                       SNNJAX_C counts, SNNJAX_C ex, SNNJAX_C in, SNNJAX_C stim,
                                       SNNJAX_F spk, int64_t len) {
    for (int64_t i = 0; i < len; ++i) {
      const float vi = v[i], de = dex[i], ie = iex[i], di = din[i], ii = iin[i];
      const int32_t ri = r[i];
      const bool free = ri == 0;
      float vf = std::fmaf(P30[i], i0[i] + Ie[i], P31ex[i] * de);
      vf = std::fmaf(P32ex[i], ie, vf);
      vf = std::fmaf(P31in[i], di, vf);
      vf = std::fmaf(P32in[i], ii, vf);
      vf = std::fmaf(em[i], vi, vf) + vi;
      vf = vf < lower[i] ? lower[i] : vf;  // max, NaN kept
      iex[i] = ie + std::fmaf(P21ex[i], de, eex[i] * ie);
      dex[i] = std::fmaf(psc_ex[i], ex[i], std::fmaf(eex[i], de, de));
      iin[i] = ii + std::fmaf(P21in[i], di, ein[i] * ii);
      din[i] = std::fmaf(psc_in[i], in[i], std::fmaf(ein[i], di, di));
      SNNJAX_FIRE(free ? vf : vi, free ? ri : ri - 1);
      i0[i] = stim[i];
    }
  }

  static void Run(const Part& c) {
    Chunks<kParams>(c, [&c](const Chunk& k, int64_t t) {
      const int64_t a = k.a, x = t * c.stride + a;
      Step(c.f[0] + a, c.f[1] + a, c.f[2] + a, c.f[3] + a, c.f[4] + a, c.f[5] + a, c.r + a,
           k.p[0], k.p[1], k.p[2], k.p[3], k.p[4], k.p[5], k.p[6], k.p[7], k.p[8], k.p[9],
           k.p[10], k.p[11], k.p[12], k.p[13], k.p[14], k.p[15], k.p[16], c.ex + x, c.in + x,
           c.stim + x, c.spikes + t * c.n + a, k.len);
    });
  }
};

#undef SNNJAX_FIRE
#undef SNNJAX_C
#undef SNNJAX_F

struct Exact {  // the kernel's name
  static constexpr const char* kName = "snnjax_exact_block";
};

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxExactBlock,
                              (snnjax_block::BlockImpl<Exact, IafPscDelta, IafPscExp, IafPscAlpha>),
                              snnjax_block::Binding());
