r"""NIR graphs into the simulator: :func:`import_nir` and the :class:`NIRNetwork` it builds.

Every neuron node of the graph (``LIF``, ``CubaLIF``, ``LI``) becomes a population of the
trainer's discrete models (:mod:`snnjax.sim.models._snnjax`), every ``Affine``/``Linear``
node a projection (``all_to_all``, its weight matrix ``(out, in)`` = NEST's ``(post, pre)``),
every ``Input`` node a population of ``spike_generator``\ s that replay the input frames.

**Parameters.** NIR's neurons are continuous in time; one step ``dt`` (graph units) is one
simulator step, each equation integrated over it with its input held constant:

.. math::
    \text{LIF, LI:}\quad \tau \dot v = (v_\text{leak} - v) + R\,I
    \;\Rightarrow\; v_k = \beta v_{k-1} + (1-\beta) R\,I_k + (1-\beta) v_\text{leak},
    \qquad \beta = e^{-\Delta t/\tau}

so ``gain = (1 - β) R``; ``CubaLIF`` (:math:`\tau_\text{syn}\dot i = -i + w_\text{in} I`,
:math:`\tau_\text{mem}\dot v = (v_\text{leak} - v) + R\,i`) in the trainer's order (the
current first, then the membrane with the new current, :class:`snnjax.neurons.CuBaLIF`)
with ``gain = w_in (1-α) R (1-β)`` folded into the current. A graph written by
:func:`snnjax.train.export_nir` has :math:`R = 1/(1-\beta)`: gain 1, the trainer's step bit
for bit. Its metadata carries the reset (``'soft'``/``'hard'``); other graphs get NIR's hard
reset to ``v_reset`` unless ``reset=`` says otherwise.

**Time.** The simulator's smallest delay is one step, so each layer runs one step after the
layer that feeds it: a population's *stage* is 1 + the largest stage of its feed-forward
sources (inputs: stage 0), its trial step ``t`` runs in simulator step ``t + stage``, and a
projection from stage ``a`` to ``b`` gets the delay ``b - a`` steps (a population onto
itself: 1 step, the trainer's :math:`s_{t-1}`). Input frame ``t`` is emitted at
:math:`(t + 1) h` with each value as the spike's weight (``spike_weights``), an ``Affine``
bias by one generator per projection that fires at each trial step. The neurons start at
rest (``V_m = v_leak``), so the steps before a population's stage leave it there (up to
float32 rounding when ``v_leak != 0``). Cycles through more than one population have no
such schedule and raise ``ValueError``.
"""

import dataclasses
from typing import Any

import numpy as np

from .._errors import check_one_of
from .models import make_params

_NEURONS = ("LIF", "CubaLIF", "LI")
_WEIGHTS = ("Affine", "Linear")
_IGNORED = ("Output",)


