"""NIR into the simulator: the trainer's models as simulator models, and trained networks
(train -> NIR -> simulator) reproducing the trainer's forward pass on 1 and 4 shards."""

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx

import snnjax.sim as nest
from snnjax import neurons, sim
from snnjax.surrogate import get_surrogate
from snnjax.train import Trainer, export_nir, load_config


def _scan(step, state, xs):
    return jax.jit(lambda s, xs: jax.lax.scan(step, s, xs))(state, xs)


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_models_are_the_trainers_steps(reset):
    """snnjax_lif / snnjax_cuba_lif / snnjax_li == snnjax.neurons' steps, bit for bit."""
    n, T = 64, 40
    r = np.random.default_rng(3)
    tau, tau_syn = r.uniform(2.0, 30.0, n), r.uniform(1.0, 10.0, n)
    x = jnp.asarray(r.normal(0.25, 0.6, (T, n)), jnp.float32)
    ex, inh, zero = jnp.maximum(x, 0), jnp.minimum(x, 0), jnp.zeros((T, n))
    spike = {"reset": reset, "detach_reset": False, "surrogate": get_surrogate("arctan")}
    flags = {"soft_reset": np.full(n, reset == "soft"), "V_th": 1.0, "V_reset": -0.2}
    cases = {
        "snnjax_lif": ({"tau_m": tau, **flags}, neurons.lif_step, neurons.LIFState,
                       neurons.LIFParams, {"beta": tau}),
        "snnjax_cuba_lif": ({"tau_m": tau, "tau_syn": tau_syn, **flags}, neurons.cuba_lif_step,
                            neurons.CuBaLIFState, neurons.CuBaLIFParams,
                            {"alpha": tau_syn, "beta": tau}),
        "snnjax_li": ({"tau_m": tau}, neurons.li_step, neurons.LIState, neurons.LIParams,
                      {"beta": tau}),
    }  # fmt: skip
    for name, (params, ref_step, State, Params, decays) in cases.items():
        model = sim.NestModel(name, surrogate="arctan")
        p = model.params(**params)
        q = model.propagators(p, 1.0)
        state, out = _scan(
            lambda s, xs, p=p, q=q, model=model: model.step(q, p, s, *xs),
            model.init_state(p, n),
            (ex, inh, zero),
        )
        rp = {k: jnp.asarray(np.exp(-1.0 / v), jnp.float32) for k, v in decays.items()}
        if "threshold" in Params._fields:
            rp |= {"threshold": jnp.float32(1.0), "v_reset": jnp.float32(-0.2)}
        kw = spike if name != "snnjax_li" else {}
        ref_state, ref_out = _scan(
            lambda s, xt, rp=rp, f=ref_step, Params=Params, kw=kw: f(Params(**rp), s, xt, **kw),
            State(*(jnp.zeros(n),) * len(State._fields)),
            x,
        )
        if name == "snnjax_li":
            np.testing.assert_array_equal(model.V_m(p, state), ref_out[-1])
            assert not np.any(out)
        else:
            assert 0.02 < float(out.mean()) < 0.9, "the test needs spikes"
            np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(state.v, ref_state.v)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.mark.parametrize("recurrent", [True, False])
