"""Seconds per training step of every method, relative to ERM, on a CPU backbone and a graph backbone.

One step = method.training_loss on one batch of real matbench_phonons materials (standardised ln target) +
backward + AdamW step (ANE: its first stage, the embedding). Warm-up steps are discarded; the methods then take
turns, a few steps each per round, so that a slow spell of a shared machine does not land on one method; the
median wall time of each method's steps is reported with its ratio to the first method's (ERM by default). MEX
also reports its inference cost (the Monte-Carlo search) per material, since that is where it differs most.

    python benchmarks/method_step_time.py                         # magpie_mlp and painn, all methods
    python benchmarks/method_step_time.py --backbones magpie_mlp --rounds 10 --threads 2
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset
from extrapbench.data.features import magpie_features
from extrapbench.data.graphs import build_graphs
from extrapbench.methods.base import LabelContext
from extrapbench.registry import BACKBONES, METHODS
from extrapbench.naming import order_methods

# every registered method, ERM first and MEX last as in the tables: a new method is timed without editing this file
METHODS_TIMED = order_methods(METHODS.names())


def make_batch(backbone: str, table, rows, y):
    if BACKBONES.get(backbone).input_kind == "composition":
        feats = magpie_features(table["composition"].iloc[rows])
        feats = (feats - feats.mean()) / feats.std(ddof=0).replace(0, 1)
        data = [Data(x=torch.tensor(feats.iloc[i].to_numpy(), dtype=torch.float32).unsqueeze(0))
                for i in range(len(rows))]
    else:
        data = build_graphs(list(table["structure"].iloc[rows]), cutoff=6.0, max_neighbors=20, progress=False)
    for sample, value in zip(data, y):
        sample.y = torch.tensor([value], dtype=torch.float32)
    return Batch.from_data_list(data)


def build_method(method_name, backbone_name, batch, in_dim):
    """The method on a fresh backbone, its label statistics built from the batch, with an AdamW optimiser."""
    torch.manual_seed(0)
    kwargs = {"in_dim": in_dim} if in_dim else {}
    backbone = BACKBONES.get(backbone_name)(**kwargs)
    y = batch.y
    labels = LabelContext(float(y.min()), float(y.max()), "top", float(y.min()), float(y.max()), 0.0, 1.0)
    method = METHODS.get(method_name)(backbone, labels)
    sampler = method.train_batch_sampler(y.numpy(), len(y), torch.Generator().manual_seed(0))
    del sampler  # built for its side effects (label statistics of LDS / BalancedMSE-GAI)
    method.on_epoch_start(0, [batch])
    method.begin_stage(method.stages[0])
    return method, torch.optim.AdamW(method.param_groups(1e-3, 0.0))


def timed_steps(method, optimizer, batch, steps):
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        loss, _ = method.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return times


def time_methods(method_names, backbone_name, batch, in_dim, warmup, steps, rounds):
    """Median seconds per step of every method. The methods take turns (`rounds` rounds of `steps` steps each),
    so a slow spell of a shared machine hits all of them alike instead of whichever ran then."""
    built = {name: build_method(name, backbone_name, batch, in_dim) for name in method_names}
    for method, optimizer in built.values():
        timed_steps(method, optimizer, batch, warmup)
    times = {name: [] for name in method_names}
    for _ in range(rounds):
        for name, (method, optimizer) in built.items():
            times[name] += timed_steps(method, optimizer, batch, steps)
    results = {name: {"step_s": statistics.median(t)} for name, t in times.items()}
    if "mex" in built:
        method = built["mex"][0]
        method.eval()
        started = time.perf_counter()
        method.predict(batch)
        results["mex"]["inference_s_per_material"] = (time.perf_counter() - started) / len(batch.y)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["magpie_mlp", "painn"])
    parser.add_argument("--methods", nargs="+", default=METHODS_TIMED)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="steps per method per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-home", default="data/matminer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    table = standardize_dataset("matbench_phonons", load_matminer_dataset("matbench_phonons", args.data_home))
    rows = np.random.default_rng(0).choice(len(table), size=args.batch_size, replace=False)
    y = np.log(table["last phdos peak"].iloc[rows].to_numpy())
    y = (y - y.mean()) / y.std()
    print(f"batch of {args.batch_size} matbench_phonons materials, {args.threads} threads, median of "
          f"{args.rounds} x {args.steps} steps per method (methods take turns) after {args.warmup} warm-up; "
          f"ratios to {args.methods[0]}")
    for backbone in args.backbones:
        batch = make_batch(backbone, table, rows, y)
        in_dim = batch.x.shape[-1] if BACKBONES.get(backbone).input_kind == "composition" else None
        print(f"\n{backbone}\n{'method':<18}{'s/step':>10}{'x ' + args.methods[0]:>8}")
        results = time_methods(args.methods, backbone, batch, in_dim, args.warmup, args.steps, args.rounds)
        baseline = results[args.methods[0]]["step_s"]
        for method, result in results.items():
            extra = (f"   inference {result['inference_s_per_material'] * 1e3:.2f} ms/material"
                     if "inference_s_per_material" in result else "")
            print(f"{method:<18}{result['step_s']:>10.4f}{result['step_s'] / baseline:>8.2f}{extra}", flush=True)

if __name__ == "__main__":
    main()
