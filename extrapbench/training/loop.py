"""The training protocol of paper A (docs/benchmark.md, "Training protocol"), as one plain loop.

AdamW; ReduceLROnPlateau on val MAE (factor and patience from config, paper: 0.8 / 5); at most `max_epochs`;
early stopping after `early_stopping_patience` epochs without val-MAE improvement (None: none, the release's
BalancedMSE runs); the best-val weights are restored at the end. The loop checkpoints its full state to
`resume_path` after every epoch, so a run killed half-way resumes where it stopped instead of starting over; the
checkpoint is deleted when the run completes. A checkpoint is resumed only when its fingerprint matches the run's
(run.py: the resolved config, the split's content, the representation file's content and the code); otherwise it
is discarded with a log line naming the components that changed. Checkpoints hold tensors, numbers, strings and
containers only and are read with ``torch.load(weights_only=True)``.

The MEX authors' release trains with the OCP/fairchem trainer; its protocol is available here, every part off by
default (TrainConfig, extrapbench.config.train_settings): an exponential moving average of the weights that
validation, the best checkpoint and the predictions use (`ema_decay`, extrapbench.training.ema), gradient-norm
clipping (`clip_grad_norm`, after unscaling, as fairchem), float16 autocast with a GradScaler on CUDA (`amp`), and
no weight decay on biases and norm layers (`no_weight_decay_bias_norm`, extrapbench.training.optimizer). Steps are
in fairchem's order: forward under autocast, scaled backward, unscale, clip, scaler step, EMA update.

Device: the loop runs where the method's parameters are (run.py decides that once per run, extrapbench.device)
and moves every batch there itself, so methods and backbones only ever see tensors on their own device.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from tqdm.auto import tqdm

from extrapbench.device import amp_active, autocast, device_of, on_device, synchronize, to_device
from extrapbench.training.ema import WeightEMA
from extrapbench.training.optimizer import build_optimizer
from extrapbench.config.train_settings import TrainConfig  # noqa: F401  (re-exported: the loop's settings)


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    best_val_mae: float
    history: List[Dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0
    amp_active: bool = False       # AMP requested and on CUDA (on cpu the key is a recorded no-op)
    earlier_attempts_s: float = 0.0  # training seconds of earlier attempts that this one resumed from
    attempts: int = 1              # attempts that trained this stage (1 + resumes)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_loader(method, loader, amp: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets), standardised units, in loader order. Batches go to the method's device; the
    targets are read from the host batches (no copy back)."""
    method.eval()
    device = device_of(method)
    preds, targets = [], []
    for host_batch in loader:
        with autocast(amp, device):
            pred = method.predict(to_device(host_batch, device))
        preds.append(pred.float().cpu())
        targets.append(host_batch.y.float().cpu())
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint_parts(run_fingerprint: Any) -> Dict[str, str]:
    """One digest per component of what determines a run (run.py passes config, split, representation, code),
    so that a checkpoint of another run can say which component changed."""
    if isinstance(run_fingerprint, dict):
        return {str(key): _fingerprint(value) for key, value in run_fingerprint.items()}
    return {"run": _fingerprint(run_fingerprint)}


def changed_parts(stored: Dict[str, str] | None, current: Dict[str, str]) -> List[str]:
    if not isinstance(stored, dict):
        return ["everything (the checkpoint records no components: written by an older version)"]
    return sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))


def _save_state(path: Path, state: dict) -> None:
    """A resume checkpoint, written atomically (a full disk says so, naming the file: extrapbench.files)."""
    from extrapbench.files import write_atomic

    write_atomic(lambda tmp: torch.save(state, tmp), path)


