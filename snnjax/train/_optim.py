"""optax optimiser from an :class:`~snnjax.train.OptimConfig`."""

import optax

from ._config import OptimConfig


def make_optimizer(cfg: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    """Clip (optional) → adam / adamw / sgd with a constant, cosine or warm-up-cosine rate."""
    if cfg.schedule == "constant":
        lr = cfg.lr
    elif cfg.schedule == "cosine":
        lr = optax.cosine_decay_schedule(cfg.lr, decay_steps=max(total_steps, 1))
    else:
        lr = optax.warmup_cosine_decay_schedule(
            0.0, cfg.lr, warmup_steps=cfg.warmup_steps, decay_steps=max(total_steps, 1)
        )
    if cfg.optimizer == "adam":
        tx = optax.adam(lr)
    elif cfg.optimizer == "adamw":
        tx = optax.adamw(lr, weight_decay=cfg.weight_decay)
    else:
        tx = optax.sgd(lr, momentum=0.9)
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), tx) if cfg.clip_norm else tx
