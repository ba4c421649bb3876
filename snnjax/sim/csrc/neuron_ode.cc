// snnjax_rkf45: one simulation step of NEST's numerically integrated neuron models, the
// ODE part (snnjax.sim.models._rkf45.evolve with the model's right-hand side), natively
// (and snnjax_ode_block, below: whole steps of the iaf_cond_* around it):
// GSL's adaptive RKF45 in lockstep over chunks of 8 neurons (rkf45.h; the models'
// right-hand sides: ode_models.h), chunks spread over XLA's intra-op threads. The model's
// step function does the rest (inputs, spikes, refractoriness) in JAX.
//
// Not bit for bit the JAX evolve (rkf45.h says why); the same algorithm in float32, each
// neuron on its own (so any split of the neurons gives the same numbers), checked against
// NEST 3.10's traces as the JAX path is (tests/test_sim_cond_models.py).
//
// Buffers: step [n], then the rows of y, each [n], then the model's parameters, each [n] or
// [1] (one value for all neurons); results: step, failed (int32 0/1), the rows of y (XLA
// may write them in place of y's: each neuron's values are read before they are written).
// A vmapped call has the batch dimensions in front of every buffer. Models (attribute
// `model`), their rows y and parameters:
//   0 iaf_cond_exp    y = (V_m, g_ex, g_in):
//       h, refractory (0/1), I_stim + I_e, V_reset, V_th, E_L, g_L, C_m, E_ex, E_in,
//       tau_syn_ex, tau_syn_in
//   1 iaf_cond_alpha / iaf_cond_beta   y = (V_m, dg_ex, g_ex, dg_in, g_in): as 0, the two
//       time constants replaced by tau_rise_ex, tau_decay_ex, tau_rise_in, tau_decay_in
//   2 hh_cond_exp_traub   y = (V_m, Act_m, Inact_h, Act_n, g_ex, g_in, then their
//       compensations): h, I_stim + I_e, g_Na, g_K, g_L, C_m, E_Na, E_K, E_L, V_T, E_ex,
//       E_in, tau_syn_ex, tau_syn_in
//   3 hh_psc_alpha   y = (V_m, Act_m, Inact_h, Act_n, dI_ex, I_ex, dI_in, I_in, then their
//       compensations): h, I_stim + I_e, g_Na, g_K, g_L, C_m, E_Na, E_K, E_L, tau_syn_ex,
//       tau_syn_in
//   4 aeif_cond_exp   y = (V_m, g_ex, g_in, w, then the refractory steps left (a float),
//       the spike count and the instability flag (0/1) the step's spikes inside the loop
//       update): h, I_stim + I_e, V_reset, V_peak, V_th, E_L, g_L, C_m, Delta_T, a, b,
//       tau_w, gsl_error_tol, the spike threshold (V_peak, or V_th where Delta_T = 0), the
//       refractory counts, E_ex, E_in, tau_syn_ex, tau_syn_in
//   5 aeif_cond_alpha   y = (V_m, dg_ex, g_ex, dg_in, g_in, w, the three as 4): as 4
//   6 aeif_psc_exp   y = (V_m, I_ex, I_in, w, the three as 4): as 4 without E_ex, E_in

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "block.h"
#include "clones.h"
#include "ffi_common.h"

// Multiply-adds fused (the kernel is not bit for bit its JAX twin anyway: rkf45.h), for
// the x86-64-v3 (AVX2 + FMA) and v4 (AVX-512) clones.
#pragma GCC optimize("fp-contract=fast")
#include "ode_models.h"

namespace ffi = xla::ffi;

