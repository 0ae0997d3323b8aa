# Config loading and validation, and the input functions every other rule file uses.
import functools
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# the library lives in the repository next to workflow/: importable even without `pip install -e .`.
# From this file's own folder (workflow/rules), not workflow.basedir: when another workflow uses this one as a
# `module`, workflow.basedir is the host's folder (tests/test_module.py).
REPO = Path(workflow.current_basedir).resolve().parents[1]
sys.path.insert(0, str(REPO))
# the conda envs' post-deploy scripts install extrapbench from here, also when --directory is elsewhere
os.environ.setdefault("EXTRAPBENCH_REPO", str(REPO))
# from workflow/ (`cd workflow && snakemake`) Snakemake finds workflow/Snakefile and would write workflow/results/,
# and the config's data_home (relative to the working directory) would miss the shipped data and download it
if Path.cwd().resolve() == REPO / "workflow" or REPO / "workflow" in Path.cwd().resolve().parents:
    raise WorkflowError(
        f"run Snakemake from the repository root, not from {Path.cwd()}: cd {REPO} && snakemake "
        f"... (or add --directory {REPO}); run here, it would write results/ here and download the "
        f"datasets the repository ships"
    )

# nothing here imports torch: a parse (a dry run, every cluster job) needs none (extrapbench.config.validate)
from extrapbench.config.validate import check_config  # noqa: E402
from extrapbench.config.entries import (
    METHOD_TRAIN_KEYS,
    ConfigError,
    canonical,
    load_yaml_file,
    method_entry,
    train_settings,
    with_schema_defaults,
)  # noqa: E402
from extrapbench.config.entries import RANDOM_TWIN_SUFFIX, configured_references, in_distribution_settings  # noqa: E402
from extrapbench.data import sources  # noqa: E402
from extrapbench.config.selection import grid_points, point_id  # noqa: E402
from extrapbench.naming import order_methods  # noqa: E402
from extrapbench.tasks import PAPER_TASK_ORDER, get_tasks, random_twin  # noqa: E402

# No `configfile:` directive: Snakemake would deep-merge --configfile into it, so a demo config would inherit
# the full grid's backbones. The full grid is the default only when no config is given.
if not config:
    try:
        config.update(load_yaml_file(REPO / "config" / "config.yaml"))  # a syntax error names file and line
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None
    CONFIG_SOURCE = "config/config.yaml"
else:
    CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "command-line config"
#: the values of --config, which Snakemake has merged over the files: a problem in one is reported as --config's
CONFIG_OVERRIDES = dict(workflow.config_settings.config or {})
CONFIG_FILES = [str(path) for path in workflow.config_settings.configfiles]
if len(CONFIG_FILES) > 1 and getattr(workflow.exec_mode, "name", "DEFAULT") == "DEFAULT":
    # `--configfile a.yaml b.yaml` is no choice of one: Snakemake merges them, and a mapping such as `methods:`
    # keeps an earlier file's entries the later one does not name
    print(
        f"extrapbench: WARNING: {len(CONFIG_FILES)} config files merged, in this order: {', '.join(CONFIG_FILES)}. "
        f"A later file's keys replace an earlier one's, but mappings (methods, backbones, train, ...) merge key by "
        f"key, so an earlier file's entries stay unless the later one sets them; lists (tasks, seeds) are "
        f"replaced. To run one config, give one --configfile.",
        file=sys.stderr,
    )

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
try:
    CONFIG_FACTS = check_config(config, SCHEMA_PATH, source=CONFIG_SOURCE, overrides=CONFIG_OVERRIDES)
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
# every default the config leaves out, from the schema (the one place defaults are written)
SCHEMA = load_yaml_file(SCHEMA_PATH)
config.update(with_schema_defaults(config, SCHEMA))

