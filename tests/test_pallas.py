"""Fused Pallas kernels == reference (forward and gradients); CUDA lowering.

The kernels run on CPU only in interpret mode, so these tests use small shapes chosen to
exercise padding (``B·N`` not a multiple of ``block_m``) and time blocking (``T`` not a
multiple of ``block_t``). CUDA lowering is checked without a GPU via ``jax.export``. On a
GPU (``benchmarks/gpu_check.py`` runs this file there) the same tests run the compiled
kernels: ``INTERPRET`` is ``False`` there.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from grad_check import check_against_reference, make_problem, rel_err
from model_cases import CASES, case_id

from snnjax import neurons
from snnjax.ops import BlockSizes, neuron_scan, neuron_scan_reference

# Interpret mode where the kernels cannot be compiled (CPU); the real kernels on a GPU.
INTERPRET = jax.default_backend() == "cpu"
SMALL = BlockSizes(block_m=8, block_t=4)
TOL = {jnp.float32: 1e-5, jnp.bfloat16: 2e-2}


@pytest.mark.parametrize("memory", ["save_pre", "recompute"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_kernels_match_reference(case, memory, rng):
    problem = make_problem(case, rng, (11, 3, 5))
    check_against_reference(
        *problem, impl="pallas", block_sizes=SMALL, memory=memory, interpret=INTERPRET
    )


@pytest.mark.parametrize("case", [c for c in CASES if c[2] is False], ids=case_id)
def test_kernels_match_reference_float64(case, rng):
    """float64 with a scalar parameter: the kernels' backward is the reference's maths."""
    with jax.enable_x64(True):
        problem = make_problem(case, rng, (11, 3, 5), dtype=jnp.float64, scalar_first_param=True)
        check_against_reference(
            *problem,
            tol=1e-10,
            param_tol=1e-10,
            impl="pallas",
            block_sizes=SMALL,
            interpret=INTERPRET,
        )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("surrogate", ["arctan", "triangle"])
def test_kernel_input_gradient_per_dtype(dtype, surrogate, rng):
    """The training call (outputs only, gradient w.r.t. the input), with bf16 inputs."""
    model, params, x, _, weights = make_problem(
        ("LIF", "soft", True), rng, (13, 4, 7), dtype=dtype, surrogate=surrogate
    )
    kw = {"impl": "pallas", "block_sizes": SMALL, "interpret": INTERPRET}
    out = neuron_scan(model, params, x, **kw).outputs
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, neuron_scan_reference(model, params, x).outputs)

    def loss(scan, **k):
        return lambda x: jnp.sum(
            scan(model, params, x, **k).outputs.astype(jnp.float32) * weights[0]
        )

    g = jax.grad(loss(neuron_scan, **kw))(x)
    g_ref = jax.grad(loss(neuron_scan_reference))(x)
    assert g.dtype == dtype
    assert rel_err(g, g_ref) <= TOL[dtype]


def test_block_shapes_and_lengths(rng):
    """Exact multiples, a single short block, and T < block_t all agree with the reference."""
    model = neurons.CuBaLIF(reset="hard")
    params = model.params(alpha=0.8, beta=0.9)
    for shape, bs in [((8, 2, 8), SMALL), ((3, 1, 3), SMALL), ((9, 2, 20), BlockSizes(16, 9))]:
        x = jnp.asarray(rng.normal(0.4, 0.6, shape), jnp.float32)
        res = neuron_scan(model, params, x, impl="pallas", block_sizes=bs, interpret=INTERPRET)
        np.testing.assert_array_equal(res.outputs, neuron_scan_reference(model, params, x).outputs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"block_m": 48}, r"`block_m` must be a power of two; got 48"),
        ({"block_t": 0}, r"`block_t` must be a positive int; got 0"),
        ({"backend": "mosaic"}, r"`backend` must be one of 'triton'; got 'mosaic'"),
    ],
)
def test_bad_block_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlockSizes(**kwargs)


def test_bad_block_sizes_argument():
    model = neurons.LIF()
    with pytest.raises(ValueError, match=r"`block_sizes` must be a BlockSizes"):
        neuron_scan(
            model, model.params(beta=0.9), jnp.ones((4, 2, 3)), impl="pallas", block_sizes=(8, 4)
        )


LOWERING_MODELS = [
    neurons.IF(),
    neurons.LIF(),
    neurons.LIF(reset="hard", detach_reset=True, surrogate="rectangle"),
    neurons.CuBaLIF(reset="hard", surrogate="sigmoid"),
    neurons.ALIF(surrogate="arctan"),
    neurons.LI(),
]
LOWERING_PARAMS = {
    "IF": {},
    "LI": {"beta": 0.9},
    "LIF": {"beta": 0.9},
    "CuBaLIF": {"alpha": 0.8, "beta": 0.9},
    "ALIF": {"beta": 0.9, "rho": 0.95},
}


@pytest.mark.parametrize("memory", ["save_pre", "recompute"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("model", LOWERING_MODELS, ids=lambda m: type(m).__name__)
def test_lowers_for_cuda(model, dtype, memory):
    """Forward + backward kernels lower for CUDA (Triton) on this CPU-only machine.

    Shapes: T = 300 (two full blocks of 128 and a tail of 44), B·N = 1600 (not a multiple
    of block_m = 512), with traces and parameter gradients, so every kernel variant lowers.
    """
    params = model.params(**LOWERING_PARAMS[type(model).__name__])

    def train(params, x):
        def loss(params, x):
            res = neuron_scan(
                model, params, x, impl="pallas", interpret=False, return_traces=True, memory=memory
            )
            return jnp.sum(res.outputs.astype(jnp.float32)) + sum(jnp.sum(t) for t in res.traces)

        return jax.grad(loss, (0, 1))(params, x)

    spec = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
    exported = jax.export.export(
        jax.jit(train),
        platforms=["cuda"],
        disabled_checks=[jax.export.DisabledSafetyCheck.custom_call("__gpu$xla.gpu.triton")],
    )(spec, jax.ShapeDtypeStruct((300, 16, 100), dtype))
    module = exported.mlir_module()
    name = type(model).__name__.lower()
    assert f"snnjax_{name}_fwd" in module and f"snnjax_{name}_bwd" in module
    assert "__gpu$xla.gpu.triton" in module