namespace {

using snnjax_ffi::Batch;
using snnjax_ffi::CheckBatch;
using snnjax_ffi::ParallelFor;
using snnjax_ffi::Threads;
using snnjax_ode::Abs;
using snnjax_ode::Aeif;
using snnjax_ode::Consecutive;
using snnjax_ode::Control;
using snnjax_ode::HHCondExpTraub;
using snnjax_ode::HHPscAlpha;
using snnjax_ode::IafCondBeta;
using snnjax_ode::IafCondExp;
using snnjax_ode::kLanes;
using snnjax_ode::LoadLanes;
using snnjax_ode::Param;
using snnjax_ode::Select;
using snnjax_ode::StoreLanes;
using snnjax_ode::vf;
using snnjax_ode::vi;

constexpr int64_t kMaxIterations = 100000;  // attempts per step before giving up (as JAX)
constexpr Control kControlY = {1e-3f, 0.0f, 1.0f, 0.0f};  // gsl_odeiv_control_y_new(1e-3, 0)

constexpr int kMaxRows = 16;  // hh_psc_alpha: 8 state variables and their compensations

// One instance's buffers: the rows of y (n neurons each), step, failed, the parameters.
struct Instance {
  const float* y_in[kMaxRows];
  const float* step_in;
  float* y[kMaxRows];
  float* step;
  int32_t* failed;
  int64_t n;
  const Param* params;
};

// Chunks interleaved (rkf45.h's Lanes): on a Xeon VM (AVX-512, iaf_cond_exp), 9.1 ns per
// neuron and step with 3 (1.7x faster than 1 chunk, 1.1x than 2; 4 no faster); 8 lanes
// (AVX2 width) measured as fast as 16.
constexpr int kGroup = 3;

// The rows of y: N state variables, then (kLo) their compensations; a model's kAux rows
// follow them in the kernel's buffers.
template <class Model>
constexpr int kRows = Model::kLo ? 2 * Model::kN : Model::kN;

// Neurons [a, b) in chunks of consecutive neurons, kGroup chunks in lockstep to the end
// (models whose neurons all take about one attempt per step: iaf_cond_*).
template <class Model>
SNNJAX_ARCH_CLONES void EvolveChunks(const Instance& in, int64_t a, int64_t b) {
  constexpr int N = Model::kN, G = kGroup;
  for (int64_t i00 = a; i00 < b; i00 += G * kLanes) {
    Model f[G] = {};
    snnjax_ode::Lanes<N, G> s;
    int64_t i0[G], lanes[G];
    for (int g = 0; g < G; ++g) {  // past b: chunks of no lanes (h = 0)
      i0[g] = std::min(b, i00 + g * kLanes);
      lanes[g] = std::min<int64_t>(kLanes, b - i0[g]);
      const int64_t at = std::min(i0[g], b - 1);
      const snnjax_ode::Consecutive lanes_of{at, std::max<int64_t>(lanes[g], 1)};
      f[g] = Model(in.params, lanes_of);
      for (int i = 0; i < kRows<Model>; ++i) {
        s.Row(g, i) = LoadLanes(in.y_in[i] + at, lanes_of.lanes);
      }
      s.step[g] = LoadLanes(in.step_in + at, lanes_of.lanes);
      if constexpr (Model::kAux > 0) {
        for (int k = 0; k < Model::kAux; ++k) {
          f[g].aux[k] = LoadLanes(in.y_in[kRows<Model> + k] + at, lanes_of.lanes);
        }
      }
      const vi used = snnjax_ode::LaneIndex() < static_cast<int32_t>(lanes[g]);
      s.h[g] = Select(used, lanes_of(in.params[0]), vf{});
      s.t[g] = vf{};
      f[g](s.y[g], s.k[g][0]);
    }
    for (int64_t it = 0; it < kMaxIterations && s.TryStep(f, kControlY, Model::kLo); ++it) {
    }
    for (int g = 0; g < G; ++g) {
      for (int i = 0; i < kRows<Model>; ++i) {
        StoreLanes(s.Row(g, i), in.y[i] + i0[g], lanes[g]);
      }
      StoreLanes(s.step[g], in.step + i0[g], lanes[g]);
      if constexpr (Model::kAux > 0) {
        for (int k = 0; k < Model::kAux; ++k) {
          StoreLanes(f[g].aux[k], in.y[kRows<Model> + k] + i0[g], lanes[g]);
        }
      }
      const vi failed = s.t[g] < s.h[g];
      for (int64_t l = 0; l < lanes[g]; ++l) in.failed[i0[g] + l] = failed[l] != 0;
    }
  }
}

// Neurons [a, b) through kGroup chunks of lanes that are refilled with the next neuron as
// each finishes (the models whose neurons take anything from one attempt per step to
// tens during a spike: Hodgkin-Huxley; in lockstep to the end, a chunk would wait for its
// slowest neuron). Each neuron goes through the same operations as in EvolveChunks.
template <class Model>
SNNJAX_ARCH_CLONES void EvolveRefill(const Instance& in, int64_t a, int64_t b) {
  static_assert(Model::kAux == 0, "EvolveRefill keeps no aux rows");
  constexpr int N = Model::kN, G = kGroup, R = kRows<Model>;
  Model f[G] = {};
  snnjax_ode::Lanes<N, G> s;
  vi index[G], attempts[G];
  int64_t next = a;
  // Stores the done lanes' neurons, loads the next ones (inlined: a vector argument must
  // not cross into a function compiled for another instruction set).
  auto refill = [&](int g, vi done) __attribute__((always_inline)) {
    bool any = false;
    for (int l = 0; l < kLanes; ++l) {
      if (!done[l]) continue;
      if (index[g][l] >= 0) {
        const int64_t i = index[g][l];
        for (int r = 0; r < R; ++r) in.y[r][i] = s.Row(g, r)[l];
        in.step[i] = s.step[g][l];
        in.failed[i] = s.t[g][l] < s.h[g][l];
      }
      index[g][l] = next < b ? static_cast<int32_t>(next++) : -1;
      const int64_t i = index[g][l] >= 0 ? index[g][l] : a;
      for (int r = 0; r < R; ++r) s.Row(g, r)[l] = in.y_in[r][i];
      s.step[g][l] = in.step_in[i];
      s.t[g][l] = 0.0f;
      attempts[g][l] = 0;
      any = true;
    }
    if (!any) return;
    const snnjax_ode::Gathered lanes_of{index[g] < 0 ? vi{} + static_cast<int32_t>(a) : index[g]};
    f[g] = Model(in.params, lanes_of);
    s.h[g] = Select(index[g] >= 0, lanes_of(in.params[0]), vf{});
    vf k1[N];
    f[g](s.y[g], k1);
    for (int r = 0; r < N; ++r) s.k[g][0][r] = Select(done, k1[r], s.k[g][0][r]);
  };
  for (int g = 0; g < G; ++g) {
    index[g] = vi{} - 1;
    refill(g, vi{} - 1);
  }
  for (;;) {
    vi live = vi{};
    for (int g = 0; g < G; ++g) live |= index[g] >= 0;
    if (!snnjax_ode::Any(live)) break;
    for (int g = 0; g < G; ++g) attempts[g] -= s.t[g] < s.h[g];  // -(-1): one more
    s.TryStep(f, kControlY, Model::kLo);
    for (int g = 0; g < G; ++g) {
      refill(g, (index[g] >= 0) & ((s.t[g] >= s.h[g]) | (attempts[g] >= kMaxIterations)));
    }
  }
}

template <class Model>
SNNJAX_ARCH_CLONES void EvolveRange(const Instance& in, int64_t a, int64_t b) {
  if constexpr (Model::kRefill) {
    EvolveRefill<Model>(in, a, b);
  } else {
    EvolveChunks<Model>(in, a, b);
  }
}

// A thread's parts (PartSize): at least kOdePart neurons, kRefillPart for the refill models
// (a part's hand-over between the cores costs: with a mutex per part, parts of ~100
// neurons made two threads no faster than one; with atomics, parts of 256 were still
// slower than 1,024 while parts went to either core; taken from both ends (ffi_common.h),
// parts of 512 made Brette's COBA faster than 1,024, its COBAHH (refill: the work varies
// from neuron to neuron) slower).
constexpr int64_t kOdePart = 512, kRefillPart = 1024;

template <class Model>
ffi::Error Run(ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& step_in, ffi::RemainingArgs& rest,
               ffi::Result<ffi::Buffer<ffi::F32>>& step, ffi::Result<ffi::Buffer<ffi::S32>>& failed,
               ffi::RemainingRets& rows, int64_t threads) {
  constexpr int R = kRows<Model> + Model::kAux;  // the rows the kernel reads and writes
  static_assert(R <= kMaxRows);
  auto sd = step->dimensions();
  const Batch batch(sd, 1);
  const size_t b = batch.rank();
  if (rows.size() != R || rest.size() != R + Model::kParams) {
    return ffi::Error::InvalidArgument("snnjax_rkf45: expected " + std::to_string(R) +
                                       " rows of y and " + std::to_string(Model::kParams) +
                                       " parameter buffers");
  }
  const int64_t n = sd[b];
  if (n == 0) return ffi::Error::Success();
  std::vector<ffi::Buffer<ffi::F32>> args;  // y's rows, then the parameters
  std::vector<float*> out;
  ffi::Error read = snnjax_ffi::StateRows("snnjax_rkf45", batch, n, R, rest, rows, args, out);
  if (read.failure()) return read;
  ffi::Error fits = CheckBatch(batch, "snnjax_rkf45", {{step_in.dimensions(), 1}});
  if (fits.failure()) return fits;
  const int64_t workers = Threads(pool, threads);
  const int64_t least = Model::kRefill ? kRefillPart : kOdePart;
  const int64_t per_part = snnjax_ffi::PartSize(n, batch.size(), workers, least, kGroup * kLanes);
  const int64_t parts_per = (n + per_part - 1) / per_part;
  auto one = [&](int64_t part) {
    const int64_t i = part / parts_per, q = part % parts_per;
    Param p[Model::kParams];
    Instance in = {{},
                   step_in.typed_data() + batch.Offset(step_in.dimensions(), i),
                   {},
                   step->typed_data() + i * n,
                   failed->typed_data() + i * n,
                   n,
                   p};
    for (int k = 0; k < R + Model::kParams; ++k) {
      auto pd = args[k].dimensions();
      const float* data = args[k].typed_data() + batch.Offset(pd, i);
      if (k < R) {
        in.y_in[k] = data;
        in.y[k] = out[k] + i * n;
      } else {
        p[k - R] = {data, pd[b] == 1};
      }
    }
    EvolveRange<Model>(in, q * per_part, std::min(n, (q + 1) * per_part));
  };
  ParallelFor(pool, batch.size() * parts_per, workers, one);
  return ffi::Error::Success();
}

ffi::Error Rkf45Impl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> step_in, ffi::RemainingArgs rest,
                     ffi::Result<ffi::Buffer<ffi::F32>> step,
                     ffi::Result<ffi::Buffer<ffi::S32>> failed, ffi::RemainingRets rows,
                     int64_t model, int64_t threads) {
  switch (model) {
    case 0:
      return Run<IafCondExp>(pool, step_in, rest, step, failed, rows, threads);
    case 1:
      return Run<IafCondBeta>(pool, step_in, rest, step, failed, rows, threads);
    case 2:
      return Run<HHCondExpTraub>(pool, step_in, rest, step, failed, rows, threads);
    case 3:
      return Run<HHPscAlpha>(pool, step_in, rest, step, failed, rows, threads);
    case 4:
      return Run<Aeif<0>>(pool, step_in, rest, step, failed, rows, threads);
    case 5:
      return Run<Aeif<1>>(pool, step_in, rest, step, failed, rows, threads);
    case 6:
      return Run<Aeif<2>>(pool, step_in, rest, step, failed, rows, threads);
    default:
      return ffi::Error::InvalidArgument("snnjax_rkf45: unknown model " + std::to_string(model));
  }
}

