"""MEX's inference: a derivative-free search for argmax_y score(x, y) over candidate labels in [low, high].

One population of candidates per material, all materials of a chunk searched at once (score_fn sees a
[B, C] tensor of candidates and returns [B, C] scores). Every tensor is created on ``device`` and drawn from
``generator``, which must live on that device too, so a search on a GPU never builds its candidates on the CPU.

Resampling draws by inverse CDF (``resample_indices``): the same distribution as torch.multinomial with
replacement (each draw independent, P(k) = weight_k / Σ weight), in about half its time on a CPU. On a CPU the
inverse CDF is read from a bucket table (``_count_at_or_below``) instead of torch.searchsorted's binary search:
the same indices for the same uniforms, 2-3x faster (benchmarks/workflow_cost.py mex).
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
    picks = _count_at_or_below(cumulative, u) if weights.device.type == "cpu" else None
    if picks is None:
        picks = torch.searchsorted(cumulative, u, right=True)
    return picks.clamp_max_(weights.shape[1] - 1)


def _count_at_or_below(cumulative: torch.Tensor, u: torch.Tensor, max_steps: int = 8) -> torch.Tensor | None:
    """#(cumulative[b] <= u[b, i]) for every query: torch.searchsorted(cumulative, u, right=True), exactly.

    Each row's [0, total] is cut into K equal buckets and every boundary c_k is filed under its bucket. bucket() is
    monotone (the same float operations on boundaries and queries), so every boundary of an earlier bucket than the
    query's is <= u and every one of a later bucket is > u: a query starts at the number of boundaries before its
    bucket and counts, of the next T boundaries (T: the most any bucket holds), those <= u, stopping at the row's
    end. T is one or two when the weights are of similar size (softmax of cosines: at most e^2 apart). None (use
    searchsorted) when T exceeds max_steps, e.g. a softmax peaked on a few candidates, or when a row's total is
    not a positive number."""
    rows, k = cumulative.shape
    total = cumulative[:, -1:]
    if not bool(torch.isfinite(total).all() and (total > 0).all()):
        return None
    scale = k / total

    def bucket(values: torch.Tensor) -> torch.Tensor:
        return (values * scale).floor_().clamp_(0, k - 1).long()

    boundary_bucket = bucket(cumulative)
    row_start = torch.arange(rows, device=cumulative.device).unsqueeze(1) * k
    per_bucket = torch.bincount((boundary_bucket + row_start).flatten(), minlength=rows * k).view(rows, k)
    steps = int(per_bucket.max())
    if steps > max_steps:
        return None
    before = per_bucket.cumsum(dim=1).sub_(per_bucket)
    start = take_per_row(before, bucket(u), row_start)
    above_start = torch.zeros_like(u, dtype=torch.uint8)  # boundaries of the query's bucket that are <= u
    for step in range(steps):
        position = start + step
        boundary = take_per_row(cumulative, position.clamp(max=k - 1), row_start)
        above_start += (boundary <= u) & (position < k)
    return start.add_(above_start)


def take_per_row(table: torch.Tensor, index: torch.Tensor, row_start: torch.Tensor) -> torch.Tensor:
    """table.gather(1, index) for [B, K] table and [B, S] index, given row_start = arange(B)[:, None] * K: one
    index_select on the flattened table, several times faster than gather on a CPU."""
    return table.reshape(-1).index_select(0, (index + row_start).flatten()).view(index.shape)


@torch.no_grad()
def monte_carlo_argmax(score_fn: Callable[[torch.Tensor], torch.Tensor], batch_size: int, low: float,
                       high: float, num_candidates: int, iterations: int, noise_scale: float, shrink: float,
                       generator: torch.Generator | None = None, device=None,
                       answer: str = "final", rescore: Callable[[torch.Tensor], torch.Tensor] | None = None,
                       rescore_top: int = 8) -> torch.Tensor:
    """Approximate argmax_y score_fn(y) in [low, high], independently for each of batch_size rows.

    C = num_candidates candidates start uniform in [low, high]. Each of the T = iterations rounds scores them,
    resamples C of them with replacement with probability softmax(scores), adds N(0, ns^2) noise, clips to
    [low, high] and multiplies ns by ``shrink``; the first round perturbs with the initial ``noise_scale``.
    The final population is scored once more.

    answer: ``final`` (the authors' release) returns the best candidate of that final population;
    ``best_seen`` returns the best-scoring candidate scored in any round. rescore (``final`` only): when
    score_fn approximates the score (the cosine table), the final set's ``rescore_top`` best by score_fn are
    scored again by this exact function, which picks the answer among them. Returns [batch_size]."""
    if answer not in SEARCH_ANSWERS:
        raise ValueError(f"mex: search_answer must be one of {SEARCH_ANSWERS}, got {answer!r}")
    candidates = low + (high - low) * torch.rand(batch_size, num_candidates, generator=generator, device=device)
    rows = torch.arange(batch_size, device=candidates.device)
    row_start = rows.unsqueeze(1) * num_candidates
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
        candidates = (take_per_row(candidates, picks, row_start) + noise_scale * noise).clamp_(low, high)
        noise_scale *= shrink
    scores = score_fn(candidates).float()
    if answer == "best_seen":
        remember_best(scores)
        return best_value
    if rescore is not None:
        top = candidates.gather(1, scores.topk(min(rescore_top, num_candidates), dim=1).indices)
        return top[rows, rescore(top).float().argmax(dim=1)]
    return candidates[rows, scores.argmax(dim=1)]
