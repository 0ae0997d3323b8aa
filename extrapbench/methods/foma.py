"""FOMA (Kaufman & Azencot, ICML 2024, "First-Order Manifold Data Augmentation for Regression Learning").

What follows the paper (its Algorithm 1, latent variant):
* per batch, A = [Z | Y] with Z = backbone(x) [B, d] (FOMA applied to the latent representation, as the
  paper's ``foma_latent`` runs; graphs have no input matrix to decompose) and Y the standardised labels [B, 1];
* SVD A = U diag(s) V^T; the leading k singular values are kept and the rest scaled by one λ ~ Beta(α, α) per
  batch; A~ = U diag(s') V^T is split back into Z~ and Y~ and the regression head (a 2-layer MLP, as ERM's) is
  trained on (Z~, Y~). Inference uses the plain representation;
* k: the fewest leading singular values whose share of the total reaches ρ, with the share measured as
  sum_{i<=k} s_i / sum_i s_i, the authors' definition of the cumulative "energy" (on s, not s^2);
* batches are label-space neighbourhoods (the paper's ``knn`` batch selection, neighbours found on Y): each
  batch is a random anchor among the not-yet-used training samples plus its nearest not-yet-used neighbours in
  label space, until the epoch is covered (`LabelNeighbourBatchSampler`). ``batch_selection: random`` switches
  to shuffled batches.

Is Y scaled with Z? Yes, by default: Y is one column of A and Y~ is read from the same reconstruction, so the
labels move with the augmented latents (Algorithm 1; ``augment_labels: false`` keeps the original Y: the
authors' released ``get_batch_foma`` computes Y~ but returns the original Y, so their released numbers
correspond to ``augment_labels: false``). Y enters A in standardised units, unweighted against Z.

Departures, on purpose:
* k is the smallest count whose share is >= ρ, so the singular value that crosses ρ is kept and k >= 1. The
  release scales every value whose cumulative share exceeds ρ, including the crossing one; when s_1 alone
  explains more than ρ it scales them all, which is a uniform shrink of [Z | Y] (a label-rescaling, not a
  tangent-plane augmentation). Here the leading values that explain ρ of the energy are always kept.
* gradients: by default the singular basis is treated as a constant. Scaling the tail by λ equals
  A~ = λ A + (1 - λ) A V_k V_k^T, and with V_k detached the gradient reaches the backbone through that linear
  map. Back-propagating through the SVD itself (``differentiable_svd: true``, the paper's "fully
  differentiable" version) adds how the subspace moves with Z, through 1 / (s_i^2 - s_j^2) terms: NaN for
  exactly repeated singular values and unstable for close ones (torch.linalg.svd documents this), and a NaN
  gradient is not caught by the trainer's finite-loss check. The loss value is the same either way.
* the last batch of an epoch is not dropped: batch sizes are balanced (ceil(N / batch_size) batches whose sizes
  differ by at most one), so every training sample is used once per epoch.
* label-neighbour batching visits every sample once per epoch; the FOMA authors' released training loop does not
  (the MEX authors' release has no FOMA). Theirs, per epoch: a random permutation of the samples; for each of
  floor(N / batch_size) batches the anchor is the first entry of that list read *before* the previous batch's
  samples are removed from it, so the second batch reuses the first one's anchor and a later anchor can be a
  sample the previous batch already used; the batch is the anchor plus its nearest neighbours not used yet, minus
  the first of them (its slice assumes the anchor heads its own neighbour list, which no longer holds once the
  anchor was used). Some samples are therefore drawn twice and others not at all: replaying that loop on 885
  labels with batch size 64 left 59 to 61 samples unvisited per epoch (53 of them the dropped remainder) and 6 to
  8 of the 13 anchors already used. Ours (`LabelNeighbourBatchSampler`): the anchor is drawn among the samples not
  used yet this epoch, its batch is the contiguous run of unused samples nearest to it in label order, the used
  ones are removed before the next anchor is drawn, and no batch is dropped.
* loss: L1 by default (the benchmark reports and selects on MAE); the paper's code uses MSE (``loss: mse``).
* ``scaled_singular_values: large`` scales the leading k instead of the tail (the release's
  ``small_singular=0``, its argparse default and the choice in 4 of its 7 data-set configs); the paper's
  Algorithm 1 and our default is ``small``.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.erm import ERM
from extrapbench.registry import METHODS


def kept_count(s: torch.Tensor, rho: float) -> int:
    """The fewest leading singular values (s sorted descending) whose share of sum(s) reaches rho; at least 1."""
    total = float(s.sum())
    if total <= 0.0:
        return len(s)
    share = torch.cumsum(s, 0) / total
    return min(int((share < rho - 1e-12).sum()) + 1, len(s))


def foma_augment(z: torch.Tensor, y: torch.Tensor, lam: float | torch.Tensor, rho: float,
                 scaled: str = "small", differentiable_svd: bool = False,
                 augment_labels: bool = True) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Scale the singular values of A = [z | y] past the ρ-share (``scaled='small'``) or up to it ('large') by
    lam. z [B, d], y [B] -> (z~ [B, d], y~ [B], k = number of leading singular values in the kept/scaled
    split)."""
    a = torch.cat([z, y.unsqueeze(1)], dim=1)
    if differentiable_svd:
        u, s, vh = torch.linalg.svd(a, full_matrices=False)
        k = kept_count(s.detach(), rho)
        mult = torch.ones_like(s)
        if scaled == "small":
            mult[k:] = lam
        else:
            mult[:k] = lam
        a_new = (u * (s * mult)) @ vh
    else:
        _, s, vh = torch.linalg.svd(a.detach(), full_matrices=False)
        k = kept_count(s, rho)
        v_k = vh[:k].T                                   # [d + 1, k], leading right singular vectors
        leading = (a @ v_k) @ v_k.T                      # = U_k diag(s_k) V_k^T
        # small: keep leading, scale the rest -> λ A + (1 - λ) A P_k;  large: scale leading -> A - (1 - λ) A P_k
        a_new = lam * a + (1 - lam) * leading if scaled == "small" else a - (1 - lam) * leading
    z_new, y_new = a_new[:, :-1], a_new[:, -1]
    return z_new, (y_new if augment_labels else y), k


