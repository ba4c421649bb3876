"""The training loop: jitted, data-parallel steps; metrics, plots, checkpoints, resume.

Flow: validate the config → load the datasets (:mod:`snnjax.data`) → build the network →
for each epoch, deterministic batches (seeded by ``(seed, epoch)``) are placed on the
devices (batch axis split over all local devices) and fed to one jitted train step (it
compiles once) → evaluation on the test split → JSONL log, orbax checkpoints (the last
``keep_checkpoints`` and the best by test accuracy) and a training-curve PNG.

Resume is exact: a checkpoint holds the parameters, the optimiser state and the step; the
data order is a function of ``(seed, epoch)``, so a resumed run replays the same batches.
"""

import dataclasses
import itertools
import json
import pathlib
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from .. import data as snn_data
from ._config import Config
from ._losses import logits_from_readout, loss_and_metrics
from ._models import build_model
from ._optim import make_optimizer


def load_datasets(cfg: Config):
    """Train and test :class:`~snnjax.data.FrameDataset` for ``cfg.data``."""
    frames = snn_data.FrameConfig(
        n_time_bins=cfg.data.n_time_bins,
        denoise_us=cfg.data.denoise_us,
        spatial_factor=cfg.data.spatial_factor,
    )
    return tuple(
        snn_data.load_dataset(
            cfg.data.dataset, cfg.data.root, split, frames, cache_dir=cfg.data.cache_dir
        )
        for split in ("train", "test")
    )


def make_steps(cfg: Config, graphdef):
    """Pure, jitted ``train_step(state, x, y)`` and ``eval_step(state, x, y, mask)``."""

    def forward_loss(model, x, y):
        readout, spikes = model(x)
        return loss_and_metrics(cfg.loss, readout, spikes, y)

    @jax.jit
    def train_step(state, x, y):
        model, optimizer = nnx.merge(graphdef, state)
        (_, metrics), grads = nnx.value_and_grad(forward_loss, has_aux=True)(model, x, y)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), metrics

    @jax.jit
    def eval_step(state, x, y, mask):
        model, _ = nnx.merge(graphdef, state)
        readout, _ = model(x)
        logits = logits_from_readout(readout, cfg.loss.readout)
        return jnp.sum((logits.argmax(-1) == y) & mask)

    return train_step, eval_step


