"""The README's code runs as written."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).parents[1] / "README.md"


def _block(marker: str) -> str:
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if marker in b
    ]
    assert len(blocks) == 1, f"README needs one python block with {marker!r}"
    return blocks[0]


def test_readme_quick_look_runs():
    namespace: dict = {}
    exec(compile(_block("neuron_scan"), "README.md", "exec"), namespace)
    assert namespace["spikes"].shape == (100, 8, 32)
    assert namespace["v_out"].shape == (100, 8, 20)
    assert namespace["s_t"].shape == (8, 32)


def test_readme_simulation_runs(tmp_path, monkeypatch):
    namespace: dict = {}
    exec(compile(_block("# instead of `import nest`"), "README.md", "exec"), namespace)
    events = namespace["events"]
    assert len(events["times"]) > 100 and set(events["senders"]) <= set(range(1, 1001))
    monkeypatch.chdir(tmp_path)  # the continuation writes runs/ckpt
    exec(compile(_block("nest.Checkpoint"), "README.md", "exec"), namespace)
    assert len(namespace["conns"]) > 0 and (tmp_path / "runs" / "ckpt" / "LATEST").is_file()
    exec(compile(_block("stdp_synapse"), "README.md", "exec"), namespace)
    w = namespace["learned"]
    assert len(w) == 800 * 20 and 0 < w.min() and w.max() <= 80.0 and w.std() > 0


def test_readme_functional_simulation_runs():
    namespace: dict = {}
    exec(compile(_block("nest.functional()"), "README.md", "exec"), namespace)
    assert namespace["trace"].spikes.shape == (1000, 100)
    assert float(namespace["slope"]) != 0.0
    rates = namespace["rates"]
    assert rates.shape == (8,) and len(set(rates.tolist())) > 1


def test_readme_nir_into_the_simulator_runs():
    namespace: dict = {}
    exec(compile(_block("nest.import_nir"), "README.md", "exec"), namespace)
    out = namespace["out"]
    assert out["lif"].shape == (20, 2) and out["li"].shape == (20, 1)
    # 0.6 per step, beta = e^-0.1: 0.6, then 0.6 e^-0.1 + 0.6 = 1.14 >= 1, hard reset to 0:
    # a spike every second step, from step 1 on.
    np.testing.assert_array_equal(out["lif"], np.tile([[0.0, 0.0], [1.0, 1.0]], (10, 1)))
    assert out["li"][-1, 0] > 0