def _numpy_rng_state() -> dict:
    """numpy's global RNG state as tensors and numbers (weights_only-loadable; numpy arrays are not)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(state: dict) -> None:
    np.random.set_state((state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                         state["cached_gaussian"]))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint written on any device, loaded onto the host: its RNG states must be CPU tensors, and
    `load_state_dict` (method, optimiser, EMA) copies every tensor to wherever its module lives, so a run
    written on cuda resumes on cpu and vice versa. Read with weights_only=True: tensors, numbers, strings and
    containers only, never code (a checkpoint holds nothing else)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def validation_score(method, val_loader, label_std: float, amp: bool = False) -> tuple[float, Dict[str, float]]:
    """The number model selection minimises: the method's own selection loss if it defines one for the
    current stage (e.g. ANE's embedding stage, which has no prediction head yet), else val MAE in target
    units."""
    method.eval()
    with torch.no_grad(), autocast(amp, device_of(method)):
        own = method.selection_loss(on_device(val_loader, device_of(method)))
    if own is not None:
        return float(own), {"val_selection_loss": float(own)}
    pred, target = predict_loader(method, val_loader, amp)
    val_mae = float(np.abs(pred - target).mean() * label_std)
    return val_mae, {"val_mae": val_mae}


def _cuda_rng_state(device: torch.device):
    return torch.cuda.get_rng_state(device) if device.type == "cuda" and torch.cuda.is_initialized() else None


def train(method, train_loader, val_loader, config: TrainConfig, label_std: float,
          resume_path: str | os.PathLike | None = None, run_fingerprint: Any = None,
          progress: bool = True, stage: str = "main") -> TrainResult:
    """Train `method` in place for one stage, on the device its parameters live on; on return it holds the
    best-val weights (the EMA weights when `ema_decay` > 0). `label_std` converts standardised val MAE back to
    target units for the history."""
    device = device_of(method)
    use_amp = amp_active(config.amp, device)
    optimizer = build_optimizer(method, config.learning_rate, config.weight_decay,
                                config.no_weight_decay_bias_norm)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.lr_factor,
                                                           patience=config.lr_patience)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    ema = WeightEMA(method.parameters(), config.ema_decay) if config.ema_decay else None
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    fixed_lr = {i: g["lr"] for i, g in enumerate(optimizer.param_groups) if g.get("scheduled") is False}

    start_epoch, best_val, best_epoch, best_state, history = 0, float("inf"), -1, None, []
    attempt_started, earlier_seconds, attempts = time.perf_counter(), 0.0, 1
    parts = fingerprint_parts(run_fingerprint)
    fingerprint = _fingerprint(parts)
    resume_path = Path(resume_path) if resume_path else None
    if resume_path and resume_path.exists():
        try:
            state = load_checkpoint(resume_path)
        except Exception as exc:  # truncated, or written by an older version in a format weights_only refuses
            print(f"{stage}: resume checkpoint {resume_path} discarded: unreadable ({type(exc).__name__}: "
                  f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); training starts over", flush=True)
            state = {}
        if state and state.get("fingerprint") != fingerprint:
            print(f"{stage}: resume checkpoint {resume_path} discarded: it belongs to another run "
                  f"({', '.join(changed_parts(state.get('fingerprint_parts'), parts))} changed); training starts "
                  f"over", flush=True)
        if state.get("fingerprint") == fingerprint and state.get("finished"):
            # this stage completed before the job was interrupted in a later one
            method.load_state_dict(state["best_state"])
            print(f"{stage}: finished in an earlier attempt, restored from {resume_path}", flush=True)
            return TrainResult(epochs_run=len(state["history"]), best_epoch=state["best_epoch"],
                               best_val_mae=state["best_val"], history=state["history"],
                               resumed_from_epoch=len(state["history"]), amp_active=use_amp,
                               earlier_attempts_s=float(state.get("seconds", 0.0)),
                               attempts=int(state.get("attempts", 1)))
        if state.get("fingerprint") == fingerprint:
            method.load_state_dict(state["method"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler") and scaler.is_enabled():   # empty when written without AMP (e.g. on cpu)
                scaler.load_state_dict(state["scaler"])
            if ema is not None:
                ema.load_state_dict(state["ema"])
            start_epoch, best_val, best_epoch = state["epoch"] + 1, state["best_val"], state["best_epoch"]
            best_state, history = state["best_state"], state["history"]
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and _cuda_rng_state(device) is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            _set_numpy_rng_state(state["numpy_rng"])
            random.setstate(state["python_rng"])
            if state.get("loader_rng") is not None and train_loader.generator is not None:
                train_loader.generator.set_state(state["loader_rng"])
            earlier_seconds, attempts = float(state.get("seconds", 0.0)), int(state.get("attempts", 1)) + 1
            print(f"{stage}: resuming from epoch {start_epoch} of {resume_path} (attempt {attempts}; "
                  f"{earlier_seconds:.1f} s trained before)", flush=True)
        # a checkpoint of a different configuration is ignored (and overwritten below)
    resumed_from = start_epoch
    batches = on_device(train_loader, device)

    bar = tqdm(range(start_epoch, config.max_epochs), desc=f"{stage} epochs", disable=not progress,
               initial=start_epoch, total=config.max_epochs, dynamic_ncols=True)
    for epoch in bar:
        patience = config.early_stopping_patience
        if patience is not None and best_epoch >= 0 and epoch - best_epoch > patience:
            break
        synchronize(device)
        started = time.perf_counter()
        method.train()
        method.on_epoch_start(epoch, batches)
        losses, components, grad_norms = [], {}, []
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            with autocast(use_amp, device):
                loss, logs = method.training_loss(batch)
            for key, value in logs.items():  # a method's loss components, averaged per epoch in the history
                components.setdefault(key, []).append(float(value))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss {loss.item()} at epoch {epoch}; lower the "
                                         f"learning rate or check the inputs")
            scaler.scale(loss).backward()
            if config.clip_grad_norm is not None:
                scaler.unscale_(optimizer)       # clip the true gradients, not the loss-scaled ones
                grad_norms.append(torch.nn.utils.clip_grad_norm_(trained, config.clip_grad_norm).detach())
            scaler.step(optimizer)               # skipped by the scaler when AMP found inf/NaN gradients
            scaler.update()
            if ema is not None:
                ema.update()
            losses.append(loss.item())
        method.on_epoch_end(epoch)
        with ema.swapped_in() if ema is not None else contextlib.nullcontext():
            val_score, val_logs = validation_score(method, val_loader, label_std, use_amp)
            if val_score < best_val:
                best_val, best_epoch = val_score, epoch
                best_state = copy.deepcopy(method.state_dict())
        scheduler.step(val_score)
        for i, lr in fixed_lr.items():  # groups outside the schedule (e.g. BalancedMSE's sigma)
            optimizer.param_groups[i]["lr"] = lr
        row = {"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)),
               **{f"train_{k}": float(np.mean(v)) for k, v in components.items()}, **val_logs,
               "lr": optimizer.param_groups[0]["lr"]}
        if grad_norms:
            # mean pre-clip norm over the epoch's steps; steps AMP skipped (non-finite gradients) left out
            norms = torch.stack(grad_norms).float().cpu()
            finite = norms[torch.isfinite(norms)]
            row["grad_norm"] = float(finite.mean()) if len(finite) else float("nan")
        synchronize(device)
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val=f"{val_score:.4f}",
                        best=f"{best_val:.4f}@{best_epoch}")
        if resume_path:
            _save_state(resume_path, {"fingerprint": fingerprint, "fingerprint_parts": parts, "epoch": epoch,
                        "seconds": earlier_seconds + time.perf_counter() - attempt_started, "attempts": attempts,
                        "method": method.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "scaler": scaler.state_dict(), "ema": ema.state_dict() if ema is not None else None,
                        "best_val": best_val, "best_epoch": best_epoch, "best_state": best_state,
                        "history": history, "torch_rng": torch.get_rng_state(),
                        "cuda_rng": _cuda_rng_state(device),
                        "numpy_rng": _numpy_rng_state(), "python_rng": random.getstate(),
                        "loader_rng": (train_loader.generator.get_state()
                                       if train_loader.generator is not None else None)})
    bar.close()
    if best_state is None:
        raise RuntimeError("training ran no epoch (max_epochs must be >= 1)")
    method.load_state_dict(best_state)
    if resume_path:
        _save_state(resume_path, {"fingerprint": fingerprint, "fingerprint_parts": parts, "finished": True,
                                  "best_state": best_state, "best_val": best_val, "best_epoch": best_epoch,
                                  "history": history, "attempts": attempts,
                                  "seconds": earlier_seconds + time.perf_counter() - attempt_started})
    return TrainResult(epochs_run=len(history), best_epoch=best_epoch, best_val_mae=best_val,
                       history=history, resumed_from_epoch=resumed_from, amp_active=use_amp,
                       earlier_attempts_s=earlier_seconds, attempts=attempts)


def stage_resume_path(run_dir: str | os.PathLike, stage: str) -> Path:
    """Where `train_stages` keeps a stage's per-epoch checkpoint inside a run directory."""
    return Path(run_dir) / f"resume-{stage}.pt"


def train_stages(method, train_loader, val_loader, config: TrainConfig, label_std: float,
                 run_dir: str | os.PathLike | None = None, run_fingerprint: Any = None,
                 progress: bool = True) -> tuple[TrainResult, Dict[str, TrainResult]]:
    """Train every stage of `method` in order (one for most methods; ANE: embedding, then head), each with the
    full protocol of `train` and its own resume checkpoint in `run_dir`. A job killed in a later stage resumes
    there: the earlier stages' finished checkpoints are restored, not retrained.

    Returns the last stage's result (the one whose model predicts, selected on val MAE) and every stage's."""
    results = {}
    for stage in method.stages:
        method.begin_stage(stage)
        results[stage] = train(method, train_loader, val_loader, config, label_std=label_std,
                               resume_path=stage_resume_path(run_dir, stage) if run_dir else None,
                               run_fingerprint=run_fingerprint, progress=progress, stage=stage)
    return results[method.stages[-1]], results
