// Threefry-2x32 with 20 rounds (Salmon et al. 2011), as jax.random's threefry2x32_p and
// snnjax.sim._prng._hash: the counter (x0, x1) hashed in place under the key (k0, k1).
// Constant rotations, no branches: callers' loops over elements vectorise. Shared by the
// Poisson kernel (sim_kernels.cc) and the construction's source draws (source_draws.cc).
#pragma once

#include <cstdint>

namespace snnjax {

inline uint32_t Rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

#define SNNJAX_ROUND(r) \
  x0 += x1;             \
  x1 = Rotl32(x1, r) ^ x0;
#define SNNJAX_ROUNDS_A SNNJAX_ROUND(13) SNNJAX_ROUND(15) SNNJAX_ROUND(26) SNNJAX_ROUND(6)
#define SNNJAX_ROUNDS_B SNNJAX_ROUND(17) SNNJAX_ROUND(29) SNNJAX_ROUND(16) SNNJAX_ROUND(24)

inline void Threefry2x32(uint32_t k0, uint32_t k1, uint32_t& x0, uint32_t& x1) {
  const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  x0 += k0;
  x1 += k1;
  SNNJAX_ROUNDS_A
  x0 += k1;
  x1 += k2 + 1u;
  SNNJAX_ROUNDS_B
  x0 += k2;
  x1 += k0 + 2u;
  SNNJAX_ROUNDS_A
  x0 += k0;
  x1 += k1 + 3u;
  SNNJAX_ROUNDS_B
  x0 += k1;
  x1 += k2 + 4u;
  SNNJAX_ROUNDS_A
  x0 += k2;
  x1 += k0 + 5u;
}

#undef SNNJAX_ROUNDS_B
#undef SNNJAX_ROUNDS_A
#undef SNNJAX_ROUND

}  // namespace snnjax
