// The plumbing of the block kernels (neuron_exact.cc, neuron_ode.cc): the steps of one
// block of a group's neurons in one call, each part of neurons through all the block's
// steps before the next part (its state stays in cache), the parts of every instance of
// a vmapped call spread over XLA's intra-op threads.
//
// Buffers: inputs [3, steps, N] (excitatory and inhibitory input, current: the whole
// shard's, the group's neurons at `lo` .. lo + n), live [1] (steps to run; the rest leave
// the state as it is and spike nothing), r [n] (int32 refractory steps left), then the
// model's float state rows, each [n], then its parameters, each [n] or [1]; results: the
// spikes [steps, n] (0/1), r, the number of neurons with a non-finite state value after
// the block [1], and the float rows (r and the rows in place of the arguments where XLA
// aliases them). A vmapped call has the batch dimensions in front of every buffer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ffi_common.h"

namespace snnjax_block {

namespace ffi = xla::ffi;
using snnjax_ffi::Param;

constexpr int kMaxRows = 18;  // hh_psc_alpha: 8 variables, their compensations, 2 more
constexpr int kMaxParams = 21;  // aeif_cond_alpha

// One part of one instance: neurons [a, b) of its n, each through the block's live steps.
// Pointers are at the instance's (or the group's) neuron 0; row t of the inputs at
// + t * stride, of the spikes at + t * n.
struct Part {
  int64_t a, b, n, live;
  float* f[kMaxRows];  // the float state rows, updated in place
  int32_t* r;
  Param p[kMaxParams];
  const float* ex;
  const float* in;
  const float* stim;
  int64_t stride;  // N
  float* spikes;
};

// Neurons of [a, b) with a non-finite value in one of the R rows f (all exponent bits
// set; branch-free, so the compiler vectorises it).
template <int R>
int32_t NonFinite(float* const* f, int64_t a, int64_t b) {
  int32_t bad = 0;
  for (int64_t i = a; i < b; ++i) {
    uint32_t any = 0;
    for (int k = 0; k < R; ++k) {
      uint32_t bits;
      std::memcpy(&bits, f[k] + i, sizeof bits);
      any |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);
    }
    bad += static_cast<int32_t>(any);
  }
  return bad;
}