def test_trained_network_runs_in_the_simulator(data_root, tmp_path, recurrent):
    """train -> export_nir -> file -> import_nir: the trainer's spikes on 1 and 4 shards."""
    cfg = load_config(None, [
        "data.dataset=randman", f"data.root={data_root}", "data.n_time_bins=20",
        "model.hidden=[24, 16]", f"model.recurrent={recurrent}", "model.threshold=0.2",
        "train.batch_size=16", f"train.log_dir={tmp_path}", "train.max_steps=3",
    ])  # fmt: skip
    trainer = Trainer(cfg, progress=False)
    trainer.fit()
    model, _ = nnx.merge(trainer.graphdef, trainer.state)
    nir.write(tmp_path / "model.nir", export_nir(model, cfg.model))
    graph = nir.read(tmp_path / "model.nir")
    x = np.asarray(trainer.test_ds.x[:4]).swapaxes(0, 1)  # [T, B, channels]
    readout, spikes = model(jnp.asarray(x))
    assert all(0.05 < float(s.mean()) < 0.9 for s in spikes), "the test needs spiking layers"
    for devices in (1, 4):
        net = sim.import_nir(graph, sim.Simulator(resolution=1.0, devices=devices), batch=4)
        assert net.stages == {"lif0": 1, "lif1": 2, "li": 3}
        out = net.run(x)
        for i, s in enumerate(spikes):
            np.testing.assert_array_equal(out[f"lif{i}"], s, err_msg=f"lif{i}, {devices} shards")
        np.testing.assert_allclose(out["li"], readout, rtol=1e-5, atol=1e-5)


def _reference(graph, x, dt, reset):
    """Float64 forward pass of the NIR mapping (all layers in the same trial step)."""
    order = ["cuba", "lif", "li"]  # stage order of the test graph
    state = {k: {"v": graph.nodes[k].v_leak * 1.0, "i": 0.0} for k in order}  # at rest
    s_prev = {k: np.zeros(np.size(state[k]["v"])) for k in order}
    out = {k: [] for k in order}
    for t in range(len(x)):
        s_now = {"input": x[t]}
        for k in order:
            node = graph.nodes[k]
            u = sum(graph.nodes[w].weight @ (s_prev[k] if src == k else s_now[src])
                    + getattr(graph.nodes[w], "bias", 0.0)
                    for src, w, dst in _PROJ if dst == k)  # fmt: skip
            st = state[k]
            if k == "cuba":
                a, b = np.exp(-dt / node.tau_syn), np.exp(-dt / node.tau_mem)
                st["i"] = a * st["i"] + node.w_in * (1 - a) * node.r * (1 - b) * u
                h = b * st["v"] + st["i"] + (1 - b) * node.v_leak
            else:
                b = np.exp(-dt / node.tau)
                h = b * st["v"] + (1 - b) * node.r * u + (1 - b) * node.v_leak
            if k == "li":
                st["v"] = h
                out[k].append(h)
                continue
            s = (h >= node.v_threshold).astype(np.float64)
            st["v"] = h - s * node.v_threshold if reset == "soft" else np.where(s, node.v_reset, h)
            s_now[k] = s
            out[k].append(s)
        s_prev = {k: s_now.get(k, s_prev[k]) for k in order}
    return {k: np.array(v) for k, v in out.items()}


_PROJ = [("input", "w_in", "cuba"), ("cuba", "w_rec", "cuba"), ("cuba", "w_ff", "lif"),
         ("input", "w_skip", "lif"), ("lif", "w_out", "li")]  # fmt: skip


