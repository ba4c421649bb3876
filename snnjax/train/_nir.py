"""Export a trained dense network (:class:`~snnjax.train.RSNN`, LIF neurons) to NIR and back.

`NIR <https://neuroir.org>`_ describes neurons in continuous time. snnjax's discrete LIF
step ``h = β·v + x`` is the exact solution over one step ``dt`` of
``τ dv/dt = (v_leak − v) + R·I`` with input held constant, for

.. math:: \\tau = -\\frac{\\Delta t}{\\ln \\beta}, \\qquad R = \\frac{1}{1 - \\beta},
    \\qquad v_\\text{leak} = 0,

so the input current ``I`` equals snnjax's ``x``. ``dt``, the reset mode and the surrogate
travel in the graph's metadata (NIR has no field for them). The readout is NIR's ``LI``.
Values are exported in float64 so that ``β`` comes back bit-identical in float32.
"""

import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

from .. import nn as snn
from ._config import ModelConfig
from ._models import RSNN


def _decay_to_nir(beta, dt):
    beta = np.asarray(beta, np.float64)
    if np.any((beta <= 0) | (beta >= 1)):
        raise ValueError(f"NIR export needs decays in (0, 1) (a leak); got beta={beta}")
    return -dt / np.log(beta), 1.0 / (1.0 - beta)


def export_nir(model: RSNN, cfg: ModelConfig) -> nir.NIRGraph:
    """The network as a NIR graph (input → [Affine → LIF (+ recurrent Linear)]* → Affine →
    LI → output). Raises ``ValueError`` for what NIR cannot express (ALIF, CSNN)."""
    if not isinstance(model, RSNN) or cfg.neuron != "lif":
        raise ValueError("NIR export supports `model.kind='rsnn'` with `model.neuron='lif'`")
    dt = float(cfg.dt)
    n_in = model.inputs[0].in_features
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges, prev = [], "input"
    for i, (linear, neurons) in enumerate(zip(model.inputs, model.neurons, strict=True)):
        lif = neurons.layer if isinstance(neurons, snn.Recurrent) else neurons
        p = lif.neuron_params
        size = lif.size
        tau, r = _decay_to_nir(jnp.broadcast_to(p.beta, size), dt)
        nodes[f"affine{i}"] = nir.Affine(
            np.asarray(linear.kernel[...], np.float64).T, np.asarray(linear.bias[...], np.float64)
        )
        nodes[f"lif{i}"] = nir.LIF(
            tau=tau,
            r=r,
            v_leak=np.zeros(size),
            v_threshold=np.broadcast_to(np.asarray(p.threshold, np.float64), size).copy(),
            v_reset=np.broadcast_to(np.asarray(p.v_reset, np.float64), size).copy(),
        )
        edges += [(prev, f"affine{i}"), (f"affine{i}", f"lif{i}")]
        if isinstance(neurons, snn.Recurrent):
            nodes[f"rec{i}"] = nir.Linear(np.asarray(neurons.w_rec[...], np.float64).T)
            edges += [(f"lif{i}", f"rec{i}"), (f"rec{i}", f"lif{i}")]
        prev = f"lif{i}"
    tau, r = _decay_to_nir(
        jnp.broadcast_to(model.readout.neuron_params.beta, model.readout.size), dt
    )
    n_out = model.readout.size[0]
    nodes["affine_out"] = nir.Affine(
        np.asarray(model.head.kernel[...], np.float64).T,
        np.asarray(model.head.bias[...], np.float64),
    )
    nodes["li"] = nir.LI(tau=tau, r=r, v_leak=np.zeros(n_out))
    nodes["output"] = nir.Output(output_type={"output": np.array([n_out])})
    edges += [(prev, "affine_out"), ("affine_out", "li"), ("li", "output")]
    meta = {
        "dt": dt,
        "reset": cfg.reset,
        "detach_reset": cfg.detach_reset,
        "surrogate": cfg.surrogate,
        "surrogate_scale": cfg.surrogate_scale,
        "producer": "snnjax",
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def import_nir(graph: nir.NIRGraph) -> tuple[RSNN, ModelConfig]:
    """Rebuild the network of a graph written by :func:`export_nir`."""
    meta = graph.metadata
    n_layers = sum(1 for name in graph.nodes if name.startswith("lif"))
    if n_layers == 0 or "li" not in graph.nodes:
        raise ValueError("`graph` is not a snnjax RSNN export (needs lif0.., li nodes)")
    dt = float(meta.get("dt", 1.0))
    hidden = tuple(int(np.size(graph.nodes[f"lif{i}"].tau)) for i in range(n_layers))
    recurrent = {f"rec{i}" in graph.nodes for i in range(n_layers)}
    if len(recurrent) != 1:
        raise ValueError("mixed recurrent/feed-forward layers are not supported")
    cfg = ModelConfig(
        kind="rsnn",
        hidden=hidden,
        neuron="lif",
        recurrent=recurrent.pop(),
        dt=dt,
        reset=meta.get("reset", "soft"),
        detach_reset=bool(meta.get("detach_reset", True)),
        surrogate=meta.get("surrogate", "fast_sigmoid"),
        surrogate_scale=float(meta.get("surrogate_scale", 10.0)),
        learn_decay=True,
    )
    n_in = int(np.asarray(graph.nodes["affine0"].weight).shape[1])
    n_out = int(np.size(graph.nodes["li"].tau))
    model = RSNN(cfg, n_in, n_out, spiking_readout=False, rngs=nnx.Rngs(0))

    def beta(node):
        return jnp.asarray(np.exp(-dt / np.asarray(node.tau, np.float64)), jnp.float32)

    for i, (linear, neurons) in enumerate(zip(model.inputs, model.neurons, strict=True)):
        affine, lif_node = graph.nodes[f"affine{i}"], graph.nodes[f"lif{i}"]
        linear.kernel.set_value(jnp.asarray(np.asarray(affine.weight).T, jnp.float32))
        linear.bias.set_value(jnp.asarray(affine.bias, jnp.float32))
        lif = neurons.layer if isinstance(neurons, snn.Recurrent) else neurons
        lif.beta.set_value(beta(lif_node))
        lif.threshold.set_value(jnp.asarray(lif_node.v_threshold, jnp.float32))
        lif.v_reset.set_value(jnp.asarray(lif_node.v_reset, jnp.float32))
        if isinstance(neurons, snn.Recurrent):
            w_rec = np.asarray(graph.nodes[f"rec{i}"].weight).T
            neurons.w_rec.set_value(jnp.asarray(w_rec, jnp.float32))
    w_out = np.asarray(graph.nodes["affine_out"].weight).T
    model.head.kernel.set_value(jnp.asarray(w_out, jnp.float32))
    model.head.bias.set_value(jnp.asarray(graph.nodes["affine_out"].bias, jnp.float32))
    model.readout.beta.set_value(jnp.broadcast_to(beta(graph.nodes["li"]), model.readout.size))
    return model, cfg
