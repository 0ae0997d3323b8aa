"""The names things have and the order they are shown in: a split's parts, display names, the order of tasks,
methods and backbones. One definition each, shared by the workflow, the tables and the figures."""
from __future__ import annotations

from typing import Iterable, Sequence

from extrapbench.tasks import PAPER_TASK_ORDER

#: a split's parts, in the order every table and file lists them
PARTS = ("train", "val", "test")

#: the seven range-extrapolation tasks in the paper's column order
TASK_ORDER = tuple(PAPER_TASK_ORDER)

#: Backbones in the paper's row order; others follow alphabetically.
BACKBONE_ORDER = ("painn", "equiformer_v2")

# Display names for the tables and figures; unknown names are shown as they are.
DISPLAY_NAMES = {
    "erm": "ERM", "lds": "LDS", "fds": "FDS", "lds_fds": "LDS+FDS", "ranksim": "RankSim",
    "balanced_mse": "BalancedMSE", "balancedmse": "BalancedMSE", "bmse": "BalancedMSE",
    "balanced_mse_gai": "BalancedMSE-GAI", "conr": "ConR", "denseweight": "DenseWeight",
    "cmixup": "C-Mixup", "c_mixup": "C-Mixup", "c-mixup": "C-Mixup", "foma": "FOMA", "mex": "MEX",
    "ane": "ANE", "painn": "PaiNN", "equiformer_v2": "EquiformerV2", "equiformerv2": "EquiformerV2",
    "schnet": "SchNet", "magpie_mlp": "Magpie-MLP",
    # reference predictors (extrapbench.references)
    "edge_train": "Edge (train)", "edge_known": "Edge (train ∪ val)", "train_mean": "Train mean",
    "random_forest": "RF (Magpie)", "ridge": "Ridge (Magpie)",
}


def display_name(name: str) -> str:
    """Paper spelling of a method/backbone registry name (``"ranksim"`` -> ``"RankSim"``)."""
    return DISPLAY_NAMES.get(str(name).lower(), str(name))



def _ordered(present: Iterable[str], preferred: Sequence[str] | None) -> list[str]:
    """Names in ``present``: first those listed in ``preferred`` (in that order), then the rest sorted."""
    present = list(dict.fromkeys(present))
    preferred = [name for name in (preferred or []) if name in present]
    return preferred + sorted(name for name in present if name not in preferred)


def order_tasks(tasks: Iterable[str], task_order: Sequence[str] | None = None) -> list[str]:
    """Tasks in the given order (default: the paper's, :data:`TASK_ORDER`); unknown ones appended sorted."""
    return _ordered(tasks, task_order if task_order is not None else TASK_ORDER)


def order_methods(methods: Iterable[str], method_order: Sequence[str] | None = None) -> list[str]:
    """ERM first, MEX (and MEX variants, names starting with "mex") last, the others in ``method_order``
    (then alphabetically). Names are compared case-insensitively for the ERM/MEX placement."""
    ordered = _ordered(methods, method_order)
    erm = [m for m in ordered if m.lower() == "erm"]
    mex = [m for m in ordered if m.lower().startswith("mex")]
    mex.sort(key=lambda m: m.lower() != "mex")  # plain MEX before its variants; stable otherwise
    middle = [m for m in ordered if m not in erm and m not in mex]
    return erm + middle + mex


def order_backbones(backbones: Iterable[str], backbone_order: Sequence[str] | None = None) -> list[str]:
    """Backbones in the given order (default: the paper's, :data:`BACKBONE_ORDER`); others appended sorted."""
    return _ordered(backbones, backbone_order if backbone_order is not None else BACKBONE_ORDER)


#: a run's folder: results/runs/{task}/{backbone}/{method}/seed{seed} (and results/references/.../seed{seed})
RUN_FOLDER_PREFIX = "seed"


def run_folder_seed(path) -> int:
    """The seed of a run's file or folder, from its folder's name (`.../seed3/predictions.csv` -> 3): how a job
    that writes several seeds' runs knows its seeds without a seed list among its params."""
    from pathlib import Path

    path = Path(path)
    for part in (path.name, path.parent.name):
        digits = part[len(RUN_FOLDER_PREFIX):]
        if part.startswith(RUN_FOLDER_PREFIX) and digits.isdigit():
            return int(digits)
    raise ValueError(f"{path}: not in a run folder named {RUN_FOLDER_PREFIX}<seed>")
