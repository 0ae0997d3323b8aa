"""Share of a PaiNN training step spent collating graphs into a batch (CPU), i.e. what `train.num_workers` can
take off the training process.

One step = the DataLoader hands out a batch (PyG's collation of `batch_size` periodic graphs into one Batch) +
ERM's loss on PaiNN + backward + AdamW step, on real matbench_phonons structures. The two parts are timed
separately, per batch, in the main process (num_workers 0, the default), and the median over batches is
reported; the share is collate / (collate + compute). On a GPU the compute part shrinks by one to two orders
of magnitude while collation stays on the CPU, so the share printed here is a lower bound of the GPU's.

    python benchmarks/collation_share.py                          # small PaiNN, 6 Å / 24 neighbours
    python benchmarks/collation_share.py --preset paper --batches 3   # OC20 PaiNN, 12 Å / 50-neighbour graphs
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.loader import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extrapbench.data.graphs import build_graphs  # noqa: E402
from extrapbench.methods.base import LabelContext  # noqa: E402
from extrapbench.registry import BACKBONES, METHODS  # noqa: E402


def phonon_graphs(count: int, cutoff: float, max_neighbors: int, data_home: Path):
    from matminer.datasets import load_dataset
    frame = load_dataset("matbench_phonons", data_home=str(data_home)).iloc[:count]
    graphs = build_graphs(list(frame.structure), cutoff, max_neighbors, progress=False)
    y = np.log(frame["last phdos peak"].to_numpy())
    y = (y - y.mean()) / y.std()
    for graph, value in zip(graphs, y):
        graph.y = torch.tensor([value], dtype=torch.float32)
    return graphs


def measure(graphs, hparams: dict, batch_size: int, batches: int, warmup: int) -> dict:
    torch.manual_seed(0)
    backbone = BACKBONES.get("painn")(**hparams)
    labels = LabelContext(-2.0, 2.0, "top", -2.0, 3.0, 0.0, 1.0)
    method = METHODS.get("erm")(backbone, labels)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-4)
    loader = DataLoader(graphs, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    collate, compute, atoms = [], [], []
    iterator = iter(loader)
    for step in range(warmup + batches):
        started = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        collated = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = method.training_loss(batch)
        loss.backward()
        optimizer.step()
        done = time.perf_counter()
        if step >= warmup:
            collate.append(collated - started)
            compute.append(done - collated)
            atoms.append(int(batch.num_nodes))
    c, s = statistics.median(collate), statistics.median(compute)
    return {"batch_size": batch_size, "collate_ms": 1e3 * c, "compute_ms": 1e3 * s, "share": c / (c + s),
            "atoms": statistics.median(atoms)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["small", "paper"], default="small")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--structures", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data-home", type=Path, default=ROOT / "data" / "matminer")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.preset == "paper":
        from extrapbench.backbones.painn import FAIRCHEM_OC20_HPARAMS
        hparams = dict(FAIRCHEM_OC20_HPARAMS)
    else:
        hparams = {}
    cutoff = hparams.get("cutoff", 6.0)
    max_neighbors = hparams.get("max_neighbors", 24)
    graphs = phonon_graphs(args.structures, cutoff, max_neighbors, args.data_home)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, PaiNN preset {args.preset}, graphs "
          f"{cutoff} Å / {max_neighbors} neighbours, {len(graphs)} matbench_phonons structures, median of "
          f"{args.batches} batches after {args.warmup} warm-up", flush=True)
    print(f"{'batch':>6} {'atoms':>6} {'collate ms':>11} {'compute ms':>11} {'collate share':>14}")
    for batch_size in args.batch_sizes:
        r = measure(graphs, hparams, batch_size, args.batches, args.warmup)
        print(f"{r['batch_size']:>6} {r['atoms']:>6.0f} {r['collate_ms']:>11.2f} {r['compute_ms']:>11.1f} "
              f"{100 * r['share']:>13.1f}%", flush=True)


if __name__ == "__main__":
    main()