TASKS = get_tasks(config.get("task_definitions"))
# the paper's range-extrapolation tasks (Tables 1-6, Figs 3-6) and the tasks of other split kinds (own tables)
PAPER_TASKS = list(config.get("tasks") or [])
OTHER_TASKS = list(config.get("other_split_tasks") or [])
SELECTED_TASKS = PAPER_TASKS + OTHER_TASKS
SELECTED_BACKBONES = list(config["backbones"])
SELECTED_METHODS = list(config["methods"])
SEEDS = list(config["seeds"])
#: reference predictors (extrapbench.references): name -> params; predicted once per (task, reference) into
#: REFERENCE_DIR, evaluated into each backbone's run folder, shown as unranked rows in every table
REFERENCES = configured_references(config)
REFERENCE_NAMES = list(REFERENCES)
#: the in-distribution reference: each range task's random twin (<task>_random: a random split of the same part
#: sizes), trained with IN_DISTRIBUTION["methods"] on every backbone (results/tables/extrapolation_penalty)
IN_DISTRIBUTION = in_distribution_settings(config)
RANDOM_TWINS = {
    f"{t}{RANDOM_TWIN_SUFFIX}": t
    for t in PAPER_TASKS
    if IN_DISTRIBUTION["methods"] and TASKS[t].side in ("top", "bottom")
}
TASKS.update({twin: random_twin(TASKS[t], twin, IN_DISTRIBUTION["seed"]) for twin, t in RANDOM_TWINS.items()})
DATASETS = sorted({TASKS[t].dataset for t in SELECTED_TASKS})
GRAPH = config["graph"]
RESOURCES = config["resources"]
RUN_DIR = "results/runs/{task}/{backbone}/{method}/seed{seed}"
#: config `resources.seeds_in_one_job`: every seed of a (task, backbone, method) trained in turn by one train_seeds job
#: (a small CPU grid, where each job's interpreter start-up costs more than its training) instead of one train job
#: per seed (the default: a partial rerun or a failure touches one run, and each run gets its own cluster job)
SEEDS_IN_ONE_JOB = RESOURCES["seeds_in_one_job"]
METHOD_PATTERN, SEED_PATTERN = r"[A-Za-z0-9_\-+]+", r"\d+"
#: a method entry that trains (not a reference predictor's name) / a reference predictor's name
TRAINED_METHOD_PATTERN = (
    rf"(?!(?:{'|'.join(map(re.escape, REFERENCE_NAMES))})$){METHOD_PATTERN}" if REFERENCE_NAMES else METHOD_PATTERN
)
REFERENCE_PATTERN = "|".join(map(re.escape, REFERENCE_NAMES)) or r"(?!)"
#: one reference predictor's files for one (task, seed): the same for every backbone
REFERENCE_DIR = "results/references/{task}/{method}/seed{seed}"
#: a wildcard pattern that matches nothing: of train and train_seeds, the rule the config does not use can never
#: produce a file, so every run has exactly one producing rule
NO_MATCH = r"(?!)"
# one selection job's grid points, p000-p017: trained in turn by one train_grid_point job
POINT_DIR = "results/selection/{task}/{backbone}/{method}/{points}"
#: the selection settings with the schema's defaults (no `selection:` key: no grid, so nothing is selected)
SELECTION = with_schema_defaults(config.get("selection") or {}, SCHEMA["properties"]["selection"], SCHEMA)

# methods are listed ERM first and MEX last, as in the paper's tables
METHOD_ORDER = order_methods(SELECTED_METHODS, method_order=SELECTED_METHODS)
# method entries that run MEX (plain or a variant such as `mex_cos: {method: mex, score: cos}`)
MEX_ENTRIES = [m for m in SELECTED_METHODS if method_entry(m, config["methods"][m])[0] == "mex"]
TASK_ORDER = [t for t in PAPER_TASK_ORDER if t in PAPER_TASKS] + [t for t in PAPER_TASKS if t not in PAPER_TASK_ORDER]


wildcard_constraints:
    task=r"[A-Za-z0-9_\-]+",
    dataset=r"[A-Za-z0-9_\-]+",
    backbone=r"[A-Za-z0-9_\-]+",
    method=METHOD_PATTERN,
    seed=SEED_PATTERN,
    points=r"p\d{3}-p\d{3}",