// ---------------------------------------------------------------- snnjax_ode_block
// The steps of one block of the iaf_cond_* and hh_* models (block.h: each part of neurons
// through all the block's steps, on the same core from block to block), each step the
// model's step function with the native ODE (snnjax.sim.models._iaf_cond / _hh,
// native=True): the current I_stim + I_e (and iaf_cond_*: refractory = r > 0), a fresh
// step size h where none is carried; the ODE as snnjax_rkf45; then the step's input into
// the conductances or synaptic currents, the refractory count and the spike (iaf_cond_*:
// threshold and reset; hh_*: V_m >= threshold at a local maximum), V_m = NaN where the ODE
// failed or V_m is not finite, and the step's current as I_stim. Bit for bit that step:
// the same ODE code, then additions, selects and the multiply-adds XLA fuses (written as
// fmaf). Models (attribute `model`), their float rows and parameters:
//   0 iaf_cond_exp  rows (V_m, g_ex, g_in, i_0, step); parameters h, I_e, V_reset, V_th,
//       E_L, g_L, C_m, E_ex, E_in, tau_syn_ex, tau_syn_in, refractory counts
//   1 iaf_cond_alpha / iaf_cond_beta  rows (V_m, dg_ex, g_ex, dg_in, g_in, i_0, step);
//       parameters as 0 with tau_rise_ex, tau_decay_ex, tau_rise_in, tau_decay_in for the
//       two time constants, then psc_ex, psc_in (the jumps of dg per nS)
//   2 hh_cond_exp_traub  rows (snnjax_rkf45's y and compensations, i_0, step); parameters
//       h, I_e, then snnjax_rkf45's from g_Na on, refractory counts
//   3 hh_psc_alpha  as 2, then psc_ex, psc_in (the jumps of dI per pA)
//   4, 5, 6 aeif_cond_exp, aeif_cond_alpha, aeif_psc_exp  rows (snnjax_rkf45's y without
//       its last three, i_0, step); parameters h, I_e, then snnjax_rkf45's from V_reset
//       on (the refractory counts among them), aeif_cond_alpha then psc_ex, psc_in; the
//       step's spikes a count, the refractory count decremented after the ODE, V_m = NaN
//       where the ODE failed or found an instability
// a b + c, correctly rounded (fmaf) in every lane.
SNNJAX_INLINE vf Fma(vf a, vf b, vf c) {
  vf out;
  for (int l = 0; l < kLanes; ++l) out[l] = std::fmaf(a[l], b[l], c[l]);
  return out;
}

