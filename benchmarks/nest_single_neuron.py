"""Cross-check (opt-in): snnjax.sim point neurons against NEST 3.x, step by step.

For ``iaf_psc_delta``, ``iaf_psc_exp`` and ``iaf_psc_alpha`` (plus ``izhikevich`` and
``parrot_neuron``), a few neurons with different parameters each (per-neuron parameter
arrays on the snnjax side, including ``tau_syn == tau_m`` and a ``t_ref`` that is not a
multiple of ``h``) are driven in NEST and in snnjax by

* ``dc``: overlapping ``dc_generator`` steps (plus ``I_e``), connected with a delay;
* ``spikes``: excitatory and inhibitory ``spike_generator`` trains through
  ``static_synapse`` connections (weight, delay), on top of a subthreshold ``I_e``.

NEST records ``V_m`` with a multimeter at every step and spikes with a ``spike_recorder``;
snnjax runs the model's ``step`` in a ``lax.scan`` (float32) over the same input, placed on
the grid by NEST's delivery rules (see :mod:`snnjax.sim.models`). The script prints
max |ΔV| (mV) over all steps and neurons and whether the spike times are identical.

Needs ``import nest`` (``pip install nest-simulator``); without it the script says so and
exits. Usage::

    python benchmarks/nest_single_neuron.py [--h 0.1] [--T 200] [--seed 0]
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from snnjax import sim

#: Per-neuron parameter sets (NEST names); keys a model does not have are dropped.
NEURONS = [
    {},  # NEST defaults
    {"tau_syn_ex": 10.0, "tau_syn_in": 5.0},  # tau_syn_ex == tau_m: the singular propagator
    {"C_m": 200.0, "tau_m": 15.0, "t_ref": 2.25, "E_L": -68.0, "V_th": -52.0, "V_reset": -63.0},
    {"tau_syn_ex": 0.5, "tau_syn_in": 3.0, "V_min": -71.0, "refractory_input": True},
]
IZHIKEVICH = [{}, {"a": 0.1, "d": 2.0}, {"c": -50.0, "d": 2.0}, {"b": 0.25, "V_min": -70.0}]
#: dc_generator steps: (amplitude pA, start ms, stop ms).
DC_STEPS = [(250.0, 5.0, 60.0), (200.0, 30.0, 150.0), (-120.0, 90.0, 110.0)]
#: Weights of the spike trains: (excitatory, inhibitory), in mV (delta, izhikevich) or pA.
WEIGHTS = {
    "iaf_psc_delta": (1.2, -0.9),
    "iaf_psc_exp": (180.0, -150.0),
    "iaf_psc_alpha": (110.0, -90.0),
    "izhikevich": (4.0, -3.0),
    "parrot_neuron": (1.0, -1.0),
}
#: Scale of the dc amplitudes per model (Izhikevich's currents are in units with R = 1).
DC_SCALE = {"izhikevich": 0.04}
I_E = {"iaf_psc_delta": 340.0, "iaf_psc_exp": 300.0, "iaf_psc_alpha": 300.0, "izhikevich": 4.0}


def model_params(model: str) -> list[dict]:
    """The per-neuron NEST parameter dicts of ``model``."""
    if model == "parrot_neuron":
        return [{} for _ in NEURONS]
    fields = sim.DEFAULTS[model]
    sets = IZHIKEVICH if model == "izhikevich" else NEURONS
    return [{k: v for k, v in d.items() if k in fields} for d in sets]


def stacked(model: str, dicts: list[dict], extra: dict) -> dict:
    """Per-neuron arrays (snnjax ``make_params`` overrides) from NEST parameter dicts."""
    defaults = sim.DEFAULTS[model]
    return {k: np.array([{**defaults, **extra, **d}[k] for d in dicts]) for k in defaults}


def spike_trains(rng, T: float, h: float, rate_hz: float, n_trains: int) -> list[np.ndarray]:
    """Poisson-ish grid spike times (ms) in ``[h, T - 2]``, several may share a step."""
    out = []
    for _ in range(n_trains):
        k = rng.poisson(rate_hz * T / 1000.0)
        steps = np.sort(rng.integers(1, round((T - 2.0) / h), size=k))
        out.append(np.round(steps * h, 10))
    return out


def run_nest(nest, model, dicts, extra, scenario, h, T, trains, delays):
    """NEST: V_m[K, n] (absolute mV; NaN for parrot) and spike times per neuron."""
    nest.ResetKernel()
    nest.resolution = h
    nest.local_num_threads = 1
    n = len(dicts)
    neurons = nest.Create(model, n)
    for i, d in enumerate(dicts):
        if d or extra:
            neurons[i].set({**extra, **d})
    sr = nest.Create("spike_recorder")
    nest.Connect(neurons, sr)
    mm = None
    if model != "parrot_neuron":
        mm = nest.Create("multimeter", params={"interval": h, "record_from": ["V_m"]})
        nest.Connect(mm, neurons)
    if scenario == "dc":
        for amp, start, stop in DC_STEPS:
            amp *= DC_SCALE.get(model, 1.0)
            dc = nest.Create(
                "dc_generator", params={"amplitude": amp, "start": start, "stop": stop}
            )
            nest.Connect(dc, neurons, syn_spec={"delay": delays["dc"]})
    else:
        w_ex, w_in = WEIGHTS[model]
        for j, times in enumerate(trains):
            sg = nest.Create("spike_generator", params={"spike_times": times.tolist()})
            w = w_ex if j % 2 == 0 else w_in
            nest.Connect(sg, neurons, syn_spec={"weight": w, "delay": delays["spikes"][j]})
    # The multimeter hands over its data once per min-delay slice: run past T, keep [h, T].
    nest.Simulate(T + 5.0)
    K = round(T / h)
    v = np.full((K, n), np.nan)
    if mm is not None:
        ev = mm.get("events")
        k = np.round(np.asarray(ev["times"]) / h).astype(int) - 1
        col = np.asarray(ev["senders"]) - neurons[0].global_id
        keep = k < K
        v[k[keep], col[keep]] = np.asarray(ev["V_m"])[keep]
        assert not np.isnan(v).any(), "NEST's multimeter missed steps"
    ev = sr.get("events")
    senders = np.asarray(ev["senders"]) - neurons[0].global_id
    steps = np.round(np.asarray(ev["times"]) / h).astype(int)
    spikes = [np.sort(steps[(senders == i) & (steps <= K)]) for i in range(n)]
    return v, spikes


def snnjax_inputs(model, n, scenario, h, K, trains, delays):
    """in_ex, in_in, i_stim [K, n] on NEST's grid (see snnjax.sim.models for the rules)."""
    in_ex, in_in, i_stim = (np.zeros((K, n), np.float64) for _ in range(3))
    if scenario == "dc":
        d = round(delays["dc"] / h)
        for amp, start, stop in DC_STEPS:
            # StimulationDevice::is_active: start < (T + 2) h <= stop; slot of step T + d.
            for T in range(max(round(start / h) - 1, 0), round(stop / h) - 1):
                if T + d < K:
                    i_stim[T + d] += amp * DC_SCALE.get(model, 1.0)
    else:
        w_ex, w_in = WEIGHTS[model]
        for j, times in enumerate(trains):
            w = w_ex if j % 2 == 0 else w_in
            if model == "parrot_neuron":
                w = 1.0  # the parrot counts spikes, whatever the weight
            for t in times:  # a spike at t with delay d lands in step (t + d)/h - 1
                k = round((t + delays["spikes"][j]) / h) - 1
                if k < K:
                    (in_ex if w > 0 else in_in)[k] += w
    return tuple(jnp.asarray(x, jnp.float32) for x in (in_ex, in_in, i_stim))


