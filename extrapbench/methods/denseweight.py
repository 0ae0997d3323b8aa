"""DenseWeight (Steininger et al. 2021, "Density-based weighting for imbalanced regression", Machine Learning
110): each training sample's loss is weighted by how rare its label is under a kernel density estimate of the
training labels.

ERM's regression head and loss (L1 by default, the MEX authors' `mae`; `loss: mse` available), with the loss of
sample i multiplied by

    w(y_i) = max(1 - alpha * p'(y_i), epsilon) / mean_j max(1 - alpha * p'(y_j), epsilon)

where p' is a Gaussian KDE of the training labels min-max scaled to [0, 1] over its evaluation grid (so the
densest label has p' = 1 and the sparse tails p' near 0), alpha sets how strongly rare labels are favoured
(alpha = 0: uniform weights; alpha = 1: the densest label gets epsilon), epsilon keeps every weight positive,
and the division makes the weights average 1 over the training set. The loss is the batch mean of
weight x per-sample loss.

What the MEX authors ran as "LDS" is this (their release's ``datasets/lmdb_dataset.py`` fits
``DenseWeight(alpha=1.0)`` from the ``denseweight`` package on all training targets and attaches each sample's
weight, which their loss multiplies into the per-sample MAE): hence `alpha: 1` is the release's setting and the
default here. The details follow that package:

* bandwidth: Silverman's rule 1.06 * std * n^(-1/5) (population std) unless `bandwidth` is given (a kernel
  std in standardised label units). With the rule the weights do not depend on the label units, so fitting on
  standardised labels, as every method here does, gives the same weights as the release's raw targets;
* density: evaluated on a grid of `grid_points` (4096) equally spaced labels, min-max scaled over the grid;
  a label takes the value of the grid point at or below it (the package's bisection lookup). The package's
  KDE is KDEpy's FFTKDE, whose grid extends past the labels by the kernel's practical support; here it is
  scipy's exact gaussian_kde on a grid extended by `grid_margin` bandwidths (4 by default: the density there is
  below 1e-3 of the peak, so the grid minimum is ~0 as in the package);
* epsilon = 1e-6.

Where the density comes from: `train_batch_sampler(labels, ...)`, which `extrapbench.training.run` calls with all
standardised training labels before training (batches stay shuffled), or failing that, the first
`on_epoch_start` reads ``train_loader.dataset`` (as LDS does). The grid and its weights live in fixed-size
buffers, so checkpoints carry them.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.base import FitsLabelDistribution
from extrapbench.methods.erm import ERM
from extrapbench.registry import METHODS


def silverman_bandwidth(labels: np.ndarray) -> float:
    """1.06 * population std * n^(-1/5), the denseweight package's default bandwidth."""
    return 1.06 * float(np.std(labels)) * len(labels) ** (-1.0 / 5.0)


def denseweight_grid(labels, alpha: float, epsilon: float = 1e-6, bandwidth: float | None = None,
                     grid_points: int = 4096, grid_margin: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(grid, weight at each grid point) for training `labels` [N]; a label's weight is that of the grid point
    at or below it (`lookup_weights`), and the training labels' weights average 1."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(y) == 0:
        raise ValueError("denseweight needs at least one training label")
    if not alpha >= 0 or not epsilon > 0:
        raise ValueError(f"denseweight: need alpha >= 0 and epsilon > 0, got {alpha}, {epsilon}")
    h = float(bandwidth) if bandwidth is not None else silverman_bandwidth(y)
    if len(np.unique(y)) < 2 or not h > 0:
        # one distinct label: no density contrast, every sample equally rare
        return np.array([y.min(), y.min() + 1.0]), np.ones(2)
    from scipy.stats import gaussian_kde

    # gaussian_kde's kernel std is factor * (sample std, ddof 1): choose the factor that gives bandwidth h
    kde = gaussian_kde(y, bw_method=h / float(np.std(y, ddof=1)))
    grid = np.linspace(y.min() - grid_margin * h, y.max() + grid_margin * h, int(grid_points))
    density = kde(grid)
    scaled = (density - density.min()) / (density.max() - density.min())
    raw = np.maximum(1.0 - alpha * scaled, epsilon)
    train_raw = raw[_grid_index(grid, y)]
    return grid, raw / train_raw.mean()


def _grid_index(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the grid point at or below each value, clipped to the grid."""
    return np.clip(np.searchsorted(grid, values, side="right") - 1, 0, len(grid) - 1)


@METHODS.register("denseweight")
class DenseWeight(FitsLabelDistribution, ERM):
    label_fit_flag = "density_fitted"   # FitsLabelDistribution: fitted once from the train labels
    defaults = {
        **ERM.defaults,                  # loss (l1 | mse), head_hidden_dim
        "alpha": 1.0,                    # weighting strength (release: 1); 0 = uniform weights (ERM)
        "epsilon": 1e-6,                 # smallest raw weight (release / package: 1e-6)
        "bandwidth": None,               # KDE kernel std, standardised units; None = Silverman's rule (release)
        "grid_points": 4096,             # density grid size (release / package: 4096)
        "grid_margin": 4.0,              # grid extends this many bandwidths past the train labels
    }
    hparam_specs = {**ERM.hparam_specs, "alpha": Number(min=0), "epsilon": Number(min=0, min_exclusive=True),
                    "bandwidth": Number(min=0, min_exclusive=True, nullable=True), "grid_points": Integer(min=2),
                    "grid_margin": Number(min=0)}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        h = self.hparams
        n = int(h["grid_points"])
        self.register_buffer("weight_grid", torch.linspace(0.0, 1.0, n))
        self.register_buffer("grid_weights", torch.ones(n))
        self.register_buffer("density_fitted", torch.tensor(False))

    def fit_label_distribution(self, labels) -> None:
        """Fit the KDE on all standardised training labels (array-like [N])."""
        h = self.hparams
        grid, weights = denseweight_grid(np.asarray(labels, dtype=np.float64), h["alpha"], h["epsilon"],
                                         h["bandwidth"], int(h["grid_points"]), h["grid_margin"])
        if len(grid) != len(self.weight_grid):     # degenerate labels: a constant weight over any grid
            grid = np.linspace(grid[0], grid[-1], len(self.weight_grid))
            weights = np.full(len(grid), weights[0])
        self.weight_grid.copy_(torch.as_tensor(grid, dtype=self.weight_grid.dtype))
        self.grid_weights.copy_(torch.as_tensor(weights, dtype=self.grid_weights.dtype))
        self.density_fitted.fill_(True)

    def sample_weights(self, y: torch.Tensor) -> torch.Tensor:
        grid = self.weight_grid.to(y.dtype)
        index = (torch.searchsorted(grid, y.contiguous(), right=True) - 1).clamp(0, len(grid) - 1)
        return self.grid_weights[index].to(y.dtype)

    def regression_loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not bool(self.density_fitted):
            raise RuntimeError("denseweight: the label density is not fitted; call fit_label_distribution("
                               "train_labels) (run.py does it through train_batch_sampler, the trainer through "
                               "on_epoch_start)")
        per_sample = (F.l1_loss(pred, y, reduction="none") if self.hparams["loss"] == "l1"
                      else F.mse_loss(pred, y, reduction="none"))
        return (self.sample_weights(y) * per_sample).mean()

    def describe(self):
        weights = self.grid_weights
        return {"weight_min": float(weights.min()), "weight_max": float(weights.max()),
                "grid_low": float(self.weight_grid[0]), "grid_high": float(self.weight_grid[-1])}
