"""Seconds per training step of each graph backbone on CPU.

One step = forward on a batch of real matbench_phonons structures + a linear head + L1 loss on the
log-transformed target + backward + AdamW step. A few warm-up steps are discarded; the median over the
timed steps is reported, as wall-clock seconds and as process CPU seconds (the latter sums over threads).

    python benchmarks/backbone_step_time.py                      # small defaults, all graph backbones
    python benchmarks/backbone_step_time.py --preset paper       # fairchem OC20 sizes (slow on CPU)
    python benchmarks/backbone_step_time.py --backbones painn --steps 10 --threads 2
    # the graphs of config/cpu_gnn*.yaml (12 Å, 20 neighbours), with and without flushing subnormal floats
    python benchmarks/backbone_step_time.py --backbones schnet painn --batch-size 64 --threads 1 \
        --cutoff 12 --max-neighbors 20 --flush-denormal both

--flush-denormal (train.flush_denormal in a run): x86 arithmetic on subnormal floats is slow, and radial bases at a
long cutoff produce them (the far Gaussians / Bessel tails); flushing them to zero is what makes the backward pass
fast on a CPU (benchmarks/NOTES.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extrapbench.data.graphs import build_graphs  # noqa: E402
from extrapbench.registry import BACKBONES  # noqa: E402


def paper_like_hparams(name: str) -> dict:
    if name == "painn":
        from extrapbench.backbones.painn import FAIRCHEM_OC20_HPARAMS
        return dict(FAIRCHEM_OC20_HPARAMS)
    if name == "equiformer_v2":
        from extrapbench.backbones.equiformer_v2 import FAIRCHEM_OC20_HPARAMS
        return dict(FAIRCHEM_OC20_HPARAMS)
    return {}  # schnet has no published fairchem configuration; use its defaults


def load_phonon_batch(batch_size: int, seed: int, data_home: Path):
    from matminer.datasets import load_dataset
    frame = load_dataset("matbench_phonons", data_home=str(data_home))
    rows = np.random.default_rng(seed).choice(len(frame), size=batch_size, replace=False)
    structures = [frame.structure.iloc[k] for k in rows]
    targets = torch.tensor(np.log(frame["last phdos peak"].iloc[rows].to_numpy()), dtype=torch.float32)
    return structures, targets


def time_backbone(name: str, hparams: dict, structures, targets, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = BACKBONES.get(name)(**hparams)
    head = torch.nn.Linear(model.out_dim, 1)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=1e-4)

    started = time.perf_counter()
    graphs = build_graphs(structures, model.cutoff, model.max_neighbors, progress=False)
    graph_seconds = time.perf_counter() - started
    batch = Batch.from_data_list(graphs)

    model.train()
    wall, cpu = [], []
    for step in range(warmup + steps):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        prediction = head(model(batch)).squeeze(1)
        loss = (prediction - targets).abs().mean()
        loss.backward()
        optimizer.step()
        if step >= warmup:
            wall.append(time.perf_counter() - wall_start)
            cpu.append(time.process_time() - cpu_start)
    return dict(
        backbone=name, hparams=model.hparams, parameters=sum(p.numel() for p in model.parameters()),
        out_dim=model.out_dim, atoms=int(batch.num_nodes), edges=int(batch.edge_index.shape[1]),
        graph_build_seconds=round(graph_seconds, 4), median_step_wall_seconds=round(statistics.median(wall), 4),
        median_step_cpu_seconds=round(statistics.median(cpu), 4), timed_steps=steps, warmup_steps=warmup)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["painn", "equiformer_v2", "schnet"])
    parser.add_argument("--preset", choices=["small", "paper"], default="small",
                        help="small: each backbone's CPU defaults; paper: fairchem's OC20 configurations")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="which structures form the batch")
    parser.add_argument("--data-home", type=Path, default=ROOT / "data" / "matminer")
    parser.add_argument("--cutoff", type=float, default=None, help="graph cutoff in Å (default: the backbone's)")
    parser.add_argument("--max-neighbors", type=int, default=None, help="neighbour cap (default: the backbone's)")
    parser.add_argument("--flush-denormal", choices=["on", "off", "both"], default="on",
                        help="torch.set_flush_denormal during the steps (train.flush_denormal; both: one row each)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per backbone")
    args = parser.parse_args(argv)

    not_graph = [name for name in args.backbones if BACKBONES.get(name).input_kind != "graph"]
    if not_graph:
        parser.error(f"--backbones {' '.join(not_graph)}: not a graph backbone; this script times graph backbones "
                     "(benchmarks/method_step_time.py times the composition ones)")
    if args.threads:
        torch.set_num_threads(args.threads)
    structures, targets = load_phonon_batch(args.batch_size, args.seed, args.data_home)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch of {args.batch_size} "
          f"matbench_phonons structures, preset {args.preset}, median of {args.steps} steps after "
          f"{args.warmup} warm-up", flush=True)
    graph = {key: value for key, value in (("cutoff", args.cutoff), ("max_neighbors", args.max_neighbors))
             if value is not None}
    flush_settings = {"on": [True], "off": [False], "both": [False, True]}[args.flush_denormal]
    for name, flush in ((name, flush) for name in args.backbones for flush in flush_settings):
        hparams = {**(paper_like_hparams(name) if args.preset == "paper" else {}), **graph}
        torch.set_flush_denormal(flush)
        result = time_backbone(name, hparams, structures, targets, args.warmup, args.steps)
        result["flush_denormal"] = flush
        if args.json:
            print(json.dumps(result), flush=True)
            continue
        print(f"\n{name} (flush_denormal {'on' if flush else 'off'}): "
              f"{result['median_step_wall_seconds']:.3f} s/step wall, "
              f"{result['median_step_cpu_seconds']:.3f} s/step CPU "
              f"({result['parameters']:,} parameters, out_dim {result['out_dim']}, "
              f"{result['atoms']} atoms, {result['edges']} edges, graphs built in "
              f"{result['graph_build_seconds']:.3f} s)")
        print(f"  hyper-parameters: {result['hparams']}", flush=True)


if __name__ == "__main__":
    main()