def backbone_input_kind(backbone):
    return CONFIG_FACTS["backbone_input_kinds"][backbone]


@functools.lru_cache(maxsize=None)
def skip_reason(task, backbone):
    """Why a (task, backbone) pair is not run, or None. A graph backbone needs crystal structures, so it is left
    out of composition-only tasks (e.g. paper B's MPS) and the tables say so instead of the run failing."""
    if backbone_input_kind(backbone) == "graph" and not sources.has_structures(config, TASKS[task].dataset):
        return f"composition only: dataset {TASKS[task].dataset} has no structures for {backbone}"
    return None


def run_pairs(tasks=None):
    """(task, backbone) pairs that train, in config order."""
    return [
        (t, b)
        for t in (SELECTED_TASKS if tasks is None else tasks)
        for b in SELECTED_BACKBONES
        if skip_reason(t, b) is None
    ]


def skipped_pairs(tasks=None):
    """[{task, backbone, reason}] for the pairs left out, for the tables."""
    return [
        {"task": t, "backbone": b, "reason": skip_reason(t, b)}
        for t in (SELECTED_TASKS if tasks is None else tasks)
        for b in SELECTED_BACKBONES
        if skip_reason(t, b) is not None
    ]


def dataset_of(wildcards):
    return TASKS[wildcards.task].dataset


@functools.lru_cache(maxsize=None)
def source_digest(dataset):
    """extrapbench.data.sources.dataset_digest (the source files' sha256), once per parse."""
    return sources.dataset_digest(config, dataset)


def dataset_file(dataset):
    """The dataset's table: results/datasets/<name>.json.gz for a built-in dataset, results/datasets/own/<name>.json.gz
    for one of the config's own `datasets:` (extrapbench.data.sources.dataset_file)."""
    return sources.dataset_file(config, dataset)


def split_inputs(wildcards):
    """The task's dataset table and, for a random twin, its range task's split (the part sizes to copy)."""
    inputs = {"dataset": dataset_file(dataset_of(wildcards))}
    if "sizes_like" in TASKS[wildcards.task].split_params:
        inputs["sizes_like"] = f"results/splits/{TASKS[wildcards.task].split_params['sizes_like']}.json"
    return inputs


def reference_applies(task, reference):
    """An edge reference needs a split with a held-out side (a range task)."""
    return not CONFIG_FACTS["references"][reference]["needs_side"] or TASKS[task].side in ("top", "bottom")


def reference_inputs(wildcards):
    """The split and, for a reference reading Magpie features, the dataset's features."""
    inputs = {
        "split_json": f"results/splits/{wildcards.task}.json",
        "split_csv": f"results/splits/{wildcards.task}.csv",
    }
    if CONFIG_FACTS["references"][wildcards.method]["needs_features"]:
        inputs["features"] = f"results/features/{dataset_of(wildcards)}/magpie.csv"
    return inputs


def evaluate_inputs(wildcards):
    """Every seed's predictions and provenance of one (task, backbone, method): the run folders of a trained
    method, the backbone-independent REFERENCE_DIR of a reference predictor. A trained method's runs also give
    their model.pt (checked to be a complete archive: a bad one is removed with the predictions, so a plain rerun
    retrains) and history.csv (the train loss, for the divergence flag); a reference predictor has neither."""
    run_dir = REFERENCE_DIR if wildcards.method in REFERENCES else RUN_DIR
    inputs = {
        "predictions": expand(f"{run_dir}/predictions.csv", seed=SEEDS, **wildcards),
        "provenance": expand(f"{run_dir}/provenance.json", seed=SEEDS, **wildcards),
        "split": f"results/splits/{wildcards.task}.json",
    }
    if wildcards.method not in REFERENCES:
        inputs["checkpoint"] = expand(f"{run_dir}/model.pt", seed=SEEDS, **wildcards)
        inputs["history"] = expand(f"{run_dir}/history.csv", seed=SEEDS, **wildcards)
    return inputs


