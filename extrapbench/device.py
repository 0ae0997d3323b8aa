"""Where a run computes, decided once, and how data gets there.

`resolve_device` turns the config key ``train.device`` (auto | cpu | cuda) into the one device of a run; the
method lives there, and every batch is moved there by the loop that feeds it (`DeviceLoader`), so that no
method or backbone ever has to move its inputs itself. Data sets stay on the host: graphs and features are
collated on the CPU (optionally in worker processes, into pinned memory) and copied per batch.

On CUDA, kernels run asynchronously: `synchronize` must precede every clock read that is meant to time GPU
work (epoch seconds, inference seconds per sample).
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto``: cuda when available, else cpu; ``cuda`` where none is available is an error."""
    if requested not in DEVICES:
        raise ValueError(f"train.device must be one of {DEVICES}, got {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch sees no CUDA device on this machine (torch "
                           f"{torch.__version__}, built with CUDA {torch.version.cuda}); set train.device to "
                           "'auto' or 'cpu'")
    return torch.device(requested)


def device_of(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters (or, failing that, buffers) live on; cpu for a module with neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def pin_memory_for(setting: Any, device: torch.device) -> bool:
    """``pin_memory: auto`` pins host batches when the run is on cuda (page-locked memory makes the copy
    asynchronous with ``non_blocking=True``); ``true`` / ``false`` force it."""
    if setting == "auto":
        return device.type == "cuda"
    if isinstance(setting, bool):
        return setting
    raise ValueError(f"train.pin_memory must be 'auto', true or false, got {setting!r}")


def loader_options(num_workers: int, pin_memory: Any, device: torch.device) -> Dict[str, Any]:
    """DataLoader keyword arguments for the host side of the data path. Workers persist across epochs (a run
    iterates its loaders hundreds of times; re-forking them each epoch costs seconds with large graph sets)."""
    if num_workers < 0:
        raise ValueError(f"train.num_workers must be >= 0, got {num_workers}")
    options: Dict[str, Any] = {"num_workers": int(num_workers), "pin_memory": pin_memory_for(pin_memory, device)}
    if num_workers > 0:
        options["persistent_workers"] = True
    return options


def to_device(batch, device: torch.device):
    """A batch (torch_geometric Data/Batch or tensor) on `device`; asynchronous from pinned memory."""
    return batch.to(device, non_blocking=True)


class DeviceLoader:
    """Iterates a DataLoader and hands out its batches on `device`. Everything else (``dataset``,
    ``generator``, ``len``) is the wrapped loader's, so methods that read the training set from the loader
    (LDS's histogram) see the host data."""

    def __init__(self, loader, device: torch.device):
        self.loader = loader
        self.device = device

    def __iter__(self):
        for batch in self.loader:
            yield to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)


def on_device(loader, device: torch.device):
    """`loader` wrapped in a DeviceLoader for `device` (unwrapped first if it already is one)."""
    if isinstance(loader, DeviceLoader):
        loader = loader.loader
    return DeviceLoader(loader, device)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on cpu. Call before reading a clock."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def amp_active(requested: bool, device: torch.device) -> bool:
    """AMP runs only on CUDA (the release's ``--amp``: float16 autocast + GradScaler); on cpu it is off, and
    the run records that."""
    return bool(requested) and device.type == "cuda"


def autocast(active: bool, device: torch.device):
    """float16 autocast on CUDA when AMP is active (fairchem's trainer: ``torch.autocast("cuda")`` around the
    forward pass and the loss, in training and in validation), else nothing."""
    if not active:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.float16)


def device_description(device: torch.device) -> str:
    """The run's device in words, for its provenance."""
    import platform

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
