// The instruction sets the kernels' hot loops are compiled for, one picked at load time
// (GCC function multiversioning): AVX-512, AVX2 and the x86-64 baseline. The loops use
// integer operations and unfused float operations only (-ffp-contract=off), so every
// version gives the same bits.
#pragma once

#define SNNJAX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
