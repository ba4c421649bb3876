"""GPU benchmark of the fused Pallas kernels (run on a machine with an NVIDIA GPU).

Three tables, each measured side by side in one run (``jax.jit``, median of ``--reps``
round-robin calls after warm-up):

1. **Bandwidth.** LIF forward + backward (gradient w.r.t. the input, ``memory='save_pre'``)
   moves ``6·T·M·4`` bytes (forward: read x, write spikes and pre-spike membrane; backward:
   read membrane and output cotangent, write input cotangent); its achieved bandwidth is
   compared with a measured device copy (``y = x + 1``: ``2·size`` bytes). Target ≥ 80 %.
2. **Speed-up over the XLA scan** on the same GPU (``impl='pallas'`` vs ``impl='xla'``) at
   T ∈ {100, 500, 1000}. Target ≥ 5× at T = 500.
3. **Open Neuromorphic setting**: ``Linear(n → n)`` + LIF, T = 500, batch 16,
   n ∈ {4096, 16384}, forward + backward (gradient w.r.t. the weights), both impls.

Usage (on the GPU machine)::

    python benchmarks/lif_kernels.py [--reps 20]

Without a GPU it refuses (the kernels run on CPU only in interpret mode); ``--smoke``
runs every table on tiny shapes in interpret mode to check the script itself.
``benchmarks/gpu_check.py`` runs the same tables (:func:`bandwidth_rows`,
:func:`layer_rows`) as one section of the GPU verification kit.
"""

import argparse
import datetime
import sys
from collections.abc import Iterator

import jax
import jax.numpy as jnp
from lif_layer import median_times

from snnjax import neurons
from snnjax.ops import BlockSizes, neuron_scan


def _lif():
    model = neurons.LIF(reset="soft", surrogate="fast_sigmoid")
    return model, model.params(beta=0.95, threshold=1.0)


def scan_fwd_bwd(impl, interpret, block_sizes):
    model, params = _lif()

    def loss(x, c):
        out = neuron_scan(
            model, params, x, impl=impl, interpret=interpret, block_sizes=block_sizes
        ).outputs
        return jnp.sum(out * c)

    return jax.jit(jax.value_and_grad(loss))


def layer_fwd_bwd(impl, interpret, block_sizes):
    model, params = _lif()

    def loss(w, x, c):
        out = neuron_scan(
            model, params, x @ w, impl=impl, interpret=interpret, block_sizes=block_sizes
        ).outputs
        return jnp.sum(out * c)

    return jax.jit(jax.value_and_grad(loss))


def sizes(smoke: bool) -> dict:
    """Shapes and block sizes of the three tables (``smoke``: tiny, for interpret mode)."""
    if smoke:
        return {"bs": BlockSizes(block_m=8, block_t=4), "B": 2, "M": 8, "Ts": (12,),
                "ns": (16,), "layer_T": 6, "layer_batch": 2}  # fmt: skip
    return {"bs": BlockSizes.get_default(), "B": 32, "M": 32768, "Ts": (100, 500, 1000),
            "ns": (4096, 16384), "layer_T": 500, "layer_batch": 16}  # fmt: skip


def bandwidth_rows(*, smoke: bool, reps: int, interpret: bool) -> Iterator[dict]:
    """Tables 1 and 2, one row per ``T``: copy and fused bandwidth, Pallas vs XLA times."""
    sz = sizes(smoke)
    B, M, bs = sz["B"], sz["M"], sz["bs"]
    fns = {
        "pallas": scan_fwd_bwd("pallas", interpret, bs),
        "xla": scan_fwd_bwd("xla", interpret, bs),
        "copy": jax.jit(lambda x, c: x + 1.0),
    }
    key = jax.random.PRNGKey(0)
    for T in sz["Ts"]:
        x = jax.random.normal(key, (T, B, M // B)) * 0.5
        c = jax.random.normal(key, x.shape)
        t = median_times(fns, x, c, reps=reps)
        size = x.size * 4
        copy_bw, fused_bw = 2 * size / t["copy"] / 1e9, 6 * size / t["pallas"] / 1e9
        yield {"T": T, "BN": M, "copy_gb_s": copy_bw, "fused_gb_s": fused_bw,
               "fraction": fused_bw / copy_bw, "pallas_ms": t["pallas"] * 1e3,
               "xla_ms": t["xla"] * 1e3, "speedup": t["xla"] / t["pallas"]}  # fmt: skip


def layer_rows(*, smoke: bool, reps: int, interpret: bool) -> Iterator[dict]:
    """Table 3, one row per ``n``: Linear(n -> n) + LIF forward + backward, both impls."""
    sz = sizes(smoke)
    bs, T, batch = sz["bs"], sz["layer_T"], sz["layer_batch"]
    layer = {
        "pallas": layer_fwd_bwd("pallas", interpret, bs),
        "xla": layer_fwd_bwd("xla", interpret, bs),
    }
    key = jax.random.PRNGKey(0)
    for n in sz["ns"]:
        w = jax.random.normal(key, (n, n)) / n**0.5
        x = (jax.random.uniform(key, (T, batch, n)) < 0.1).astype(jnp.float32)
        c = jax.random.normal(key, (T, batch, n))
        t = median_times(layer, w, x, c, reps=reps)
        yield {"n": n, "T": T, "batch": batch, "pallas_ms": t["pallas"] * 1e3,
               "xla_ms": t["xla"] * 1e3, "speedup": t["xla"] / t["pallas"]}  # fmt: skip


def main(argv=None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, interpret mode")
    args = parser.parse_args(argv)
    on_gpu = jax.default_backend() == "gpu"
    if not on_gpu and not args.smoke:
        sys.exit("lif_kernels.py needs a GPU (or --smoke for an interpret-mode check)")
    kw = {"smoke": args.smoke, "reps": args.reps, "interpret": not on_gpu}
    print(
        f"# {datetime.date.today()}  {jax.devices()[0].device_kind}  jax {jax.__version__}  "
        f"{sizes(args.smoke)['bs']}"
    )
    tables: dict[str, list[dict]] = {"bandwidth": [], "layer": []}
    print(
        "\n| T | B·N | copy GB/s | fused fwd+bwd GB/s | fraction | pallas ms | xla ms | speed-up |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in bandwidth_rows(**kw):
        tables["bandwidth"].append(r)
        print(
            f"| {r['T']} | {r['BN']} | {r['copy_gb_s']:.0f} | {r['fused_gb_s']:.0f} "
            f"| {r['fraction']:.0%} | {r['pallas_ms']:.2f} | {r['xla_ms']:.2f} "
            f"| {r['speedup']:.1f}x |",
            flush=True,
        )
    print("\n| n | T | batch | pallas fwd+bwd ms | xla fwd+bwd ms | speed-up |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in layer_rows(**kw):
        tables["layer"].append(r)
        print(
            f"| {r['n']} | {r['T']} | {r['batch']} | {r['pallas_ms']:.2f} | {r['xla_ms']:.2f} "
            f"| {r['speedup']:.1f}x |",
            flush=True,
        )
    return tables


if __name__ == "__main__":
    main()
