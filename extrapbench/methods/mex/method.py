"""MEX (paper A): Matching-based EXtrapolation. Regression recast as matching a material to a label.

The defaults follow the authors' released code (github.com/panmianzhi/Matching-based-EXtrapolation, the MEX
trainer ``ocp/ocpmodels/trainers/mex_trainer.py``, the model ``equiformer_v2_oc20.py`` and
``configs/mex-0.25``), which produced the paper's tables; docs/benchmark.md lists where it differs from the
paper's text. Labels are in standardised units (train mean 0, population std 1) throughout.

Model. Material side: the backbone's pooled representation z, then the projection fc_x = SiLU(Linear(d, d));
x = fc_x(z) is what L_abs, the score and inference use. Label side: l(y) = activation(Linear(1, d)) (fc_y).
Score S(x, l) (``score``): ``mlp`` is the release's residual network on concat(x, l):
h1 = SiLU(W1 [x; l]) (2d -> h), h2 = h1 + SiLU(W2 h1), h3 = h2 + SiLU(W3 h2), S = w4 · h3 (h -> 1), h = d;
``mlp+cos`` projects x and l with two 2-layer MLPs and takes their cosine (the form the release keeps
commented out); ``cos`` is cos(x, l). These are the paper's Table 4 variants.

Training: L = L_nce + lambda_abs · L_abs.
* L_abs (``abs_loss: squared_distance``, release): ||x/|x| − l/|l|||² = 2 − 2 cos(x, l), with lambda 0.25 in the
  release; this is the loss the paper's λ grid {0.25, 0.5, 0.75, 1} was run with.
* L_nce: M noise offsets ε_m ~ q = (1/K) Σ_k N(0, σ_k²), σ = (0.075, 0.15, 0.3); logits
  S(x_i, l(y_i + ε_m)) − log q(ε_m), with the true label (ε = 0) included as the target class;
  L_nce,i = −log softmax(logits)[true]. ``noise_per: batch`` (release): one set of M = 500 offsets per batch,
  shared by all its samples.
* Rows whose loss is not finite are dropped from the mean, in both losses (release).

Inference (``inference: cosine``, release): ŷ = argmax_y cos(x, l(y)), the paper's own M(x, y); the score
network only shapes training. Search: 2,000 candidates uniform in [l, u], 5 rounds of resample by softmax,
N(0, ns²) noise with ns from 0.5 halved each round, clip; the answer is the best candidate of the final set
(``search.monte_carlo_argmax``). [l, u] (``candidate_range: prior``, release): the fixed
``range_prior`` [−10, 10] in transformed-target units, standardised with the train mean/std; a run whose train
(or val) labels fall outside it stops with an error, where the release asserts the train range only.

Scoring (``search_scoring``): ``table`` (default) reads cos(x, l(y)) from a cubic table over [l, u], checked
against the exact cosine to 1e-6 for every chunk of materials (``cosine_table``; about 5x faster on a CPU,
where encoding 12,000 candidates per material cost more than a small backbone's forward pass), and picks the
answer among the final set's 8 best by the exact cosine; ``direct`` encodes every candidate, as the release does
(config/authors.yaml). They agree to float32 rounding, but the search is chaotic: a draw within 1e-6 of a
resampling boundary sends a material's search another way, so single predictions differ as between search seeds.

Where the paper's text reads otherwise, and the option that gives its reading:
* no projection: the text's E_s output is used directly -> ``material_projection: false``;
* L_abs = −cos (the text) -> ``abs_loss: neg_cosine``; 0.5 · (−cos) has the same gradient as 0.25 · (2 − 2cos);
* noise drawn per sample (the text's y_(i,m) ~ q(y | y_i)) -> ``noise_per: sample``;
* inference by the score network (our earlier reading of "argmax M") -> ``inference: score``;
* 1,500 candidates, 10 rounds, return the best candidate scored -> ``num_candidates: 1500``,
  ``search_iterations: 10``, ``search_answer: best_seen`` (the text states no initial noise scale);
* [l, u] = the whole data set's label range (the text; it includes the test labels) -> ``candidate_range:
  dataset``; ``train_margin`` widens the train range by ``range_margin`` spans per side instead.
The text's "4-layer MLP" score is read as the release's network (four Linear layers); the residual connections
are the release's. Every run records the range it searched (``describe()``).

Departures from the release, none of which changes a finite result: the NCE uses logsumexp where the release
exponentiates directly (its overflow made rows infinite and so dropped; here only NaN rows are dropped); noise
is drawn on the labels' device rather than the CPU; the search's softmax runs in float32 rather than float64.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.mex.inference import SEARCH_SCORING, MEXInference, cosine_to_each
from extrapbench.methods.mex.search import SEARCH_ANSWERS, monte_carlo_argmax
from extrapbench.methods.base import Method, mlp
from extrapbench.registry import METHODS

__all__ = ["MEX", "ScoreModule", "absolute_loss", "log_noise_density", "monte_carlo_argmax", "nce_loss",
           "sample_noise_labels"]

#: the score module's activations by name (a literal: the config check reads it without importing torch)
ACTIVATION_NAMES = ("silu", "relu", "tanh", "leaky_relu", "gelu")
ACTIVATIONS = dict(zip(ACTIVATION_NAMES, (nn.SiLU, nn.ReLU, nn.Tanh, nn.LeakyReLU, nn.GELU)))
SCORE_VARIANTS = ("mlp", "mlp+cos", "cos")
CANDIDATE_RANGES = ("prior", "train_margin", "dataset")
ABS_LOSSES = ("squared_distance", "neg_cosine")
NOISE_PER = ("batch", "sample")
INFERENCE = ("cosine", "score")


def log_noise_density(y: torch.Tensor, centre: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """log q(y | centre) for the equal-weight Gaussian mixture q = (1/K) sum_k N(y; centre, sigma_k^2).
    y: [B, M], centre: [B, 1], sigmas: [K] -> [B, M]."""
    diff = (y - centre).unsqueeze(-1)                                   # [B, M, 1]
    log_normal = -0.5 * (diff / sigmas) ** 2 - torch.log(sigmas) - 0.5 * math.log(2 * math.pi)
    return torch.logsumexp(log_normal, dim=-1) - math.log(len(sigmas))


def sample_noise_labels(y: torch.Tensor, sigmas: torch.Tensor, num_samples: int,
                        generator: torch.Generator | None = None, shared: bool = True) -> torch.Tensor:
    """y_i + ε for num_samples draws ε ~ q (a component picked uniformly, then its Gaussian): [B] -> [B, M].
    shared: one set of offsets for the whole batch (the release); else each row draws its own."""
    rows = 1 if shared else len(y)
    component = torch.randint(len(sigmas), (rows, num_samples), device=y.device, generator=generator)
    noise = torch.randn(rows, num_samples, device=y.device, generator=generator)
    return y.unsqueeze(1) + sigmas[component] * noise


def _mean_of_finite(values: torch.Tensor) -> torch.Tensor:
    """Mean over the rows whose value is finite (the release drops the others)."""
    return values[torch.isfinite(values)].mean()


def nce_loss(scores: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """scores, log_q: [B, M + 1] with column 0 the true label. Mean over rows of
    -log softmax_m(scores - log_q)[0], rows with a non-finite loss left out."""
    logits = scores - log_q
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return _mean_of_finite(F.cross_entropy(logits.float(), target, reduction="none"))


def absolute_loss(x: torch.Tensor, label: torch.Tensor, kind: str = "squared_distance") -> torch.Tensor:
    """L_abs over rows of x, label [B, d]: ``squared_distance`` = ||x/|x| - l/|l|||^2 (= 2 - 2cos), or
    ``neg_cosine`` = -cos; non-finite rows left out."""
    if kind == "squared_distance":
        per_row = (F.normalize(x, dim=-1) - F.normalize(label, dim=-1)).pow(2).sum(-1)
    elif kind == "neg_cosine":
        per_row = -F.cosine_similarity(x, label, dim=-1)
    else:
        raise ValueError(f"mex: abs_loss must be one of {ABS_LOSSES}, got {kind!r}")
    return _mean_of_finite(per_row)


class ResidualScoreMLP(nn.Module):
    """The release's score network on concat(x, l): Linear+SiLU (2d -> h), two Linear+SiLU (h -> h) each
    added to its input, Linear (h -> 1)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.first = nn.Linear(2 * dim, hidden_dim)
        self.blocks = nn.ModuleList([nn.Linear(hidden_dim, hidden_dim) for _ in range(2)])
        self.out = nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """x [B, d], label [B, K, d] -> [B, K]. The first layer is applied as W_x x + W_l l + b, so x is
        projected once per material, not once per (material, label) pair; the result equals W [x; l] + b."""
        dim = x.shape[-1]
        h = F.silu(F.linear(x, self.first.weight[:, :dim], self.first.bias).unsqueeze(1)
                   + F.linear(label, self.first.weight[:, dim:]))
        for block in self.blocks:
            h = h + F.silu(block(h))
        return self.out(h).squeeze(-1)


