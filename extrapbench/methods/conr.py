"""ConR (Keramati et al. 2024, "ConR: Contrastive Regularizer for Deep Imbalanced Regression").

ERM's head and loss (L1 by default, as in the paper's age benchmarks) plus beta x a label-aware contrastive
regulariser on the backbone representation z, over two augmented views of the batch (2B anchors):

* positives of anchor j: every other anchor i with |y_i - y_j| <= w (its own other view included);
* negatives of anchor j: anchors q with |y_q - y_j| > w whose *prediction* lies within w of j's
  (|y_hat_q - y_hat_j| <= w): the pairs the model currently confuses;
* each negative is pushed with weight S_jq = exp(e * |y_j - y_q|) (e = `pushing_power`): the farther apart
  the labels, the harder the push;
* with s = cos(z_j, z_i) / tau,
      L_j = -(1 / |P_j|) sum_{i in P_j} log( exp(s_ji) / (sum_{p in P_j} exp(s_jp) + sum_{q in N_j} S_jq exp(s_jq)) ),
  L_j = 0 for anchors without negatives, and L_ConR = mean over the 2B anchors; total = regression + beta L.

The regression loss is ERM's, on the clean (un-augmented) batch, as in the authors' code (a separate forward
pass of the original batch; the two views feed only the regulariser), so the head sees the same inputs as
every other method and "ConR" is not confounded with noise augmentation. The views' predictions enter only
through the negative mask (no gradient flows through them there). Three forward passes per step.

View-making augmentation (`make_view`), needed because crystals and compositions have no image-style
augmentations; it always works on a shallow copy of the batch (new attribute store, shared tensors), so the
caller's batch is never modified:

* graph backbones (``input_kind == "graph"``): independent Gaussian noise of `pos_noise` angstrom (default
  0.05) on every Cartesian coordinate in `batch.pos`; the cell, the edge list and the periodic image offsets
  stay as they are. That is below typical room-temperature thermal displacement amplitudes (RMS of order
  0.1 angstrom), so each view is a snapshot of the same material, and the property label (an
  equilibrium property) is kept. Edges are not rebuilt (a neighbour search per view would cost more than
  the forward pass): the backbones recompute every edge vector from `pos`, so all kept edges see the
  perturbed geometry, and only pairs within ~0.1 angstrom of the cutoff could change neighbour status: they
  keep the clean structure's status, where SchNet's and PaiNN's cutoff envelopes give them ~0 weight anyway
  (for a backbone without a smooth cutoff, a borderline edge merely changes its length by ~0.05 angstrom). The
  informational `batch.distances` is left as it was (the backbones only use it for their cutoff check).
* composition backbones: `batch.x` (Magpie features standardised on train) gets feature dropout with
  probability `x_dropout` (a dropped feature is set to 0, the train mean, without rescaling) and Gaussian
  noise of `x_noise` train stds. There is no physical label-preserving perturbation of a composition (a
  different composition is a different material), so this is a feature-space corruption in the style of
  tabular contrastive learning.

As the MEX authors ran it (their release's ``modules/loss.py`` ConRLoss, a copy of the ConR
authors' IMDB-WIKI loss, called with the pooled EquiformerV2 features, the normalised targets and the
predictions of one clean batch): ``views: one_clean`` — no augmentation, each anchor is contrasted with the other
members of its own batch (the diagonal is excluded from the positives), one forward pass feeding both the
regression and the regulariser; ``denominator: release`` — the released code exponentiates the masked
similarity matrix, so every non-positive entry of a row (its own included) adds exp(0) = 1 to the denominator;
threshold w = 0.1 and pushing power e = 0.01 in normalised label units, tau = 0.07 (the loss's defaults:
their trainer passes only the threshold), weight beta = 0.25 against the L1 loss
(``run_scripts/train_eqv2_conr=0.25.sh``). Per anchor: sum over positives / (|P| + 1e-6), rows without negatives
zeroed, mean over the batch — as here.

Departures from the paper: the paper's pushing weight may also carry a density-dependent pushing power per
anchor (eta_j); here eta_j = 1, the plain exp(e |dy|) of the paper's basic form. The augmentations above
replace the paper's image augmentations. Units: w and e act on standardised labels. Defaults, checked against the
authors' code (BorealisAI/ConR, AgeDB setting: raw ages, L1 loss in years): w = 1 year, e = 0.01 per year,
beta = 4 — with an age std of about a decade, one year is ~0.1 std, 0.01 per year ~0.1 per std, and beta = 4
against an L1 loss in years is beta = 0.4 against one in stds (the regulariser is unit-free, the regression loss
is divided by the label std, and Adam's steps do not change when the whole loss is scaled); `beta: 4` (the
demo configs' `conr_beta4` ablation) runs the authors' number unconverted — and tau = 0.07: their README lists
0.2, but the released AgeDB loss overrides it with 0.07, which is also the IMDB-WIKI and NYUD2 default. The
denominator follows the paper's formula (positives plus weighted negatives); the authors' code also adds
exp(0) = 1 for every non-positive entry, negligible at tau = 0.07.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.erm import ERM
from extrapbench.registry import METHODS

VIEWS = ("two", "one_clean")
DENOMINATORS = ("paper", "release")


def make_view(batch, kind: str, pos_noise: float = 0.05, x_noise: float = 0.1, x_dropout: float = 0.1,
              generator: torch.Generator | None = None):
    """An augmented shallow copy of `batch` (the input is left untouched); kind: "graph" | "composition" |
    "features" (a backbone's own standardised features, corrupted as Magpie features are)."""
    view = copy.copy(batch)
    if kind == "graph":
        pos = batch.pos
        noise = torch.randn(pos.shape, generator=generator, device=pos.device, dtype=pos.dtype)
        view.pos = pos + pos_noise * noise
    elif kind in ("composition", "features"):
        x = batch.x
        if x_dropout > 0:
            keep = torch.rand(x.shape, generator=generator, device=x.device) >= x_dropout
            x = x * keep.to(x.dtype)
        if x_noise > 0:
            x = x + x_noise * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        view.x = x
    else:
        raise ValueError(f"conr: unknown input kind {kind!r}")
    return view


@torch.no_grad()
def conr_pairs(y: torch.Tensor, pred: torch.Tensor, window: float, pushing_power: float):
    """Positive mask [n, n] (self excluded) and negative pushing weights [n, n] (0 where not a negative)."""
    label_distance = (y[:, None] - y[None, :]).abs()
    pred_distance = (pred[:, None] - pred[None, :]).abs()
    close = label_distance <= window
    positive = close & ~torch.eye(len(y), dtype=torch.bool, device=y.device)
    negative = ~close & (pred_distance <= window)
    weights = torch.where(negative, torch.exp(pushing_power * label_distance), torch.zeros_like(label_distance))
    return positive, weights


def conr_loss(z: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, window: float, pushing_power: float,
              temperature: float, denominator: str = "paper") -> torch.Tensor:
    """Mean over anchors of L_j (see the module docstring); z [n, d], y and pred [n]. denominator: "paper"
    (positives + weighted negatives) or "release" (also exp(0) = 1 for every other non-positive entry of the
    row, its own included, as the released ConR code computes it)."""
    if denominator not in DENOMINATORS:
        raise ValueError(f"conr: denominator must be one of {DENOMINATORS}, got {denominator!r}")
    positive, neg_weights = conr_pairs(y, pred.detach(), window, pushing_power)
    zn = F.normalize(z, dim=1)
    s = zn @ zn.T / temperature
    # log of the denominator: logsumexp over positives (weight 1) and negatives (weight S_jq)
    log_w = torch.full_like(s, float("-inf"))
    log_w = torch.where(positive, torch.zeros_like(s), log_w)
    negative = neg_weights > 0
    log_w = torch.where(negative, torch.log(neg_weights.clamp(min=1e-30)), log_w)
    # an anchor with neither positives nor negatives (only if window < label gaps of a single view) is
    # inactive; give its row a finite dummy term so that logsumexp's gradient stays finite
    empty = ~(positive | negative).any(dim=1)
    eye = torch.eye(len(s), dtype=torch.bool, device=s.device)
    log_w = torch.where(eye & empty[:, None], torch.zeros_like(s), log_w)
    log_denominator = torch.logsumexp(s + log_w, dim=1)                       # [n]
    n_pos = positive.sum(dim=1)
    if denominator == "release":
        # the released code exponentiates s * mask, so each non-positive entry adds exp(0) = 1
        log_denominator = torch.logaddexp(log_denominator, torch.log((len(s) - n_pos).to(s.dtype)))
    log_prob = torch.where(positive, s - log_denominator[:, None], torch.zeros_like(s))
    per_anchor = -log_prob.sum(dim=1) / n_pos.clamp(min=1)
    active = negative.any(dim=1) & (n_pos > 0)
    return torch.where(active, per_anchor, torch.zeros_like(per_anchor)).mean()


@METHODS.register("conr")
class ConR(ERM):
    defaults = {
        **ERM.defaults,                  # loss (l1 | mse), head_hidden_dim
        "beta": 0.4,                     # weight of the regulariser (paper: 4 against L1 in years -> 0.4 per std)
        "window": 0.1,                   # w: label / prediction similarity window, standardised units
        "pushing_power": 0.1,            # e: negatives pushed with exp(e |dy|), per standardised unit
        "temperature": 0.07,             # tau of the cosine similarities (the authors' released value)
        "pos_noise": 0.05,               # graph views: coordinate noise std, angstrom
        "x_noise": 0.1,                  # composition views: feature noise std, train stds
        "x_dropout": 0.1,                # composition views: feature dropout probability
        "views": "two",                  # two augmented views (paper) | one_clean: the batch itself (release)
        "denominator": "paper",          # paper | release (adds exp(0) per non-positive entry)
    }
    hparam_specs = {**ERM.hparam_specs, "beta": Number(min=0), "window": Number(min=0),
                    "pushing_power": Number(min=0), "temperature": Number(min=0, min_exclusive=True),
                    "pos_noise": Number(min=0), "x_noise": Number(min=0),
                    "x_dropout": Number(min=0, max=1, max_exclusive=True), "views": Choice(*VIEWS),
                    "denominator": Choice(*DENOMINATORS)}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        self.view_kind = getattr(backbone, "input_kind", "composition")

    def view(self, batch):
        h = self.hparams
        return make_view(batch, self.view_kind, h["pos_noise"], h["x_noise"], h["x_dropout"])

    def training_loss(self, batch):
        h = self.hparams
        if h["views"] == "one_clean":
            # the release: anchors and contrasted samples are the same clean batch, one forward pass
            z = self.backbone(batch)
            pred = self.head(z).squeeze(-1)
            regression = self.regression_loss(pred, batch.y)
            y = batch.y
        else:
            regression = self.regression_loss(self.predict(batch), batch.y)   # clean batch, as the authors
            views = [self.view(batch), self.view(batch)]
            z = torch.cat([self.backbone(v) for v in views])
            pred = self.head(z).squeeze(-1)
            y = torch.cat([batch.y, batch.y])
        contrastive = conr_loss(z, y, pred, h["window"], h["pushing_power"], h["temperature"],
                                h["denominator"])
        return (regression + h["beta"] * contrastive,
                {"loss_regression": regression.item(), "loss_conr": contrastive.item()})