// A part's per-step scratch rows, by neuron index (b - 1 at most): floats x (CondBlock:
// refractory 0/1; HHBlock: V_m before the step; AeifBlock: the refractory steps left), the
// current, AeifBlock's spike count and instability (the ODE's aux rows after x), and the
// ODE's failures.
struct Scratch {
  float* x;
  float* count;
  float* bad;
  float* stim;
  int32_t* failed;
};

// A part through its live steps: Block::Pre (vectors of kLanes neurons), the ODE,
// Block::Post; the steps' work before and after the ODE contracted where XLA's is (Fma)
// and nowhere else (the ODE, a function of its own, is).
template <class Block>
SNNJAX_ARCH_CLONES __attribute__((optimize("fp-contract=off"))) void Steps(
    const snnjax_block::Part& c) {
  using Ode = typename Block::Ode;
  constexpr int R = kRows<Ode>;
  const int64_t a = c.a, b = c.b;
  // The thread's scratch, kept (a fresh allocation per call cost).
  constexpr int kAux = Ode::kAux;
  static_assert(kAux == 0 || kAux == 3);  // x, count, bad
  thread_local std::vector<float> x_rows, stim_rows, count_rows, bad_rows;
  thread_local std::vector<int32_t> failed_rows;
  for (auto* v : {&x_rows, &stim_rows, &count_rows, &bad_rows}) {
    v->resize(std::max<size_t>(v->size(), b));
  }
  failed_rows.resize(std::max<size_t>(failed_rows.size(), b));
  const Scratch s{x_rows.data(), count_rows.data(), bad_rows.data(), stim_rows.data(),
                  failed_rows.data()};
  Param p[Ode::kParams];
  Block::OdeParams(c, s, p);
  Instance in = {};
  for (int k = 0; k < R; ++k) in.y_in[k] = in.y[k] = c.f[k];
  if constexpr (kAux > 0) {
    float* aux[] = {s.x, s.count, s.bad};
    for (int k = 0; k < kAux; ++k) in.y_in[R + k] = in.y[R + k] = aux[k];
  }
  in.step_in = in.step = c.f[R + 1];
  in.failed = s.failed;
  in.n = c.n;
  in.params = p;
  for (int64_t t = 0; t < c.live; ++t) {
    for (int64_t i = a; i < b; i += kLanes) Block::Pre(c, s, i, std::min<int64_t>(kLanes, b - i));
    EvolveRange<Ode>(in, a, b);
    for (int64_t i = a; i < b; i += kLanes) {
      Block::Post(c, s, t, i, std::min<int64_t>(kLanes, b - i));
    }
  }
}