def _graph(seed=0, dt=1e-3):
    """A hand-built graph in seconds: CubaLIF (recurrent) -> LIF -> LI, a skip projection
    from the input to the LIF layer (two steps of delay), non-unit R, leaks and biases."""
    r = np.random.default_rng(seed)
    n_in, n1, n2, n3 = 12, 20, 10, 3
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "w_in": nir.Affine(r.normal(0.5, 1.0, (n1, n_in)), r.normal(0.2, 0.1, n1)),
        "cuba": nir.CubaLIF(tau_syn=r.uniform(2e-3, 5e-3, n1), tau_mem=r.uniform(5e-3, 20e-3, n1),
                            r=r.uniform(1.0, 3.0, n1), v_leak=r.uniform(-0.1, 0.1, n1),
                            v_threshold=np.ones(n1), v_reset=np.full(n1, -0.1),
                            w_in=np.full(n1, 2.0)),
        "w_rec": nir.Linear(r.normal(0.0, 0.3, (n1, n1))),
        "w_ff": nir.Linear(r.normal(0.2, 0.5, (n2, n1))),
        "w_skip": nir.Affine(r.normal(0.1, 0.4, (n2, n_in)), np.full(n2, 0.05)),
        "lif": nir.LIF(tau=r.uniform(5e-3, 20e-3, n2), r=np.full(n2, 8.0),
                       v_leak=np.zeros(n2), v_threshold=np.full(n2, 0.8), v_reset=np.zeros(n2)),
        "w_out": nir.Affine(r.normal(0.0, 1.0, (n3, n2)), np.zeros(n3)),
        "li": nir.LI(tau=np.full(n3, 10e-3), r=np.full(n3, 5.0), v_leak=np.full(n3, 0.5)),
        "output": nir.Output(output_type={"output": np.array([n3])}),
    }  # fmt: skip
    edges = [(s, w) for s, w, _ in _PROJ] + [(w, d) for _, w, d in _PROJ] + [("li", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_hand_built_graph_matches_the_nir_mapping(reset):
    """CubaLIF + LIF + LI with skip and recurrent projections, through the PyNEST facade at
    0.1 ms (graph in seconds, dt = 1 ms): spikes == a float64 reference of the mapping."""
    graph = _graph()
    x = (np.random.default_rng(1).random((30, 12)) < 0.3) * 1.0
    ref = _reference(graph, x, 1e-3, reset)
    nest.ResetKernel()
    nest.resolution = 0.1
    net = nest.import_nir(graph, reset=reset)
    assert net.stages == {"cuba": 1, "lif": 2, "li": 3}
    out = net.run(x)
    for k in ("cuba", "lif"):
        assert 0.05 < ref[k].mean() < 0.9, "the test needs spikes"
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
    np.testing.assert_allclose(out["li"], ref["li"], rtol=1e-4, atol=1e-4)
    nest.ResetKernel()


def test_import_nir_rejects_what_it_cannot_build():
    graph = _graph()
    s = sim.Simulator(resolution=1.0)
    bad_nodes = {**graph.nodes, "thr": nir.Threshold(np.ones(3))}
    with pytest.raises(ValueError, match="node 'thr' is a Threshold"):
        sim.import_nir(nir.NIRGraph(bad_nodes, [*graph.edges, ("li", "thr")]), s)
    cycle = [*graph.edges, ("lif", "w_back"), ("w_back", "cuba")]
    nodes = {**graph.nodes, "w_back": nir.Linear(np.zeros((20, 10)))}
    with pytest.raises(ValueError, match="cycle through more than one population"):
        sim.import_nir(nir.NIRGraph(nodes, cycle, metadata={"dt": 1e-3}), s)
    nodes = {**graph.nodes, "w_ff": nir.Linear(np.zeros((10, 21)))}
    with pytest.raises(ValueError, match=r"node 'w_ff': `weight` must be \(out, in\) = \(10, 20\)"):
        sim.import_nir(nir.NIRGraph(nodes, graph.edges, type_check=False), s)
    lif = graph.nodes["lif"]
    nodes = {
        **graph.nodes,
        "lif": nir.LIF(-lif.tau, lif.r, lif.v_leak, lif.v_threshold, lif.v_reset),
    }
    with pytest.raises(ValueError, match="node 'lif': `tau` must be > 0"):
        sim.import_nir(nir.NIRGraph(nodes, graph.edges, metadata={"dt": 1e-3}), s)
    bad = (({"batch": 0}, "`batch` must be a positive int"), ({"reset": "half"}, "reset"),
           ({"dt": -1.0}, "`dt` must be > 0"))  # fmt: skip
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            sim.import_nir(graph, s, **kwargs)
    assert s.n_nodes == 0  # a call that raises creates nothing
    net = sim.import_nir(graph, s, batch=2)
    with pytest.raises(ValueError, match=r"`x` for input 'input' must be \[T, 2, \.\.\.\]"):
        net.run(np.zeros((5, 12)))
    assert s.t_steps == 0
