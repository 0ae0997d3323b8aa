"""What the workflow costs to plan, submit, store and start, and what MEX's inference costs: the figures of
docs/performance.md, each printed with how it was measured.

    python benchmarks/workflow_cost.py dag        # full-grid dry run: wall s, peak MB, jobs per rule; sbatch count
    python benchmarks/workflow_cost.py disk       # projected disk of the full grid (checkpoints), before / after
    python benchmarks/workflow_cost.py startup    # per-job interpreter + import seconds (python -X importtime)
    python benchmarks/workflow_cost.py mex        # MEX / ERM test-time seconds per sample, PaiNN and Magpie MLP
    python benchmarks/workflow_cost.py graphs --dataset-file /path/castelli_perovskites.json.gz
    python benchmarks/workflow_cost.py demo       # `snakemake --cores 2 --configfile config/demo.yaml`, empty dir

`dag` counts SLURM submissions from Snakemake's own dry run (with the profile's group-components, if it has any:
every "Group job" block is one sbatch): every job of a rule that is not listed under `localrules:` in
workflow/rules/*.smk is one sbatch, local jobs none.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def measured(cmd, **kwargs) -> tuple[subprocess.CompletedProcess, float, float]:
    """(result, wall seconds, peak RSS MB) of one command, measured in a fresh wrapper process."""
    wrapper = ("import resource, subprocess, sys, time, json; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], stdout=sys.stdout, stderr=sys.stderr); "
               "print(json.dumps({'rc': r.returncode, 'wall': time.perf_counter() - t, "
               "'rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, **kwargs)
    stats = json.loads(result.stderr.strip().splitlines()[-1])
    return result, stats["wall"], stats["rss_mb"]


def group_components() -> dict:
    import yaml

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    return dict(profile.get("group-components") or {})


def job_stats(output: str) -> dict:
    block = output[output.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def cmd_dag(args) -> None:
    config = str(REPO / args.config)
    with tempfile.TemporaryDirectory() as workdir:
        plain = SNAKEMAKE + ["-n", "--configfile", config, "-s", str(REPO / "workflow/Snakefile"), "-d", workdir]
        # every run checks the config against the plug-ins' declarations, read from source without torch
        # (extrapbench.config.validate); the first run is timed apart all the same (a cold file cache)
        result, first_wall, first_rss = measured(plain)
        assert result.returncode == 0, result.stderr[-3000:]
        walls, rss = [], []
        for _ in range(args.repeat):
            result, wall, peak = measured(plain)
            assert result.returncode == 0, result.stderr[-3000:]
            walls.append(wall)
            rss.append(peak)
        counts = job_stats(result.stdout)
        print(f"dry run of {args.config}: {statistics.median(walls):.1f} s wall, peak RSS {max(rss):.0f} MB "
              f"(median of {args.repeat}: {', '.join(f'{w:.1f}' for w in walls)}; the first, which checks the "
              f"config: {first_wall:.1f} s, {first_rss:.0f} MB), {counts.pop('total')} jobs")
        for rule, n in counts.items():
            print(f"  {rule:36s} {n}")
        components = group_components()
        if components:  # the profile packs jobs into groups: count what it would submit
            grouped = plain + ["--group-components", *[f"{g}={n}" for g, n in components.items()]]
            result = subprocess.run(grouped, capture_output=True, text=True)
            assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    groups = len(re.findall(r"^\[[^\]]+\] Group job ", out, re.M))
    single = [rule for _, rule in re.findall(r"^\[[^\]]+\]\n(local)?rule (\w+):", out, re.M)]
    localrules = {"all"} | {name for text in (REPO / "workflow" / "rules").glob("*.smk")
                            for block in re.findall(r"^localrules:\n((?:    .*\n)+)", text.read_text(), re.M)
                            for name in re.findall(r"\w+", block)}
    remote = [rule for rule in single if rule not in localrules]
    local = [rule for rule in single if rule in localrules]
    print(f"sbatch submissions through profiles/slurm (group-components {components}): {groups + len(remote)} "
          f"= {groups} group jobs + {len(remote)} single jobs; {len(local)} local jobs (no submission)")
    by_rule: dict = {}
    for rule in remote:
        by_rule[rule] = by_rule.get(rule, 0) + 1
    print(f"  single jobs by rule: {by_rule}")


def checkpoint_mb(backbone: str, params: dict) -> float:
    """MB of one run's model.pt: the backbone's float32 parameters (the method's head adds well under 1 MB)."""
    from extrapbench.registry import BACKBONES

    cls = BACKBONES.get(backbone)
    model = cls(in_dim=132, **params) if cls.input_kind == "composition" else cls(**params)
    return sum(p.numel() for p in model.parameters()) * 4 / 1e6


def cmd_disk(args) -> None:
    import yaml

    config = yaml.safe_load((REPO / args.config).read_text())
    with tempfile.TemporaryDirectory() as workdir:
        result = subprocess.run(SNAKEMAKE + ["-n", "--configfile", str(REPO / args.config), "-d", workdir,
                                             "-s", str(REPO / "workflow/Snakefile")], capture_output=True, text=True)
    wildcards = re.findall(r"^\s*rule (train|train_seeds|train_grid_point):\n(?:\s+.*\n)*?\s+wildcards: ([^\n]*)",
                           result.stdout, re.M)
    runs, points = {}, {}
    sys.path.insert(0, str(REPO))
    from extrapbench.config.selection import grid_points

    selection = config.get("selection") or {}
    for rule, text in wildcards:
        w = dict(part.split("=", 1) for part in text.split(", "))
        if rule in ("train", "train_seeds"):  # train_seeds (resources.seeds_in_one_job): every seed's run
            runs[w["backbone"]] = runs.get(w["backbone"], 0) + (1 if rule == "train" else len(config["seeds"]))
        else:
            first, last = (int(p[1:]) for p in w["points"].split("-"))
            points[w["backbone"]] = points.get(w["backbone"], 0) + last - first + 1
    total_before = total_after = 0.0
    for backbone, params in config["backbones"].items():
        mb = checkpoint_mb(backbone, dict(params or {}))
        before = (runs.get(backbone, 0) + points.get(backbone, 0)) * mb
        after = runs.get(backbone, 0) * mb
        total_before, total_after = total_before + before, total_after + after
        print(f"{backbone}: {mb:.1f} MB per model.pt; {runs.get(backbone, 0)} final runs, {points.get(backbone, 0)} "
              f"grid points: checkpoints {before / 1e3:.1f} GB if every grid point kept its model.pt, "
              f"{after / 1e3:.1f} GB now (grid points write none)")
    print(f"checkpoints of {args.config}: {total_before / 1e3:.1f} GB before, {total_after / 1e3:.1f} GB after "
          f"(grid: {len(grid_points(selection.get('grid'), None))} common points x method grids)")


STARTUP = {
    "interpreter alone": "pass",
    "train (composition: extrapbench.training.run)": "import extrapbench.training.run, extrapbench.registry as r; "
                                            "r.BACKBONES.get('magpie_mlp'); r.METHODS.get('mex')",
    "train (graph: + torch_geometric loader, PaiNN module)": "import extrapbench.training.run, extrapbench.registry as r; "
                                                             "import torch_geometric.loader; r.BACKBONES.get('painn')",
    "evaluate_runs / select_hyperparameters (extrapbench.evaluation.metrics)": "import extrapbench.evaluation.metrics, extrapbench.config.selection",
    "tables (aggregate_tables)": "import extrapbench.report.tables",
    "figures (plot_parity)": "import extrapbench.report.paper_outputs",
}


def cmd_startup(args) -> None:
    for label, code in STARTUP.items():
        walls = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
            walls.append(time.perf_counter() - t)
        has_torch = subprocess.run([sys.executable, "-c", code + "; import sys; print('torch' in sys.modules, "
                                    "'torch_geometric' in sys.modules)"], capture_output=True, text=True, cwd=REPO)
        print(f"{label:60s} {statistics.median(walls):5.2f} s (median of {args.repeat}); "
              f"torch, torch_geometric imported: {has_torch.stdout.strip()}")
    print("per module: python -X importtime -c '<import>' 2>&1 | sort -t'|' -k2 -n | tail")


def cmd_mex(args) -> None:
    import numpy as np
    import torch

    from extrapbench.data.batch import collate, TensorSample
    from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset
    from extrapbench.methods.base import LabelContext
    from extrapbench.registry import BACKBONES, METHODS

    torch.set_num_threads(args.threads)
    table = standardize_dataset("matbench_phonons",
                                load_matminer_dataset("matbench_phonons", REPO / "data" / "matminer"))
    rows = table.iloc[:args.batch]
    labels = LabelContext(train_min=-1.5, train_max=1.5, side="top", dataset_min=-2.0, dataset_max=3.0, mean=0.0,
                          std=1.0, val_min=1.5, val_max=2.0)
    for backbone_name in args.backbones:
        cls = BACKBONES.get(backbone_name)
        if cls.input_kind == "composition":
            from extrapbench.data.features import magpie_features

            feats = magpie_features(rows["composition"])
            feats = (feats - feats.mean()) / feats.std(ddof=0).replace(0, 1)
            x = torch.tensor(np.nan_to_num(feats.to_numpy(), nan=0.0), dtype=torch.float32)
            batch = collate([TensorSample(x[i:i + 1]) for i in range(len(x))])
            make_backbone = lambda: cls(in_dim=x.shape[1])  # noqa: E731
        else:
            from torch_geometric.data import Batch

            from extrapbench.data.graphs import build_graphs

            batch = Batch.from_data_list(build_graphs(list(rows["structure"]), 6.0, 20, progress=False))
            make_backbone = lambda: cls()  # noqa: E731
        # ERM and MEX (both scorings) timed in turn within each repeat, so a change in the shared machine's speed
        # hits all of them alike; the ratio is the median of the per-repeat ratios
        methods = {"erm": ("erm", {}), "mex": ("mex", {}), "mex_direct": ("mex", {"search_scoring": "direct"})}
        built = {}
        for label, (method_name, hparams) in methods.items():
            torch.manual_seed(0)
            built[label] = METHODS.get(method_name)(make_backbone(), labels, **hparams).eval()
        walls = {label: [] for label in methods}
        with torch.no_grad():
            for method in built.values():
                method.predict(batch)  # warm-up
            for _ in range(args.repeat):
                for label, method in built.items():
                    t = time.perf_counter()
                    method.predict(batch)
                    walls[label].append((time.perf_counter() - t) / len(rows))
        erm = statistics.median(walls["erm"])
        for label in ("mex", "mex_direct"):
            ratio = statistics.median(m / e for m, e in zip(walls[label], walls["erm"]))
            print(f"{backbone_name} (default size, CPU, {args.threads} threads, batch {len(rows)}): ERM "
                  f"{erm * 1e3:.3f} ms/sample, {label} {statistics.median(walls[label]) * 1e3:.3f} ms/sample "
                  f"(2,000 candidates x 5 iterations): {ratio:.2f}x (median of {args.repeat} interleaved repeats)")


def cmd_graphs(args) -> None:
    out = Path(tempfile.mkdtemp()) / "graphs.pt"
    script = (
        "import resource, sys, time, torch\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from extrapbench.data.datasets import load_matminer_dataset, standardize_dataset\n"
        "from extrapbench.data.graphs import build_graphs, save_graphs, load_graphs\n"
        f"path = {args.dataset_file!r}\n"
        "from pathlib import Path\n"
        "name = Path(path).name.split('.')[0]\n"
        "table = standardize_dataset(name, load_matminer_dataset(name, Path(path).parent))\n"
        "t = time.perf_counter()\n"
        f"graphs = build_graphs(list(table['structure']), {args.cutoff}, {args.max_neighbors}, progress=False)\n"
        "built = time.perf_counter() - t\n"
        f"save_graphs({str(out)!r}, list(table.index), graphs, cutoff={args.cutoff}, max_neighbors={args.max_neighbors})\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "del graphs\n"
        "import gc; gc.collect()\n"
        "t = time.perf_counter()\n"
        f"ids, loaded, meta = load_graphs({str(out)!r})\n"
        "print(len(ids), built, rss, time.perf_counter() - t)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    n, built, rss, load_s = result.stdout.split()[-4:]
    print(f"{Path(args.dataset_file).name}: {n} graphs at {args.cutoff} Å / {args.max_neighbors} neighbours built in "
          f"{float(built):.0f} s (1 process), peak RSS {float(rss):.0f} MB (dataset table included), file "
          f"{out.stat().st_size / 1e6:.0f} MB, loaded back in {float(load_s):.1f} s")
    shutil.rmtree(out.parent, ignore_errors=True)


def cmd_demo(args) -> None:
    walls = []
    for _ in range(args.repeat):
        workdir = Path(tempfile.mkdtemp(prefix="demo_"))
        (workdir / "data").symlink_to(REPO / "data")  # data_home: data/matminer, relative to the working dir
        t = time.perf_counter()
        result = subprocess.run(SNAKEMAKE + ["--cores", str(args.cores), "--configfile",
                                             str(REPO / "config" / "demo.yaml"), "-s",
                                             str(REPO / "workflow/Snakefile"), "-d", str(workdir)],
                                capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        assert result.returncode == 0, result.stderr[-3000:]
        n_jobs = job_stats(result.stdout + result.stderr).get("total")
        print(f"demo: {walls[-1]:.0f} s wall, {n_jobs} jobs, {args.cores} cores ({workdir})")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"demo: median {statistics.median(walls):.0f} s of {len(walls)} (load average now "
          f"{os.getloadavg()[0]:.1f})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dag")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("disk")
    p.add_argument("--config", default="config/config.yaml")
    p = sub.add_parser("startup")
    p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("mex")
    p.add_argument("--backbones", nargs="+", default=["painn", "magpie_mlp"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("graphs")
    p.add_argument("--dataset-file", required=True)
    p.add_argument("--cutoff", type=float, default=12.0)
    p.add_argument("--max-neighbors", type=int, default=20)
    p = sub.add_parser("demo")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    {"dag": cmd_dag, "disk": cmd_disk, "startup": cmd_startup, "mex": cmd_mex, "graphs": cmd_graphs,
     "demo": cmd_demo}[args.command](args)


if __name__ == "__main__":
    main()