// Before a step's ODE (every block): the current I_stim + I_e (parameter 1), a fresh step
// size where none is carried (row R + 1; i_0: row R): h (parameter 0), or kFirst: min(0.01,
// h) (NEST's aeif models).
template <int R, bool kFirst = false>
SNNJAX_INLINE void StimAndStep(const snnjax_block::Part& c, const Scratch& s, int64_t i,
                               int64_t lanes) {
  const Consecutive at{i, lanes};
  StoreLanes(LoadLanes(c.f[R] + i, lanes) + at(c.p[1]), s.stim + i, lanes);
  const vf step = LoadLanes(c.f[R + 1] + i, lanes);
  const vf fresh = kFirst ? snnjax_ode::Min(snnjax_ode::Splat(0.01f), at(c.p[0])) : at(c.p[0]);
  StoreLanes(Select(step != step, fresh, step), c.f[R + 1] + i, lanes);
}

// The step's input (row t of `input`) of neurons i .. i + lanes.
SNNJAX_INLINE vf StepInput(const float* input, const snnjax_block::Part& c, int64_t t,
                           int64_t i, int64_t lanes) {
  return LoadLanes(input + t * c.stride + i, lanes);
}

// The step's spike input into the synapses' rows row_ex, row_in: exponential synapses add
// the excitatory weight and the inhibitory weight's size; alpha synapses add weight x jump
// (parameters jump, jump + 1) to their derivatives, as XLA's fused multiply-adds, the
// inhibitory weight by its size or (kSigned: hh_psc_alpha's current) as it is.
template <bool kAlpha, bool kSigned = false>
SNNJAX_INLINE void SynapticInput(const snnjax_block::Part& c, int64_t t, int64_t i,
                                 int64_t lanes, int row_ex, int row_in, int jump = 0) {
  const Consecutive at{i, lanes};
  const vf ex = StepInput(c.ex, c, t, i, lanes), inh = StepInput(c.in, c, t, i, lanes);
  float* const y_ex = c.f[row_ex] + i;
  float* const y_in = c.f[row_in] + i;
  if constexpr (kAlpha) {
    StoreLanes(Fma(ex, at(c.p[jump]), LoadLanes(y_ex, lanes)), y_ex, lanes);
    StoreLanes(Fma(kSigned ? inh : -inh, at(c.p[jump + 1]), LoadLanes(y_in, lanes)), y_in, lanes);
  } else {
    StoreLanes(LoadLanes(y_ex, lanes) + ex, y_ex, lanes);
    StoreLanes(LoadLanes(y_in, lanes) - inh, y_in, lanes);
  }
}