def run_snnjax(model, dicts, extra, inputs, h):
    """snnjax: V_m[K, n] (absolute mV) and spike steps per neuron."""
    m = sim.NestModel(model)
    n = len(dicts)
    params = m.params(**stacked(model, dicts, extra)) if model != "parrot_neuron" else m.params()
    props = m.propagators(params, h)
    state = m.init_state(params, n)

    @jax.jit
    def run(state, in_ex, in_in, i_stim):
        def body(state, x):
            state, s = m.step(props, params, state, *x)
            v = jnp.full_like(s, jnp.nan) if model == "parrot_neuron" else m.V_m(params, state)
            return state, (v, s)

        return jax.lax.scan(body, state, (in_ex, in_in, i_stim))[1]

    v, s = run(state, *inputs)
    s = np.asarray(s)
    # repeated entries for multiplicity > 1 (the parrot), as NEST's spike_recorder
    spikes = [np.repeat(np.arange(len(s)), s[:, i].astype(int)) + 1 for i in range(n)]
    return np.asarray(v, np.float64), spikes


def compare(nest, model, scenario, h, T, rng):
    dicts = model_params(model)
    n = len(dicts)
    extra = {}
    if model in I_E and scenario == "spikes":
        extra = {"I_e": I_E[model]}
    trains = spike_trains(rng, T, h, 400.0, 4) if scenario == "spikes" else []
    # delays: whole steps (NEST rounds a delay to the grid)
    delays = {"dc": 5 * h, "spikes": [10 * h, 3 * h, h, 20 * h]}
    v_nest, s_nest = run_nest(nest, model, dicts, extra, scenario, h, T, trains, delays)
    inputs = snnjax_inputs(model, n, scenario, h, round(T / h), trains, delays)
    v_ours, s_ours = run_snnjax(model, dicts, extra, inputs, h)
    dv = float(np.max(np.abs(v_nest - v_ours))) if model != "parrot_neuron" else float("nan")
    first = [first_difference(a, b) for a, b in zip(s_nest, s_ours, strict=True)]
    first = [k for k in first if k is not None]
    first_ms = f"{min(first) * h:g}" if first else "-"
    return dv, sum(map(len, s_nest)), sum(map(len, s_ours)), not first, first_ms


