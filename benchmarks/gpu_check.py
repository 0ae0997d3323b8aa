"""GPU check: the release-size EquiformerV2 trained with the authors' protocol on phonons_bottom, ERM and MEX.

Per method it prints seconds per epoch (training + validation, after `torch.cuda.synchronize`), peak GPU memory,
val MAE per epoch, and then the projected GPU-hours of the paper grid: 7 tasks x {ERM, LDS (DenseWeight),
RankSim, BalancedMSE, ConR, MEX} x 3 seeds x up to 200 epochs, each task's seconds per epoch scaled from the
measured one by its train-set size. Methods not measured are costed from ERM's: LDS, RankSim and BalancedMSE do
one forward pass per step like ERM (benchmarks/NOTES.md: within a few % of ERM on PaiNN), ConR three (its clean
batch and two views here; the release's single clean view would cost less), so the projection is an upper bound
for early-stopped runs.

Everything goes through `extrapbench.training.run.run_training` (the library's job, exactly as the workflow runs
it) on files this script writes: the shipped matbench_phonons data, graphs at 12 Å / 20 neighbours
(`extrapbench.data.graphs`), the task's range split (`extrapbench.splits.task_split.make_split`).

    python benchmarks/gpu_check.py --epochs 3              # on a CUDA machine
    python benchmarks/gpu_check.py --tiny                  # anywhere: tiny model, tiny subset, CPU, < 1 minute
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset  # noqa: E402
from extrapbench.data.graphs import build_graphs, save_graphs  # noqa: E402
from extrapbench.training.run import run_training  # noqa: E402
from extrapbench.splits.task_split import make_split, split_frame, task_table  # noqa: E402
from extrapbench.tasks import BUILTIN_TASKS  # noqa: E402

#: the release's EquiformerV2 (docs/benchmark.md, "Backbone and graphs"), in our wrapper's parameter names
RELEASE_EQUIFORMER_V2 = dict(num_layers=8, sphere_channels=128, lmax_list=[4], mmax_list=[2], grid_resolution=18,
                             num_heads=8, attn_hidden_channels=64, attn_alpha_channels=64, attn_value_channels=16,
                             ffn_hidden_channels=128, edge_channels=128, alpha_drop=0.1, drop_path_rate=0.1,
                             norm_type="layer_norm_sh", attn_activation="silu", ffn_activation="silu",
                             use_grid_mlp=True, weight_init="uniform")
TINY_EQUIFORMER_V2 = dict(num_layers=1, sphere_channels=8, lmax_list=[1], mmax_list=[1], num_heads=2,
                          attn_hidden_channels=8, attn_alpha_channels=4, attn_value_channels=4,
                          ffn_hidden_channels=8, edge_channels=8, alpha_drop=0.0, drop_path_rate=0.0)
RELEASE_GRAPHS = dict(cutoff=12.0, max_neighbors=20)
TINY_GRAPHS = dict(cutoff=5.0, max_neighbors=8)
#: the release's protocol with its phonons_bottom settings (run_scripts: 64 / 1e-3 / 1e-3)
RELEASE_TRAIN = dict(batch_size=64, learning_rate=1e-3, weight_decay=1e-3, ema_decay=0.999, clip_grad_norm=10.0,
                     amp=True, no_weight_decay_bias_norm=True, early_stopping_patience=None)
TINY_METHOD_PARAMS = {"mex": {"num_noise_labels": 16, "num_candidates": 32, "search_iterations": 2,
                              "score_hidden_dim": 16}}
#: train-set sizes of the paper's seven tasks (the release's split files)
TRAIN_SIZES = {"formation_energy_bottom": 13262, "shear_modulus_bottom": 7694, "shear_modulus_top": 7745,
               "refractive_index_bottom": 3333, "refractive_index_top": 3333, "phonons_bottom": 884,
               "phonons_top": 886}
GRID_METHODS = {"erm": ("erm", 1.0), "lds (denseweight)": ("erm", 1.0), "ranksim": ("erm", 1.0),
                "balanced_mse": ("erm", 1.0), "conr": ("erm", 3.0), "mex": ("mex", 1.0)}
SEEDS, MAX_EPOCHS = 3, 200


def write_inputs(out: Path, tiny: bool) -> tuple[dict, dict]:
    """Split files and graphs of phonons_bottom (a small subset of small structures with --tiny)."""
    task = BUILTIN_TASKS["phonons_bottom"]
    frame = standardize_dataset("matbench_phonons", load_matminer_dataset("matbench_phonons",
                                                                           ROOT / "data" / "matminer"))
    if tiny:
        frame = frame[frame.structure.apply(len) <= 4].iloc[:60]
    table = task_table(task, frame)
    summary = make_split(task, table)
    (out / "split.json").write_text(json.dumps(summary))
    split_frame(summary, table).to_csv(out / "split.csv", index=False)
    graph_params = TINY_GRAPHS if tiny else RELEASE_GRAPHS
    graphs_pt = out / "graphs.pt"
    if not graphs_pt.exists():
        graphs = build_graphs(list(frame.structure), progress=not tiny, **graph_params)
        save_graphs(graphs_pt, list(frame.index), graphs, **graph_params)  # the workflow's weights_only format
    return {"split_json": out / "split.json", "split_csv": out / "split.csv", "inputs": graphs_pt}, summary


def train_one(method: str, files: dict, out: Path, epochs: int, tiny: bool) -> dict:
    cuda = torch.cuda.is_available() and not tiny
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    run_dir = out / method
    outputs = {k: str(run_dir / f"{k}.{ext}") for k, ext in
               (("history", "csv"), ("checkpoint", "pt"), ("provenance", "json"), ("predictions", "csv"))}
    record = run_training(**files, backbone_name="equiformer_v2",
                          backbone_params=TINY_EQUIFORMER_V2 if tiny else RELEASE_EQUIFORMER_V2,
                          method_name=method, method_params=TINY_METHOD_PARAMS.get(method, {}) if tiny else {},
                          train_params={**RELEASE_TRAIN, "max_epochs": epochs, "device": "cuda" if cuda else "cpu",
                                        **({"batch_size": 16} if tiny else {})},
                          seed=0, run_dir=run_dir / "work", outputs=outputs, progress=not tiny,
                          threads=torch.get_num_threads())
    import pandas as pd
    history = pd.read_csv(outputs["history"])
    seconds = list(history["seconds"])
    return {"method": method, "epoch_seconds": seconds,
            # the first epoch pays CUDA start-up and autotuning; the median of the rest is the steady state
            "s_per_epoch": statistics.median(seconds[1:] if len(seconds) > 1 else seconds),
            "val_mae": list(history["val_mae"]), "peak_gpu_gib": (torch.cuda.max_memory_allocated() / 2**30
                                                                  if cuda else None),
            "device": record["device"], "amp_active": record["amp_active"]}


def projected_gpu_hours(s_per_epoch: dict, measured_train_size: int) -> tuple[float, dict]:
    per_task = {}
    for task, size in TRAIN_SIZES.items():
        scale = size / measured_train_size
        per_task[task] = sum(s_per_epoch[base] * factor * scale for base, factor in GRID_METHODS.values()) \
            * SEEDS * MAX_EPOCHS / 3600
    return sum(per_task.values()), per_task


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny model and subset on CPU (automatic without CUDA)")
    parser.add_argument("--methods", nargs="+", default=["erm", "mex"], choices=["erm", "mex"])
    parser.add_argument("--out", type=Path, default=None, help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)
    tiny = args.tiny or not torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        files, summary = write_inputs(out, tiny)
        print(f"phonons_bottom: train/val/test {summary['train']['n']}/{summary['val']['n']}/{summary['test']['n']}"
              f"; EquiformerV2 {'tiny' if tiny else 'release size'}; protocol {RELEASE_TRAIN}", flush=True)
        results = {m: train_one(m, files, out, args.epochs, tiny) for m in args.methods}
    for r in results.values():
        memory = f"{r['peak_gpu_gib']:.2f} GiB" if r["peak_gpu_gib"] is not None else "n/a (cpu)"
        print(f"{r['method']}: {r['s_per_epoch']:.2f} s/epoch, peak GPU memory {memory}, device {r['device']}, "
              f"AMP active {r['amp_active']}")
        print("  val MAE per epoch: " + ", ".join(f"{v:.4f}" for v in r["val_mae"]))
    s_per_epoch = {m: results[m]["s_per_epoch"] for m in results}
    s_per_epoch.setdefault("mex", s_per_epoch.get("erm"))
    s_per_epoch.setdefault("erm", s_per_epoch.get("mex"))
    total, per_task = projected_gpu_hours(s_per_epoch, summary["train"]["n"])
    print(f"projected paper grid: {total:.1f} GPU-hours (7 tasks x 6 methods x {SEEDS} seeds x {MAX_EPOCHS} "
          f"epochs{'; tiny CPU run, not a GPU figure' if tiny else ''})")
    for task, hours in per_task.items():
        print(f"  {task}: {hours:.1f} h")


if __name__ == "__main__":
    main()