// After a step: the spikes, V_m = NaN where `bad`, the step's current as I_stim (row R).
template <int R>
SNNJAX_INLINE void Finish(const snnjax_block::Part& c, int64_t t, int64_t i, int64_t lanes,
                          vf spikes, vi bad, vf v) {
  StoreLanes(spikes, c.spikes + t * c.n + i, lanes);
  StoreLanes(Select(bad, vf{} + NAN, v), c.f[0] + i, lanes);
  StoreLanes(StepInput(c.stim, c, t, i, lanes), c.f[R] + i, lanes);
}

// Finish of a step that spikes where `spike`, bad where the ODE failed or V_m is not finite.
template <int R>
SNNJAX_INLINE void FinishSpike(const snnjax_block::Part& c, const Scratch& s, int64_t t,
                               int64_t i, int64_t lanes, vi spike, vf v) {
  const vi bad = (LoadLanes(s.failed + i, lanes) != 0) | ~(Abs(v) <= FLT_MAX);
  Finish<R>(c, t, i, lanes, Select(spike, vf{} + 1.0f, vf{}), bad, v);
}

template <class OdeModel, bool kAlphaModel>
struct CondBlock {
  using Ode = OdeModel;
  static constexpr bool kAlpha = kAlphaModel;
  static constexpr int kN = Ode::kN, kFloat = kN + 2;  // y, i_0, step
  static constexpr int kTaus = Ode::kParams - 10;  // h, refractory, stim, 7 more, the taus
  static constexpr int kCounts = 9 + kTaus, kParams = kCounts + (kAlpha ? 3 : 1);
  // Parts: as snnjax_rkf45's, in whole groups of chunks.
  static constexpr int64_t kPartNeurons = kOdePart, kUnit = kGroup * kLanes;

