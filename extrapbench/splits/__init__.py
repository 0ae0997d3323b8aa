"""Split kinds, one module each, registered by name in extrapbench.registry.SPLITS.

A split kind is a function ``(table, **params) -> {"train": ids, "val": ids, "test": ids}`` where ``table`` is
indexed by material id and has a ``target`` column (the task's transformed target) next to the dataset's own
columns (structure, composition, ...).

Public helper for split kinds without a validation set of their own (paper B's, matbench's folds, yours):
``draw_validation(train_pool_ids, fraction, seed)`` -> (train ids, val ids), seeded and reproducible.
"""
from extrapbench.splits.composition import draw_validation

__all__ = ["draw_validation"]
