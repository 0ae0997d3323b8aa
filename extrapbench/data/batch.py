"""Composition samples and batches without torch_geometric: a Magpie-feature sample is a feature row `x` [1, F] and
its target `y` [1]; a batch stacks them (x [B, F], y [B]). It offers what the composition backbone, every method and
the training loop read from a torch_geometric Batch (`x`, `y`, `num_graphs`, `.to(device)`, `pin_memory()`), so the
composition path never imports torch_geometric (about 2.5 s of every job's start-up, most of it torch._dynamo)."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader


class TensorSample:
    """One material's feature row `x` [1, F] and target `y` [1] (also a batch of them: x [B, F], y [B])."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None):
        self.x = x
        self.y = y

    @property
    def num_graphs(self) -> int:
        return int(self.x.shape[0])

    def __len__(self) -> int:
        return self.num_graphs

    def to(self, device, non_blocking: bool = False) -> "TensorSample":
        return TensorSample(self.x.to(device, non_blocking=non_blocking),
                            None if self.y is None else self.y.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "TensorSample":
        return TensorSample(self.x.pin_memory(), None if self.y is None else self.y.pin_memory())

    def clone(self) -> "TensorSample":
        return TensorSample(self.x.clone(), None if self.y is None else self.y.clone())


def collate(samples) -> TensorSample:
    x = torch.cat([s.x for s in samples])
    y = None if samples[0].y is None else torch.cat([s.y for s in samples])
    return TensorSample(x, y)


def composition_loader(samples, **options) -> DataLoader:
    """torch's DataLoader over TensorSamples (same keyword arguments as torch_geometric's)."""
    return DataLoader(samples, collate_fn=collate, **options)