class ScoreModule(nn.Module):
    """S(x, l) -> scalar, in one of the paper's three variants."""

    def __init__(self, variant: str, dim: int, hidden_dim: int):
        super().__init__()
        if variant not in SCORE_VARIANTS:
            raise ValueError(f"mex: score must be one of {SCORE_VARIANTS}, got {variant!r}")
        self.variant = variant
        if variant == "mlp":
            self.net = ResidualScoreMLP(dim, hidden_dim)
        elif variant == "mlp+cos":
            self.project_material = mlp(dim, hidden_dim, hidden_dim, num_layers=2)
            self.project_label = mlp(dim, hidden_dim, hidden_dim, num_layers=2)

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """x [B, d], label [B, K, d] -> scores [B, K]."""
        if self.variant == "mlp":
            return self.net(x, label)
        if self.variant == "mlp+cos":
            return cosine_to_each(self.project_material(x), self.project_label(label))
        return cosine_to_each(x, label)


def _choice(hparams: dict, key: str, allowed: tuple) -> str:
    if hparams[key] not in allowed:
        raise ValueError(f"mex: {key} must be one of {allowed}, got {hparams[key]!r}")
    return hparams[key]


@METHODS.register("mex")
class MEX(MEXInference, Method):
    defaults = {
        "lambda_abs": 0.25,                    # λ; release 0.25 on 2 - 2cos; paper grid {0.25, 0.5, 0.75, 1}
        "abs_loss": "squared_distance",        # squared_distance (release, 2 - 2cos) | neg_cosine (text)
        "material_projection": True,           # fc_x = SiLU(Linear(d, d)) on the backbone output (release)
        "noise_sigmas": [0.075, 0.15, 0.3],    # σ_k of q, standardised label units
        "num_noise_labels": 500,               # M
        "noise_per": "batch",                  # batch (release: offsets shared by the batch) | sample
        "score": "mlp",                        # mlp | mlp+cos | cos
        "score_hidden_dim": None,              # width h of the score networks; None: d, as in the release
        "label_activation": "silu",
        "inference": "cosine",                 # cosine (release, the paper's M(x, y)) | score
        "num_candidates": 2000,                # C (text: 1500)
        "search_iterations": 5,                # T (text: 10)
        "search_noise": 0.5,                   # initial ns, standardised label units
        "search_shrink": 0.5,                  # β
        "search_answer": "final",              # final (release: best of the final set) | best_seen
        "candidate_range": "prior",            # prior | train_margin | dataset
        "range_prior": [-10.0, 10.0],          # prior: [low, high] in transformed-target units (release)
        "range_margin": 1.0,                   # train_margin: widen by this many train-label spans per side
        "search_chunk_size": None,             # materials searched at once; None: 32 on a CPU, 64 on a GPU
        "search_scoring": "table",             # table (cosine read from a checked table) | direct (encode each)
        "search_seed": 0,
    }
    hparam_specs = {
        "lambda_abs": Number(min=0), "abs_loss": Choice(*ABS_LOSSES), "material_projection": Boolean(),
        "noise_sigmas": NumberList(item=Number(min=0, min_exclusive=True)), "num_noise_labels": Integer(min=1),
        "noise_per": Choice(*NOISE_PER), "score": Choice(*SCORE_VARIANTS),
        "score_hidden_dim": Integer(min=1, nullable=True), "label_activation": Choice(*ACTIVATION_NAMES),
        "inference": Choice(*INFERENCE), "num_candidates": Integer(min=1), "search_iterations": Integer(min=1),
        "search_noise": Number(min=0, min_exclusive=True), "search_shrink": Number(min=0, max=1, min_exclusive=True),
        "search_answer": Choice(*SEARCH_ANSWERS), "candidate_range": Choice(*CANDIDATE_RANGES),
        "range_prior": NumberList(min_length=2, max_length=2, increasing=True), "range_margin": Number(min=0),
        "search_chunk_size": Integer(min=1, nullable=True), "search_seed": Integer(min=0),
        "search_scoring": Choice(*SEARCH_SCORING),
    }

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        h = self.hparams
        for key, allowed in (("label_activation", tuple(ACTIVATIONS)), ("abs_loss", ABS_LOSSES),
                             ("noise_per", NOISE_PER), ("inference", INFERENCE),
                             ("search_answer", SEARCH_ANSWERS), ("candidate_range", CANDIDATE_RANGES),
                             ("search_scoring", SEARCH_SCORING)):
            _choice(h, key, allowed)
        if not isinstance(h["material_projection"], bool):
            raise ValueError(f"mex: material_projection must be true or false, got {h['material_projection']!r}")
        dim = backbone.out_dim
        self.material_projection = (nn.Sequential(nn.Linear(dim, dim), nn.SiLU()) if h["material_projection"]
                                    else nn.Identity())
        self.label_encoder = nn.Sequential(nn.Linear(1, dim), ACTIVATIONS[h["label_activation"]]())
        self.score = ScoreModule(h["score"], dim, h["score_hidden_dim"] or dim)
        self.register_buffer("noise_sigmas", torch.tensor(h["noise_sigmas"], dtype=torch.float32))
        self.candidate_low, self.candidate_high = self._candidate_range()

    def _candidate_range(self) -> tuple[float, float]:
        """[l, u] in standardised units."""
        h, lab = self.hparams, self.labels
        kind = h["candidate_range"]
        if kind == "train_margin":
            span = lab.train_max - lab.train_min
            return lab.train_min - h["range_margin"] * span, lab.train_max + h["range_margin"] * span
        if kind == "dataset":
            return lab.dataset_min, lab.dataset_max
        prior = h["range_prior"]
        if not prior or len(prior) != 2 or not prior[0] < prior[1]:
            raise ValueError(f"mex: candidate_range 'prior' needs range_prior [low, high] with low < high, "
                             f"got {prior!r}")
        low, high = float(prior[0]), float(prior[1])
        # labels the search can never reach would cap every prediction: refuse (the release asserts this for
        # the train labels; val labels are checked too when the run provides them)
        for part, values in (("train", (lab.train_min, lab.train_max)),
                             ("val", (getattr(lab, "val_min", None), getattr(lab, "val_max", None)))):
            for value in values:
                if value is None:
                    continue
                transformed = value * lab.std + lab.mean
                tolerance = 1e-9 * max(1.0, abs(transformed))
                if not low - tolerance <= transformed <= high + tolerance:
                    raise ValueError(f"mex: range_prior [{low:g}, {high:g}] (transformed-target units) does not "
                                     f"contain the {part} labels: {part} label {transformed:.6g} lies outside it. "
                                     f"Widen range_prior or choose candidate_range: train_margin.")
        return (low - lab.mean) / lab.std, (high - lab.mean) / lab.std

    def encode_material(self, batch) -> torch.Tensor:
        """x = fc_x(backbone(batch)): [B, d]"""
        return self.material_projection(self.backbone(batch))

    def encode_labels(self, y: torch.Tensor) -> torch.Tensor:
        """[...] -> [..., d]: activation(w y + b), Linear(1, d) written as one fused multiply-add (a matrix
        product with an inner dimension of 1 is the slow way to compute an outer product)."""
        linear, activation = self.label_encoder
        z = torch.addcmul(linear.bias, y.unsqueeze(-1), linear.weight[:, 0])
        if isinstance(activation, nn.SiLU) and not torch.is_grad_enabled():
            return F.silu(z, inplace=True)  # inference: no graph to keep, one buffer fewer
        return activation(z)

    def training_loss(self, batch):
        h = self.hparams
        x = self.encode_material(batch)
        y = batch.y
        noisy = sample_noise_labels(y, self.noise_sigmas, h["num_noise_labels"], shared=h["noise_per"] == "batch")
        labels = torch.cat([y.unsqueeze(1), noisy], dim=1)                       # [B, M + 1], true first
        z_labels = self.encode_labels(labels)                                     # [B, M + 1, d]
        loss_nce = nce_loss(self.score(x, z_labels), log_noise_density(labels, y.unsqueeze(1), self.noise_sigmas))
        loss_abs = absolute_loss(x, z_labels[:, 0], h["abs_loss"])
        return loss_nce + h["lambda_abs"] * loss_abs, {"loss_nce": loss_nce.item(), "loss_abs": loss_abs.item()}

    def describe(self):
        lab = self.labels
        return {"candidate_range": self.hparams["candidate_range"],
                "candidate_range_transformed": [self.candidate_low * lab.std + lab.mean,
                                                self.candidate_high * lab.std + lab.mean],
                "inference": self.hparams["inference"], "search_scoring": self.hparams["search_scoring"]}
