"""The training protocol's settings (docs/benchmark.md, "Training protocol"), in a module of their own so that code which only needs their
names (config validation, hyper-parameter selection in the torch-free report env) does not import torch."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional, Union


@dataclass
class TrainConfig:
    """Defaults are this benchmark's protocol; the MEX authors' release differs where the comments say (their
    values are in config/authors.yaml)."""
    max_epochs: int = 200
    early_stopping_patience: Optional[int] = 30   # None: no early stopping (release: BalancedMSE's fixed epochs)
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_factor: float = 0.8
    lr_patience: int = 5
    # where and how the run computes (extrapbench.device)
    device: str = "auto"                          # auto (cuda when available) | cpu | cuda
    num_workers: int = 0                          # DataLoader worker processes collating batches
    pin_memory: Union[str, bool] = "auto"         # auto: pinned host batches when the device is cuda
    # CPU only: subnormal floats (e.g. the far tails of a Gaussian / radial basis at a 12 Å cutoff) flushed to
    # zero. x86 arithmetic on subnormals is microcoded: with them, SchNet's / PaiNN's backward pass ran 4-7x
    # slower (benchmarks/NOTES.md). Changes values below ~1e-38 only; CUDA kernels are not affected.
    flush_denormal: bool = True
    # the release's training protocol, all off by default (extrapbench.training, .ema, .optimizer)
    ema_decay: float = 0.0                        # EMA of the weights, 0 = off (release: 0.999)
    clip_grad_norm: Optional[float] = None        # max gradient norm, None = off (release: 10)
    amp: bool = False                             # float16 autocast + GradScaler on CUDA (release: on)
    no_weight_decay_bias_norm: bool = False       # biases and norm layers without weight decay (release: on)


def train_keys() -> set[str]:
    return {f.name for f in fields(TrainConfig)}
