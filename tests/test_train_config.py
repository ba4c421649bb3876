"""Training configs: validated before any data is read; overrides; shipped configs parse."""

import pathlib

import pytest

from snnjax.train import Config, load_config

# Simulation configs are checked in test_networks.py, test_brunel_ring.py, test_sim_stdp.py.
SIMULATION = {
    "brunel.yaml",
    "brunel_stdp.yaml",
    "microcircuit.yaml",
    "brunel_ring.yaml",
    "brette2007.yaml",
    "ping.yaml",
}
CONFIGS = sorted(
    p
    for p in (pathlib.Path(__file__).parents[1] / "configs").glob("*.yaml")
    if p.name not in SIMULATION
)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)


def test_overrides_apply_with_yaml_types():
    cfg = load_config(None, ["optim.lr=3e-4", "model.hidden=[64, 32]", "train.max_steps=7"])
    assert cfg.optim.lr == 3e-4
    assert cfg.model.hidden == (64, 32)
    assert cfg.train.max_steps == 7


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["data.dataset=mnist"], r"`data.dataset` must be one of 'nmnist', .*; got 'mnist'"),
        (["model.kind=transformer"], r"`model.kind` must be one of 'rsnn', 'csnn'"),
        (["optim.optimizer=lion"], r"`optim.optimizer` must be one of 'adam', 'adamw', 'sgd'"),
        (["optim.lr=-0.1"], r"`optim.lr` must lie in \(0, inf\); got \[-0.1\]"),
        (["optim.lrr=0.1"], r"unknown config key `optim.lrr` in `optim` \(did you mean 'lr'\?\)"),
        (["trian.epochs=3"], r"unknown config key `trian` \(did you mean 'train'\?\)"),
        (["model.hidden=[0]"], r"`model.hidden` must be a positive int; got 0"),
        (["train.batch_size=0"], r"`train.batch_size` must be a positive int; got 0"),
        (["loss.readout=softmax"], r"`loss.readout` must be one of 'max', 'mean', 'last'"),
        (["optim.lr"], r"override must look like `section.key=value`"),
        (["data.n_time_bins=1.5"], r"`data.n_time_bins` must be a positive int; got 1.5"),
    ],
)
def test_bad_config_values_name_the_key(overrides, match, monkeypatch):
    import snnjax.train._loop as loop

    def no_data(*args, **kwargs):
        raise AssertionError("data must not be loaded for a bad config")

    monkeypatch.setattr(loop, "load_datasets", no_data)
    with pytest.raises(ValueError, match=match):
        load_config(None, overrides)