def train_inputs(wildcards):
    """The split of the task plus the per-dataset representation the backbone consumes: Magpie features, graphs,
    or, for a backbone with its own featurizer (input kind "features"), the dataset table it featurizes."""
    dataset = dataset_of(wildcards)
    inputs = {
        "split_json": f"results/splits/{wildcards.task}.json",
        "split_csv": f"results/splits/{wildcards.task}.csv",
    }
    kind = backbone_input_kind(wildcards.backbone)
    if kind == "composition":
        inputs["representation"] = f"results/features/{dataset}/magpie.csv"
    elif kind == "features":
        inputs["representation"] = dataset_file(dataset)
    else:
        inputs["representation"] = f"results/graphs/{dataset}.pt"
    return inputs


@functools.lru_cache(maxsize=None)
def method_grid(method):
    """The method's hyper-parameter grid points ([] or one point: nothing to select)."""
    if not (SELECTION.get("grid") or SELECTION.get("methods")):
        return []
    return grid_points(SELECTION.get("grid"), (SELECTION.get("methods") or {}).get(method))


def has_selection(method):
    return len(method_grid(method)) > 1


def backbone_resources(backbone):
    """Runtime (minutes), memory (MB) and grid points per job of a backbone's training jobs (config
    `resources.per_backbone`; what a backbone leaves out: the schema's definitions.training_job defaults)."""
    per_backbone = (RESOURCES.get("per_backbone") or {}).get(backbone) or {}
    return with_schema_defaults(per_backbone, SCHEMA["definitions"]["training_job"], SCHEMA)


@functools.lru_cache(maxsize=None)
def point_chunks(method, backbone):
    """The method's grid points in jobs of `grid_points_per_job` each: ["p000-p017", "p018-p035", ...]."""
    n, size = len(method_grid(method)), backbone_resources(backbone)["grid_points_per_job"]
    return [f"{point_id(i)}-{point_id(min(i + size, n) - 1)}" for i in range(0, n, size)]


def chunk_point_indices(points):
    first, last = (int(p[1:]) for p in points.split("-"))
    return list(range(first, last + 1))


def chunk_points(wildcards):
    """[(point id, params)] of one train_grid_point job."""
    grid = method_grid(wildcards.method)
    return [(point_id(i), grid[i]) for i in chunk_point_indices(wildcards.points)]


def runs_per_job(wildcards):
    """How many runs a training job trains in turn: its grid points (train_grid_point), one (train), or every
    seed (train_seeds: no seed wildcard)."""
    if "points" in wildcards.keys():
        return len(chunk_point_indices(wildcards.points))
    return 1 if "seed" in wildcards.keys() else len(SEEDS)


def train_runtime(wildcards, attempt):
    """Minutes: the backbone's runtime per run, times the job's runs (grid points or seeds), times the attempt (a
    job that ran out of time is resubmitted with more: `retries`)."""
    return backbone_resources(wildcards.backbone)["runtime"] * runs_per_job(wildcards) * attempt


def train_mem_mb(wildcards, attempt):
    """MB: the backbone's memory, 1.5x per further attempt (a job killed for memory gets more)."""
    return int(backbone_resources(wildcards.backbone)["mem_mb"] * (1 + 0.5 * (attempt - 1)))


def final_train_inputs(wildcards):
    """A final (per-seed) run also needs its method's selection when there is one."""
    inputs = train_inputs(wildcards)
    if has_selection(wildcards.method):
        inputs["selected"] = "results/selection/{task}/{backbone}/{method}/selected.json".format(**wildcards)
    return inputs


def selection_files(name, tasks=None):
    """One file per train_grid_point job (`name` in its POINT_DIR) of every method with a selection."""
    files = []
    for method in SELECTED_METHODS:
        if has_selection(method):
            files += [
                f"{POINT_DIR.format(task=t, backbone=b, method=method, points=c)}/{name}"
                for t, b in run_pairs(tasks)
                for c in point_chunks(method, b)
            ]
    return files


def selected_files(tasks=None, name="selected.json"):
    return [
        f"results/selection/{t}/{b}/{m}/{name}"
        for t, b in run_pairs(tasks)
        for m in SELECTED_METHODS
        if has_selection(m)
    ]