// The kernel `kernel` of a block of Model: kFloat state rows, kParams parameters, static
// Run(const Part&) stepping the part's neurons the live steps, kPartNeurons (parts of at
// least that many neurons, PartSize) and kUnit (parts a multiple of it). `bad`: the
// neurons with a non-finite state value after the block (a solver failure; counted here,
// where the part's rows are in cache).
template <class Model>
ffi::Error RunBlock(const char* kernel_name, ffi::ThreadPool& pool, ffi::Buffer<ffi::F32>& inputs,
                    ffi::Buffer<ffi::S32>& live, ffi::Buffer<ffi::S32>& r_in,
                    ffi::RemainingArgs& rest, ffi::Result<ffi::Buffer<ffi::F32>>& spikes,
                    ffi::Result<ffi::Buffer<ffi::S32>>& r, ffi::Result<ffi::Buffer<ffi::S32>>& bad,
                    ffi::RemainingRets& rows, int64_t lo, int64_t threads) {
  static_assert(Model::kFloat <= kMaxRows && Model::kParams <= kMaxParams);
  constexpr int R = Model::kFloat, P = Model::kParams;
  const std::string kernel(kernel_name);
  auto sd = spikes->dimensions();
  const snnjax_ffi::Batch batch(sd, 2);
  const size_t b = batch.rank();
  if (rows.size() != R || rest.size() != R + P) {
    return ffi::Error::InvalidArgument(kernel + ": expected " + std::to_string(R) +
                                       " state rows and " + std::to_string(P) + " parameters");
  }
  const int64_t steps = sd[b], n = sd[b + 1];
  auto id = inputs.dimensions();
  if (!batch.Fits(id, 3) || id[b] != 3 || id[b + 1] != steps || lo < 0 || lo + n > id[b + 2]) {
    return ffi::Error::InvalidArgument(kernel + ": inputs must be [3, steps, N], lo + n <= N");
  }
  const int64_t N = id[b + 2];
  std::vector<ffi::Buffer<ffi::F32>> args;  // the state rows, then the parameters
  std::vector<float*> out;
  ffi::Error read = snnjax_ffi::StateRows(kernel, batch, n, R, rest, rows, args, out);
  if (read.failure()) return read;
  ffi::Error fits = snnjax_ffi::CheckBatch(
      batch, kernel_name, {{live.dimensions(), 1}, {r_in.dimensions(), 1}, {bad->dimensions(), 1}});
  if (fits.failure()) return fits;
  std::fill_n(bad->typed_data(), batch.size(), 0);
  if (n == 0 || steps == 0) return ffi::Error::Success();
  const int64_t workers = snnjax_ffi::Threads(pool, threads);
  const int64_t per_part =
      snnjax_ffi::PartSize(n, batch.size(), workers, Model::kPartNeurons, Model::kUnit);
  const int64_t parts_per = (n + per_part - 1) / per_part;
  std::vector<int32_t> part_bad(batch.size() * parts_per);
  auto one = [&](int64_t part) {
    const int64_t i = part / parts_per;
    Part c;
    c.a = (part % parts_per) * per_part;
    c.b = std::min(n, c.a + per_part);
    c.n = n;
    c.live = std::clamp<int64_t>(live.typed_data()[batch.Offset(live.dimensions(), i)], 0, steps);
    const float* x = inputs.typed_data() + batch.Offset(id, i) + lo;
    c.ex = x;
    c.in = x + steps * N;
    c.stim = x + 2 * steps * N;
    c.stride = N;
    c.spikes = spikes->typed_data() + i * steps * n;
    // The state is read from the arguments and written to the results: copy the part
    // first where XLA did not alias them.
    const int32_t* r0 = r_in.typed_data() + batch.Offset(r_in.dimensions(), i);
    c.r = r->typed_data() + i * n;
    if (c.r != r0) std::copy(r0 + c.a, r0 + c.b, c.r + c.a);
    for (int k = 0; k < R; ++k) {
      const float* y0 = args[k].typed_data() + batch.Offset(args[k].dimensions(), i);
      c.f[k] = out[k] + i * n;
      if (c.f[k] != y0) std::copy(y0 + c.a, y0 + c.b, c.f[k] + c.a);
    }
    for (int k = 0; k < P; ++k) {
      auto pd = args[R + k].dimensions();
      c.p[k] = {args[R + k].typed_data() + batch.Offset(pd, i), pd[b] == 1};
    }
    Model::Run(c);
    for (int64_t t = c.live; t < steps; ++t) {
      std::fill(c.spikes + t * n + c.a, c.spikes + t * n + c.b, 0.0f);
    }
    part_bad[part] = NonFinite<R>(c.f, c.a, c.b);
  };
  snnjax_ffi::ParallelFor(pool, batch.size() * parts_per, workers, one);
  for (int64_t part = 0; part < batch.size() * parts_per; ++part) {
    bad->typed_data()[part / parts_per] += part_bad[part];
  }
  return ffi::Error::Success();
}

// A block kernel's handler implementation (with Binding()): RunBlock of the model
// `model` of Models, in the kernel Name::kName.
template <class Name, class... Models>
ffi::Error BlockImpl(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> inputs,
                     ffi::Buffer<ffi::S32> live, ffi::Buffer<ffi::S32> r_in,
                     ffi::RemainingArgs rest, ffi::Result<ffi::Buffer<ffi::F32>> spikes,
                     ffi::Result<ffi::Buffer<ffi::S32>> r, ffi::Result<ffi::Buffer<ffi::S32>> bad,
                     ffi::RemainingRets rows, int64_t model, int64_t lo, int64_t threads) {
  ffi::Error out = ffi::Error::InvalidArgument(std::string(Name::kName) + ": unknown model " +
                                               std::to_string(model));
  int64_t k = 0;
  (void)((k++ == model && (out = RunBlock<Models>(Name::kName, pool, inputs, live, r_in, rest,
                                                   spikes, r, bad, rows, lo, threads),
                           true)) ||
         ...);
  return out;
}

// The binding of a block kernel's handler (XLA_FFI_DEFINE_HANDLER_SYMBOL).
inline auto Binding() {
  return ffi::Ffi::Bind()
      .Ctx<ffi::ThreadPool>()
      .Arg<ffi::Buffer<ffi::F32>>()  // inputs [3, steps, N]
      .Arg<ffi::Buffer<ffi::S32>>()  // live [1]
      .Arg<ffi::Buffer<ffi::S32>>()  // r [n]
      .RemainingArgs()               // the float state rows, the parameters
      .Ret<ffi::Buffer<ffi::F32>>()  // spikes [steps, n]
      .Ret<ffi::Buffer<ffi::S32>>()  // r
      .Ret<ffi::Buffer<ffi::S32>>()  // bad [1]: neurons with a non-finite state value
      .RemainingRets()               // the float state rows
      .Attr<int64_t>("model")
      .Attr<int64_t>("lo")
      .Attr<int64_t>("threads");
}

}  // namespace snnjax_block
