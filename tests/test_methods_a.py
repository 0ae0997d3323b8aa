"""Imbalanced-regression methods : LDS, FDS, RankSim, BalancedMSE (BMC) and ConR.

Each method is tested on what defines it, then all of them take a few optimisation steps on a tiny batch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.smoothing import LabelBins, kernel_window, masked_smooth
from extrapbench.methods.base import LabelContext
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, seed_everything, train

LABELS = LabelContext(train_min=-2.0, train_max=2.0, side="top", dataset_min=-2.0, dataset_max=3.0,
                      mean=0.0, std=1.0)
IN_DIM = 6
METHOD_NAMES = ("lds", "fds", "ranksim", "balanced_mse", "balanced_mse_gai", "conr")


def make(name, out_dim=8, **hparams):
    return METHODS.get(name)(MagpieMLP(in_dim=IN_DIM, hidden_dim=16, out_dim=out_dim), LABELS, **hparams)


def samples(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, IN_DIM, generator=g)
    y = (x[:, 0] - 0.5 * x[:, 1]).clamp(-2.0, 2.0)
    return [Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(n)]


def batch_of(data):
    return Batch.from_data_list(data)


# --------------------------------------------------------------------------------------------------------
# shared smoothing helpers
# --------------------------------------------------------------------------------------------------------

def test_kernel_windows_have_their_closed_forms():
    k = np.arange(-2, 3)
    # the paper's code: a unit impulse through scipy's gaussian_filter1d (reflecting edges), peak 1
    assert np.allclose(kernel_window("gaussian", 5, 2.0), [0.858, 0.946, 1.0, 0.946, 0.858], atol=1e-3)
    assert np.allclose(kernel_window("gaussian", 9, 1.0), np.exp(-np.arange(-4, 5) ** 2 / 2.0), atol=1e-2)
    assert np.allclose(kernel_window("laplace", 5, 2.0), np.exp(-np.abs(k) / 2.0))
    assert np.allclose(kernel_window("triang", 5, 2.0), [1 / 3, 2 / 3, 1, 2 / 3, 1 / 3])
    assert np.allclose(kernel_window("gaussian", 1, 2.0), [1.0])
    with pytest.raises(ValueError):
        kernel_window("gaussian", 4, 2.0)


def test_label_bins_cover_the_train_range_and_clamp_outside():
    bins = LabelBins(-2.0, 2.0, 0.5)
    assert bins.num_bins == 9
    idx = bins.index(torch.tensor([-2.0, -1.99, -1.5, 1.99, 2.0, -7.0, 9.0]))
    assert idx.tolist() == [0, 0, 1, 7, 8, 0, 8]


def test_masked_smoothing_skips_empty_bins_and_renormalises():
    window = torch.tensor([0.5, 1.0, 0.5])
    values = torch.tensor([[1.0], [100.0], [3.0], [5.0]])
    valid = torch.tensor([True, False, True, True])
    out = masked_smooth(values, valid, window)
    assert out[0, 0] == pytest.approx(1.0)                         # only itself (bin 1 is empty)
    assert out[1, 0] == pytest.approx((0.5 * 1 + 0.5 * 3) / 1.0)   # empty bin: its valid neighbours
    assert out[2, 0] == pytest.approx((1.0 * 3 + 0.5 * 5) / 1.5)
    assert out[3, 0] == pytest.approx((0.5 * 3 + 1.0 * 5) / 1.5)


# --------------------------------------------------------------------------------------------------------
# LDS
# --------------------------------------------------------------------------------------------------------

def imbalanced_labels():
    rng = np.random.default_rng(0)
    common = rng.uniform(-1.5, -0.5, size=400)
    rare = rng.uniform(1.5, 2.0, size=8)
    return np.concatenate([common, rare]).astype(np.float32)


def test_lds_weights_are_larger_for_rarer_labels_and_average_one():
    labels = imbalanced_labels()
    weights = {}
    for reweight in ("sqrt_inv", "inverse"):
        method = make("lds", reweight=reweight)
        assert method.train_batch_sampler(labels, 16, torch.Generator()) is None  # batches stay shuffled
        w = method.sample_weights(torch.from_numpy(labels)).numpy()
        assert w.mean() == pytest.approx(1.0, rel=1e-5)
        assert w[400:].min() > w[:400].max()               # every rare label outweighs every common one
        assert w.argmin() < 400                              # the least weight sits in the dense block
        weights[reweight] = w
    # the square root flattens the weights
    assert weights["sqrt_inv"].std() < weights["inverse"].std()
    assert weights["sqrt_inv"].max() / weights["sqrt_inv"].min() < weights["inverse"].max() / weights["inverse"].min()


def test_lds_without_smoothing_is_plain_inverse_frequency_by_hand():
    # bins of width 1 from -2: three labels in bin 0, one in bin 2; kernel size 1 = no smoothing
    method = make("lds", reweight="inverse", lds_ks=1, bin_width=1.0)
    labels = np.array([-1.9, -1.5, -1.2, 0.5], dtype=np.float32)
    method.fit_label_distribution(labels)
    # weights 1/3, 1/3, 1/3, 1, rescaled to mean 1: x 4 / 2
    assert method.sample_weights(torch.from_numpy(labels)).tolist() == pytest.approx([2 / 3] * 3 + [2.0])
    # smoothing spreads density to the neighbours: with a kernel, the lone label's neighbour bin is no
    # longer empty-weighted, and the lone label is still the heaviest
    smoothed = make("lds", reweight="inverse", lds_ks=3, lds_sigma=1.0, bin_width=1.0)
    smoothed.fit_label_distribution(labels)
    w = smoothed.sample_weights(torch.from_numpy(labels))
    assert w.mean().item() == pytest.approx(1.0) and w[3] > w[0]


def test_lds_loss_is_the_weighted_l1_and_fits_lazily_from_the_loader():
    data = samples(32)
    method = make("lds")
    batch = batch_of(data[:8])
    with pytest.raises(RuntimeError, match="not fitted"):
        method.training_loss(batch)
    method.on_epoch_start(0, DataLoader(data, batch_size=8, shuffle=True))   # lazy path: the loader's dataset
    labels = torch.cat([d.y for d in data])
    reference = make("lds")
    reference.fit_label_distribution(labels)
    assert torch.equal(method.lds_weights, reference.lds_weights)
    loss, _ = method.training_loss(batch)
    with torch.no_grad():
        expected = (method.sample_weights(batch.y) * (method.predict(batch) - batch.y).abs()).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # the weights are state: a fresh instance loading the state dict has them (resume, best-val restore)
    fresh = make("lds")
    fresh.load_state_dict(method.state_dict())
    assert bool(fresh.lds_fitted) and torch.equal(fresh.lds_weights, method.lds_weights)


# --------------------------------------------------------------------------------------------------------
# FDS
# --------------------------------------------------------------------------------------------------------

def test_fds_running_statistics_update_with_momentum_and_smooth_across_bins():
    method = make("fds", out_dim=2, bin_width=1.0, fds_ks=3, fds_sigma=2.0, fds_momentum=0.9)
    assert method.bins.num_bins == 5
    y = torch.tensor([-1.5, -1.5, -0.5, -0.5, 0.5, 0.5])          # bins 0, 1, 2
    z1 = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 4.0], [6.0, 4.0], [8.0, 0.0], [8.0, 2.0]])
    method.on_epoch_start(0, None)
    method.accumulate(z1, y)
    method.on_epoch_end(0)
    # first update: the epoch's per-bin mean and unbiased variance
    assert np.allclose(method.running_mean[:3], [[1.0, 2.0], [5.0, 4.0], [8.0, 1.0]])
    assert np.allclose(method.running_var[:3], [[2.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    assert method.num_tracked.tolist() == [2, 2, 2, 0, 0]
    # smoothed = kernel average over populated neighbour bins (bins 3, 4 are empty and left out)
    window = kernel_window("gaussian", 3, 2.0)                       # [w, 1, w]
    w = window[0]
    assert 0 < w < 1
    expected_mean_1 = [(w * 1 + 5 + w * 8) / (1 + 2 * w), (w * 2 + 4 + w * 1) / (1 + 2 * w)]
    expected_mean_0 = [(1 + w * 5) / (1 + w), (2 + w * 4) / (1 + w)]
    assert method.smoothed_mean[1].tolist() == pytest.approx(expected_mean_1, rel=1e-5)
    assert method.smoothed_mean[0].tolist() == pytest.approx(expected_mean_0, rel=1e-5)
    assert method.smoothed_var[1].tolist() == pytest.approx([(w * 2 + 2 + 0) / (1 + 2 * w),
                                                            (w * 2 + 0 + w * 2) / (1 + 2 * w)], rel=1e-5)
    # second epoch: running statistics move toward the new epoch's statistics by (1 - momentum)
    before = method.running_mean.clone()
    method.on_epoch_start(1, None)
    method.accumulate(z1 + 10.0, y)
    method.on_epoch_end(1)
    assert torch.allclose(method.running_mean[:3], 0.9 * before[:3] + 0.1 * (before[:3] + 10))
    assert method.num_tracked.tolist() == [4, 4, 4, 0, 0]


def test_fds_calibration_whitens_and_recolours_and_is_identity_when_stats_agree():
    method = make("fds", out_dim=2, bin_width=1.0)
    method.num_tracked[:] = 10
    method.running_mean[:] = torch.tensor([1.0, -1.0])
    method.running_var[:] = torch.tensor([4.0, 1.0])
    method.smoothed_mean.copy_(method.running_mean)
    method.smoothed_var.copy_(method.running_var)
    z = torch.randn(7, 2)
    y = torch.linspace(-2, 2, 7)
    assert torch.allclose(method.calibrate(z, y), z, atol=1e-6)
    # different smoothed statistics: features with the running mean / var get the smoothed ones
    method.smoothed_mean[:] = torch.tensor([3.0, 0.0])
    method.smoothed_var[:] = torch.tensor([1.0, 2.0])
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4000, 2, generator=g)
    feats = (feats - feats.mean(0)) / feats.std(0) * torch.tensor([2.0, 1.0]) + torch.tensor([1.0, -1.0])
    out = method.calibrate(feats, torch.full((4000,), 0.3))
    assert out.mean(0).tolist() == pytest.approx([3.0, 0.0], abs=1e-4)
    assert out.var(0).tolist() == pytest.approx([1.0, 2.0], rel=1e-4)
    # untracked bins and zero-variance dimensions are left alone
    method.num_tracked[2] = 0
    method.running_var[3, 1] = 0.0
    z = torch.randn(2, 2)
    out = method.calibrate(z, torch.tensor([0.1, 1.2]))     # bins 2 and 3 (width 1 from -2)
    assert torch.equal(out[0], z[0]) and out[1, 1] == z[1, 1] and out[1, 0] != z[1, 0]


def test_fds_calibrates_training_features_only_from_start_smooth_and_never_at_inference():
    data = samples(16)
    batch = batch_of(data)
    method = make("fds", start_smooth=1)
    method.on_epoch_start(0, DataLoader(data, batch_size=16))
    loss0, _ = method.training_loss(batch)
    with torch.no_grad():
        # rel 1e-5: float32 sums may be split differently across threads between two forward passes
        assert loss0.item() == pytest.approx(F.l1_loss(method.predict(batch), batch.y).item(), rel=1e-5)
    method.on_epoch_end(0)
    method.on_epoch_start(1, DataLoader(data, batch_size=16))
    # move the smoothed statistics away from the running ones so calibration visibly acts
    method.smoothed_mean += 0.5
    loss1, _ = method.training_loss(batch)
    with torch.no_grad():
        z = method.backbone(batch)
        calibrated = F.l1_loss(method.head(method.calibrate(z, batch.y)).squeeze(-1), batch.y)
        plain = F.l1_loss(method.predict(batch), batch.y)
    assert loss1.item() == pytest.approx(calibrated.item(), rel=1e-5)
    assert loss1.item() != pytest.approx(plain.item(), rel=1e-3)


def test_fds_with_lds_trains_two_epochs_through_the_trainer():
    seed_everything(0)
    data = samples(48)
    train_loader = DataLoader(data[:32], batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(data[32:], batch_size=16)
    method = make("fds", lds=True)
    result = train(method, train_loader, val_loader, TrainConfig(max_epochs=2, batch_size=8), label_std=1.0,
                   progress=False)
    assert result.epochs_run == 2 and all(np.isfinite(h["train_loss"]) for h in result.history)
    assert bool(method.lds_fitted) and method.num_tracked.sum() > 0


# --------------------------------------------------------------------------------------------------------
# RankSim
# --------------------------------------------------------------------------------------------------------

def test_rank_rows_are_ascending_normalised_ranks():
    from extrapbench.methods.ranksim import rank_rows
    x = torch.tensor([[0.3, -1.0, 2.0, 0.0], [4.0, 3.0, 2.0, 1.0]])
    assert rank_rows(x).tolist() == [[0.75, 0.25, 1.0, 0.5], [1.0, 0.75, 0.5, 0.25]]


def test_ranksim_loss_is_zero_when_feature_and_label_rankings_agree():
    from extrapbench.methods.ranksim import ranksim_loss
    g = torch.Generator().manual_seed(0)
    y = torch.rand(12, generator=g) * 2 - 1
    # features on an arc: the cosine similarity falls monotonically with the label distance
    angle = 0.5 * y
    z = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1).requires_grad_(True)
    loss = ranksim_loss(z, y, lam=2.0)
    assert loss.item() == 0.0
    # scrambled features disagree with the labels: positive loss and a non-zero gradient
    z_bad = z.detach()[torch.randperm(12, generator=g)].requires_grad_(True)
    loss_bad = 100.0 * ranksim_loss(z_bad, y, lam=2.0)
    assert loss_bad.item() > 0
    loss_bad.backward()
    assert torch.isfinite(z_bad.grad).all() and z_bad.grad.abs().sum() > 0


def test_blackbox_rank_gradient_descends_the_rank_loss_and_is_vectorised():
    from extrapbench.methods.ranksim import BlackboxRank, rank_rows
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 10, generator=g, requires_grad=True)
    target = rank_rows(torch.randn(6, 10, generator=g))
    loss = ((BlackboxRank.apply(x, 2.0) - target) ** 2).mean(dim=1).sum() * 50
    loss.backward()
    # the RankSim authors' form on descending ranks r_d = (n + 1) / n - r: with g_d = dL/dr_d = -g,
    # gradient = -(r_d(x) - r_d(x + lambda g_d)) / lambda
    incoming = 50 * 2 * (rank_rows(x.detach()) - target) / 10

    def rank_descending(v):
        return (v.shape[1] + 1) / v.shape[1] - rank_rows(v)

    authors = -(rank_descending(x.detach()) - rank_descending(x.detach() + 2.0 * -incoming)) / 2.0
    assert torch.allclose(x.grad, authors)
    assert torch.allclose(x.grad, (rank_rows(x.detach()) - rank_rows(x.detach() - 2.0 * incoming)) / 2.0)
    # a step against it lowers the loss (the opposite sign would raise it)
    def rank_loss(v):
        return ((rank_rows(v) - target) ** 2).mean(dim=1).sum().item()
    assert rank_loss(x.detach() - 0.5 * x.grad) < rank_loss(x.detach()) < rank_loss(x.detach() + 0.5 * x.grad)
    # rows are independent: the batched backward equals row-by-row calls
    for i in range(6):
        xi = x.detach()[i:i + 1].clone().requires_grad_(True)
        ((BlackboxRank.apply(xi, 2.0) - target[i:i + 1]) ** 2).mean(dim=1).sum().mul(50).backward()
        assert torch.allclose(xi.grad[0], x.grad[i])


def test_blackbox_rank_gradient_is_non_zero_for_a_fully_inverted_pair():
    from extrapbench.methods.ranksim import BlackboxRank
    x = torch.tensor([[0.1, 0.2]], requires_grad=True)
    target = torch.tensor([[1.0, 0.5]])                           # the pair ranked the other way round
    ((BlackboxRank.apply(x, 2.0) - target) ** 2).sum().backward()
    assert x.grad[0, 0] < 0 < x.grad[0, 1]                        # descent raises x0 and lowers x1


def test_ranksim_uses_one_sample_per_distinct_label():
    from extrapbench.methods.ranksim import unique_label_subset
    y = torch.tensor([0.5, 0.1, 0.5, 0.3, 0.1, 0.5])
    picked = set()
    for seed in range(30):
        idx = unique_label_subset(y, torch.Generator().manual_seed(seed))
        assert sorted(y[idx].tolist()) == pytest.approx([0.1, 0.3, 0.5])
        picked.add(tuple(sorted(idx.tolist())))
    assert len(picked) > 1                                         # the representative is random
    assert unique_label_subset(torch.tensor([0.2, 0.1])).tolist() == [0, 1]


# --------------------------------------------------------------------------------------------------------
# Balanced MSE (BMC)
# --------------------------------------------------------------------------------------------------------

def test_bmc_loss_matches_a_hand_computed_two_sample_batch():
    from extrapbench.methods.balanced_mse import bmc_loss
    pred = torch.tensor([0.2, -0.4])
    target = torch.tensor([0.0, 0.5])
    sigma = torch.tensor(0.7, requires_grad=True)
    var = 0.49
    logits = [[-(0.2 - 0.0) ** 2 / (2 * var), -(0.2 - 0.5) ** 2 / (2 * var)],
              [-(-0.4 - 0.0) ** 2 / (2 * var), -(-0.4 - 0.5) ** 2 / (2 * var)]]
    ce = [math.log(math.exp(r[0]) + math.exp(r[1])) - r[i] for i, r in enumerate(logits)]
    expected = 0.5 * (ce[0] + ce[1]) * 2 * var
    loss = bmc_loss(pred, target, sigma ** 2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the scale is detached: d loss / d sigma comes from the logits only
    loss.backward()
    sigma_d = sigma.detach().clone().requires_grad_(True)
    (F.cross_entropy(-(pred[:, None] - target[None, :]) ** 2 / (2 * sigma_d ** 2), torch.arange(2))
     * 2 * var).backward()
    assert sigma.grad.item() == pytest.approx(sigma_d.grad.item(), rel=1e-6)


def test_bmc_pushes_a_tied_support_edge_label_beyond_the_support():
    """Many samples share the lowest label (a point mass at the support's edge, like metals at 0 eV): the loss of
    one of them keeps decreasing as its prediction moves below the support, toward log(number tied), while ERM's
    squared error would pull it back to 0. The docstring's warning about zero-inflated targets rests on this."""
    from extrapbench.methods.balanced_mse import bmc_loss
    target = torch.tensor([0.0] * 6 + [1.0, 2.0, 3.0, 4.0])

    def loss_of_first(first_prediction):
        # row 0 of the B x B logits only: the first sample's term (x 2 sigma^2 = 2); no other row involves it
        return bmc_loss(torch.tensor([first_prediction]), target, torch.tensor(1.0)).item()

    losses = [loss_of_first(p) for p in [0.0, -1.0, -3.0, -10.0, -30.0]]
    assert all(a > b for a, b in zip(losses, losses[1:]))
    # the infimum, never reached: its logit ties with the five other zeros' and the rest vanish, CE -> log 6
    assert losses[-1] == pytest.approx(2 * math.log(6), abs=1e-4)
    assert losses[0] > 2 * math.log(6) + 0.2


def test_bmc_sigma_has_its_own_unscheduled_param_group():
    method = make("balanced_mse", init_noise_sigma=0.8, sigma_lr=0.05)
    groups = method.param_groups(1e-3, 1e-3)
    assert len(groups) == 2
    sigma_group = [grp for grp in groups if any(p is method.noise_sigma for p in grp["params"])]
    assert len(sigma_group) == 1 and sigma_group[0]["params"] == [method.noise_sigma]
    assert sigma_group[0]["scheduled"] is False and sigma_group[0]["lr"] == 0.05
    main = [grp for grp in groups if grp is not sigma_group[0]][0]
    assert main["lr"] == 1e-3 and main.get("scheduled", True) is not False
    assert len(main["params"]) + 1 == len(list(method.parameters()))
    assert method.noise_sigma.item() == pytest.approx(0.8)
    # the trainer's plateau schedule lowers the others, never sigma's rate
    seed_everything(0)
    data = samples(48)
    train_loader = DataLoader(data[:32], batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))
    result = train(method, train_loader, DataLoader(data[32:], batch_size=16),
                   TrainConfig(max_epochs=3, lr_patience=0, lr_factor=0.5, learning_rate=1e-3), label_std=1.0,
                   progress=False)
    assert result.epochs_run == 3
    assert method.noise_sigma.item() != pytest.approx(0.8)         # sigma learns


