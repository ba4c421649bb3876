"""Train a spiking network on an event dataset from a YAML config.

Usage::

    python training/train.py --config configs/shd_rsnn.yaml [section.key=value ...]
    python training/train.py --config configs/randman_rsnn.yaml train.epochs=2 optim.lr=3e-3

Every key is validated before any data is loaded. Training resumes from the latest
checkpoint in ``train.log_dir`` unless ``--no-resume`` is given. Writes
``metrics.jsonl``, ``curves.png``, ``summary.json``, orbax checkpoints and, for dense LIF
networks, ``model.nir`` (the trained network as NIR; ``simulation/trained_network.py`` runs
it in the simulator) under ``train.log_dir``, and reports the non-spiking baseline
(logistic regression on spike counts) beside the SNN's test accuracy.
"""

import argparse
import json
import pathlib

import nir
from flax import nnx

from snnjax.data import logistic_baseline
from snnjax.train import Trainer, export_nir, load_config


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=pathlib.Path, default=None, help="YAML config")
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    trainer = Trainer(cfg)
    if not args.no_resume and trainer.restore():
        print(f"resumed from step {trainer.step}")
    result = trainer.fit()
    baseline = logistic_baseline(trainer.train_ds, trainer.test_ds)
    summary = {"config": cfg.to_dict(), **result, "logistic_baseline_accuracy": baseline}
    out = pathlib.Path(cfg.train.log_dir) / "summary.json"
    if cfg.model.kind == "rsnn" and cfg.model.neuron == "lif":  # what NIR can express
        model, _ = nnx.merge(trainer.graphdef, trainer.state)
        nir.write(out.parent / "model.nir", export_nir(model, cfg.model))
        summary["nir"] = str(out.parent / "model.nir")
    out.write_text(json.dumps(summary, indent=2))
    print(
        f"{cfg.data.dataset}: SNN test accuracy {result['test_accuracy']:.3f} after "
        f"{trainer.step} steps; non-spiking baseline (logistic regression on spike counts) "
        f"{baseline:.3f}; wrote {out} and {out.parent / 'curves.png'}"
    )
    return summary


if __name__ == "__main__":
    main()
