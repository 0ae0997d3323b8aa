"""The benchmark's tasks (docs/benchmark.md, "Tasks"): which matminer dataset, which target column, which
transform, which split.

A task id names one (dataset, target, transform, split rule) combination. Built in: the seven
range-extrapolation tasks of the MEX paper (paper A), and paper B's other split kinds — held-out elements on the
HOIP band gaps and element count on the MPS properties. `task_definitions` in the workflow config can
add more with the same fields.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict

import numpy as np


@dataclass(frozen=True)
class Task:
    id: str
    dataset: str               # matminer dataset name
    target: str                # column of that dataset
    transform: str             # "none" | "log" (natural log)
    split: str                 # registered split kind, see extrapbench.splits
    split_params: Dict[str, Any] = field(default_factory=dict)

    @property
    def side(self) -> str | None:
        return self.split_params.get("side")

    def transform_target(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.transform == "none":
            return values
        if self.transform == "log":
            if np.any(values <= 0):
                raise ValueError(f"task {self.id}: natural-log transform of {self.target!r} needs positive values, "
                                 f"found min {values.min()}")
            return np.log(values)
        raise ValueError(f"task {self.id}: unknown transform {self.transform!r}; expected 'none' or 'log'")

    def inverse_transform_target(self, values) -> np.ndarray:
        """Transformed-target values back in the dataset's own (raw) units: the inverse of `transform_target`."""
        values = np.asarray(values, dtype=float)
        if self.transform == "none":
            return values
        if self.transform == "log":
            return np.exp(values)
        raise ValueError(f"task {self.id}: unknown transform {self.transform!r}; expected 'none' or 'log'")


def _range_task(task_id: str, dataset: str, target: str, transform: str, side: str) -> Task:
    return Task(task_id, dataset, target, transform, "range",
                {"side": side, "test_fraction": 0.15, "val_fraction": 0.15})


BUILTIN_TASKS: Dict[str, Task] = {t.id: t for t in [
    _range_task("formation_energy_bottom", "castelli_perovskites", "e_form", "none", "bottom"),
    _range_task("shear_modulus_bottom", "matbench_log_gvrh", "log10(G_VRH)", "none", "bottom"),
    _range_task("shear_modulus_top", "matbench_log_gvrh", "log10(G_VRH)", "none", "top"),
    _range_task("refractive_index_bottom", "matbench_dielectric", "n", "log", "bottom"),
    _range_task("refractive_index_top", "matbench_dielectric", "n", "log", "top"),
    _range_task("phonons_bottom", "matbench_phonons", "last phdos peak", "log", "bottom"),
    _range_task("phonons_top", "matbench_phonons", "last phdos peak", "log", "top"),
]}

#: column order of the paper's tables
PAPER_TASK_ORDER = list(BUILTIN_TASKS)


def _held_out_elements_task(task_id: str, elements: list[str]) -> Task:
    # GGA (PBE) band gap: the HOIP set's primary label, computed for every material; band_gap_HSE06 is in the
    # same table for a task_definitions entry
    return Task(task_id, "hoip", "band_gap_GGA", "none", "held_out_elements",
                {"elements": elements, "match": "all", "val_fraction": 0.15, "seed": 0})


def _element_count_task(task_id: str, target: str) -> Task:
    return Task(task_id, "mps", target, "none", "element_count",
                {"train_max_elements": 2, "test_min_elements": 3, "val_fraction": 0.15, "seed": 0})


#: Paper B's other split kinds, reported in their own tables (config key `other_split_tasks`).
#: The MPS moduli are stored as natural logs of GPa (log_s_mod, log_b_mod), so no transform is applied.
PAPER_B_TASKS: Dict[str, Task] = {t.id: t for t in [
    _held_out_elements_task("hoip_high_band_gap", ["Ge", "F"]),
    _held_out_elements_task("hoip_low_band_gap", ["Pb", "I"]),
    _element_count_task("mps_formation_energy", "form_eng"),
    _element_count_task("mps_band_gap", "band_gap"),
    _element_count_task("mps_shear_modulus", "log_s_mod"),
    _element_count_task("mps_bulk_modulus", "log_b_mod"),
]}
BUILTIN_TASKS.update(PAPER_B_TASKS)


def get_tasks(extra_definitions: Dict[str, Dict[str, Any]] | None = None) -> Dict[str, Task]:
    """Built-in tasks plus those defined in config (`task_definitions`)."""
    tasks = dict(BUILTIN_TASKS)
    for task_id, spec in (extra_definitions or {}).items():
        tasks[task_id] = Task(task_id, spec["dataset"], spec["target"], spec.get("transform", "none"),
                              spec["split"], dict(spec.get("split_params", {})))
    return tasks


def random_twin(task: Task, twin_id: str, seed: int = 0) -> Task:
    """The in-distribution twin of a range task: same dataset, target and transform, a random split with the
    same part sizes (read from the range task's split when the twin's split runs: ``sizes_like``), so its error
    is what the same backbone and method reach when the test materials are drawn from the whole range."""
    if task.side not in ("top", "bottom"):
        raise ValueError(f"task {task.id!r} has no held-out side: only a range task has a random twin")
    return Task(twin_id, task.dataset, task.target, task.transform, "random",
                {"test_fraction": task.split_params.get("test_fraction", 0.15),
                 "val_fraction": task.split_params.get("val_fraction", 0.15), "seed": seed, "sizes_like": task.id})
