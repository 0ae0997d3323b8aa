"""ANE (paper B: Na & Park, "Nonlinearity encoding for extrapolation of neural networks", KDD 2022).

ANE learns an embedding in which the target is (close to) a linear function of the representation, then fits an
ordinary regression model on that embedding. Two stages inside one training job (``stages``;
extrapbench.training.loop.train_stages runs the full protocol once per stage, each with a fresh optimiser, early
stopping and best-val weights):

1. ``embedding``: e = φ(x) = L2-normalise(projection(backbone(x))) (projection: a 2-layer MLP) is trained so
   that embedding distances match label distances,
   L = mean over pairs (i, j) of (||e_i - e_j|| - |y~_i - y~_j|)^2, with y~ = (y - train_min) / (train_max -
   train_min) the labels min-max scaled on the train range (val and test labels fall outside [0, 1]; the unit
   sphere leaves room for distances up to 2). The stage is selected on the same loss over the val set
   (`selection_loss`), since no prediction head exists yet.
2. ``head``: φ (backbone + projection) is frozen (requires_grad off, kept in eval mode so dropout and batch-norm
   statistics cannot change it) and a small MLP head is fitted on (φ(x), y) with L1 loss; selected on val MAE.
   The head reads the embedding φ(x) only: in the paper the prediction model takes the embedded input, not
   the label (the label is its target).

Choices where paper B leaves room (documented, not departures):
* pairs: all B(B-1)/2 distinct pairs of a shuffled batch, i.e. every random pair the batch offers; the same
  expectation as drawing random pairs, with less variance at negligible cost (B x B distances). The val
  selection loss uses all pairs of the whole val set (chunked), so it does not depend on the val loader's
  order or batch size.
* a perfect isometry is impossible on the sphere (three collinear label values cannot be three points of a
  sphere at those chord distances), so stage 1 minimises, never zeroes, the loss for more than two distinct
  labels; `pair_distance_loss` itself is exactly 0 for any embedding with matching distances.
* the head predicts the standardised target like every method here; the L1 loss follows paper B.
* embedding_dim 64 and the 128-wide hidden layers are this benchmark's choice (the paper's widths are set per
  application); they are hyper-parameters.

The authors' public code (github.com/ngs00/ane, materials_property_prediction/dml.py), read against the above:
* it compares *squared* distances, (||e_i - e_j||^2 - (y_i - y_j)^2)^2. ``pair_distance: squared`` runs that
  form; the default ``euclidean`` is the form docs/benchmark.md ("ANE") states. Both are 0 exactly when embedding
  distances equal label distances; the squared form weighs far pairs more.
* it draws one random partner per sample (a permutation of the batch); we use every pair (above).
* its prediction model is an MLP on the embedding alone, trained with L1 — as here (the label is the target,
  not an input).
* it trains each stage for a fixed 500 epochs with Adam; here both stages follow paper A's training protocol
  (AdamW, early stopping, best-val weights; docs/benchmark.md), like every method, so the comparison is fair.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.base import Method, mlp
from extrapbench.registry import METHODS

SELECTION_CHUNK_ELEMENTS = 1 << 24


def pairwise_distances(e: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean distances [B, C] between rows of e and of other (default e). Zero distances get a zero
    (sub)gradient instead of the NaN that sqrt(0) would give (duplicate materials embed identically)."""
    other = e if other is None else other
    sq = (e.unsqueeze(1) - other.unsqueeze(0)).pow(2).sum(-1)
    return sq.clamp_min(1e-12).sqrt() * (sq > 0)


PAIR_DISTANCES = ("euclidean", "squared")


def _distance_mismatch(dist: torch.Tensor, label_gap: torch.Tensor, pair_distance: str) -> torch.Tensor:
    """(d - |Δy|)^2 for "euclidean", (d^2 - Δy^2)^2 for "squared" (the authors' code)."""
    if pair_distance == "squared":
        return (dist.pow(2) - label_gap.pow(2)).pow(2)
    return (dist - label_gap.abs()).pow(2)


def pair_distance_loss(e: torch.Tensor, y_scaled: torch.Tensor, pair_distance: str = "euclidean") -> torch.Tensor:
    """Mean over the distinct pairs i < j of (||e_i - e_j|| - |y_i - y_j|)^2 (or of the squared form, see the
    module docstring). e [B, k], y_scaled [B]."""
    if pair_distance not in PAIR_DISTANCES:
        raise ValueError(f"ane: pair_distance must be one of {PAIR_DISTANCES}, got {pair_distance!r}")
    if len(e) < 2:
        return e.sum() * 0.0
    i, j = torch.triu_indices(len(e), len(e), offset=1, device=e.device)
    dist = pairwise_distances(e)[i, j]
    return _distance_mismatch(dist, y_scaled[i] - y_scaled[j], pair_distance).mean()


