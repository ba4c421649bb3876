"""The one place that chooses how Pallas kernels lower for GPU, and their block sizes.

JAX 0.10/0.11 lowers ``pallas_call`` for NVIDIA GPUs through **Triton** (selected by passing
``jax.experimental.pallas.triton.CompilerParams``; deprecated upstream, but mature) or
**Mosaic GPU** (the default when no Triton parameters are given). snnjax uses Triton: its
kernels lower with it (``tests/test_pallas.py`` checks every model for CUDA on CPU via
``jax.export``), and a Triton block is a window into global memory, so a long time block
costs no shared memory. With Mosaic GPU (JAX 0.10.2) they do not lower yet: its Pallas
lowering rejects ``custom_jvp_call`` (the spike function) in the forward kernel ("Resource
estimation does not support custom_jvp_call") and ``add_any`` (cotangent accumulation) in
the backward kernel. To try another backend, change :meth:`BlockSizes.compiler_params`
and ``BACKENDS`` here: nothing else in snnjax names a backend.

JAX 0.11 (same ``pallas_call`` / ``CompilerParams`` API) emits a ``DeprecationWarning`` at
every Triton lowering (filtered for the tests in ``pyproject.toml``) and reads the GPU's
compute capability from the default device when lowering, so ``jax.export`` for CUDA on a
CPU-only machine works with JAX 0.10 only. ``benchmarks/gpu_check.py`` runs the kernel
tests on a real GPU.
"""

import dataclasses

from .._errors import check_one_of

BACKENDS = ("triton",)
MEMORY_MODES = ("save_pre", "recompute")


@dataclasses.dataclass(frozen=True)
class BlockSizes:
    """Block sizes of the fused neuron-scan kernels.

    Attributes:
        block_m: neurons per kernel instance (the flattened ``B·N…`` axis is padded to a
            multiple of it); a power of two.
        block_t: time steps per kernel call. Longer sequences run as consecutive calls that
            carry the state; ``memory='recompute'`` keeps one state per block.
        backend: the Pallas GPU backend (see the module docstring).
        num_warps: warps per Triton program.

    Examples:
        >>> BlockSizes(block_m=256, block_t=64)
    """

    block_m: int = 512
    block_t: int = 128
    backend: str = "triton"
    num_warps: int = 4

    def __post_init__(self):
        check_one_of("backend", self.backend, BACKENDS)
        for name in ("block_m", "block_t", "num_warps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive int; got {value!r}")
        if self.block_m & (self.block_m - 1):
            raise ValueError(f"`block_m` must be a power of two; got {self.block_m}")

    @classmethod
    def get_default(cls) -> "BlockSizes":
        return cls()

    def compiler_params(self):
        """Backend compiler parameters for ``pallas_call``."""
        from jax.experimental.pallas import triton as pl_triton

        return pl_triton.CompilerParams(num_warps=self.num_warps, num_stages=1)
