"""MEX (as the authors released it): losses, noise, score network, search, inference and training."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import norm
from torch import nn
from torch_geometric.data import Batch, Data

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.base import LabelContext
from extrapbench.methods.mex.search import resample_indices
from extrapbench.methods.mex.method import (MEX, ScoreModule, absolute_loss, cosine_to_each, log_noise_density, monte_carlo_argmax, nce_loss, sample_noise_labels)

UNIT_LABELS = LabelContext(train_min=-1.0, train_max=1.0, side="top", dataset_min=-1.0, dataset_max=2.0,
                           mean=0.0, std=1.0)


def _batch(x: torch.Tensor, y: torch.Tensor) -> Batch:
    return Batch.from_data_list([Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(len(x))])


# ------------------------------------------------------------------------------------------------ losses

def test_nce_loss_is_the_softmax_cross_entropy_of_the_true_label_and_drops_nonfinite_rows():
    torch.manual_seed(0)
    scores, log_q = torch.randn(4, 11), torch.randn(4, 11)
    losses = []
    for boost in (0.0, 1.0, 2.0, 4.0):
        boosted = scores.clone()
        boosted[:, 0] += boost
        losses.append(nce_loss(boosted, log_q).item())
    assert all(a > b for a, b in zip(losses, losses[1:]))
    logits = scores - log_q
    per_row = -(logits[:, 0] - torch.logsumexp(logits, dim=1))
    assert nce_loss(scores, log_q).item() == pytest.approx(per_row.mean().item(), rel=1e-6)
    # a row whose loss is not finite is left out of the mean (the release does the same)
    broken = scores.clone()
    broken[2, 5] = float("nan")
    assert nce_loss(broken, log_q).item() == pytest.approx(per_row[[0, 1, 3]].mean().item(), rel=1e-6)


def test_absolute_loss_is_two_minus_two_cosine_on_a_hand_example():
    x = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    label = torch.tensor([[1.0, 0.0], [-2.0, -2.0]])
    # row 0: x/|x| = (0.6, 0.8), l/|l| = (1, 0): |(-0.4, 0.8)|^2 = 0.8 = 2 - 2 * 0.6
    # row 1: opposite directions: |(2/√2, 2/√2)|^2 = 4 = 2 - 2 * (-1)
    assert absolute_loss(x, label, "squared_distance").item() == pytest.approx((0.8 + 4.0) / 2, rel=1e-6)
    assert absolute_loss(x, label, "neg_cosine").item() == pytest.approx((-0.6 + 1.0) / 2, rel=1e-6)
    with_inf = torch.cat([x, torch.tensor([[math.inf, 1.0]])])
    assert absolute_loss(with_inf, torch.cat([label, torch.ones(1, 2)])).item() == pytest.approx(2.4, rel=1e-6)


def test_noise_density_is_the_equal_weight_gaussian_mixture():
    sigmas = torch.tensor([0.075, 0.15, 0.3])
    centre = torch.tensor([[0.2]])
    y = torch.tensor([[0.2, 0.3, -0.4, 1.0]])
    expected = np.log(np.mean([norm.pdf(y.numpy(), 0.2, s) for s in sigmas.numpy()], axis=0))
    assert np.allclose(log_noise_density(y, centre, sigmas).numpy(), expected, atol=1e-5)
    samples = sample_noise_labels(torch.zeros(2000), sigmas, 50, torch.Generator().manual_seed(0), shared=False)
    # mixture variance = mean of the component variances
    assert samples.var().item() == pytest.approx(float((sigmas ** 2).mean()), rel=0.05)


def test_every_row_of_a_batch_sees_the_same_noise_offsets():
    y = torch.tensor([0.0, 1.5, -2.0, 0.3])
    sigmas = torch.tensor([0.075, 0.15, 0.3])
    shared = sample_noise_labels(y, sigmas, 64, torch.Generator().manual_seed(0)) - y.unsqueeze(1)
    assert torch.allclose(shared, shared[:1].expand_as(shared), atol=1e-6)
    own = sample_noise_labels(y, sigmas, 64, torch.Generator().manual_seed(0), shared=False) - y.unsqueeze(1)
    assert not torch.allclose(own, own[:1].expand_as(own), atol=1e-3)

    # and the training loss uses them that way: every row's noisy labels are y_i + the same offsets
    for noise_per, expect_shared in (("batch", True), ("sample", False)):
        torch.manual_seed(0)
        method = MEX(MagpieMLP(in_dim=3, hidden_dim=8, out_dim=4), UNIT_LABELS, num_noise_labels=32,
                     noise_per=noise_per)
        seen = []
        encode = method.encode_labels
        method.encode_labels = lambda labels: seen.append(labels.detach()) or encode(labels)
        method.training_loss(_batch(torch.randn(5, 3), y=torch.randn(5)))
        labels = seen[0]                                                   # [B, M + 1], true label first
        offsets = labels[:, 1:] - labels[:, :1]
        assert offsets.shape == (5, 32)
        assert torch.allclose(offsets, offsets[:1].expand_as(offsets), atol=1e-5) == expect_shared


# ------------------------------------------------------------------------------------------------ score

def test_residual_score_mlp_wiring_and_widths():
    torch.manual_seed(0)
    module = ScoreModule("mlp", dim=6, hidden_dim=12)
    net = module.net
    assert net.first.weight.shape == (12, 12) and [b.weight.shape for b in net.blocks] == [(12, 12)] * 2
    assert net.out.weight.shape == (1, 12)
    x, label = torch.randn(3, 6), torch.randn(3, 5, 6)
    h1 = F.silu(net.first(torch.cat([x.unsqueeze(1).expand_as(label), label], -1)))   # 2d -> h
    h2 = h1 + F.silu(net.blocks[0](h1))                                                 # residual
    h3 = h2 + F.silu(net.blocks[1](h2))                                                 # residual
    assert torch.allclose(module(x, label), net.out(h3).squeeze(-1), atol=1e-5)
    # the release's width: h = d (the backbone's channels) unless score_hidden_dim says otherwise
    method = MEX(MagpieMLP(in_dim=3, hidden_dim=8, out_dim=10), UNIT_LABELS)
    assert method.score.net.first.weight.shape == (10, 20)
    # and the material projection fc_x = SiLU(Linear(d, d)) (off: the backbone output is used directly)
    projection = method.material_projection
    assert isinstance(projection[0], nn.Linear) and projection[0].weight.shape == (10, 10)
    assert isinstance(projection[1], nn.SiLU)
    assert isinstance(MEX(MagpieMLP(in_dim=3, out_dim=10), UNIT_LABELS,
                          material_projection=False).material_projection, nn.Identity)


@pytest.mark.parametrize("variant", ["mlp+cos", "cos"])
def test_other_score_variants(variant):
    torch.manual_seed(0)
    module = ScoreModule(variant, dim=6, hidden_dim=12)
    x, label = torch.randn(3, 6), torch.randn(3, 5, 6)
    scores = module(x, label)
    assert scores.shape == (3, 5) and torch.all(scores.abs() <= 1 + 1e-6)
    if variant == "cos":
        assert torch.allclose(scores, F.cosine_similarity(x.unsqueeze(1), label, dim=-1))


# ------------------------------------------------------------------------------------------------ search

def test_search_returns_the_argmax_over_the_final_set():
    """Scores fall by 10 per call, so the best score ever seen is in the first (uniform) set: `final` must
    return the best of the last set the search scored, `best_seen` the best of the first."""
    calls = []

    def score(candidates):
        scores = -(candidates - 1.0) ** 2 - 10.0 * len(calls)
        calls.append((candidates.clone(), scores))
        return scores

    rows = torch.arange(3)
    final = monte_carlo_argmax(score, 3, -3.0, 3.0, 50, 4, 0.5, 0.5, generator=torch.Generator().manual_seed(0))
    assert len(calls) == 5
    last_candidates, last_scores = calls[-1]
    assert torch.equal(final, last_candidates[rows, last_scores.argmax(1)])
    calls.clear()
    best = monte_carlo_argmax(score, 3, -3.0, 3.0, 50, 4, 0.5, 0.5, generator=torch.Generator().manual_seed(0),
                              answer="best_seen")
    first_candidates, first_scores = calls[0]
    assert torch.equal(best, first_candidates[rows, first_scores.argmax(1)])


def test_search_finds_a_known_argmax_and_clips_to_the_range():
    generator = torch.Generator().manual_seed(0)
    optimum = torch.tensor([-1.7, -0.3, 0.0, 0.9, 2.4])

    def score(candidates):  # a sharp peak at the optimum of each row
        return -((candidates - optimum.unsqueeze(1)) ** 2) / (2 * 0.05 ** 2)

    found = monte_carlo_argmax(score, len(optimum), -3.0, 3.0, num_candidates=300, iterations=10,
                               noise_scale=0.1, shrink=0.5, generator=generator)
    assert torch.all((found - optimum).abs() < 0.01)
    edge = monte_carlo_argmax(lambda c: -(c - 5.0) ** 2, 1, -1.0, 1.0, 200, 5, 0.1, 0.5, generator=generator)
    assert edge.item() == pytest.approx(1.0, abs=0.02)


def test_resampling_draws_each_candidate_in_proportion_to_its_weight_and_never_a_zero_weight_one():
    """The inverse-CDF draw stands in for torch.multinomial(replacement=True): same distribution, checked by
    a chi-square test on 200,000 draws per row; a zero weight (first, middle, last position) is never drawn."""
    from scipy.stats import chisquare

    weights = torch.tensor([[0.0, 1.0, 2.0, 0.0, 4.0, 1.0, 0.0],
                            [3.0, 0.0, 0.5, 0.5, 1.0, 2.0, 5.0]])
    draws = resample_indices(weights, 200_000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (2, 200_000) and draws.dtype == torch.int64
    for row, w in zip(draws, weights):
        counts = torch.bincount(row, minlength=len(w)).numpy()
        assert np.all(counts[w.numpy() == 0] == 0)
        drawn = w.numpy() > 0
        expected = w.numpy()[drawn] / w.numpy().sum() * len(row)
        assert chisquare(counts[drawn], expected).pvalue > 1e-3


@pytest.mark.parametrize("inference", ["cosine", "score"])
def test_scoring_in_cpu_blocks_equals_scoring_in_one_pass(inference):
    """The search scores a CPU chunk a few rows at a time (cache-sized blocks); each row's scores must be what
    the plain definition gives: cos(x, activation(Linear(1, d)(y))) or the score network, all rows at once."""
    torch.manual_seed(0)
    method = MEX(MagpieMLP(in_dim=4, hidden_dim=16, out_dim=128, num_layers=2), UNIT_LABELS,
                 inference=inference).eval()
    x, candidates = torch.randn(9, 128), 6 * torch.rand(9, 2000) - 3
    with torch.no_grad():
        plain_labels = method.label_encoder(candidates.unsqueeze(-1))
        assert torch.allclose(method.encode_labels(candidates), plain_labels, atol=1e-6)
        expected = (cosine_to_each(x, plain_labels) if inference == "cosine"
                    else method.score(x, plain_labels))
        blocked = method.inference_scores(x, candidates)   # 2000 x 128 floats a row: one row per block
    assert torch.allclose(blocked, expected, atol=1e-5)


class _FeatureBackbone(nn.Module):
    """The batch's features are the representation."""
    out_dim = 2

    def forward(self, batch):
        return batch.x


