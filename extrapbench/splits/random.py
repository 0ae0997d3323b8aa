"""Random split: the in-distribution reference. Test is a random sample of the data set, not its extreme end or a
held-out chemistry, so a task with this split reports the error the same backbone and method reach *within* the
training distribution, to read beside the extrapolation error of the range / held-out tasks on the same data.

Two modes, chosen by ``fold``:

* ``fold: null`` (default), fractions: the ids, sorted, are shuffled with ``numpy.random.default_rng(seed)``;
  the first ``round(test_fraction * n)`` are test, the next ``round(val_fraction * n)`` val, the rest train.
  Both fractions are of the whole data set, as in the range split. ``n_test`` / ``n_val`` give the sizes as
  counts instead: the in-distribution twin of a range task (``<task>_random``) takes its twin's part sizes this
  way, so the two differ only in *which* materials are held out.
* ``fold: k`` (0 <= k < ``n_folds``), matbench's cross-validation: test = fold k of scikit-learn's
  ``KFold(n_splits=n_folds, shuffle=True, random_state=fold_seed)`` over the table's rows in their order, with
  matbench's ``n_folds=5`` and ``fold_seed=18012019`` as defaults. matbench has no validation set; val is drawn
  from the other folds (``val_fraction`` of that train pool, seeded by ``seed``) by
  ``extrapbench.splits.draw_validation``, as for paper B's splits. The fold is computed here with
  numpy exactly as KFold does it (``np.random.RandomState(fold_seed).shuffle(np.arange(n))``, then consecutive
  folds of ``n // n_folds`` rows, the first ``n % n_folds`` one larger), so scikit-learn is not needed;
  tests/test_random_split.py checks the folds against scikit-learn's own KFold. The folds are matbench's when the
  table holds the whole matbench dataset in its file order, which is how extrapbench.data.datasets loads it (ids
  ``<dataset>-<row>``, no row dropped).

No label value decides membership, so there are no ties to resolve.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from extrapbench.registry import SPLITS
from extrapbench.splits.composition import draw_validation

#: matbench's KFold (matbench/task.py: KFold(n_splits=5, shuffle=True, random_state=18012019))
MATBENCH_N_FOLDS = 5
MATBENCH_SEED = 18012019


def kfold_test_positions(n_samples: int, n_folds: int = MATBENCH_N_FOLDS,
                         seed: int = MATBENCH_SEED) -> list[np.ndarray]:
    """Row positions of each fold's test set, as ``sklearn.model_selection.KFold(n_splits=n_folds, shuffle=True,
    random_state=seed)`` yields them (its ``_iter_test_indices``): shuffle ``arange(n_samples)`` with a
    ``RandomState(seed)``, then cut it into ``n_folds`` consecutive folds, the first ``n_samples % n_folds`` of
    them one longer."""
    if not 2 <= n_folds <= n_samples:
        raise ValueError(f"random split: need 2 <= n_folds <= the number of materials ({n_samples}), got {n_folds}")
    indices = np.arange(n_samples)
    np.random.RandomState(seed).shuffle(indices)
    sizes = np.full(n_folds, n_samples // n_folds, dtype=int)
    sizes[: n_samples % n_folds] += 1
    stops = np.cumsum(sizes)
    return [indices[stop - size:stop] for size, stop in zip(sizes, stops)]


@SPLITS.register("random")
def random_split(table: pd.DataFrame, test_fraction: float = 0.15, val_fraction: float = 0.15, seed: int = 0,
                 fold: int | None = None, n_folds: int = MATBENCH_N_FOLDS,
                 fold_seed: int = MATBENCH_SEED, n_test: int | None = None,
                 n_val: int | None = None) -> dict[str, list[str]]:
    ids = table.index.to_numpy().astype(str)
    if len(set(ids)) != len(ids):
        raise ValueError("random split: the table lists a material id twice")
    if fold is None:
        if not (0 < test_fraction < 1 and 0 < val_fraction < 1 and test_fraction + val_fraction < 1):
            raise ValueError(f"random split: fractions must be in (0, 1) and sum below 1, got "
                             f"test_fraction={test_fraction}, val_fraction={val_fraction}")
        order = np.random.default_rng(seed).permutation(np.sort(ids))
        sizes = f"n_test={n_test}, n_val={n_val}" if (n_test, n_val) != (None, None) else \
            f"test_fraction={test_fraction}, val_fraction={val_fraction}"
        n_test = int(round(test_fraction * len(ids))) if n_test is None else int(n_test)
        n_val = int(round(val_fraction * len(ids))) if n_val is None else int(n_val)
        if n_test <= 0 or n_val <= 0 or n_test + n_val >= len(ids):
            raise ValueError(f"random split: {len(ids)} materials are too few for {sizes}: train, val and test must "
                             f"all be non-empty")
        return {"train": sorted(order[n_test + n_val:].tolist()), "val": sorted(order[n_test:n_test + n_val].tolist()),
                "test": sorted(order[:n_test].tolist())}
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 0 <= fold < n_folds:
        raise ValueError(f"random split: fold must be an integer in [0, n_folds={n_folds}), got {fold!r}")
    test_positions = kfold_test_positions(len(ids), n_folds, fold_seed)[int(fold)]
    is_test = np.zeros(len(ids), dtype=bool)
    is_test[test_positions] = True
    train, val = draw_validation(ids[~is_test], val_fraction, seed, "random")
    return {"train": train, "val": val, "test": sorted(ids[is_test].tolist())}


random_split.tie_rule = "none: membership is drawn at random, not decided by label"