def test_bmc_sigma_lr_survives_the_plateau_schedule():
    method = make("balanced_mse", sigma_lr=0.05)
    optimizer = torch.optim.AdamW(method.param_groups(1e-3, 0.0))
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    fixed = {i: grp["lr"] for i, grp in enumerate(optimizer.param_groups) if grp.get("scheduled") is False}
    for _ in range(3):  # the trainer's loop: step on a non-improving score, then restore fixed groups
        scheduler.step(1.0)
        for i, lr in fixed.items():
            optimizer.param_groups[i]["lr"] = lr
    assert optimizer.param_groups[0]["lr"] < 1e-3 and optimizer.param_groups[1]["lr"] == 0.05


# --------------------------------------------------------------------------------------------------------
# ConR
# --------------------------------------------------------------------------------------------------------

def test_conr_pairs_put_no_negative_weight_inside_the_positive_window():
    from extrapbench.methods.conr import conr_pairs
    g = torch.Generator().manual_seed(0)
    y = torch.rand(20, generator=g) * 2
    pred = y + 0.3 * torch.randn(20, generator=g)
    window, e = 0.25, 0.7
    positive, weights = conr_pairs(y, pred, window, e)
    dy = (y[:, None] - y[None, :]).abs()
    dp = (pred[:, None] - pred[None, :]).abs()
    assert (weights[dy <= window] == 0).all()
    assert not positive.diagonal().any()
    off_diag = ~torch.eye(20, dtype=torch.bool)
    assert torch.equal(positive, (dy <= window) & off_diag)
    negative = (dy > window) & (dp <= window)
    assert negative.any() and ((dy > window) & (dp > window)).any()       # both cases occur
    assert torch.allclose(weights[negative], torch.exp(e * dy[negative]))
    assert (weights[~negative] == 0).all()