def run_params(wildcards):
    """What a training job needs besides its input files:
    - backbone_params: the backbone's config entry;
    - method_params: the method's entry without its training settings (those are in train_params, so a per-task
      setting of another task never changes this run's params);
    - train_params: `train`, then the backbone's, the method's and the method's per-task overrides
      (extrapbench.config.train_settings).
    The training rules' params are canonical (extrapbench.config.canonical: keys sorted, recursively): Snakemake
    reruns a job whose params' repr changed, and equal settings in another key order must not retrain."""
    entry = config["methods"][wildcards.method] or {}
    return {
        "backbone_params": config["backbones"][wildcards.backbone] or {},
        "method_params": {k: v for k, v in entry.items() if k not in METHOD_TRAIN_KEYS},
        "train_params": train_settings(config, wildcards.backbone, wildcards.method, wildcards.task),
    }


def final_run_params(wildcards):
    """run_params of a final run: its seed (its selected grid point, if any, is an input file)."""
    return canonical({**run_params(wildcards), "seed": int(wildcards.seed)})


def seeds_run_params(wildcards):
    """run_params of a train_seeds job: every seed of its outputs, trained in turn (the selected grid point, if any,
    is an input file, as for train). The seed list is not a param: each seed's outputs are recorded with the
    settings alone, so a config that drops a seed (`seeds: [0, 1]` -> `[0]`) keeps the finished run of seed 0
    instead of retraining it; the job reads its seeds from its outputs' folders (extrapbench.jobs.train)."""
    return canonical({**run_params(wildcards), "seeds_in_one_job": True})


def grid_run_params(wildcards):
    """run_params of a train_grid_point job: the selection seed and [(point id, params)] of its grid points."""
    return canonical({**run_params(wildcards), "seed": SELECTION["seed"], "points": chunk_points(wildcards)})


def gpu_count(wildcards):
    return 1 if wildcards.backbone in RESOURCES["gpu_backbones"] else 0


#: the param of every rule that runs one of this repository's scripts, the digest of the code it runs
CODE_PARAM = "code"


def add_code_params():
    """Give every rule whose script is in this repository's scripts/ the param `code`, the digest of the code
    the script runs (extrapbench.provenance.script_code_digest: the script and the extrapbench modules it imports,
    without comments and docstrings). The make targets and profiles run Snakemake without its mtime-based "code"
    trigger (--rerun-triggers params input software-env), so a touched script, a `git pull` or a fresh clone reruns
    nothing, while an edit that changes what a rule runs changes this param and reruns that rule's jobs. Called
    once, after every rule file is included; a rule defined later (a host workflow's own) is left alone."""
    from extrapbench.provenance import script_code_digest

    scripts = (REPO / "scripts").resolve()
    for each in workflow.rules:
        if not each.script or CODE_PARAM in each.params.keys():
            continue
        script = (Path(each.snakefile).parent / each.script).resolve()
        if script.parent == scripts and script.is_file():
            each.set_params(**{CODE_PARAM: script_code_digest(script)})


def run_files(name, methods=None, tasks=None):
    """One file per run: every selected task (or `tasks`) x backbone that runs on it x method x seed."""
    return [
        f"{RUN_DIR.format(task=t, backbone=b, method=m, seed=s)}/{name}"
        for t, b in run_pairs(tasks)
        for m in (methods or SELECTED_METHODS)
        for s in SEEDS
    ]


def reference_run_files(name="metrics.json", tasks=None):
    """Each reference's evaluated runs: every (task, backbone) pair that runs x applicable reference x seed."""
    return [
        f"{RUN_DIR.format(task=t, backbone=b, method=r, seed=s)}/{name}"
        for t, b in run_pairs(tasks)
        for r in REFERENCE_NAMES
        if reference_applies(t, r)
        for s in SEEDS
    ]


def twin_run_files(name="metrics.json"):
    """The random twins' runs (the in-distribution reference)."""
    return run_files(name, IN_DISTRIBUTION["methods"], list(RANDOM_TWINS)) if RANDOM_TWINS else []


