"""The baselines as the MEX authors released them (docs/benchmark.md, the release differences): DenseWeight, BalancedMSE with a fixed
sigma, ConR on one clean view, RankSim with weight 1."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.base import LabelContext
from extrapbench.methods.denseweight import denseweight_grid, silverman_bandwidth
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, seed_everything, train

LABELS = LabelContext(train_min=-2.0, train_max=2.0, side="top", dataset_min=-2.0, dataset_max=3.0,
                      mean=0.0, std=1.0)
IN_DIM = 6


def make(name, **hparams):
    return METHODS.get(name)(MagpieMLP(in_dim=IN_DIM, hidden_dim=16, out_dim=8), LABELS, **hparams)


def samples(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, IN_DIM, generator=g)
    y = (x[:, 0] - 0.5 * x[:, 1]).clamp(-2.0, 2.0)
    return [Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(n)]


def imbalanced_labels(seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, 0.3, 900), rng.uniform(1.5, 3.0, 100)])


# --- DenseWeight ------------------------------------------------------------------------------------------

def test_denseweight_favours_rare_labels_averages_one_and_alpha_zero_is_uniform():
    y = imbalanced_labels()
    method = make("denseweight")
    method.fit_label_distribution(y)
    weights = method.sample_weights(torch.as_tensor(y, dtype=torch.float32)).numpy()
    assert weights.mean() == pytest.approx(1.0, rel=1e-5)
    assert weights[900:].mean() > 3 * weights[:900].mean()            # the sparse tail weighs more
    order = np.argsort(np.abs(y[:900]))                                   # within the dense mode: rarer = heavier
    assert weights[:900][order[-50:]].mean() > weights[:900][order[:50]].mean()
    assert weights.min() > 0
    uniform = make("denseweight", alpha=0.0)
    uniform.fit_label_distribution(y)
    assert np.allclose(uniform.sample_weights(torch.as_tensor(y, dtype=torch.float32)).numpy(), 1.0)


def test_denseweight_weights_follow_the_package_formula():
    """max(1 - alpha * p', eps) / mean, p' the Silverman-bandwidth Gaussian KDE min-max scaled over its grid."""
    from scipy.stats import gaussian_kde

    y = imbalanced_labels(1)
    h = silverman_bandwidth(y)
    assert h == pytest.approx(1.06 * y.std() * len(y) ** -0.2)
    kde = gaussian_kde(y, bw_method=h / y.std(ddof=1))
    grid = np.linspace(y.min() - 4 * h, y.max() + 4 * h, 4096)
    grid_density = kde(grid)
    scaled = (kde(y) - grid_density.min()) / (grid_density.max() - grid_density.min())
    for alpha in (0.5, 1.0):
        expected = np.maximum(1 - alpha * scaled, 1e-6)
        expected /= expected.mean()
        got_grid, got_weights = denseweight_grid(y, alpha)
        got = got_weights[np.clip(np.searchsorted(got_grid, y, side="right") - 1, 0, 4095)]
        assert np.allclose(got, expected, atol=1e-2)   # left-grid-point lookup (as the package) vs exact density
    # the weights do not depend on the label units (Silverman bandwidth)
    grid_a, w_a = denseweight_grid(y, 1.0)
    grid_b, w_b = denseweight_grid(3.0 * y + 7.0, 1.0)
    assert np.allclose(w_a, w_b) and np.allclose(3.0 * grid_a + 7.0, grid_b)


def test_denseweight_loss_is_the_weighted_l1_and_fits_lazily_through_the_trainer():
    data = samples(48)
    method = make("denseweight")
    with pytest.raises(RuntimeError, match="not fitted"):
        method.training_loss(Batch.from_data_list(data[:8]))
    seed_everything(0)
    result = train(method, DataLoader(data[:32], batch_size=8, shuffle=True,
                                      generator=torch.Generator().manual_seed(0)),
                   DataLoader(data[32:], batch_size=16), TrainConfig(max_epochs=2), label_std=1.0, progress=False)
    assert result.epochs_run == 2 and bool(method.density_fitted)
    batch = Batch.from_data_list(data[:8])
    loss, _ = method.training_loss(batch)
    with torch.no_grad():
        pred = method.predict(batch)
        expected = (method.sample_weights(batch.y) * (pred - batch.y).abs()).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert set(METHODS.names()) >= {"denseweight", "lds"}


# --- BalancedMSE with a fixed sigma --------------------------------------------------------------------------

def test_bmc_fixed_sigma_is_in_no_optimiser_group_and_never_moves():
    method = make("balanced_mse", learn_sigma=False, init_noise_sigma=1.0)
    groups = method.param_groups(1e-3, 0.0)
    assert len(groups) == 1
    assert all(p is not method.noise_sigma for g in groups for p in g["params"])
    assert all(p is not method.noise_sigma for p in method.parameters())
    assert "noise_sigma" in method.state_dict()
    seed_everything(0)
    data = samples(48)
    train(method, DataLoader(data[:32], batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)),
          DataLoader(data[32:], batch_size=16), TrainConfig(max_epochs=3, learning_rate=1e-2), label_std=1.0,
          progress=False)
    assert method.noise_sigma.item() == 1.0
    _, logs = method.training_loss(Batch.from_data_list(data[:8]))
    assert logs["noise_sigma"] == 1.0
    with pytest.raises(ValueError, match="learn_sigma"):
        make("balanced_mse", learn_sigma="no")


# --- ConR, one clean view ----------------------------------------------------------------------------------

def release_conr_by_loop(z, y, pred, threshold, eta, tau):
    """The released loss, entry by entry: denominator = sum over the row of exp(s * positive mask) (so 1 for
    every non-positive entry) + the pushed negatives; per anchor the mean over positives, 0 without negatives."""
    n = len(y)
    zn = F.normalize(z, dim=1)
    total = 0.0
    for j in range(n):
        s = [float(zn[j] @ zn[k]) / tau for k in range(n)]
        dy = [abs(float(y[j] - y[k])) for k in range(n)]
        dp = [abs(float(pred[j] - pred[k])) for k in range(n)]
        pos = [k for k in range(n) if k != j and dy[k] <= threshold]
        neg = [k for k in range(n) if dy[k] > threshold and dp[k] <= threshold]
        if not neg or not pos:
            continue
        denominator = (sum(math.exp(s[k]) if k in pos else 1.0 for k in range(n))
                       + sum(math.exp(eta * dy[k]) * math.exp(s[k]) for k in neg))
        total += -sum(s[k] - math.log(denominator) for k in pos) / len(pos)
    return total / n


def test_conr_release_denominator_matches_the_released_formula():
    from extrapbench.methods.conr import conr_loss
    g = torch.Generator().manual_seed(5)
    y = torch.rand(10, generator=g)
    pred = y + 0.3 * torch.randn(10, generator=g)
    z = torch.randn(10, 4, generator=g)
    got = conr_loss(z, y, pred, 0.2, 0.5, 0.3, denominator="release").item()
    assert got == pytest.approx(release_conr_by_loop(z, y, pred, 0.2, 0.5, 0.3), rel=1e-5)
    assert got != pytest.approx(conr_loss(z, y, pred, 0.2, 0.5, 0.3).item(), rel=1e-3)


def test_conr_one_clean_view_is_one_forward_pass_of_the_batch_itself():
    method = make("conr", views="one_clean", denominator="release", window=0.3, pushing_power=0.01,
                  temperature=0.07, beta=0.25)
    batch = Batch.from_data_list(samples(16))
    calls = []
    method.backbone.register_forward_hook(lambda module, args, out: calls.append(args[0]))
    loss, logs = method.training_loss(batch)
    assert len(calls) == 1 and calls[0] is batch                       # no augmented copy
    with torch.no_grad():
        z = method.backbone(batch)
        pred = method.head(z).squeeze(-1)
        regression = (pred - batch.y).abs().mean().item()
        contrastive = release_conr_by_loop(z, batch.y, pred, 0.3, 0.01, 0.07)
    assert logs["loss_regression"] == pytest.approx(regression, rel=1e-5)
    assert logs["loss_conr"] == pytest.approx(contrastive, rel=1e-4)
    assert loss.item() == pytest.approx(regression + 0.25 * contrastive, rel=1e-4)
    loss.backward()
    assert all(p.grad is not None for p in method.backbone.parameters())
    with pytest.raises(ValueError, match="views"):
        make("conr", views="three")


# --- RankSim with weight 1 ---------------------------------------------------------------------------------

def test_ranksim_release_setting_is_weight_one_on_the_pooled_features():
    from extrapbench.methods.ranksim import rank_rows
    method = make("ranksim", gamma=1.0, interpolation_lambda=2.0)
    batch = Batch.from_data_list(samples(12))                         # distinct labels: no sub-batch
    loss, logs = method.training_loss(batch)
    with torch.no_grad():
        z = method.backbone(batch)
        zn = F.normalize(z, dim=1)
        feature_ranks = rank_rows(zn @ zn.T)
        label_ranks = rank_rows(-(batch.y[:, None] - batch.y[None, :]).abs())
        released = ((feature_ranks - label_ranks) ** 2).sum() / len(batch.y)   # sum-reduced, / batch size
    assert logs["loss_ranksim"] == pytest.approx(released.item(), rel=1e-5)
    assert loss.item() == pytest.approx(logs["loss_regression"] + released.item(), rel=1e-5)
