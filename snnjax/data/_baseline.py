"""A non-spiking reference: logistic regression on spike counts."""

import numpy as np

from ._load import FrameDataset

__all__ = ["logistic_baseline"]


def _counts(ds: FrameDataset) -> np.ndarray:
    """Per-feature event counts summed over time: ``[N, prod(features)]``."""
    return np.asarray(ds.x, dtype=np.float64).sum(axis=1).reshape(len(ds.y), -1)


def logistic_baseline(train: FrameDataset, test: FrameDataset, *, max_iter: int = 2000) -> float:
    """Test accuracy of a logistic regression on per-feature spike counts.

    The counts (``x`` summed over time, one feature per input unit, pixel or channel) are
    standardised with the training statistics and fed to scikit-learn's
    ``LogisticRegression`` (L2, ``C=1``, lbfgs). This is the accuracy a model gets without
    spike timing: on ``randman`` every unit fires exactly once, so it is chance level.

    Args:
        train: the training split.
        test: the test split (same feature shape).
        max_iter: the solver's iteration limit.

    Returns:
        The fraction of correctly classified test samples.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if train.x.shape[2:] != test.x.shape[2:]:
        raise ValueError(
            f"`train` and `test` frames differ in shape: {train.x.shape[2:]} vs {test.x.shape[2:]}"
        )
    if len(np.unique(train.y)) < 2:
        raise ValueError("`train` must contain at least two classes")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    model.fit(_counts(train), train.y)
    return float(np.mean(model.predict(_counts(test)) == test.y))
