"""One training job: (method, backbone, task, seed) -> predictions, history, checkpoint, provenance.

Inputs are files the earlier stages wrote once per dataset (Magpie features or graphs) and per task (the
split). Targets are standardised on train statistics; every output is in transformed-target units.
predictions.csv holds val and test rows and, for a final run (`predict_train`), the train rows too: the
in-range samples that detection precision counts false positives on. Grid points skip them (selection reads
only val).
"""
from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pandas as pd
import torch

from extrapbench.data.batch import TensorSample, composition_loader
from extrapbench.config.entries import backbone_entry, method_entry
from extrapbench.files import write_atomic
from extrapbench.device import device_description, loader_options, resolve_device, synchronize
from extrapbench.hparams import check_all
from extrapbench.methods.base import LabelContext
from extrapbench.provenance import code_digest, file_digest, provenance
from extrapbench.registry import BACKBONES, METHODS
from extrapbench.naming import PARTS
from extrapbench.training.inputs import load_split, standardised_features
from extrapbench.training.loop import TrainConfig, predict_loader, seed_everything, stage_resume_path, train_stages


def composition_samples(features_csv: str | os.PathLike, ids_by_part: Dict[str, list]) -> Dict[str, list]:
    """Magpie features standardised with train statistics (constant columns left at 0)."""
    scaled = standardised_features(features_csv, ids_by_part)
    return {part: [TensorSample(torch.from_numpy(row).unsqueeze(0)) for row in rows] for part, rows in scaled.items()}


def graph_samples(graphs_pt: str | os.PathLike, ids_by_part: Dict[str, list]) -> tuple[Dict[str, list], dict]:
    """Graphs of the split members, and how the graphs were built (cutoff, max_neighbors)."""
    from extrapbench.data.graphs import edgeless_members_error, load_graphs  # torch_geometric: graph backbones only

    # onto the host whatever device wrote them (weights_only: plain tensors, extrapbench.graphs.save_graphs): data
    # stay there and travel to the run's device per batch. Only the split's members become graphs, each once.
    wanted = {i for ids in ids_by_part.values() for i in ids}
    ids, graphs, meta = load_graphs(graphs_pt, only=wanted)
    by_id = dict(zip(ids, graphs))
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise KeyError(f"{graphs_pt}: no graph for {len(missing)} split members, e.g. {sorted(missing)[:3]}")
    # a member without a neighbour within the cutoff: every graph backbone refuses it at its first batch, which
    # could only say its position in that batch; say which material, now, before any training
    parts = {i: part for part, part_ids in ids_by_part.items() for i in part_ids}
    edgeless = edgeless_members_error(ids, graphs, meta.get("cutoff"), graphs_pt, parts)
    if edgeless:
        raise ValueError(edgeless)
    seen, samples = set(), {}
    for part, part_ids in ids_by_part.items():
        # a member in two parts (split_ties: both_sides) gets its own copy: the parts' targets are set per sample
        samples[part] = [by_id[i].clone() if i in seen else by_id[i] for i in part_ids]
        seen.update(part_ids)
    return samples, meta


def make_loader(samples, kind: str, **options):
    """A DataLoader of the backbone's input kind: torch_geometric batches for graphs, TensorSample batches for
    compositions (no torch_geometric import)."""
    if kind == "composition":
        return composition_loader(samples, **options)
    from torch_geometric.loader import DataLoader

    return DataLoader(samples, **options)


def graph_backbone_params(backbone_cls, params: Dict[str, Any], graph_meta: dict, source) -> Dict[str, Any]:
    """A graph backbone's cutoff / neighbour cap follow the graphs it is given (config key `graph`), so the two
    cannot drift apart; setting them differently in the backbone's own config is an error."""
    import inspect

    accepted = inspect.signature(backbone_cls.__init__).parameters
    params = dict(params)
    for key, value in graph_meta.items():
        if key not in accepted:
            continue
        if key in params and params[key] != value:
            raise ValueError(f"backbone {backbone_cls.registry_name!r}: {key}={params[key]} differs from the "
                             f"graphs in {source} ({key}={value}); set it once, under the config key 'graph'")
        params[key] = value
    return params


