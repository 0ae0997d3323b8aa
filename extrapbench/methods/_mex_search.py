"""MEX's inference: a derivative-free search for argmax_y score(x, y) over candidate labels in [low, high].

One population of candidates per material, all materials of a chunk searched at once (score_fn sees a
[B, C] tensor of candidates and returns [B, C] scores). Every tensor is created on ``device`` and drawn from
``generator``, which must live on that device too, so a search on a GPU never builds its candidates on the CPU.

Resampling draws by inverse CDF (``resample_indices``): the same distribution as torch.multinomial with
replacement (each draw independent, P(k) = weight_k / Σ weight), in about half its time on a CPU, where it was
the search's largest cost once scoring was blocked (benchmarks/workflow_cost.py mex).
"""
from __future__ import annotations

from typing import Callable

import torch

SEARCH_ANSWERS = ("final", "best_seen")


def _resampling_weights(scores: torch.Tensor) -> torch.Tensor:
    """softmax over each row's candidates, in float32 even under autocast; a row whose scores are not finite
    gets a small weight instead of NaN (as the release does), so resampling never sees NaN."""
    weights = torch.softmax(scores.float(), dim=1)
    return torch.nan_to_num(weights, nan=1e-6)


def resample_indices(weights: torch.Tensor, num_samples: int, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """num_samples independent draws per row of the categorical distribution weights[b] / weights[b].sum():
    [B, K] non-negative weights -> [B, num_samples] indices. u ~ U[0, total) falls in the category whose
    cumulative-weight interval [c_(k-1), c_k) contains it, so a zero-weight category is never drawn."""
    cumulative = weights.cumsum(dim=1)
    u = torch.rand(weights.shape[0], num_samples, generator=generator, device=weights.device,
                   dtype=cumulative.dtype) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, u, right=True).clamp_max_(weights.shape[1] - 1)


@torch.no_grad()
def monte_carlo_argmax(score_fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int, low: float,
                       high: float, num_candidates: int, iterations: int, noise_scale: float, shrink: float,
                       generator: torch.Generator | None = None, device=None,
                       answer: str = "final") -> torch.Tensor:
    """Approximate argmax_y score_fn(y) in [low, high], independently for each of batch_size rows.

    C = num_candidates candidates start uniform in [low, high]. Each of the T = iterations rounds scores them,
    resamples C of them with replacement with probability softmax(scores), adds N(0, ns^2) noise, clips to
    [low, high] and multiplies ns by ``shrink``; the first round perturbs with the initial ``noise_scale``.
    The final population is scored once more.

    answer: ``final`` (the authors' release) returns the best candidate of that final population;
    ``best_seen`` returns the best-scoring candidate scored in any round. Returns [batch_size]."""
    if answer not in SEARCH_ANSWERS:
        raise ValueError(f"mex: search_answer must be one of {SEARCH_ANSWERS}, got {answer!r}")
    candidates = low + (high - low) * torch.rand(batch_size, num_candidates, generator=generator, device=device)
    rows = torch.arange(batch_size, device=candidates.device)
    best_score = torch.full((batch_size,), -torch.inf, device=candidates.device)
    best_value = candidates[:, 0].clone()

    def remember_best(scores: torch.Tensor) -> None:
        nonlocal best_score, best_value
        top = scores.argmax(dim=1)
        improved = scores[rows, top] > best_score
        best_score = torch.where(improved, scores[rows, top], best_score)
        best_value = torch.where(improved, candidates[rows, top], best_value)

    for _ in range(iterations):
        scores = score_fn(candidates).float()
        if answer == "best_seen":
            remember_best(scores)
        picks = resample_indices(_resampling_weights(scores), num_candidates, generator=generator)
        noise = torch.randn(candidates.shape, generator=generator, device=candidates.device)
        candidates = (candidates.gather(1, picks) + noise_scale * noise).clamp(low, high)
        noise_scale *= shrink
    scores = score_fn(candidates).float()
    if answer == "best_seen":
        remember_best(scores)
        return best_value
    return candidates[rows, scores.argmax(dim=1)]
