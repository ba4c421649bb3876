"""Run a network trained by ``training/train.py`` in the simulator, through its NIR file.

Usage::

    python training/train.py --config configs/randman_rsnn.yaml
    python simulation/trained_network.py --config configs/randman_rsnn.yaml --samples 16 \\
        --devices 4 --out runs/randman_rsnn/simulator.json

Reads ``model.nir`` from the run's ``train.log_dir`` (written by ``training/train.py``),
builds it in a :class:`snnjax.sim.Simulator` sharded over ``--devices`` with one copy of
the network per test sample (:func:`snnjax.sim.import_nir`), presents the samples as
``spike_generator`` input and compares with the trainer's forward pass of the restored
checkpoint: spikes of every layer (identical) and the readout. Writes the JSON
(``samples``, ``devices``, per layer ``spikes`` and ``mismatched``, ``readout_max_abs_diff``,
``accuracy_trainer``, ``accuracy_simulator``, ``build_s``, ``run_s``) and a raster of the
first sample's input and hidden layers (``*.png`` beside it).
"""

import argparse
import json
import pathlib
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=pathlib.Path, default=None, help="YAML config")
    parser.add_argument("--samples", type=int, default=16, help="test samples (copies)")
    parser.add_argument("--devices", type=int, default=1, help="shards (CPU: host devices)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help="JSON (default: <log_dir>/simulator.json)")  # fmt: skip
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides")
    a = parser.parse_args(argv)
    if a.samples < 1 or a.devices < 1:
        parser.error("--samples and --devices must be >= 1")
    import jax  # after parsing: the host devices must be set before JAX's first use

    jax.config.update("jax_num_cpu_devices", max(a.devices, jax.config.jax_num_cpu_devices))
    import nir
    from flax import nnx

    from snnjax import sim
    from snnjax.analysis import raster_plot
    from snnjax.train import Trainer, load_config, logits_from_readout

    cfg = load_config(a.config, a.overrides)
    path = pathlib.Path(cfg.train.log_dir) / "model.nir"
    trainer = Trainer(cfg, progress=False)
    if not path.exists() or not trainer.restore():
        parser.error(f"no trained network in {cfg.train.log_dir}: run training/train.py first")
    model, _ = nnx.merge(trainer.graphdef, trainer.state)
    n = min(a.samples, len(trainer.test_ds.y))
    x = np.asarray(trainer.test_ds.x[:n]).swapaxes(0, 1)  # [T, B, ...]
    y = np.asarray(trainer.test_ds.y[:n])
    readout, spikes = jax.device_get(model(jax.numpy.asarray(x)))

    graph = nir.read(path)
    tic = time.perf_counter()
    simulator = sim.Simulator(resolution=float(graph.metadata.get("dt", 1.0)), devices=a.devices)
    net = sim.import_nir(graph, simulator, batch=n)
    build_s = time.perf_counter() - tic
    tic = time.perf_counter()
    out = net.run(x)
    run_s = time.perf_counter() - tic

    layers = {f"lif{i}": np.asarray(s) for i, s in enumerate(spikes)}
    result = {
        "samples": n,
        "devices": a.devices,
        "steps": int(x.shape[0]),
        "layers": {k: {"neurons": int(s.shape[-1]), "spikes": int(s.sum()),
                       "mismatched": int((out[k] != s).sum())} for k, s in layers.items()},
        "readout_max_abs_diff": float(np.abs(out["li"] - readout).max()),
        "accuracy_trainer": float(np.mean(
            np.argmax(logits_from_readout(readout, cfg.loss.readout), -1) == y)),
        "accuracy_simulator": float(np.mean(
            np.argmax(logits_from_readout(out["li"], cfg.loss.readout), -1) == y)),
        "build_s": build_s,
        "run_s": run_s,
        "nir": str(path),
    }  # fmt: skip
    out_path = a.out or pathlib.Path(cfg.train.log_dir) / "simulator.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    if not a.no_plot:  # sample 0: its input and hidden layers, as the simulator ran them
        (name,) = net.inputs
        trains = {name: (x.reshape(x.shape[0], n, -1)[:, 0], net.inputs[name])}
        trains |= {k: (out[k][:, 0], net.populations[k]) for k in layers}
        senders, times = [], []
        for frames, ids in trains.values():
            t, i = np.nonzero(frames)
            senders.append(ids[i])
            times.append((t + 1) * simulator.h)
        pops = {k: ids[: frames.shape[1]] for k, (frames, ids) in trains.items()}
        raster_plot(np.concatenate(senders), np.concatenate(times), pops,
                    out_path.with_suffix(".png"), 0.0, x.shape[0] * simulator.h,
                    bin_ms=simulator.h, title=f"trained network in the simulator "
                    f"({a.devices} shards), sample 0")  # fmt: skip
    bad = sum(v["mismatched"] for v in result["layers"].values())
    print(f"{n} samples on {a.devices} shards: {bad} spikes differ from the trainer's; readout "
          f"max |diff| {result['readout_max_abs_diff']:.2e}; accuracy trainer "
          f"{result['accuracy_trainer']:.3f}, simulator {result['accuracy_simulator']:.3f}; "
          f"build {build_s:.2f} s, run {run_s:.2f} s; wrote {out_path}")  # fmt: skip
    return result


if __name__ == "__main__":
    main()