@dataclasses.dataclass
class NIRNetwork:
    """A NIR graph built in a :class:`~snnjax.sim.Simulator` (from :func:`import_nir`).

    Attributes:
        sim: the simulator it lives in.
        batch: independent copies of the network (a batch of trials run side by side).
        sizes: node name -> neurons (or input channels) of one copy.
        populations: neuron node -> neuron ids (NEST's node ids), copy-major: copy ``b``
            is ``ids[b * n:(b + 1) * n]``.
        stages: neuron node -> stage (the simulator step of trial step 0).
        inputs: ``Input`` node -> its ``spike_generator`` ids (one per channel, copy-major).
        recorders: neuron node -> its ``spike_recorder`` (spiking) or ``multimeter``
            (``LI``: ``V_m`` every step).
    """

    sim: Any
    batch: int
    sizes: dict[str, int]
    populations: dict[str, np.ndarray]
    stages: dict[str, int]
    inputs: dict[str, np.ndarray]
    recorders: dict[str, int]
    _bias: dict[int, int]  # bias generator id -> stage of its target
    _spiking: dict[str, bool]

    @property
    def depth(self) -> int:
        """The largest stage: a trial of ``T`` steps needs ``T + depth`` simulator steps."""
        return max(self.stages.values())

    def run(self, x) -> dict[str, np.ndarray]:
        """Present one trial of input frames and simulate it.

        Args:
            x: the frames, ``[T, *input_shape]`` (``batch = 1``) or ``[T, batch,
                *input_shape]`` (the trainer's layout); a dict of them by ``Input`` node
                name if there are several. Each value is the weight of a spike at that
                step (0: none).

        Returns:
            Per neuron node, ``[T, n]`` (or ``[T, batch, n]``) arrays aligned to the trial's
            steps: spikes (0/1, float32) of spiking populations, ``V_m`` of ``LI``
            populations. From rest (the first trial after :func:`import_nir`) this is the
            trainer's forward pass for the same input; later trials continue from the
            network's state, as a stream.
        """
        frames = x if isinstance(x, dict) else {name: x for name in self.inputs}
        if set(frames) != set(self.inputs):
            raise ValueError(
                f"`x` must give the inputs {sorted(self.inputs)}; got {sorted(frames)}"
            )
        lead = (self.batch,) if self.batch > 1 else ()
        arrays, T = {}, None
        for name in self.inputs:
            a = np.asarray(frames[name], np.float64)
            n, shape = self.sizes[name], np.shape(frames[name])
            if a.ndim < 1 + len(lead) or a.shape[1 : 1 + len(lead)] != lead \
                    or a[:1].size != n * self.batch or (T is not None and len(a) != T):  # fmt: skip
                want = ", ".join(map(str, ("T", *lead, "...")))
                raise ValueError(
                    f"`x` for input '{name}' must be [{want}] with {n} values per step"
                    f"{' and copy' if lead else ''} (T the same for all inputs); got {shape}"
                )
            if not np.all(np.isfinite(a)):
                raise ValueError(f"`x` for input '{name}' must be finite")
            arrays[name], T = a.reshape(len(a), self.batch * n), len(a)
        if T == 0:
            raise ValueError("`x` must have at least one step")
        sim, h, t0 = self.sim, self.sim.h, self.sim.t_steps
        for name, ids in self.inputs.items():
            a = arrays[name]
            trains = [np.nonzero(a[:, j])[0] for j in range(len(ids))]
            sim.set(ids, [{"spike_times": ((t0 + steps + 1) * h).tolist(),
                           "spike_weights": a[steps, j].tolist()}
                          for j, steps in enumerate(trains)])  # fmt: skip
        if self._bias:  # one call each: every set of a generator refreshes the inputs
            sim.set(list(self._bias), [{"spike_times": ((t0 + np.arange(T) + stage) * h).tolist()}
                                       for stage in self._bias.values()])  # fmt: skip
        sim.set(list(self.recorders.values()), {"n_events": 0})
        sim.simulate((T + self.depth) * h)
        return {name: self._trace(name, t0, T) for name in self.recorders}

    def _trace(self, name: str, t0: int, T: int) -> np.ndarray:
        ids, stage = self.populations[name], self.stages[name]
        ev = self.sim.events(self.recorders[name])
        row = np.rint(ev["times"] / self.sim.h).astype(np.int64) - 1 - t0 - stage
        col = np.searchsorted(ids, ev["senders"])
        keep = (row >= 0) & (row < T)
        out = np.zeros((T, len(ids)), np.float32)
        if self._spiking[name]:
            np.add.at(out, (row[keep], col[keep]), 1.0)
        else:
            out[row[keep], col[keep]] = ev["V_m"][keep]
        return out.reshape(T, self.batch, -1) if self.batch > 1 else out


def _size(node, name: str) -> int:
    shapes = [np.shape(v) for v in vars(node).values() if isinstance(v, np.ndarray)]
    try:
        return int(np.prod(np.broadcast_shapes(*shapes)))
    except ValueError as err:
        raise ValueError(f"the parameters of node '{name}' must broadcast together") from err


