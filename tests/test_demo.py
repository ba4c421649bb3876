"""The README's main job (``make demo``) trains, and its loss decreases."""

import json
import pathlib
import runpy

DEMO = pathlib.Path(__file__).parents[1] / "training" / "demo.py"


def test_demo_loss_decreases(tmp_path):
    main = runpy.run_path(str(DEMO))["main"]
    summary = main(["--steps", "40", "--out", str(tmp_path)])
    assert summary["last_loss"] < summary["first_loss"] - 0.05
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert len(history) == 40
    assert (tmp_path / "loss.png").stat().st_size > 1000
