"""One training run: a RunSpec (method, backbone, task, seed and the files they read and write) -> predictions,
history, checkpoint, provenance, in named steps.

Inputs are files the earlier stages wrote once per dataset (Magpie features or graphs) and per task (the
split). Targets are standardised on train statistics; every output is in transformed-target units.
predictions.csv holds val and test rows and, for a final run (`predict_train`), the train rows too: the
in-range samples that detection precision counts false positives on. Grid points skip them (selection reads
only val). The hyper-parameters a run trains with (after a selected grid point is applied) are recorded in its
provenance.json under `config`.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd
import torch

from extrapbench.config.entries import backbone_entry, method_entry
from extrapbench.device import device_description, loader_options, resolve_device, synchronize
from extrapbench.files import write_atomic
from extrapbench.hparams import check_all
from extrapbench.methods.base import LabelContext
from extrapbench.naming import PARTS
from extrapbench.provenance import code_digest, file_digest, provenance
from extrapbench.registry import BACKBONES, METHODS
from extrapbench.training.inputs import load_split
from extrapbench.training.loop import TrainConfig, predict_loader, seed_everything, stage_resume_path, train_stages
from extrapbench.training.samples import (composition_samples, graph_backbone_params, graph_samples, make_loader,
                                          own_feature_samples, standardise_targets)


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs: what to train (entry names and their parameters as configured), on which split
    and representation, and where to write. `keep_resume`: leave the finished run's resume checkpoint in
    `run_dir` (a job that trains several grid points in turn restores its finished points from them when rerun)."""

    split_json: Any
    split_csv: Any
    inputs: Any
    backbone_name: str
    backbone_params: Dict[str, Any]
    method_name: str
    method_params: Dict[str, Any]
    train_params: Dict[str, Any]
    seed: int
    run_dir: Any
    outputs: Dict[str, str]
    resolved_config: Dict[str, Any] | None = None
    threads: int = 1
    progress: bool = True
    selection: Dict[str, Any] | None = None
    predict_train: bool = True
    attempt_logs: list = field(default_factory=list)
    keep_resume: bool = False


def checked_plugin(registry, name: str, params: Dict[str, Any], where: str):
    """The registered class, its values checked (the config check refuses bad ones before any job; a direct call
    gets the same message)."""
    plugin = registry.get(name)
    bad = check_all(plugin, {k: v for k, v in params.items() if k in registry.declaration(name).defaults}, where)
    if bad:
        raise ValueError("; ".join(bad))
    return plugin


def plugin_classes(**classes) -> Dict[str, Dict[str, str]]:
    """role -> the class a run trained with ("module:Class"); a class from outside the package also its source
    file and that file's sha256 (the record's code_sha256 covers the package only)."""
    import inspect

    described = {}
    for role, cls in classes.items():
        described[role] = {"class": f"{cls.__module__}:{cls.__qualname__}"}
        if not cls.__module__.startswith("extrapbench."):
            source = inspect.getsourcefile(cls)
            if source:
                described[role].update(file=str(source), sha256=file_digest(source))
    return described


@dataclass
class RunData:
    """The split as the run sees it: ids per part, targets, samples with standardised `y`, the label context."""

    summary: dict
    ids_by_part: Dict[str, list]
    target: pd.Series
    samples: Dict[str, list]
    labels: LabelContext
    backbone_params: Dict[str, Any]


def load_run_data(spec: RunSpec, backbone_cls, backbone_params: Dict[str, Any]) -> RunData:
    summary, split_table = load_split(spec.split_json, spec.split_csv)
    ids_by_part = {part: list(map(str, summary[part]["ids"])) for part in PARTS}
    if backbone_cls.input_kind == "composition":
        samples = composition_samples(spec.inputs, ids_by_part)
    elif backbone_cls.input_kind == "features":  # its own featurize over the dataset table
        samples = own_feature_samples(spec.inputs, ids_by_part, backbone_cls)
    else:
        samples, graph_meta = graph_samples(spec.inputs, ids_by_part)
        backbone_params = graph_backbone_params(backbone_cls, backbone_params, graph_meta, spec.inputs)
    # with `split_ties: both_sides` a material tied at a cut has a row in each of its two parts: one target per id
    target = split_table.loc[~split_table.index.duplicated(), "target"]
    mean, std = standardise_targets(samples, target, ids_by_part)
    train_y, val_y, all_y = (target.loc[ids_by_part["train"]].to_numpy(float),
                             target.loc[ids_by_part["val"]].to_numpy(float), target.to_numpy(float))
    labels = LabelContext(train_min=(train_y.min() - mean) / std, train_max=(train_y.max() - mean) / std,
                          side=summary.get("side"), dataset_min=(all_y.min() - mean) / std,
                          dataset_max=(all_y.max() - mean) / std, mean=mean, std=std,
                          val_min=(val_y.min() - mean) / std if len(val_y) else None,
                          val_max=(val_y.max() - mean) / std if len(val_y) else None)
    return RunData(summary, ids_by_part, target, samples, labels, backbone_params)