def run_training(*, split_json, split_csv, inputs, backbone_name: str, backbone_params: Dict[str, Any],
                 method_name: str, method_params: Dict[str, Any], train_params: Dict[str, Any], seed: int,
                 run_dir, outputs: Dict[str, str], resolved_config: Dict[str, Any] | None = None,
                 threads: int = 1, progress: bool = True, selection: Dict[str, Any] | None = None,
                 predict_train: bool = True, attempt_logs: list | None = None, keep_resume: bool = False) -> dict:
    """Train one run and write `outputs` (predictions, history, provenance and, unless `outputs["checkpoint"]`
    is None, the best-val checkpoint). `keep_resume`: leave the finished run's resume checkpoint in `run_dir`
    (a job that trains several grid points in turn restores its finished points from them when rerun)."""
    started = time.perf_counter()
    torch.set_num_threads(threads)
    seed_everything(seed)
    summary, split_table = load_split(split_json, split_csv)
    ids_by_part = {part: list(map(str, summary[part]["ids"])) for part in PARTS}

    registered_backbone, backbone_params = backbone_entry(backbone_name, backbone_params)
    backbone_cls = BACKBONES.get(registered_backbone)
    bad = check_all(backbone_cls, backbone_params, f"backbones.{backbone_name}")
    if bad:  # the config validation refuses these before any job; a direct call gets the same message
        raise ValueError("; ".join(bad))
    if backbone_cls.input_kind == "composition":
        samples = composition_samples(inputs, ids_by_part)
    else:
        samples, graph_meta = graph_samples(inputs, ids_by_part)
        backbone_params = graph_backbone_params(backbone_cls, backbone_params, graph_meta, inputs)

    # with `split_ties: both_sides` a material tied at a cut has a row in each of its two parts: one target per id
    target = split_table.loc[~split_table.index.duplicated(), "target"]
    train_y = target.loc[ids_by_part["train"]].to_numpy(float)
    mean, std = float(train_y.mean()), float(train_y.std()) or 1.0
    for part, ids in ids_by_part.items():
        y = ((target.loc[ids].to_numpy(float) - mean) / std).astype(np.float32)
        for sample, value in zip(samples[part], y):
            sample.y = torch.tensor([value])

    config = TrainConfig(**train_params)
    device = resolve_device(config.device)   # the run's one device decision: method, batches, timings follow it
    # False where the CPU cannot flush (no SSE3); recorded, as AMP is, so a reader sees what actually ran
    flush_denormal_active = bool(torch.set_flush_denormal(config.flush_denormal)) and config.flush_denormal
    host = loader_options(config.num_workers, config.pin_memory, device)
    loader = functools.partial(make_loader, kind=backbone_cls.input_kind)  # batches of this run's input kind
    loaders = {"val": loader(samples["val"], batch_size=max(config.batch_size, 256), **host),
               "test": loader(samples["test"], batch_size=max(config.batch_size, 256), **host)}

    all_y = target.to_numpy(float)
    val_y = target.loc[ids_by_part["val"]].to_numpy(float)
    labels = LabelContext(train_min=(train_y.min() - mean) / std, train_max=(train_y.max() - mean) / std,
                          side=summary.get("side"), dataset_min=(all_y.min() - mean) / std,
                          dataset_max=(all_y.max() - mean) / std, mean=mean, std=std,
                          val_min=(val_y.min() - mean) / std if len(val_y) else None,
                          val_max=(val_y.max() - mean) / std if len(val_y) else None)
    in_dim = samples["train"][0].x.shape[-1] if backbone_cls.input_kind == "composition" else None
    backbone = backbone_cls(in_dim=in_dim, **backbone_params) if in_dim else backbone_cls(**backbone_params)
    registered_method, method_params = method_entry(method_name, method_params)
    method_cls = METHODS.get(registered_method)
    bad = check_all(method_cls, {k: v for k, v in method_params.items() if k in method_cls.defaults},
                    f"methods.{method_name}")
    if bad:  # the config validation refuses these before any job; a direct call gets the same message
        raise ValueError("; ".join(bad))
    method = method_cls(backbone, labels, **method_params).to(device)

    generator = torch.Generator().manual_seed(seed)
    train_labels = np.array([float(s.y) for s in samples["train"]])
    sampler = method.train_batch_sampler(train_labels, config.batch_size, generator)
    if sampler is not None:
        loaders["train"] = loader(samples["train"], batch_sampler=sampler, **host)
        loaders["train"].generator = generator  # so the trainer checkpoints the sampler's random state
    else:
        loaders["train"] = loader(samples["train"], batch_size=config.batch_size, shuffle=True,
                                      generator=generator, drop_last=len(samples["train"]) > config.batch_size,
                                      **host)

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # everything that determines the run, one component each, so that a stale checkpoint says what changed: the
    # resolved settings, the split's members and targets, the representation's content, the code
    fingerprint = {"config": {"backbone": [backbone_name, backbone_params], "method": [method_name, method_params],
                              "train": asdict(config), "seed": seed, "split_ties": summary.get("split_ties")},
                   "split": [file_digest(split_json), file_digest(split_csv)],
                   "representation": file_digest(inputs), "code": code_digest()}
    # `result` is the last stage's: the one that produces predictions and was selected on val MAE
    result, results = train_stages(method, loaders["train"], loaders["val"], config, label_std=std,
                                   run_dir=run_dir, run_fingerprint=fingerprint, progress=progress)
    history = [row for stage_result in results.values() for row in stage_result.history]
    stage_results = {stage: {"epochs_run": r.epochs_run, "best_epoch": r.best_epoch, "best_val": r.best_val_mae,
                             "resumed_from_epoch": r.resumed_from_epoch} for stage, r in results.items()}
    # a resumed run: the training time of the earlier attempts (up to their last checkpoint) counts too
    earlier_s = sum(r.earlier_attempts_s for r in results.values())
    train_seconds = time.perf_counter() - started + earlier_s

    # inference cost: time the test-set prediction alone (after one warm-up batch), with the device's queued
    # work finished before each clock read (CUDA kernels run asynchronously)
    amp = result.amp_active
    predict_loader(method, loader(samples["test"][:8], batch_size=8), amp)
    synchronize(device)
    t0 = time.perf_counter()
    test_pred, _ = predict_loader(method, loaders["test"], amp)
    synchronize(device)
    seconds_per_sample = (time.perf_counter() - t0) / len(samples["test"])
    val_pred, _ = predict_loader(method, loaders["val"], amp)
    predicted = [("val", val_pred), ("test", test_pred)]
    if predict_train:  # in-range samples: what a detection false positive is measured on (metrics.py)
        train_pred, _ = predict_loader(method, loader(samples["train"], batch_size=max(config.batch_size, 256),
                                                          **host), amp)
        predicted.insert(0, ("train", train_pred))

    rows = []
    for part, pred in predicted:
        for i, p in zip(ids_by_part[part], pred):
            rows.append((i, part, float(target.loc[i]), float(p) * std + mean))
    predictions = pd.DataFrame(rows, columns=["id", "split", "y_true", "y_pred"])

    record = {"task": summary["task"], "backbone": backbone_name, "method": method_name, "seed": seed,
              "registered_method": registered_method, "registered_backbone": registered_backbone,
              "epochs_run": len(history), "stages": stage_results, "best_epoch": result.best_epoch,
              "best_val_mae": result.best_val_mae, "resumed_from_epoch": result.resumed_from_epoch,
              "wall_time_s": time.perf_counter() - started + earlier_s, "train_time_s": train_seconds,
              "attempts": max(r.attempts for r in results.values()), "earlier_attempts_s": earlier_s,
              "attempt_logs": list(attempt_logs or []),
              "inference_seconds_per_sample": seconds_per_sample, "n_test": len(samples["test"]),
              "label_standardisation": {"mean": mean, "std": std},
              "config": {"backbone": backbone_params, "method": {**method.hparams},
                         "train": asdict(config), "resolved": resolved_config or {}},
              "method_details": method.describe(), "selection": selection,
              "amp_active": result.amp_active, "flush_denormal_active": flush_denormal_active,
              # which parts predictions.csv holds: evaluation refuses a file that lost one (e.g. its train rows)
              "predicted_parts": [part for part, _ in predicted],
              **provenance(device_description(device))}

    write_atomic(lambda p: pd.DataFrame(history).to_csv(p, index=False), outputs["history"])
    # weights saved from the host, so the checkpoint loads on any machine without map_location
    host_state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
    # plain tensors, numbers and strings only (the record through JSON): torch.load(weights_only=True) reads it
    plain_record = json.loads(json.dumps(record, default=str))
    if outputs.get("checkpoint"):
        write_atomic(lambda p: torch.save({"state_dict": host_state, "method": method_name,
                                           "backbone": backbone_name, "record": plain_record}, p),
                     outputs["checkpoint"])
    write_atomic(lambda p: Path(p).write_text(json.dumps(record, indent=2, default=str)), outputs["provenance"])
    # predictions last: their presence marks a finished run
    write_atomic(lambda p: predictions.to_csv(p, index=False), outputs["predictions"])
    if not keep_resume:
        for stage in method.stages:
            stage_resume_path(run_dir, stage).unlink(missing_ok=True)
    return record