@pytest.mark.parametrize("search_scoring", ["table", "direct"])
def test_cosine_inference_returns_the_label_whose_embedding_is_most_similar(search_scoring):
    """fc_x = SiLU(identity), fc_y(y) = tanh(2 + y, 2 - y): the direction of fc_y(y) turns monotonically with y,
    so each material has one label whose embedding points where fc_x(z) points; found here by bisection."""
    method = MEX(_FeatureBackbone(), UNIT_LABELS, label_activation="tanh", range_prior=[-3.0, 3.0],
                 num_candidates=2000, search_iterations=5, search_scoring=search_scoring)
    with torch.no_grad():
        method.material_projection[0].weight.copy_(torch.eye(2))
        method.material_projection[0].bias.zero_()
        method.label_encoder[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        method.label_encoder[0].bias.copy_(torch.tensor([2.0, 2.0]))
        # a score network that prefers the top of the range: cosine inference must ignore it
        for p in method.score.parameters():
            p.zero_()
        method.score.net.first.weight[:, 2] = 1.0
        method.score.net.out.weight.fill_(1.0)
    z = torch.tensor([[2.0, 0.5], [1.0, 1.0], [0.7, 3.0]])
    x = F.silu(z)
    expected = []
    for x1, x2 in x.tolist():   # solve tanh(2 + y) / tanh(2 - y) = x1 / x2 on (-2, 2)
        low, high = -2.0 + 1e-9, 2.0 - 1e-9
        for _ in range(100):
            mid = (low + high) / 2
            low, high = (mid, high) if math.tanh(2 + mid) / math.tanh(2 - mid) < x1 / x2 else (low, mid)
        expected.append(low)
    predictions = method.predict(_batch(z, torch.zeros(3)))
    assert predictions.numpy() == pytest.approx(expected, abs=0.02)
    # the score network would have answered with the range's top instead
    method.hparams["inference"] = "score"
    assert torch.all(method.predict(_batch(z, torch.zeros(3))) > 2.9)


# ------------------------------------------------------------------------------------------------ training

def test_training_steps_lower_the_mex_loss_and_predict_tracks_labels():
    """A few hundred steps on a learnable toy problem (y is a linear function of x): the loss falls and the
    searched predictions (release defaults: cosine inference over the [-10, 10] prior) follow the labels."""
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    y = x @ torch.tensor([0.8, -0.5, 0.3, 0.1])
    batch = _batch(x, y)
    labels = LabelContext(float(y.min()), float(y.max()), "top", float(y.min()), float(y.max()), 0.0, 1.0)
    method = MEX(MagpieMLP(in_dim=4, hidden_dim=32, out_dim=16), labels, num_noise_labels=32,
                 num_candidates=500)
    optimizer = torch.optim.AdamW(method.parameters(), lr=3e-3)
    first = None
    for step in range(300):
        loss, logs = method.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first = first if first is not None else loss.item()
        assert math.isfinite(loss.item()) and {"loss_nce", "loss_abs"} <= set(logs)
    assert loss.item() < first - 0.5
    method.eval()
    prediction = method.predict(batch)
    assert np.corrcoef(prediction.numpy(), y.numpy())[0, 1] > 0.8
