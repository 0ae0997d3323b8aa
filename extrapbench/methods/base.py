"""The method contract: a training algorithm that sits on top of any backbone.

A method owns the backbone (as ``self.backbone``) plus its own heads and losses. The trainer only calls:

* ``training_loss(batch) -> (loss, logs)``: one optimisation step's loss on a batch; ``batch.y`` holds the
  targets standardised with the training set's mean and std (every method works in those units);
* ``predict(batch) -> Tensor[B]``: predictions in the same standardised units;
* ``param_groups(lr, weight_decay)``: optimiser groups; a group with ``"scheduled": False`` keeps its learning
  rate when ReduceLROnPlateau lowers the others (BalancedMSE's σ needs that);
* ``on_epoch_start(epoch, train_loader)`` / ``on_epoch_end(epoch)``: hooks for methods with per-epoch state
  (FDS statistics, ...);
* ``train_batch_sampler(labels, batch_size, generator)``: a torch batch sampler over the training set (indices
  into ``labels``, standardised train targets) when the method needs its own batches (FOMA's label-space
  neighbours); None means shuffled batches;
* ``stages`` and ``begin_stage(stage)``: a method trained in several stages (ANE) lists them; each stage is a
  full run of the protocol (fresh optimiser, early stopping, best-val weights) and ``begin_stage`` switches
  what trains; ``selection_loss(val_loader)`` may replace val MAE as the number a stage is selected on (None:
  val MAE).

Devices: the trainer hands every method its batches (and ``selection_loss`` its loader's batches) already on the
device of the method's parameters. A method that makes tensors of its own (noise, indices, generators) makes them
on its inputs' device (``y.device``), never on the default one; tests/test_device.py checks every registered
method on a simulated CUDA device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Tuple

import torch
from torch import nn

from extrapbench.hparams import check_all


@dataclass(frozen=True)
class LabelContext:
    """What a method may know about labels, in standardised units (train mean 0, std 1)."""
    train_min: float
    train_max: float
    side: str | None           # "top" / "bottom" for range tasks, None otherwise
    dataset_min: float         # whole data set (train + val + test): only the paper's leaky MEX range uses it
    dataset_max: float
    mean: float                # standardisation, in transformed-target units
    std: float
    val_min: float | None = None   # validation labels (model selection sees them); None when not given
    val_max: float | None = None


def mlp(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int) -> nn.Sequential:
    """num_layers Linear layers with SiLU between them."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_layers - 1):
        layers += [nn.Linear(width, hidden_dim), nn.SiLU()]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class Method(nn.Module):
    #: default hyper-parameters; config values override them, unknown keys are an error
    defaults: Dict[str, Any] = {}
    #: what each hyper-parameter may be (extrapbench.hparams: type and range): declared once, here; the config check
    #: reads it before any job runs (extrapbench.declarations) and __init__ applies it when a method is built; a key
    #: without a spec is checked against its default's type. A method checks only what no single spec can (two keys'
    #: order).
    hparam_specs: Dict[str, Any] = {}
    #: training stages, run in order
    stages: Tuple[str, ...] = ("main",)

    def __init__(self, backbone: nn.Module, labels: LabelContext, **hparams: Any):
        super().__init__()
        unknown = set(hparams) - set(self.defaults)
        if unknown:
            raise ValueError(f"method {getattr(self, 'registry_name', type(self).__name__)!r}: unknown "
                             f"hyper-parameter(s) {sorted(unknown)}; known: {sorted(self.defaults)}")
        # the one check of the values, by the specs the config check uses too (a direct construction gets it)
        bad = check_all(type(self), hparams, f"methods.{getattr(self, 'registry_name', type(self).__name__)}")
        if bad:
            raise ValueError("; ".join(bad))
        self.hparams = {**self.defaults, **hparams}
        self.backbone = backbone
        self.labels = labels

    def training_loss(self, batch) -> Tuple[torch.Tensor, Dict[str, float]]:
        raise NotImplementedError

    def predict(self, batch) -> torch.Tensor:
        raise NotImplementedError

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr,
                 "weight_decay": weight_decay}]

    def on_epoch_start(self, epoch: int, train_loader) -> None:
        pass

    def on_epoch_end(self, epoch: int) -> None:
        pass

    def train_batch_sampler(self, labels, batch_size: int, generator: torch.Generator):
        return None

    def begin_stage(self, stage: str) -> None:
        pass

    def selection_loss(self, val_loader) -> float | None:
        return None

    def describe(self) -> Dict[str, Any]:
        """What to record in the run's provenance beyond the hyper-parameters."""
        return {}


class FitsLabelDistribution:
    """Mixin (listed before the method's base class) for a method that fits something to the whole train-label
    distribution before it trains: LDS's smoothed histogram, DenseWeight's KDE, BalancedMSE-GAI's mixture.

    `extrapbench.training.run` hands it every standardised train label through `train_batch_sampler`; a loop that
    does not (a test's own `training.loop.train` on hand-made loaders) gets the fit at the first epoch, from the
    loader's dataset.
    The class defines `fit_label_distribution(labels)` (array-like [N]) and names its bool buffer in
    `label_fit_flag`; `fits_labels` may switch the fit off (FDS without its LDS part)."""

    label_fit_flag: str = "label_fitted"

    @property
    def fits_labels(self) -> bool:
        return True

    def train_batch_sampler(self, labels, batch_size, generator):
        if self.fits_labels:
            self.fit_label_distribution(labels)
        return None

    def on_epoch_start(self, epoch, train_loader):
        super().on_epoch_start(epoch, train_loader)
        if self.fits_labels and not bool(getattr(self, self.label_fit_flag)):
            dataset = train_loader.dataset
            self.fit_label_distribution(torch.cat([dataset[i].y.reshape(-1).float().cpu()
                                                   for i in range(len(dataset))]).numpy())