def first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    """The first spike step where two sorted spike-step lists differ (``None``: equal)."""
    n = min(len(a), len(b))
    diff = np.nonzero(a[:n] != b[:n])[0]
    if len(diff):
        return int(min(a[diff[0]], b[diff[0]]))
    if len(a) != len(b):
        return int(a[n] if len(a) > n else b[n])
    return None


def default_differences(nest) -> list[str]:
    """Where ``snnjax.sim.DEFAULTS`` / ``INITIAL_STATE`` differ from ``nest.GetDefaults``."""
    out = []
    for model in sim.NEST_MODEL_NAMES:
        defaults = sim.DEFAULTS[model]
        theirs = nest.GetDefaults(model)
        for key, ours in {**defaults, **sim.INITIAL_STATE[model]}.items():
            value = theirs.get(key)
            if isinstance(value, float) and value < -1e300:
                value = -np.inf  # NEST's -DBL_MAX: no bound
            if value != ours:
                out.append(f"{model}.{key}: NEST {value!r}, snnjax {ours!r}")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--h", type=float, default=0.1, help="resolution (ms)")
    parser.add_argument("--T", type=float, default=200.0, help="simulated time (ms)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(sim.NEST_MODEL_NAMES))
    args = parser.parse_args(argv)
    try:
        import nest
    except ImportError:
        print("NEST is not installed (`pip install nest-simulator`); nothing to compare.")
        return None
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    rng = np.random.default_rng(args.seed)
    print(f"NEST {nest.__version__}, h = {args.h} ms, T = {args.T} ms, float32 snnjax")
    differences = default_differences(nest)
    print("defaults and initial states:", "; ".join(differences) or "identical", "\n")
    print(
        "| model | input | max abs dV (mV) | spikes NEST | spikes snnjax | identical "
        "| first differing spike (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = []
    for model in args.models:
        for scenario in ("dc", "spikes"):
            if model == "parrot_neuron" and scenario == "dc":
                continue
            row = (model, scenario, *compare(nest, model, scenario, args.h, args.T, rng))
            rows.append(row)
            print("| {} | {} | {:.2e} | {} | {} | {} | {} |".format(*row))
    return rows


if __name__ == "__main__":
    main()
