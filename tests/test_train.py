"""Training loop: exact resume, data parallelism, no recompiles, NIR round trip.

These use the embedded randman dataset (generated offline in the real SHD format) with a
small network and few steps, so they stay fast on CPU.
"""

import jax
import jax.numpy as jnp
import nir
import numpy as np
import pytest
from flax import nnx
from grad_check import rel_err

from snnjax.train import Trainer, export_nir, import_nir, load_config, loss_and_metrics


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def _cfg(data_root, log_dir, *extra):
    return load_config(
        None,
        [
            "data.dataset=randman",
            f"data.root={data_root}",
            "data.n_time_bins=20",
            "model.hidden=[32]",
            "train.batch_size=16",
            f"train.log_dir={log_dir}",
            "optim.lr=0.005",
            *extra,
        ],
    )


def _params(trainer):
    return jax.tree.leaves(jax.device_get(trainer.state))


def test_resume_is_bit_identical(data_root, tmp_path):
    """Train N steps, stop, resume to 2N == an uninterrupted 2N-step run."""
    n = 6
    straight = Trainer(_cfg(data_root, tmp_path / "a", f"train.max_steps={2 * n}"), progress=False)
    straight.fit()
    first = Trainer(_cfg(data_root, tmp_path / "b", f"train.max_steps={n}"), progress=False)
    first.fit()
    resumed = Trainer(_cfg(data_root, tmp_path / "b", f"train.max_steps={2 * n}"), progress=False)
    assert resumed.restore() and resumed.step == n
    resumed.fit()
    assert resumed.step == straight.step == 2 * n
    for a, b in zip(_params(resumed), _params(straight), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "a" / "curves.png").stat().st_size > 1000


def _loss_and_grads(trainer, x, y):
    @jax.jit
    def f(state, x, y):
        model, _ = nnx.merge(trainer.graphdef, state)

        def loss(model):
            readout, spikes = model(x)
            return loss_and_metrics(trainer.cfg.loss, readout, spikes, y)[0]

        return nnx.value_and_grad(loss)(model)

    loss, grads = f(trainer.state, x, y)
    return float(loss), jax.tree.leaves(jax.device_get(nnx.state(grads)))


def test_data_parallel_matches_single_device(data_root, tmp_path):
    """Loss and gradients with the batch split over 8 CPU devices == on 1 device."""
    assert len(jax.local_devices()) == 8
    runs = {}
    for dp in (True, False):
        t = Trainer(
            _cfg(data_root, tmp_path / str(dp), f"train.data_parallel={dp}"), progress=False
        )
        x, y = next(t._batches(t.train_ds, 0, shuffle=True))
        assert len(x.sharding.device_set) == (8 if dp else 1)
        runs[dp] = _loss_and_grads(t, x, y)
    assert abs(runs[True][0] - runs[False][0]) <= 1e-5 * abs(runs[False][0])
    for a, b in zip(runs[True][1], runs[False][1], strict=True):
        assert rel_err(a, b) <= 1e-5


def test_train_step_compiles_once(data_root, tmp_path):
    t = Trainer(_cfg(data_root, tmp_path), progress=False)
    batches = t._batches(t.train_ds, 0, shuffle=True)
    x, y = next(batches)
    t.state, _ = t.train_step(t.state, x, y)
    assert t.train_step._cache_size() == 1
    for _ in range(2):
        x, y = next(batches)
        t.state, _ = t.train_step(t.state, x, y)
    assert t.train_step._cache_size() == 1


@pytest.mark.parametrize("recurrent", [True, False])
def test_nir_round_trip(data_root, tmp_path, recurrent):
    cfg = _cfg(
        data_root,
        tmp_path,
        f"model.recurrent={recurrent}",
        "model.learn_decay=true",
        "model.hidden=[24, 16]",
        "model.threshold=0.2",
        "train.max_steps=3",
    )
    t = Trainer(cfg, progress=False)
    t.fit()
    model, _ = nnx.merge(t.graphdef, t.state)
    graph = export_nir(model, cfg.model)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    back, back_cfg = import_nir(nir.read(path))
    assert back_cfg.hidden == (24, 16) and back_cfg.recurrent == recurrent
    x = jnp.asarray(t.test_ds.x[:4].swapaxes(0, 1))
    out, spikes = model(x)
    out2, spikes2 = back(x)
    assert all(float(s.mean()) > 0 for s in spikes), "the test needs spiking hidden layers"
    for a, b in zip(spikes, spikes2, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out, out2)


def test_nir_rejects_what_it_cannot_express(data_root, tmp_path):
    cfg = _cfg(data_root, tmp_path, "model.neuron=alif")
    t = Trainer(cfg, progress=False)
    model, _ = nnx.merge(t.graphdef, t.state)
    with pytest.raises(ValueError, match=r"NIR export supports `model.kind='rsnn'` with"):
        export_nir(model, cfg.model)
