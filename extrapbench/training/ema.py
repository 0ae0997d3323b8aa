"""Exponential moving average of the weights, applied the way the MEX authors' release applies it.

The release trains with the OCP/fairchem trainer (``optim.ema_decay: 0.999``), whose
``ExponentialMovingAverage`` (fairchem.core.modules.exponential_moving_average) does the following, and so does
`WeightEMA`:

* the average covers the parameters that require grad when training starts (not the buffers: validation with
  the EMA weights uses the live buffers, e.g. FDS's running statistics);
* the shadow starts at the initial weights and is updated after every optimiser step:
  ema <- decay * ema + (1 - decay) * w, with a constant decay (fairchem's ``use_num_updates`` is off), so after
  t steps ema_t = decay^t w_0 + sum_k (1 - decay) decay^(t-k) w_k;
* validation swaps the EMA weights in (store, copy_to, validate, restore), and the best checkpoint saved during
  training holds them; the trainer restores it, so the final model and its predictions are the EMA weights.

The averaging itself is torch's: ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn`` (one
foreach lerp per step). AveragedModel's first update copies instead of averaging; `WeightEMA` spends that
first update on the initial weights, which makes the shadow start at w_0 exactly as fairchem's does.
"""
from __future__ import annotations

import contextlib
from typing import Iterable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightEMA:
    def __init__(self, parameters: Iterable[nn.Parameter], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) when EMA is on, got {decay}")
        self.decay = float(decay)
        # the live parameters, in a container AveragedModel can walk (the parameters are not copied)
        self.live = nn.ParameterList([p for p in parameters if p.requires_grad])
        self.averaged = AveragedModel(self.live, multi_avg_fn=get_ema_multi_avg_fn(self.decay))
        self.averaged.update_parameters(self.live)   # shadow := w_0 (AveragedModel copies on its first update)

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights in; call after every optimiser step."""
        self.averaged.update_parameters(self.live)

    @property
    def shadow(self) -> list[torch.Tensor]:
        return list(self.averaged.module.parameters())

    @torch.no_grad()
    def copy_to_live(self) -> None:
        for live, shadow in zip(self.live, self.shadow):
            live.copy_(shadow)

    @contextlib.contextmanager
    def swapped_in(self):
        """The live parameters hold the EMA weights inside the block and their own values after it."""
        with torch.no_grad():
            stored = [p.detach().clone() for p in self.live]
            self.copy_to_live()
        try:
            yield
        finally:
            with torch.no_grad():
                for live, value in zip(self.live, stored):
                    live.copy_(value)

    def state_dict(self) -> dict:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)
