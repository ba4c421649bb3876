"""Training on event datasets: configs, models, losses, the loop, checkpoints."""

from ._config import Config as Config
from ._config import DataConfig as DataConfig
from ._config import LossConfig as LossConfig
from ._config import ModelConfig as ModelConfig
from ._config import OptimConfig as OptimConfig
from ._config import TrainConfig as TrainConfig
from ._config import load_config as load_config
from ._loop import Trainer as Trainer
from ._loop import plot_curves as plot_curves
from ._loop import train as train
from ._losses import logits_from_readout as logits_from_readout
from ._losses import loss_and_metrics as loss_and_metrics
from ._models import CSNN as CSNN
from ._models import RSNN as RSNN
from ._models import build_model as build_model
from ._nir import export_nir as export_nir
from ._nir import import_nir as import_nir
from ._optim import make_optimizer as make_optimizer