def build_loaders(method, data: RunData, config: TrainConfig, kind: str, device, seed: int) -> dict:
    """val / test / train loaders; a method's own batch sampler (FOMA's) replaces plain shuffling."""
    host = loader_options(config.num_workers, config.pin_memory, device)
    loader = functools.partial(make_loader, kind=kind, **host)
    eval_batch = max(config.batch_size, 256)
    loaders = {"val": loader(data.samples["val"], batch_size=eval_batch),
               "test": loader(data.samples["test"], batch_size=eval_batch),
               "train_eval": loader(data.samples["train"], batch_size=eval_batch),
               "warm_up": loader(data.samples["test"][:8], batch_size=8)}
    generator = torch.Generator().manual_seed(seed)
    train_labels = np.array([float(s.y) for s in data.samples["train"]])
    sampler = method.train_batch_sampler(train_labels, config.batch_size, generator)
    if sampler is not None:
        loaders["train"] = loader(data.samples["train"], batch_sampler=sampler)
        loaders["train"].generator = generator  # so the trainer checkpoints the sampler's random state
    else:
        loaders["train"] = loader(data.samples["train"], batch_size=config.batch_size, shuffle=True,
                                  generator=generator, drop_last=len(data.samples["train"]) > config.batch_size)
    return loaders


def predict_parts(method, data: RunData, loaders: dict, amp: bool, device, predict_train: bool) -> tuple:
    """(predictions in target units, inference seconds per test sample, the parts predicted). The test part is
    timed alone after a warm-up batch, with the device's queued work finished before each clock read."""
    predict_loader(method, loaders["warm_up"], amp)
    synchronize(device)
    t0 = time.perf_counter()
    test_pred, _ = predict_loader(method, loaders["test"], amp)
    synchronize(device)
    seconds_per_sample = (time.perf_counter() - t0) / len(data.samples["test"])
    predicted = [("val", predict_loader(method, loaders["val"], amp)[0]), ("test", test_pred)]
    if predict_train:  # in-range samples: what a detection false positive is measured on
        predicted.insert(0, ("train", predict_loader(method, loaders["train_eval"], amp)[0]))
    mean, std = data.labels.mean, data.labels.std
    rows = [(i, part, float(data.target.loc[i]), float(p) * std + mean)
            for part, pred in predicted for i, p in zip(data.ids_by_part[part], pred)]
    return (pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred"]), seconds_per_sample,
            [part for part, _ in predicted])


def write_run(spec: RunSpec, method, record: dict, history: list, predictions: pd.DataFrame) -> None:
    """history, checkpoint, provenance, then predictions: their presence marks a finished run."""
    write_atomic(lambda p: pd.DataFrame(history).to_csv(p, index=False), spec.outputs["history"])
    # weights saved from the host, so the checkpoint loads on any machine without map_location
    host_state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
    # plain tensors, numbers and strings only (the record through JSON): torch.load(weights_only=True) reads it
    plain_record = json.loads(json.dumps(record, default=str))
    if spec.outputs.get("checkpoint"):
        write_atomic(lambda p: torch.save({"state_dict": host_state, "method": spec.method_name,
                                           "backbone": spec.backbone_name, "record": plain_record}, p),
                     spec.outputs["checkpoint"])
    write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)), spec.outputs["provenance"])
    write_atomic(lambda p: predictions.to_csv(p, index=False), spec.outputs["predictions"])
    if not spec.keep_resume:
        for stage in method.stages:
            stage_resume_path(Path(spec.run_dir), stage).unlink(missing_ok=True)