def test_conr_loss_matches_its_definition_by_loop():
    from extrapbench.methods.conr import conr_loss, conr_pairs
    g = torch.Generator().manual_seed(3)
    y = torch.rand(6, generator=g).repeat(2)                 # two views of 6 samples
    pred = y + 0.2 * torch.randn(12, generator=g)
    z = torch.randn(12, 5, generator=g)
    window, e, tau = 0.2, 0.5, 0.3
    positive, weights = conr_pairs(y, pred, window, e)
    zn = F.normalize(z, dim=1)
    total = 0.0
    for j in range(12):
        pos = [i for i in range(12) if positive[j, i]]
        neg = [q for q in range(12) if weights[j, q] > 0]
        if not neg:
            continue
        s = lambda i: float(zn[j] @ zn[i]) / tau  # noqa: E731
        denominator = sum(math.exp(s(p)) for p in pos) + sum(float(weights[j, q]) * math.exp(s(q)) for q in neg)
        total += -sum(math.log(math.exp(s(i)) / denominator) for i in pos) / len(pos)
    assert conr_loss(z, y, pred, window, e, tau).item() == pytest.approx(total / 12, rel=1e-5)


def test_conr_views_leave_the_original_batch_untouched():
    from extrapbench.methods.conr import make_view
    comp = batch_of(samples(8))
    x_before = comp.x.clone()
    view = make_view(comp, "composition", x_noise=0.1, x_dropout=0.2)
    assert torch.equal(comp.x, x_before) and view.x is not comp.x
    assert not torch.equal(view.x, comp.x) and torch.equal(view.y, comp.y)
    # a graph-like batch: only coordinates move, by about pos_noise angstrom
    graphs = [Data(pos=torch.randn(50, 3), atomic_numbers=torch.randint(1, 10, (50,)),
                   edge_index=torch.randint(0, 50, (2, 200)), cell=torch.eye(3).unsqueeze(0) * 5,
                   cell_offsets=torch.zeros(200, 3), natoms=torch.tensor([50]), y=torch.tensor([0.1 * k]))
              for k in range(4)]
    graph_batch = batch_of(graphs)
    before = {key: graph_batch[key].clone() for key in ("pos", "edge_index", "cell", "cell_offsets")}
    view = make_view(graph_batch, "graph", pos_noise=0.05)
    for key, value in before.items():
        assert torch.equal(graph_batch[key], value), key
    assert (view.pos - graph_batch.pos).std().item() == pytest.approx(0.05, rel=0.1)
    for key in ("edge_index", "cell", "cell_offsets", "batch", "atomic_numbers"):
        assert view[key] is graph_batch[key], key
    assert view.num_graphs == graph_batch.num_graphs