def paper_run_files(name, methods=None):
    """The runs of the paper's tables and figures (config key `tasks`)."""
    return run_files(name, methods, PAPER_TASKS)


def figure_files():
    stems = [f"results/figures/fig4_parity_{task}" for task in SELECTED_TASKS]
    if REFERENCE_NAMES:
        stems += [f"results/figures/mae_vs_references_{task}" for task in PAPER_TASKS]
    if PAPER_TASKS:
        stems += [
            "results/figures/fig3_label_distributions",
            "results/figures/fig5_detection_recall",
            "results/figures/critical_difference",
        ]
    if PAPER_TASKS and any(has_selection(m) for m in MEX_ENTRIES):
        stems.append("results/figures/fig6_lambda_sensitivity")
    return [f"{stem}.{ext}" for stem in stems for ext in ("png", "pdf")]


OTHER_TABLES_DIR = "results/tables/other_split_tasks"
#: metrics of the other-split-task tables: paper B reports MAE and R²
OTHER_TABLE_METRICS = ["mae", "r2", "spearman"]


def table_files():
    files = []
    if PAPER_TASKS:
        files.append("results/tables/provenance.csv")
        names = [
            "mae",
            "gm",
            "spearman",
            "mae_all_methods",
            "gm_all_methods",
            "spearman_all_methods",
            "ablations",
            "detection",
            "table1_splits",
            "running_time",
        ]
        if MEX_ENTRIES:
            names += ["table4_mex_variants", "mex_candidate_range"]
        if "edge_train" in REFERENCE_NAMES:  # skill and the paired tests are measured against it
            names += ["skill", "beats_erm_edge"]
        if RANDOM_TWINS:
            names.append("extrapolation_penalty")
        files += [
            "results/tables/summary.csv",
            "results/tables/statistics.md",
            "results/tables/statistics.tex",
            "results/tables/statistics_paired.csv",
            "results/tables/statistics_wilcoxon.csv",
            "results/tables/statistics_ranks.csv",
        ] + [f"results/tables/{name}.{ext}" for name in names for ext in ("md", "tex", "csv")]
    if OTHER_TASKS:
        files += [f"{OTHER_TABLES_DIR}/summary.csv", f"{OTHER_TABLES_DIR}/provenance.csv"] + [
            f"{OTHER_TABLES_DIR}/{name}.{ext}"
            for name in OTHER_TABLE_METRICS + ["splits", "ablations"]
            for ext in ("md", "tex", "csv")
        ]
    return files


def all_outputs():
    return (
        expand("results/splits/{task}.json", task=SELECTED_TASKS)
        + run_files("metrics.json")
        # the checkpoints are targets too: a deleted model.pt retrains its run on a plain rerun (no rule reads it)
        + run_files("model.pt")
        + reference_run_files()
        + twin_run_files()
        + twin_run_files("model.pt")
        + selected_files()
        + selected_files(name="grid_metrics.json")
        + table_files()
        + figure_files()
    )


# --- the stamp of every table and figure (extrapbench.report.stamp, extrapbench.report.stale_outputs) -------------
from extrapbench.report.stamp import config_digest, config_names  # noqa: E402

#: every table and figure rule's input `report_stamp`: written by report_stamp, which first compares every run they
#: read with this config and moves aside the tables and figures another config made
REPORT_STAMP = "results/tables/stamp.json"
#: the config file(s), as the stamp names them (relative to the working directory when inside it)
CONFIG_NAMES = (
    config_names(workflow.configfiles)
    if workflow.configfiles
    else config_names([REPO / "config" / "config.yaml"]) if CONFIG_SOURCE == "config/config.yaml" else [CONFIG_SOURCE]
)
#: the digest of the config as resolved (schema defaults filled in; without `resources` and `report`)
CONFIG_DIGEST = config_digest(config)
#: backbones that read graphs: their runs' settings include `graph`
GRAPH_BACKBONES = [b for b in SELECTED_BACKBONES if backbone_input_kind(b) not in ("composition", "features")]