  static void Run(const snnjax_block::Part& c) { Steps<CondBlock>(c); }

  static void OdeParams(const snnjax_block::Part& c, const Scratch& s, Param* p) {
    p[0] = c.p[0];
    p[1] = {s.x, false};
    p[2] = {s.stim, false};
    std::copy(c.p + 2, c.p + kCounts, p + 3);  // V_reset .. the taus
  }

  SNNJAX_INLINE static void Pre(const snnjax_block::Part& c, const Scratch& s, int64_t i,
                                int64_t lanes) {
    StoreLanes(Select(LoadLanes(c.r + i, lanes) > 0, vf{} + 1.0f, vf{}), s.x + i, lanes);
    StimAndStep<kN>(c, s, i, lanes);
  }

  SNNJAX_INLINE static void Post(const snnjax_block::Part& c, const Scratch& s, int64_t t,
                                 int64_t i, int64_t lanes) {
    const Consecutive at{i, lanes};
    float* const* f = c.f;
    SynapticInput<kAlpha>(c, t, i, lanes, 1, kAlpha ? 3 : 2, kCounts + 1);
    const vi refractory = LoadLanes(s.x + i, lanes) != 0.0f;
    const vi r = LoadLanes(c.r + i, lanes);
    const vf reset = at(c.p[2]);
    const vf vn = Select(refractory, reset, LoadLanes(f[0] + i, lanes));
    const vi spike = vn - at(c.p[3]) >= 0.0f;
    const vi counts = __builtin_convertvector(at(c.p[kCounts]), vi);
    StoreLanes(spike ? counts : refractory ? r - 1 : r, c.r + i, lanes);
    FinishSpike<kN>(c, s, t, i, lanes, spike, Select(spike, vn - (vn - reset), vn));
  }
};

// hh_cond_exp_traub (kTraub) and hh_psc_alpha: rows y, their compensations, i_0, step.
template <class OdeModel, bool kTraub>
struct HHBlock {
  using Ode = OdeModel;
  static constexpr int kN = Ode::kN, kFloat = 2 * kN + 2;
  static constexpr int kCounts = Ode::kParams, kParams = kCounts + (kTraub ? 1 : 3);
  static constexpr int64_t kPartNeurons = kRefillPart, kUnit = kGroup * kLanes;

  static void Run(const snnjax_block::Part& c) { Steps<HHBlock>(c); }

  static void OdeParams(const snnjax_block::Part& c, const Scratch& s, Param* p) {
    p[0] = c.p[0];
    p[1] = {s.stim, false};
    std::copy(c.p + 2, c.p + kCounts, p + 2);  // g_Na .. the taus
  }

  SNNJAX_INLINE static void Pre(const snnjax_block::Part& c, const Scratch& s, int64_t i,
                                int64_t lanes) {
    StoreLanes(LoadLanes(c.f[0] + i, lanes), s.x + i, lanes);  // V_m before the step
    StimAndStep<2 * kN>(c, s, i, lanes);
  }