def test_conr_regression_term_is_erm_on_the_clean_batch():
    """The views feed only the regulariser (the authors' code): however noisy they are, the regression term is
    the plain L1 of the un-augmented batch."""
    batch = batch_of(samples(16))
    method = make("conr", x_noise=5.0, x_dropout=0.5)
    method.eval()  # no dropout in the backbone, so two forward passes agree
    _, logs = method.training_loss(batch)
    with torch.no_grad():
        clean = F.l1_loss(method.predict(batch), batch.y).item()
    assert logs["loss_regression"] == pytest.approx(clean, rel=1e-5)
    assert method.hparams["temperature"] == 0.07


def test_conr_trains_on_a_graph_backbone():
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from extrapbench.backbones.schnet import SchNet
    from extrapbench.data.graphs import build_graphs
    structures = [Structure(Lattice.cubic(a), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]) for a in (3.0, 3.4, 3.8)]
    graphs = build_graphs(structures, cutoff=5.0, max_neighbors=12, progress=False)
    for k, graph in enumerate(graphs):
        graph.y = torch.tensor([0.5 * k])
    batch = batch_of(graphs)
    torch.manual_seed(0)
    backbone = SchNet(hidden_channels=8, num_filters=8, num_interactions=1, num_gaussians=8, cutoff=5.0,
                      max_neighbors=12)
    method = METHODS.get("conr")(backbone, LABELS)
    assert method.view_kind == "graph"
    pos_before = batch.pos.clone()
    loss, logs = method.training_loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and torch.equal(batch.pos, pos_before)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters())
    assert method.predict(batch).shape == (3,)