def train_run(spec: RunSpec) -> dict:
    """Train one run and write its outputs; returns its provenance record."""
    started = time.perf_counter()
    torch.set_num_threads(spec.threads)
    seed_everything(spec.seed)
    registered_backbone, backbone_params = backbone_entry(spec.backbone_name, spec.backbone_params)
    backbone_cls = checked_plugin(BACKBONES, registered_backbone, backbone_params, f"backbones.{spec.backbone_name}")
    data = load_run_data(spec, backbone_cls, backbone_params)
    config = TrainConfig(**spec.train_params)
    device = resolve_device(config.device)   # the run's one device decision: method, batches, timings follow it
    # False where the CPU cannot flush (no SSE3); recorded, as AMP is, so a reader sees what actually ran
    flush_denormal_active = bool(torch.set_flush_denormal(config.flush_denormal)) and config.flush_denormal
    in_dim = data.samples["train"][0].x.shape[-1] if backbone_cls.input_kind in ("composition", "features") else None
    backbone = (backbone_cls(in_dim=in_dim, **data.backbone_params) if in_dim
                else backbone_cls(**data.backbone_params))
    registered_method, method_params = method_entry(spec.method_name, spec.method_params)
    method_cls = METHODS.get(registered_method)  # its values are checked as it is built (Method.__init__)
    method = method_cls(backbone, data.labels, **method_params).to(device)
    loaders = build_loaders(method, data, config, backbone_cls.input_kind, device, spec.seed)

    run_dir = Path(spec.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # everything that determines the run, one component each, so that a stale checkpoint says what changed: the
    # resolved settings, the split's members and targets, the representation's content, the code
    fingerprint = {"config": {"backbone": [spec.backbone_name, data.backbone_params],
                              "method": [spec.method_name, method_params], "train": asdict(config),
                              "seed": spec.seed, "split_ties": data.summary.get("split_ties")},
                   "split": [file_digest(spec.split_json), file_digest(spec.split_csv)],
                   "representation": file_digest(spec.inputs), "code": code_digest()}
    classes = plugin_classes(backbone=backbone_cls, method=method_cls)
    outside_code = {role: c["sha256"] for role, c in classes.items() if "sha256" in c}
    if outside_code:  # a plug-in from outside the package: its source is code the package's digest does not cover
        fingerprint["outside_code"] = outside_code
    # `result` is the last stage's: the one that produces predictions and was selected on val MAE
    result, results = train_stages(method, loaders["train"], loaders["val"], config, label_std=data.labels.std,
                                   run_dir=run_dir, run_fingerprint=fingerprint, progress=spec.progress)
    history = [row for stage_result in results.values() for row in stage_result.history]
    # a resumed run: the training time of the earlier attempts (up to their last checkpoint) counts too
    earlier_s = sum(r.earlier_attempts_s for r in results.values())
    train_seconds = time.perf_counter() - started + earlier_s
    predictions, seconds_per_sample, parts = predict_parts(method, data, loaders, result.amp_active, device,
                                                           spec.predict_train)
    record = {"task": data.summary["task"], "backbone": spec.backbone_name, "method": spec.method_name,
              "seed": spec.seed, "registered_method": registered_method, "registered_backbone": registered_backbone,
              "classes": classes,
              "epochs_run": len(history),
              "stages": {stage: {"epochs_run": r.epochs_run, "best_epoch": r.best_epoch, "best_val": r.best_val_mae,
                                 "resumed_from_epoch": r.resumed_from_epoch} for stage, r in results.items()},
              "best_epoch": result.best_epoch, "best_val_mae": result.best_val_mae,
              "resumed_from_epoch": result.resumed_from_epoch,
              "wall_time_s": time.perf_counter() - started + earlier_s, "train_time_s": train_seconds,
              "attempts": max(r.attempts for r in results.values()), "earlier_attempts_s": earlier_s,
              "attempt_logs": list(spec.attempt_logs or []),
              "inference_seconds_per_sample": seconds_per_sample, "n_test": len(data.samples["test"]),
              "label_standardisation": {"mean": data.labels.mean, "std": data.labels.std},
              # the values the run trained with: a selected grid point applied, every default filled in
              "config": {"backbone": data.backbone_params, "method": {**method.hparams},
                         "train": asdict(config), "resolved": spec.resolved_config or {}},
              "method_details": method.describe(), "selection": spec.selection,
              "amp_active": result.amp_active, "flush_denormal_active": flush_denormal_active,
              # which parts predictions.csv holds: evaluation refuses a file that lost one (e.g. its train rows)
              "predicted_parts": parts,
              **provenance(device_description(device))}
    write_run(spec, method, record, history, predictions)
    return record


def run_training(**spec: Any) -> dict:
    """train_run(RunSpec(**spec)): the keyword form the train job and the benchmarks call."""
    return train_run(RunSpec(**spec))
