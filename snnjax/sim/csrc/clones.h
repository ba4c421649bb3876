// The instruction sets the kernels' hot loops are compiled for, one picked at load time
// (GCC function multiversioning): AVX-512, AVX2 and the x86-64 baseline. The loops use
// integer operations and unfused float operations only (-ffp-contract=off), so every
// version gives the same bits.
#pragma once

#define SNNJAX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

// The neuron kernels' clones (neuron_exact.cc, neuron_ode.cc): x86-64-v4 (AVX-512),
// x86-64-v3 (AVX2 + FMA: fmaf is one instruction) and the baseline. Bits differ between
// them only where a file lets the compiler contract multiply-adds (neuron_ode.cc's ODE).
#define SNNJAX_ARCH_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