# --------------------------------------------------------------------------------------------------------
# every method
# --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", METHOD_NAMES)
def test_few_steps_give_finite_losses_gradients_and_predictions(name):
    seed_everything(0)
    data = samples(24)
    batch = batch_of(data)
    method = METHODS.get(name)(MagpieMLP(in_dim=IN_DIM, hidden_dim=16, out_dim=8), LABELS)
    assert method.registry_name == name
    method.train_batch_sampler(np.array([float(d.y) for d in data]), 8, torch.Generator())
    optimizer = torch.optim.AdamW(method.param_groups(1e-3, 0.0))
    for epoch in range(3):
        method.train()
        method.on_epoch_start(epoch, DataLoader(data, batch_size=8))
        optimizer.zero_grad()
        loss, logs = method.training_loss(batch)
        assert torch.isfinite(loss), (epoch, loss)
        loss.backward()
        grads = [p.grad for p in method.backbone.parameters()]
        assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
        assert sum(gr.abs().sum() for gr in grads) > 0
        optimizer.step()
        method.on_epoch_end(epoch)
    method.eval()
    with torch.no_grad():
        pred = method.predict(batch)
    assert pred.shape == (len(data),) and torch.isfinite(pred).all()


# --------------------------------------------------------------------------------------------------------
# Balanced MSE (GAI)
# --------------------------------------------------------------------------------------------------------

