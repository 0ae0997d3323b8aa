"""The training protocol of paper A (SPEC §5), as one plain loop.

AdamW; ReduceLROnPlateau on val MAE (factor and patience from config, paper: 0.8 / 5); at most `max_epochs`;
early stopping after `early_stopping_patience` epochs without val-MAE improvement; the best-val weights are
restored at the end. The loop checkpoints its full state to `resume_path` after every epoch, so a run killed
half-way resumes where it stopped instead of starting over; the checkpoint is deleted when the run completes.
"""
from __future__ import annotations

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

from extrapbench.train_config import TrainConfig  # noqa: F401  (re-exported: the loop's settings)


@dataclass
class TrainResult:
    epochs_run: int
    best_epoch: int
    best_val_mae: float
    history: List[Dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.no_grad()
def predict_loader(method, loader) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets), standardised units, in loader order."""
    method.eval()
    preds, targets = [], []
    for batch in loader:
        preds.append(method.predict(batch).float().cpu())
        targets.append(batch.y.float().cpu())
    return torch.cat(preds).numpy(), torch.cat(targets).numpy()


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def validation_score(method, val_loader, label_std: float) -> tuple[float, Dict[str, float]]:
    """The number model selection minimises: the method's own selection loss if it defines one for the
    current stage (e.g. ANE's embedding stage, which has no prediction head yet), else val MAE in target
    units."""
    method.eval()
    with torch.no_grad():
        own = method.selection_loss(val_loader)
    if own is not None:
        return float(own), {"val_selection_loss": float(own)}
    pred, target = predict_loader(method, val_loader)
    val_mae = float(np.abs(pred - target).mean() * label_std)
    return val_mae, {"val_mae": val_mae}


def train(method, train_loader, val_loader, config: TrainConfig, label_std: float,
          resume_path: str | os.PathLike | None = None, run_fingerprint: Any = None,
          progress: bool = True, stage: str = "main") -> TrainResult:
    """Train `method` in place for one stage; on return it holds the best-val weights. `label_std` converts
    standardised val MAE back to target units for the history."""
    optimizer = torch.optim.AdamW(method.param_groups(config.learning_rate, config.weight_decay))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=config.lr_factor,
                                                           patience=config.lr_patience)
    fixed_lr = {i: g["lr"] for i, g in enumerate(optimizer.param_groups) if g.get("scheduled") is False}

    start_epoch, best_val, best_epoch, best_state, history = 0, float("inf"), -1, None, []
    fingerprint = _fingerprint(run_fingerprint)
    resume_path = Path(resume_path) if resume_path else None
    if resume_path and resume_path.exists():
        state = torch.load(resume_path, weights_only=False)
        if state.get("fingerprint") == fingerprint and state.get("finished"):
            # this stage completed before the job was interrupted in a later one
            method.load_state_dict(state["best_state"])
            return TrainResult(epochs_run=len(state["history"]), best_epoch=state["best_epoch"],
                               best_val_mae=state["best_val"], history=state["history"],
                               resumed_from_epoch=len(state["history"]))
        if state.get("fingerprint") == fingerprint:
            method.load_state_dict(state["method"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            start_epoch, best_val, best_epoch = state["epoch"] + 1, state["best_val"], state["best_epoch"]
            best_state, history = state["best_state"], state["history"]
            torch.set_rng_state(state["torch_rng"])
            np.random.set_state(state["numpy_rng"])
            random.setstate(state["python_rng"])
            if state.get("loader_rng") is not None and train_loader.generator is not None:
                train_loader.generator.set_state(state["loader_rng"])
        # a checkpoint of a different configuration is ignored (and overwritten below)
    resumed_from = start_epoch

    bar = tqdm(range(start_epoch, config.max_epochs), desc=f"{stage} epochs", disable=not progress,
               initial=start_epoch, total=config.max_epochs, dynamic_ncols=True)
    for epoch in bar:
        if epoch - best_epoch > config.early_stopping_patience and best_epoch >= 0:
            break
        started = time.perf_counter()
        method.train()
        method.on_epoch_start(epoch, train_loader)
        losses, components = [], {}
        for batch in train_loader:
            optimizer.zero_grad(set_to_none=True)
            loss, logs = method.training_loss(batch)
            for key, value in logs.items():  # a method's loss components, averaged per epoch in the history
                components.setdefault(key, []).append(float(value))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss {loss.item()} at epoch {epoch}; lower the "
                                         f"learning rate or check the inputs")
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        method.on_epoch_end(epoch)
        val_score, val_logs = validation_score(method, val_loader, label_std)
        scheduler.step(val_score)
        for i, lr in fixed_lr.items():  # groups outside the schedule (e.g. BalancedMSE's sigma)
            optimizer.param_groups[i]["lr"] = lr
        if val_score < best_val:
            best_val, best_epoch = val_score, epoch
            best_state = copy.deepcopy(method.state_dict())
        history.append({"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)),
                        **{f"train_{k}": float(np.mean(v)) for k, v in components.items()}, **val_logs,
                        "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - started})
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.4f}", val=f"{val_score:.4f}",
                        best=f"{best_val:.4f}@{best_epoch}")
        if resume_path:
            _save_state(resume_path, {"fingerprint": fingerprint, "epoch": epoch, "method": method.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "best_val": best_val, "best_epoch": best_epoch, "best_state": best_state,
                        "history": history, "torch_rng": torch.get_rng_state(),
                        "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
                        "loader_rng": (train_loader.generator.get_state()
                                       if train_loader.generator is not None else None)})
    bar.close()
    if best_state is None:
        raise RuntimeError("training ran no epoch (max_epochs must be >= 1)")
    method.load_state_dict(best_state)
    if resume_path:
        _save_state(resume_path, {"fingerprint": fingerprint, "finished": True, "best_state": best_state,
                                  "best_val": best_val, "best_epoch": best_epoch, "history": history})
    return TrainResult(epochs_run=len(history), best_epoch=best_epoch, best_val_mae=best_val,
                       history=history, resumed_from_epoch=resumed_from)


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