def _neuron_params(node, name: str, dt: float, h: float, reset: str) -> tuple[str, dict]:
    """The simulator model and parameters (per neuron) of a NIR neuron node."""
    kind, n = type(node).__name__, _size(node, name)

    def arr(value):
        return np.broadcast_to(np.asarray(value, np.float64), (n,)).reshape(n).copy()

    tau = arr(node.tau_mem if kind == "CubaLIF" else node.tau)
    if np.any(tau <= 0):
        raise ValueError(f"node '{name}': `tau` must be > 0 (a leak); got {tau[tau <= 0][:4]}")
    beta = np.exp(-dt / tau)
    v_leak = arr(node.v_leak)
    params = {
        "tau_m": tau * (h / dt),
        "E_L": v_leak,
        "V_m": v_leak,
        "gain": (1 - beta) * arr(node.r),
    }
    if kind == "CubaLIF":
        tau_syn = arr(node.tau_syn)
        if np.any(tau_syn <= 0):
            raise ValueError(f"node '{name}': `tau_syn` must be > 0; got {tau_syn[:4]}")
        params["tau_syn"] = tau_syn * (h / dt)
        params["gain"] *= arr(node.w_in) * (1 - np.exp(-dt / tau_syn))
    if kind != "LI":
        v_reset = node.v_leak if getattr(node, "v_reset", None) is None else node.v_reset
        params |= {"V_th": arr(node.v_threshold), "V_reset": arr(v_reset),
                   "soft_reset": np.full(n, reset == "soft")}  # fmt: skip
    model = {"LIF": "snnjax_lif", "CubaLIF": "snnjax_cuba_lif", "LI": "snnjax_li"}[kind]
    return model, params


def _stages(neurons: dict, projections: list, inputs: dict) -> dict[str, int]:
    """Stage of every input (0) and population: the longest feed-forward path from an
    input (self-loops are recurrent, one step)."""
    preds = {name: {src for src, _, dst in projections if dst == name and src != name}
             for name in neurons}  # fmt: skip
    stages = dict.fromkeys(inputs, 0)
    visiting: set[str] = set()

    def stage(name):
        if name in stages:
            return stages[name]
        if name in visiting:
            raise ValueError(
                f"the graph has a cycle through more than one population (at '{name}'); "
                "only a population's connection onto itself (one step delay) is supported"
            )
        visiting.add(name)
        stages[name] = 1 + max((stage(p) for p in preds[name]), default=0)
        visiting.discard(name)
        return stages[name]

    for name in neurons:
        stage(name)
    return stages


def _graph(graph) -> tuple[dict, dict, list]:
    """Inputs, neuron nodes and projections ``(source, weight node, target)`` of a graph."""
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    for name, kind in kinds.items():
        if kind not in (*_NEURONS, *_WEIGHTS, *_IGNORED, "Input"):
            raise ValueError(
                f"node '{name}' is a {kind}; import_nir supports Input, Output, "
                f"{', '.join(_WEIGHTS)} and {', '.join(_NEURONS)}"
            )
    inputs = {k: v for k, v in graph.nodes.items() if kinds[k] == "Input"}
    neurons = {k: v for k, v in graph.nodes.items() if kinds[k] in _NEURONS}
    if not inputs or not neurons:
        raise ValueError("`graph` needs at least one Input node and one neuron node")
    into = {name: [s for s, d in graph.edges if d == name] for name in graph.nodes}
    projections = []
    for w, kind in kinds.items():
        if kind not in _WEIGHTS:
            continue
        sources, targets = into[w], [d for s, d in graph.edges if s == w]
        if len(sources) != 1 or kinds[sources[0]] not in (*_NEURONS, "Input"):
            raise ValueError(f"{kind} node '{w}' needs exactly one source, a neuron or Input node")
        for dst in targets:
            if kinds[dst] not in _NEURONS:
                raise ValueError(
                    f"{kind} node '{w}' must feed neuron nodes; got '{dst}' ({kinds[dst]})"
                )
            projections.append((sources[0], w, dst))
    for s, d in graph.edges:
        if kinds[d] in _NEURONS and kinds[s] not in _WEIGHTS:
            raise ValueError(
                f"edge '{s}' -> '{d}': a neuron node takes input through Affine/Linear"
            )
    return inputs, neurons, projections