@dataclasses.dataclass
class Trainer:
    """Owns the model, optimiser, data, devices and checkpoints of one training run.

    Args:
        cfg: the validated configuration.
        datasets: ``(train, test)`` datasets (loaded from ``cfg.data`` if ``None``).
        progress: show progress bars.
    """

    cfg: Config
    datasets: tuple | None = None
    progress: bool = True

    def __post_init__(self):
        cfg = self.cfg
        if self.datasets is None:
            self.datasets = load_datasets(cfg)
        self.train_ds, self.test_ds = self.datasets
        devices = jax.local_devices() if cfg.train.data_parallel else jax.local_devices()[:1]
        if cfg.train.batch_size % len(devices):
            raise ValueError(
                f"`train.batch_size`={cfg.train.batch_size} must be a multiple of the "
                f"{len(devices)} local devices (or set train.data_parallel=false)"
            )
        self.mesh = jax.sharding.Mesh(np.array(devices), ("data",))
        self.x_sharding = NamedSharding(self.mesh, P(None, "data"))  # time-major: batch axis 1
        self.y_sharding = NamedSharding(self.mesh, P("data"))
        self.replicated = NamedSharding(self.mesh, P())
        self.steps_per_epoch = len(self.train_ds.y) // cfg.train.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"`train.batch_size`={cfg.train.batch_size} exceeds the "
                f"{len(self.train_ds.y)} training samples"
            )
        self.total_steps = cfg.train.max_steps or cfg.train.epochs * self.steps_per_epoch
        spiking_readout = cfg.loss.readout == "spike_count"
        model = build_model(
            cfg.model,
            self.train_ds.x.shape[2:],
            self.train_ds.n_classes,
            spiking_readout=spiking_readout,
            seed=cfg.seed,
        )
        optimizer = nnx.Optimizer(model, make_optimizer(cfg.optim, self.total_steps), wrt=nnx.Param)
        self.graphdef, state = nnx.split((model, optimizer))
        self.state = jax.device_put(state, self.replicated)
        self.step = 0
        self.train_step, self.eval_step = make_steps(cfg, self.graphdef)
        self.log_dir = pathlib.Path(cfg.train.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        options = ocp.CheckpointManagerOptions(max_to_keep=cfg.train.keep_checkpoints)
        self.last = ocp.CheckpointManager(self.log_dir.absolute() / "checkpoints", options=options)
        best = ocp.CheckpointManagerOptions(max_to_keep=1, best_fn=lambda m: m["test_accuracy"])
        self.best = ocp.CheckpointManager(self.log_dir.absolute() / "best", options=best)

    # ----------------------------------------------------------------- checkpoints
    def save(self, metrics: dict[str, float] | None = None) -> None:
        args = ocp.args.StandardSave(jax.device_get(self.state))
        self.last.save(self.step, args=args)
        if metrics is not None:
            self.best.save(self.step, args=args, metrics=metrics)
        self.last.wait_until_finished()
        self.best.wait_until_finished()

    def restore(self) -> bool:
        """Restore the latest checkpoint, if any; returns whether one was found."""
        step = self.last.latest_step()
        if step is None:
            return False
        target = jax.device_get(self.state)
        state = self.last.restore(step, args=ocp.args.StandardRestore(target))
        self.state = jax.device_put(state, self.replicated)
        self.step = step
        return True

    # ------------------------------------------------------------------------ loop
    def _batches(self, ds, epoch, *, shuffle, skip=0):
        """The epoch's batches on the devices, from the ``skip``-th on (host-side skip)."""
        it = snn_data.batches(
            ds, self.cfg.train.batch_size, seed=self.cfg.seed, epoch=epoch, shuffle=shuffle
        )
        it = itertools.islice(it, skip, None)  # resume mid-epoch: the same data order
        # Batches are cut and copied to the devices in a background thread, ahead of use.
        return snn_data.prefetch(it, size=2, sharding=(self.x_sharding, self.y_sharding))

    def evaluate(self) -> float:
        """Accuracy on the test split (the last partial batch padded and masked)."""
        bs, correct = self.cfg.train.batch_size, 0
        for x, y in snn_data.batches(
            self.test_ds, bs, seed=0, epoch=0, shuffle=False, drop_last=False
        ):
            n = len(y)
            mask = np.arange(bs) < n
            if n < bs:
                x = np.concatenate([x, np.zeros((x.shape[0], bs - n, *x.shape[2:]), x.dtype)], 1)
                y = np.concatenate([y, np.zeros(bs - n, y.dtype)])
            args = (
                jax.device_put(x, self.x_sharding),
                jax.device_put(y, self.y_sharding),
                jax.device_put(mask, self.y_sharding),
            )
            correct += int(self.eval_step(self.state, *args))
        return correct / len(self.test_ds.y)

    def fit(self) -> dict[str, Any]:
        """Train until ``total_steps``; returns the final metrics."""
        cfg = self.cfg
        log = (self.log_dir / "metrics.jsonl").open("a")
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            desc="train",
            file=sys.stdout,
            disable=None if self.progress else True,
        )
        result: dict[str, Any] = {}
        epoch = self.step // self.steps_per_epoch
        while self.step < self.total_steps:
            skip = self.step - epoch * self.steps_per_epoch
            correct = seen = 0
            for x, y in self._batches(self.train_ds, epoch, shuffle=True, skip=skip):
                self.state, m = self.train_step(self.state, x, y)
                self.step += 1
                correct, seen = correct + int(m["correct"]), seen + len(y)
                record = {
                    "step": self.step,
                    "epoch": epoch,
                    "loss": float(m["loss"]),
                    "train_accuracy_batch": int(m["correct"]) / len(y),
                    "rates": [float(r) for r in m["rates"]],
                }
                log.write(json.dumps(record) + "\n")
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                if self.step >= self.total_steps:
                    break
            epoch_done = self.step % self.steps_per_epoch == 0
            if (epoch_done and (epoch + 1) % cfg.train.eval_every == 0) or (
                self.step >= self.total_steps
            ):
                acc = self.evaluate()
                result = {
                    "step": self.step,
                    "epoch": epoch,
                    "test_accuracy": acc,
                    "train_accuracy": correct / max(seen, 1),
                }
                log.write(json.dumps(result) + "\n")
                tqdm.write(f"epoch {epoch}: step {self.step}  test accuracy {acc:.3f}")
                self.save({"test_accuracy": acc})
            else:
                self.save()
            epoch += 1
        bar.close()
        log.close()
        plot_curves(self.log_dir / "metrics.jsonl", self.log_dir / "curves.png")
        return result


def plot_curves(jsonl: pathlib.Path, png: pathlib.Path) -> None:
    """Training loss per step and test accuracy per evaluation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "test_accuracy" in r]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8)
    a1.set(xlabel="step", ylabel="training loss", yscale="log")
    a2.plot([r["step"] for r in evals], [r["test_accuracy"] for r in evals], "o-")
    a2.set(xlabel="step", ylabel="test accuracy", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def train(cfg: Config, *, resume: bool = True, progress: bool = True, datasets=None) -> dict:
    """Run (or resume) training for ``cfg``; returns the final evaluation metrics."""
    trainer = Trainer(cfg, datasets=datasets, progress=progress)
    if resume:
        trainer.restore()
    result = trainer.fit()
    result["n_steps"] = trainer.step
    result["steps_per_epoch"] = trainer.steps_per_epoch
    return result
