"""MEX's search on a CPU: the cosine table (extrapbench/methods/_mex_cosine_table.py) against the exact cosine,
and the bucketed inverse CDF of the resampling (extrapbench/methods/_mex_search.py) against torch.searchsorted."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from extrapbench.methods.mex.cosine_table import FIRST_POINTS, CosineTables
from extrapbench.methods.mex.inference import cosine_to_each
from extrapbench.methods.mex.search import _count_at_or_below, monte_carlo_argmax, resample_indices
from extrapbench.methods.base import LabelContext
from extrapbench.methods.mex.method import MEX

LABELS = LabelContext(train_min=-1.5, train_max=1.5, side="top", dataset_min=-2.0, dataset_max=3.0, mean=0.0,
                      std=1.0, val_min=1.5, val_max=2.0)


class _Identity(nn.Module):
    """The batch is the representation (d = 128)."""
    out_dim = 128

    def forward(self, batch):
        return batch


def _mex(weight_scale: float = 1.0, **hparams) -> MEX:
    torch.manual_seed(0)
    method = MEX(_Identity(), LABELS, **hparams).eval()
    with torch.no_grad():
        method.label_encoder[0].weight.mul_(weight_scale)
    return method


# ------------------------------------------------------------------------------------------------ resampling

@pytest.mark.parametrize("spread", [0.0, 0.5, 1.0])
def test_bucketed_inverse_cdf_gives_searchsorted_indices_exactly(spread):
    """The same uniforms must land on the same candidates as torch.searchsorted(right=True): softmax weights of
    scores in [-spread, spread] (cosines: 1), every third weight zero in half the rows, and queries at the
    boundaries themselves."""
    generator = torch.Generator().manual_seed(1)
    weights = torch.softmax(spread * (2 * torch.rand(16, 2000, generator=generator) - 1), dim=1)
    weights[::2, ::3] = 0.0
    cumulative = weights.cumsum(dim=1)
    u = torch.rand(16, 2000, generator=generator) * cumulative[:, -1:]
    u[:, :100] = cumulative[:, 500:600]                       # a query equal to a boundary counts that boundary
    counted = _count_at_or_below(cumulative, u)
    assert counted is not None
    assert torch.equal(counted, torch.searchsorted(cumulative, u, right=True))


def test_a_peaked_softmax_falls_back_to_searchsorted_and_draws_the_same():
    """When a few candidates hold nearly all the weight, most boundaries share a bucket: the bucket table gives
    up (None) and resample_indices answers with searchsorted, the same draws either way."""
    weights = torch.full((2, 1000), 1e-9)
    weights[:, 7] = 1.0
    cumulative = weights.cumsum(dim=1)
    assert _count_at_or_below(cumulative, torch.rand(2, 1000) * cumulative[:, -1:]) is None
    picks = resample_indices(weights, 1000, generator=torch.Generator().manual_seed(0))
    u = torch.rand(2, 1000, generator=torch.Generator().manual_seed(0)) * cumulative[:, -1:]
    assert torch.equal(picks, torch.searchsorted(cumulative, u, right=True).clamp_max(999))
    assert (picks == 7).float().mean() > 0.99


# ------------------------------------------------------------------------------------------------ cosine table

@pytest.mark.parametrize("weight_scale", [1.0, 16.0])
def test_table_scores_match_the_exact_cosine_to_the_tolerance(weight_scale):
    """Random candidates over the whole range (not the grid's midpoints, where the check looks): within the 1e-6
    tolerance of cos(x, l(y)) computed directly (plus that float32 computation's own rounding); larger
    label-encoder weights (sharper features) get a finer grid."""
    method = _mex(weight_scale)
    x = torch.randn(16, 128)
    candidates = method.candidate_low + (method.candidate_high - method.candidate_low) * torch.rand(16, 3000)
    with torch.no_grad():
        table = method._cosine_tables().for_materials(x)
        exact = cosine_to_each(x, method.encode_labels(candidates))
    assert table is not None and table.max_error <= 0.25e-6
    assert (table(candidates) - exact).abs().max() <= 1.2e-6
    if weight_scale > 1:
        assert table.points > FIRST_POINTS


def test_a_tolerance_no_grid_meets_leaves_the_materials_to_direct_scoring():
    method = _mex()
    linear = method.label_encoder[0]
    tables = CosineTables(linear.weight[:, 0], linear.bias, "silu", -5.0, 5.0, tolerance=1e-12, max_points=2048)
    assert tables.for_materials(torch.randn(4, 128)) is None


@pytest.mark.parametrize("hparams", [{"label_activation": "relu"}, {"inference": "score"},
                                     {"search_scoring": "direct"}])
def test_no_table_where_it_does_not_apply(hparams):
    """A kinked activation, the score network's inference, or the direct option: every candidate is encoded."""
    assert _mex(**hparams)._cosine_tables() is None


def test_table_predictions_agree_with_direct_scoring_as_closely_as_two_search_seeds_do():
    """The same search on the same uniforms: most materials end on the very same candidate; where a draw near a
    resampling boundary sent a search elsewhere, the answers differ by no more than the search's own spread
    (two search seeds of the direct search)."""
    x = torch.randn(128, 128)
    with torch.no_grad():
        table = _mex().predict(x)
        direct = _mex(search_scoring="direct").predict(x)
        other_seed = _mex(search_scoring="direct", search_seed=1).predict(x)
    assert (table == direct).float().mean() >= 0.75
    assert (table - direct).abs().mean() <= 2 * (other_seed - direct).abs().mean()


def test_the_answer_is_the_exactly_best_of_the_tables_top_candidates():
    """rescore: the final set is ranked by the (approximate) score_fn, and the answer is the best of its top
    candidates by the exact function, even where the approximation ranks them the other way round."""
    optimum = torch.tensor([0.3, -1.2])
    exact = lambda c: -(c - optimum.unsqueeze(1)).abs()                               # noqa: E731
    calls = []

    def approximate(c):  # exact, plus a wobble that moves the approximate peak off the optimum
        calls.append(c)
        return exact(c) + 0.05 * torch.sin(40 * c)

    found = monte_carlo_argmax(approximate, 2, -3.0, 3.0, 400, 5, 0.5, 0.5,
                               generator=torch.Generator().manual_seed(0), rescore=exact, rescore_top=8)
    final_set = calls[-1]
    top = final_set.gather(1, approximate(final_set).topk(8, dim=1).indices)
    assert torch.equal(found, top[torch.arange(2), exact(top).argmax(dim=1)])


def test_the_label_grid_is_reused_until_the_label_encoder_changes():
    """predict runs once per batch: the label side of the table is built once while the weights stay the same,
    and again after any in-place change (an optimiser step, an EMA swap, load_state_dict)."""
    method = _mex()
    first = method._cosine_tables()
    assert method._cosine_tables() is first
    with torch.no_grad():
        method.label_encoder[0].weight.mul_(2.0)
    rebuilt = method._cosine_tables()
    assert rebuilt is not first
    with torch.no_grad():
        method.load_state_dict(_mex().state_dict())
    assert method._cosine_tables() is not rebuilt