def import_nir(
    graph, sim=None, *, batch: int = 1, dt: float | None = None, reset: str | None = None
) -> NIRNetwork:
    r"""Build a NIR graph in the simulator (see the module docstring for the mapping).

    Args:
        graph: a ``nir.NIRGraph`` (``Input``, ``Output``, ``Affine``, ``Linear``, ``LIF``,
            ``CubaLIF``, ``LI`` nodes; recurrent connections of a population onto itself).
        sim: the :class:`~snnjax.sim.Simulator` to build in; ``None``: the PyNEST facade's
            (``import snnjax.sim as nest``).
        batch: independent copies of the network, for a batch of trials in one run.
        dt: the graph's time step in its own time unit, one simulator step; default: the
            graph's ``metadata['dt']``, else the simulator's resolution.
        reset: ``'soft'`` or ``'hard'``; default: the graph's ``metadata['reset']``, else
            ``'hard'`` (NIR's reset to ``v_reset``).

    Returns:
        The :class:`NIRNetwork`; :meth:`NIRNetwork.run` presents input and returns spikes
        and readouts aligned to the trial's steps.

    Raises:
        ValueError: for node types it cannot build, cycles through several populations,
            weight shapes that do not match the populations, or bad parameters (before
            anything is created).

    Examples:
        >>> net = import_nir(snnjax.train.export_nir(model, cfg), sim)  # doctest: +SKIP
        >>> out = net.run(x)  # doctest: +SKIP
    """
    if sim is None:
        from . import _nest

        sim = _nest.simulator()
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise ValueError(f"`batch` must be a positive int; got {batch!r}")
    meta = dict(getattr(graph, "metadata", None) or {})
    dt = float(meta.get("dt", sim.h) if dt is None else dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"`dt` must be > 0 (the graph's step); got {dt!r}")
    reset = meta.get("reset", "hard") if reset is None else reset
    check_one_of("reset", reset, ("soft", "hard"))
    inputs, neurons, projections = _graph(graph)
    stages = _stages(neurons, projections, inputs)
    models = {k: _neuron_params(node, k, dt, sim.h, reset) for k, node in neurons.items()}
    sizes = {k: len(p["tau_m"]) for k, (_, p) in models.items()}
    sizes |= {k: int(np.prod(next(iter(v.input_type.values())))) for k, v in inputs.items()}
    weights = []
    for src, w, dst in projections:
        node = graph.nodes[w]
        W = np.asarray(node.weight, np.float64)
        if W.shape != (sizes[dst], sizes[src]):
            raise ValueError(
                f"node '{w}': `weight` must be (out, in) = ({sizes[dst]}, {sizes[src]}) for "
                f"'{src}' -> '{dst}'; got {W.shape}"
            )
        bias = np.broadcast_to(np.asarray(getattr(node, "bias", 0.0), np.float64), (sizes[dst],))
        delay = max(stages[dst] - stages[src], 1)
        weights.append((src, dst, W, bias, delay))
    for model, params in models.values():  # validate all before creating anything
        make_params(model, **{k: v for k, v in params.items() if k != "V_m"})

    B = int(batch)
    pops = {k: sim.create(model, B * sizes[k], {p: np.tile(v, B) for p, v in params.items()})
            for k, (model, params) in models.items()}  # fmt: skip
    gens = {k: sim.create("spike_generator", B * sizes[k]) for k in inputs}
    ids = pops | gens
    bias_gens = {}
    for src, dst, W, bias, delay in weights:
        for b in range(B):
            sim.connect(ids[src][b * sizes[src] : (b + 1) * sizes[src]],
                        pops[dst][b * sizes[dst] : (b + 1) * sizes[dst]], "all_to_all",
                        {"weight": W, "delay": delay * sim.h})  # fmt: skip
        if np.any(bias != 0):
            (gid,) = sim.create("spike_generator")
            sim.connect([gid], pops[dst], "all_to_all",
                        {"weight": np.tile(bias, B)[:, None], "delay": sim.h})  # fmt: skip
            bias_gens[int(gid)] = stages[dst]
    recorders, spiking = {}, {}
    for k, (model, _) in models.items():
        spiking[k] = model != "snnjax_li"
        if spiking[k]:
            (rid,) = sim.create("spike_recorder")
            sim.connect(pops[k], [rid])
        else:
            (rid,) = sim.create("multimeter", 1, {"record_from": ["V_m"], "interval": sim.h})
            sim.connect([rid], pops[k])
        recorders[k] = int(rid)
    return NIRNetwork(
        sim, B, sizes, pops, {k: stages[k] for k in pops}, gens, recorders, bias_gens, spiking
    )