@METHODS.register("ane")
class ANE(Method):
    defaults = {
        "embedding_dim": 64,             # size of e = φ(x) (on the unit sphere)
        "projection_hidden_dim": 128,    # projection: 2-layer MLP from the backbone's z to e
        "head_hidden_dim": 128,          # stage-2 head: 2-layer MLP on e
        "loss": "l1",                    # stage-2 loss: l1 (paper B) | mse
        "pair_distance": "euclidean",    # stage-1 distances: euclidean (the default form) | squared (the authors' code)
    }
    hparam_specs = {"embedding_dim": Integer(min=1), "projection_hidden_dim": Integer(min=1),
                    "head_hidden_dim": Integer(min=1), "loss": Choice("l1", "mse"),
                    "pair_distance": Choice(*PAIR_DISTANCES)}
    stages = ("embedding", "head")

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        h = self.hparams
        self.projection = mlp(backbone.out_dim, h["projection_hidden_dim"], h["embedding_dim"], num_layers=2)
        self.head = mlp(h["embedding_dim"], h["head_hidden_dim"], 1, num_layers=2)
        span = labels.train_max - labels.train_min
        self.label_low, self.label_span = labels.train_min, (span if span > 0 else 1.0)
        self.stage = self.stages[0]
        self.begin_stage(self.stage)

    # ---- stages -------------------------------------------------------------------------------------------
    def embedding_modules(self):
        return (self.backbone, self.projection)

    def begin_stage(self, stage: str) -> None:
        if stage not in self.stages:
            raise ValueError(f"ane: unknown stage {stage!r}; stages: {self.stages}")
        self.stage = stage
        frozen = stage == "head"
        for module in self.embedding_modules():
            module.requires_grad_(not frozen)
        self.head.requires_grad_(frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        """nn.Module.train, except that the frozen embedding stays in eval mode during the head stage."""
        super().train(mode)
        if self.stage == "head":
            for module in self.embedding_modules():
                module.eval()
        return self

    def param_groups(self, lr, weight_decay):
        modules = self.embedding_modules() if self.stage == "embedding" else (self.head,)
        return [{"params": [p for m in modules for p in m.parameters()], "lr": lr,
                 "weight_decay": weight_decay}]

    # ---- model --------------------------------------------------------------------------------------------
    def scale_labels(self, y: torch.Tensor) -> torch.Tensor:
        """Standardised labels -> min-max scaled on the train range ([0, 1] on train)."""
        return (y - self.label_low) / self.label_span

    def embed(self, batch) -> torch.Tensor:
        return F.normalize(self.projection(self.backbone(batch)), dim=-1)

    def predict(self, batch):
        return self.head(self.embed(batch)).squeeze(-1)

    def training_loss(self, batch):
        if self.stage == "embedding":
            loss = pair_distance_loss(self.embed(batch), self.scale_labels(batch.y), self.hparams["pair_distance"])
            return loss, {"pair_loss": loss.item()}
        with torch.no_grad():
            e = self.embed(batch)
        pred = self.head(e).squeeze(-1)
        loss = F.l1_loss(pred, batch.y) if self.hparams["loss"] == "l1" else F.mse_loss(pred, batch.y)
        return loss, {}

    @torch.no_grad()
    def selection_loss(self, val_loader):
        """Embedding stage: the pair loss over all distinct pairs of the val set; head stage: None (val MAE)."""
        if self.stage != "embedding":
            return None
        was_training = self.training
        self.eval()
        try:
            parts = [(self.embed(batch), self.scale_labels(batch.y)) for batch in val_loader]
        finally:
            self.train(was_training)
        e = torch.cat([p[0] for p in parts])
        y = torch.cat([p[1] for p in parts])
        n = len(e)
        if n < 2:
            return 0.0
        # rows per chunk so that the [rows, n, embedding_dim] difference tensor stays near 2^24 elements
        total, chunk = 0.0, max(1, SELECTION_CHUNK_ELEMENTS // (n * e.shape[1]))
        for start in range(0, n, chunk):
            rows = slice(start, min(start + chunk, n))
            dist = pairwise_distances(e[rows], e)
            sq = _distance_mismatch(dist, y[rows].unsqueeze(1) - y.unsqueeze(0), self.hparams["pair_distance"])
            total += float(sq.sum())            # diagonal terms are (0 - 0)^2 = 0
        return total / (n * (n - 1))            # each unordered pair counted twice

    def describe(self):
        return {"label_scaling": {"train_min_standardised": self.label_low,
                                  "train_span_standardised": self.label_span}}