def test_gai_mixture_fit_recovers_a_two_component_mixture():
    from extrapbench.methods.balanced_mse import fit_gmm_1d
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1.0, 0.2, 3000), rng.normal(1.5, 0.5, 1000)])
    weights, means, variances = fit_gmm_1d(x, 2)
    order = np.argsort(means)
    assert weights[order] == pytest.approx([0.75, 0.25], abs=0.02)
    assert means[order] == pytest.approx([-1.0, 1.5], abs=0.05)
    assert np.sqrt(variances[order]) == pytest.approx([0.2, 0.5], rel=0.1)


def test_gai_loss_matches_a_hand_computed_one_component_value():
    from extrapbench.methods.balanced_mse import gai_loss
    pred, target, var = 0.3, -0.2, 0.25
    mu, v = 0.1, 0.5
    expected = ((target - pred) ** 2 / (2 * var) + 0.5 * math.log(var)
                - 0.5 * math.log(v + var) - (pred - mu) ** 2 / (2 * (v + var))) * 2 * var
    loss = gai_loss(torch.tensor([pred]), torch.tensor([target]), torch.tensor(var), torch.tensor([1.0]),
                    torch.tensor([mu]), torch.tensor([v]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the balancing term pushes predictions away from crowded label regions: compared with plain NLL,
    # its gradient at a prediction right of the mixture mean points further right
    p = torch.tensor([pred], requires_grad=True)
    gai_loss(p, torch.tensor([pred]), torch.tensor(var), torch.tensor([1.0]), torch.tensor([mu]),
             torch.tensor([v])).backward()
    assert p.grad.item() < 0


def test_gai_method_fits_its_mixture_from_the_training_labels():
    method = make("balanced_mse_gai", gmm_components=3)
    with pytest.raises(RuntimeError, match="not fitted"):
        method.training_loss(batch_of(samples(8)))
    labels = imbalanced_labels()
    method.train_batch_sampler(labels, 16, torch.Generator())
    assert bool(method.gmm_fitted) and method.gmm_weights.sum().item() == pytest.approx(1.0, rel=1e-5)
    assert method.gmm_means.min() < -0.5 and method.gmm_means.max() > 1.0     # the rare block has a component
    assert [grp.get("scheduled") for grp in method.param_groups(1e-3, 0.0)] == [None, False]