def reference_provenance_files():
    """Each reference predictor's provenance.json per (task, seed), in REFERENCE_DIR."""
    tasks = list(dict.fromkeys(t for t, _ in run_pairs()))
    return [
        f"{REFERENCE_DIR.format(task=t, method=r, seed=s)}/provenance.json"
        for t in tasks
        for r in REFERENCE_NAMES
        if reference_applies(t, r)
        for s in SEEDS
    ]


def report_run_provenance():
    """The provenance.json of every run a table or figure reads: runs, random twins, reference predictors and the
    selection's grid points."""
    return list(
        dict.fromkeys(
            run_files("provenance.json")
            + twin_run_files("provenance.json")
            + reference_provenance_files()
            + selection_files("provenance.json")
        )
    )


def report_outputs():
    """This config's tables and figures, relative to results/: what report_stamp leaves in place when the previous
    stamp is this config's."""
    extra = ["results/tables/summary_references.csv"] if PAPER_TASKS else []
    extra += [f"{OTHER_TABLES_DIR}/summary_references.csv"] if OTHER_TASKS else []
    return sorted({f.removeprefix("results/") for f in table_files() + figure_files() + extra})


# --- the workflow's own record and other people's (rules/record.smk; extrapbench.records.workflow) ------------
RECORD_FILE = "results/record.json.gz"
#: other people's records (config `records`, paths relative to the working directory): the external rows of the
#: main tables and the skill table, on the tasks whose split digest is the run's (extrapbench.records.workflow)
RECORDS = [str(path) for path in config.get("records") or []]
if [path for path in RECORDS if not Path(path).is_file()]:
    raise WorkflowError(
        f"config records: no such file: {', '.join(p for p in RECORDS if not Path(p).is_file())} (paths are relative "
        f"to the working directory, {Path.cwd()})"
    )
#: the tasks of the record: the tables' tasks and the random twins
RECORD_TASKS = SELECTED_TASKS + list(RANDOM_TWINS)


def record_run_files():
    """{metrics, predictions, provenance}: one file each per run, in the same order. The trained runs of every
    task (random twins included) and, once per (task, reference, seed), a reference predictor's run: its
    metrics.json in the first backbone's run folder, its predictions and provenance in REFERENCE_DIR."""
    files = {"metrics": [], "predictions": [], "provenance": []}
    runs = [(t, b, m, s) for t, b in run_pairs(SELECTED_TASKS) for m in SELECTED_METHODS for s in SEEDS]
    runs += [(t, b, m, s) for t, b in run_pairs(list(RANDOM_TWINS)) for m in IN_DISTRIBUTION["methods"] for s in SEEDS]
    for t, b, m, s in runs:
        folder = RUN_DIR.format(task=t, backbone=b, method=m, seed=s)
        for name, file in (
            ("metrics", "metrics.json"),
            ("predictions", "predictions.csv"),
            ("provenance", "provenance.json"),
        ):
            files[name].append(f"{folder}/{file}")
    first_backbone = {}
    for t, b in run_pairs(SELECTED_TASKS):
        first_backbone.setdefault(t, b)
    for t, b in first_backbone.items():
        for r in REFERENCE_NAMES:
            if not reference_applies(t, r):
                continue
            for s in SEEDS:
                files["metrics"].append(f"{RUN_DIR.format(task=t, backbone=b, method=r, seed=s)}/metrics.json")
                for name, file in (("predictions", "predictions.csv"), ("provenance", "provenance.json")):
                    files[name].append(f"{REFERENCE_DIR.format(task=t, method=r, seed=s)}/{file}")
    return files


def split_files(tasks, ext):
    return [f"results/splits/{task}.{ext}" for task in tasks]


def record_split_files(tasks, ext):
    """A table's inputs for its external rows beside the records: the run's splits of `tasks` (their digests);
    none without records."""
    return split_files(tasks, ext) if RECORDS else []


def record_outputs():
    """The all target's record: where some task runs."""
    return [RECORD_FILE] if run_pairs(SELECTED_TASKS) else []