class LabelNeighbourBatchSampler:
    """Batches of label-space neighbours covering the training set once per epoch.

    Each batch: an anchor drawn uniformly among the samples not yet used this epoch, plus its nearest unused
    neighbours in label space (1-D labels: a contiguous run of the unused samples sorted by label, grown towards
    whichever side is closer to the anchor). ceil(N / batch_size) batches with sizes differing by at most one.
    Randomness comes from `generator` only, so the trainer can checkpoint and resume it."""

    def __init__(self, labels, batch_size: int, generator: torch.Generator | None = None):
        labels = np.asarray(labels, dtype=float).reshape(-1)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.order = np.argsort(labels, kind="stable")          # sample indices sorted by label
        self.sorted_labels = labels[self.order]
        self.batch_size = batch_size
        self.generator = generator
        n = len(labels)
        self.num_batches = math.ceil(n / batch_size) if n else 0

    def __len__(self) -> int:
        return self.num_batches

    def _sizes(self) -> list[int]:
        n = len(self.order)
        base, extra = divmod(n, self.num_batches)
        return [base + 1] * extra + [base] * (self.num_batches - extra)

    def __iter__(self):
        if not self.num_batches:
            return
        remaining = list(range(len(self.order)))                 # positions in label order, still unused
        lab = self.sorted_labels
        for size in self._sizes():
            pos = int(torch.randint(len(remaining), (1,), generator=self.generator))
            anchor = lab[remaining[pos]]
            lo = hi = pos                                        # inclusive window in `remaining`
            while hi - lo + 1 < size:
                left = anchor - lab[remaining[lo - 1]] if lo > 0 else math.inf
                right = lab[remaining[hi + 1]] - anchor if hi + 1 < len(remaining) else math.inf
                if left <= right:
                    lo -= 1
                else:
                    hi += 1
            batch = [int(self.order[p]) for p in remaining[lo:hi + 1]]
            del remaining[lo:hi + 1]
            yield batch


@METHODS.register("foma")
class FOMA(ERM):  # ERM's head, loss check and predict
    defaults = {
        "alpha": 1.0,                       # λ ~ Beta(α, α); authors' default (their runs use 0.3-1.4)
        "rho": 0.9,                         # share of sum(s) kept; authors' default (their runs use 0.825-0.975)
        "scaled_singular_values": "small",  # small: scale the tail (paper) | large: scale the leading ones
        "augment_labels": True,             # Y~ from the reconstruction (paper) or the original Y
        "differentiable_svd": False,        # back-propagate through the SVD basis (see module docstring)
        "batch_selection": "knn",           # knn: label-neighbour batches (paper) | random: shuffled batches
        "loss": "l1",                       # l1 | mse (the paper's code uses mse)
        "head_hidden_dim": 128,
    }
    hparam_specs = {"alpha": Number(min=0, min_exclusive=True), "rho": Number(min=0, max=1, min_exclusive=True),
                    "scaled_singular_values": Choice("small", "large"), "augment_labels": Boolean(),
                    "differentiable_svd": Boolean(), "batch_selection": Choice("knn", "random"),
                    **ERM.hparam_specs}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
    def training_loss(self, batch):
        h = self.hparams
        z = self.backbone(batch)
        lam = float(torch.distributions.Beta(h["alpha"], h["alpha"]).sample())
        z_aug, y_aug, k = foma_augment(z, batch.y.to(z.dtype), lam, h["rho"], h["scaled_singular_values"],
                                       h["differentiable_svd"], h["augment_labels"])
        pred = self.head(z_aug).squeeze(-1)
        loss = self.regression_loss(pred, y_aug)
        return loss, {"lambda": lam, "kept_singular_values": k}

    def train_batch_sampler(self, labels, batch_size, generator):
        if self.hparams["batch_selection"] == "random":
            return None
        return LabelNeighbourBatchSampler(labels, batch_size, generator)