  // The synaptic input; a spike where V_m >= the threshold at a local maximum (V_m fell
  // in this step) outside the refractory period.
  SNNJAX_INLINE static void Post(const snnjax_block::Part& c, const Scratch& s, int64_t t,
                                 int64_t i, int64_t lanes) {
    const Consecutive at{i, lanes};
    float* const* f = c.f;
    // traub: g_ex, g_in; else dI_ex, dI_in (inhibitory weights stay negative)
    SynapticInput<!kTraub, true>(c, t, i, lanes, 4, kTraub ? 5 : 6, kCounts + 1);
    const vf threshold = kTraub ? at(c.p[9]) + 30.0f : vf{};  // V_T + 30, or 0
    const vf v = LoadLanes(f[0] + i, lanes);
    const vi r = LoadLanes(c.r + i, lanes);
    const vi spike = (r == 0) & (v >= threshold) & (LoadLanes(s.x + i, lanes) > v);
    const vi counts = __builtin_convertvector(at(c.p[kCounts]), vi);
    StoreLanes(r > 0 ? r - 1 : spike ? counts : r, c.r + i, lanes);
    FinishSpike<2 * kN>(c, s, t, i, lanes, spike, v);
  }
};

// aeif_cond_exp (kSyn 0), aeif_cond_alpha (1), aeif_psc_exp (2): rows y, i_0, step.
template <int kSyn>
struct AeifBlock {
  using Ode = Aeif<kSyn>;
  static constexpr int kN = Ode::kN, kFloat = kN + 2;
  static constexpr int kParams = Ode::kParams + (kSyn == 1 ? 2 : 0);
  // Parts: as snnjax_rkf45's; chunks in lockstep (lanes refilled as they finish, as the HH
  // models' are, made an AdEx network of 4,000 neurons no faster).
  static constexpr int64_t kPartNeurons = kOdePart, kUnit = kGroup * kLanes;

  static void Run(const snnjax_block::Part& c) { Steps<AeifBlock>(c); }

  static void OdeParams(const snnjax_block::Part& c, const Scratch& s, Param* p) {
    p[0] = c.p[0];
    p[1] = {s.stim, false};
    std::copy(c.p + 2, c.p + Ode::kParams, p + 2);  // V_reset .. the taus
  }

  SNNJAX_INLINE static void Pre(const snnjax_block::Part& c, const Scratch& s, int64_t i,
                                int64_t lanes) {
    StoreLanes(__builtin_convertvector(LoadLanes(c.r + i, lanes), vf), s.x + i, lanes);
    StoreLanes(vf{}, s.count + i, lanes);
    StoreLanes(vf{}, s.bad + i, lanes);
    StimAndStep<kN, true>(c, s, i, lanes);
  }

  // The step's input into the synapses; the refractory count decremented; V_m = NaN where
  // the ODE failed or found an instability.
  SNNJAX_INLINE static void Post(const snnjax_block::Part& c, const Scratch& s, int64_t t,
                                 int64_t i, int64_t lanes) {
    float* const* f = c.f;
    SynapticInput<kSyn == 1>(c, t, i, lanes, 1, kSyn == 1 ? 3 : 2, Ode::kParams);
    const vi r = __builtin_convertvector(LoadLanes(s.x + i, lanes), vi);
    StoreLanes(r > 0 ? r - 1 : r, c.r + i, lanes);
    const vi bad = (LoadLanes(s.failed + i, lanes) != 0) | (LoadLanes(s.bad + i, lanes) != 0.0f);
    Finish<kN>(c, t, i, lanes, LoadLanes(s.count + i, lanes), bad, LoadLanes(f[0] + i, lanes));
  }
};

struct OdeBlock {  // the kernel's name
  static constexpr const char* kName = "snnjax_ode_block";
};

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(SnnjaxRkf45, Rkf45Impl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()  // step [n]
                                  .RemainingArgs()  // the rows of y, the model's parameters
                                  .Ret<ffi::Buffer<ffi::F32>>()  // step
                                  .Ret<ffi::Buffer<ffi::S32>>()  // failed
                                  .RemainingRets()               // the rows of y
                                  .Attr<int64_t>("model")
                                  .Attr<int64_t>("threads"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    SnnjaxOdeBlock,
    (snnjax_block::BlockImpl<OdeBlock, CondBlock<IafCondExp, false>, CondBlock<IafCondBeta, true>,
                             HHBlock<HHCondExpTraub, true>, HHBlock<HHPscAlpha, false>,
                             AeifBlock<0>, AeifBlock<1>, AeifBlock<2>>),
    snnjax_block::Binding());
