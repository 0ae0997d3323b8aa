"""C-Mixup, FOMA and ANE : each test checks what defines the method, then every method trains."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods import ane as ane_module
from extrapbench.methods.ane import ANE, pair_distance_loss
from extrapbench.methods.base import LabelContext
from extrapbench.methods.c_mixup import CMixup, mix, partner_probabilities, sample_partners
from extrapbench.methods.foma import FOMA, LabelNeighbourBatchSampler, foma_augment, kept_count
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, seed_everything, train

LABELS = LabelContext(train_min=-2.0, train_max=2.0, side="top", dataset_min=-2.0, dataset_max=3.0, mean=0.0,
                      std=1.0)


def _data(n=16, features=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = (x[:, 0] - 0.5 * x[:, 1]).clamp(-2.0, 2.0)
    return [Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(n)]


def _batch(n=16, features=6, seed=0):
    return Batch.from_data_list(_data(n, features, seed))


def _backbone(dropout=0.0):
    return MagpieMLP(in_dim=6, hidden_dim=16, out_dim=8, dropout=dropout)


# ---- C-Mixup ------------------------------------------------------------------------------------------------

def test_cmixup_partner_frequencies_follow_the_label_kernel():
    y = torch.tensor([0.0, 0.1, 0.5, 1.0, 2.0])
    bandwidth = 0.5
    kernel = torch.exp(-(y[:, None] - y[None, :]) ** 2 / (2 * bandwidth ** 2))
    expected = kernel * (1 - torch.eye(5))
    expected /= expected.sum(1, keepdim=True)
    assert torch.allclose(partner_probabilities(y, bandwidth), expected, atol=1e-6)
    with_self = kernel / kernel.sum(1, keepdim=True)
    assert torch.allclose(partner_probabilities(y, bandwidth, include_self=True), with_self, atol=1e-6)

    generator = torch.Generator().manual_seed(0)
    draws = 4000
    counts = torch.zeros(5, 5)
    for _ in range(draws):
        partners = sample_partners(y, bandwidth, generator=generator)
        counts[torch.arange(5), partners] += 1
    frequencies = counts / draws
    assert torch.all(counts.diagonal() == 0)                     # never its own partner by default
    assert torch.allclose(frequencies, expected, atol=0.03)
    # closer labels are picked more often: from y=0, partner frequency falls with the label gap
    row = frequencies[0, 1:]
    assert torch.all(row[:-1] > row[1:])


def test_cmixup_narrow_kernel_does_not_underflow_and_picks_the_nearest_label():
    y = torch.tensor([0.0, 3.0, 7.0, 20.0])
    probs = partner_probabilities(y, bandwidth=0.01)
    assert torch.isfinite(probs).all() and torch.allclose(probs.sum(1), torch.ones(4))
    assert probs.argmax(1).tolist() == [1, 0, 1, 2]


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_cmixup_mixed_labels_lie_between_the_pair_and_mix_the_representations_alike(lam):
    g = torch.Generator().manual_seed(1)
    z, y = torch.randn(32, 4, generator=g), torch.randn(32, generator=g)
    partners = sample_partners(y, 0.5, generator=g)
    z_mixed, y_mixed = mix(z, y, partners, lam)
    low, high = torch.minimum(y, y[partners]), torch.maximum(y, y[partners])
    assert torch.all(y_mixed >= low - 1e-6) and torch.all(y_mixed <= high + 1e-6)
    assert torch.allclose(y_mixed, lam * y + (1 - lam) * y[partners])
    assert torch.allclose(z_mixed, lam * z + (1 - lam) * z[partners])


# ---- FOMA ---------------------------------------------------------------------------------------------------

def _latent_batch(seed=0, n=24):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 7, generator=g) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.3, 0.1])
    y = z @ torch.randn(7, generator=g) * 0.2 + 0.1 * torch.randn(n, generator=g)
    return z, y


def test_foma_kept_count_is_the_fewest_leading_values_reaching_rho():
    s = torch.tensor([5.0, 3.0, 1.0, 1.0])                     # shares 0.5, 0.8, 0.9, 1.0
    assert kept_count(s, 0.5) == 1
    assert kept_count(s, 0.75) == 2
    assert kept_count(s, 0.8) == 2
    assert kept_count(s, 0.85) == 3
    assert kept_count(s, 1.0) == 4
    assert kept_count(torch.tensor([9.0, 0.5]), 0.9) == 1      # s_1 alone exceeds rho: it is kept, not scaled


@pytest.mark.parametrize("differentiable_svd", [False, True])
def test_foma_keeps_the_leading_singular_values_and_scales_the_tail_by_lambda(differentiable_svd):
    z, y = _latent_batch()
    lam, rho = 0.3, 0.8
    s = torch.linalg.svdvals(torch.cat([z, y[:, None]], 1))
    k = kept_count(s, rho)
    assert 1 <= k < len(s)
    z_aug, y_aug, k_used = foma_augment(z, y, lam, rho, differentiable_svd=differentiable_svd)
    assert k_used == k and z_aug.shape == z.shape and y_aug.shape == y.shape
    s_aug = torch.linalg.svdvals(torch.cat([z_aug, y_aug[:, None]], 1))
    assert torch.allclose(s_aug[:k], s[:k], rtol=1e-4, atol=1e-4)
    assert torch.allclose(s_aug[k:], lam * s[k:], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(y_aug, y, atol=1e-3)              # the labels move with the latents (default)


def test_foma_label_option_and_leading_variant():
    z, y = _latent_batch(seed=2)
    lam, rho = 0.5, 0.8
    z_fixed_y, y_same, _ = foma_augment(z, y, lam, rho, augment_labels=False)
    assert torch.equal(y_same, y) and not torch.allclose(z_fixed_y, z)
    s = torch.linalg.svdvals(torch.cat([z, y[:, None]], 1))
    k = kept_count(s, rho)
    z_aug, y_aug, _ = foma_augment(z, y, lam, rho, scaled="large")
    s_aug = torch.linalg.svdvals(torch.cat([z_aug, y_aug[:, None]], 1))
    expected = torch.cat([lam * s[:k], s[k:]]).sort(descending=True).values
    assert torch.allclose(s_aug, expected, rtol=1e-4, atol=1e-4)


def test_foma_gradients_stay_finite_for_repeated_singular_values():
    """Orthogonal columns of equal norm (all singular values equal) plus duplicate rows: the default detached
    basis still gives finite, non-zero gradients (back-propagating through U and V would divide by zero)."""
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=torch.Generator().manual_seed(3)))
    a = torch.cat([q[:, :9], q[:4, :9]]) * 3.0
    z, y = a[:, :8].clone().requires_grad_(True), a[:, 8]
    z_aug, y_aug, _ = foma_augment(z, y, 0.4, 0.9)
    (z_aug.pow(2).sum() + y_aug.sum()).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_label_neighbour_batches_cover_every_index_once_and_are_tighter_than_random():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=500)
    sampler = LabelNeighbourBatchSampler(labels, 32, torch.Generator().manual_seed(0))
    epochs = []
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler) == math.ceil(500 / 32)
        assert sorted(i for b in batches for i in b) == list(range(500))
        assert all(31 <= len(b) <= 32 for b in batches)
        epochs.append(batches)
    assert epochs[0] != epochs[1]                               # a fresh draw each epoch
    again = list(LabelNeighbourBatchSampler(labels, 32, torch.Generator().manual_seed(0)))
    assert again == epochs[0]                                   # reproducible from the generator
    neighbour_spread = np.mean([labels[b].std() for b in epochs[0]])
    random_spread = np.mean([labels[b].std() for b in np.array_split(rng.permutation(500), len(sampler))])
    assert neighbour_spread < 0.3 * random_spread
    # a batch is the anchor's nearest unused labels: the first batch is a contiguous run in label order
    first = epochs[0][0]
    ranks = np.argsort(np.argsort(labels))[first]
    assert ranks.max() - ranks.min() == len(first) - 1
    # fewer samples than a batch: one batch with all of them
    assert list(LabelNeighbourBatchSampler(labels[:5], 32)) and len(LabelNeighbourBatchSampler(labels[:5], 32)) == 1


def test_foma_builds_its_sampler_unless_batches_are_random():
    labels = np.linspace(-1, 1, 40)
    method = FOMA(_backbone(), LABELS)
    assert isinstance(method.train_batch_sampler(labels, 8, torch.Generator()), LabelNeighbourBatchSampler)
    assert FOMA(_backbone(), LABELS, batch_selection="random").train_batch_sampler(labels, 8, None) is None


# ---- ANE ----------------------------------------------------------------------------------------------------

def test_ane_pair_loss_is_zero_for_an_embedding_with_the_scaled_label_distances():
    method = ANE(_backbone(), LABELS)
    y = torch.tensor([-2.0, -1.0, 0.5, 1.2, 2.0])
    scaled = method.scale_labels(y)
    assert torch.allclose(scaled, (y + 2.0) / 4.0) and scaled.min() == 0 and scaled.max() == 1
    direction = torch.nn.functional.normalize(torch.tensor([1.0, -2.0, 0.5, 3.0]), dim=0)
    embedding = scaled[:, None] * direction + torch.tensor([0.3, 0.1, -0.2, 0.0])
    assert pair_distance_loss(embedding, scaled).item() == pytest.approx(0.0, abs=1e-10)
    # a hand value: 3 points, pair distances (1, 1, 2) in e against label gaps (0.5, 0.5, 1)
    e = torch.tensor([[0.0], [1.0], [2.0]])
    assert pair_distance_loss(e, torch.tensor([0.0, 0.5, 1.0])).item() == pytest.approx((0.25 + 0.25 + 1.0) / 3)
    # identical embeddings: finite gradient, no NaN from sqrt(0)
    twin = torch.zeros(3, 2, requires_grad=True)
    pair_distance_loss(twin, torch.tensor([0.0, 0.5, 1.0])).backward()
    assert torch.isfinite(twin.grad).all()


def test_ane_squared_pair_distance_is_the_authors_form():
    # the same 3 points: squared distances (1, 1, 4) against squared label gaps (0.25, 0.25, 1)
    e = torch.tensor([[0.0], [1.0], [2.0]])
    y = torch.tensor([0.0, 0.5, 1.0])
    expected = (0.75 ** 2 + 0.75 ** 2 + 3.0 ** 2) / 3
    assert pair_distance_loss(e, y, "squared").item() == pytest.approx(expected)
    assert pair_distance_loss(y[:, None], y, "squared").item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"methods\.ane\.pair_distance.*'cosine' is not allowed"):
        ANE(_backbone(), LABELS, pair_distance="cosine")


@pytest.mark.parametrize("pair_distance", ["euclidean", "squared"])
def test_ane_val_selection_loss_is_the_pair_loss_over_the_whole_val_set(monkeypatch, pair_distance):
    seed_everything(0)
    method = ANE(_backbone(), LABELS, pair_distance=pair_distance)
    data = _data(40, seed=3)
    loader = DataLoader(data, batch_size=16)
    monkeypatch.setattr(ane_module, "SELECTION_CHUNK_ELEMENTS", 7 * 40 * 64)   # force several chunks
    value = method.selection_loss(loader)
    method.eval()
    batch = Batch.from_data_list(data)
    with torch.no_grad():
        direct = pair_distance_loss(method.embed(batch), method.scale_labels(batch.y), pair_distance).item()
    assert value == pytest.approx(direct, rel=1e-5)
    method.begin_stage("head")
    assert method.selection_loss(loader) is None


def test_ane_stage_two_trains_the_head_and_leaves_the_embedding_unchanged():
    seed_everything(0)
    data = _data(64, seed=4)
    train_loader = DataLoader(data[:48], batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    val_loader = DataLoader(data[48:], batch_size=16)
    method = ANE(_backbone(dropout=0.3), LABELS)
    config = TrainConfig(max_epochs=2, early_stopping_patience=10, learning_rate=1e-2)

    def snapshot(modules):
        return [p.detach().clone() for m in modules for p in m.parameters()]

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a, b))

    embedding_0, head_0 = snapshot(method.embedding_modules()), snapshot([method.head])
    method.begin_stage("embedding")
    first = train(method, train_loader, val_loader, config, label_std=1.0, progress=False, stage="embedding")
    assert all("val_selection_loss" in h and math.isfinite(h["train_loss"]) for h in first.history)
    embedding_1, head_1 = snapshot(method.embedding_modules()), snapshot([method.head])
    assert not same(embedding_0, embedding_1) and same(head_0, head_1)     # stage 1 trains φ only

    method.begin_stage("head")
    group_params = [p for g in method.param_groups(1e-3, 0.0) for p in g["params"]]
    assert {id(p) for p in group_params} == {id(p) for p in method.head.parameters()}
    assert not any(p.requires_grad for m in method.embedding_modules() for p in m.parameters())
    second = train(method, train_loader, val_loader, config, label_std=1.0, progress=False, stage="head")
    assert all("val_mae" in h for h in second.history)
    assert same(embedding_1, snapshot(method.embedding_modules()))          # φ untouched by stage 2
    assert not same(head_1, snapshot([method.head]))                        # the head did train
    # frozen φ stays in eval mode while the method trains: dropout cannot change the embedding
    method.train()
    assert method.head.training and not method.backbone.training and not method.projection.training
    batch = Batch.from_data_list(data[:8])
    assert torch.equal(method.embed(batch), method.embed(batch))


# ---- every method -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["c_mixup", "foma", "ane"])
def test_training_steps_give_finite_losses_nonzero_gradients_and_predictions_of_shape_b(name):
    seed_everything(0)
    method = METHODS.get(name)(_backbone(), LABELS)
    batch = _batch(16)
    for stage in method.stages:
        method.begin_stage(stage)
        method.train()
        optimizer = torch.optim.AdamW(method.param_groups(1e-3, 0.0))
        trained = {id(p) for g in method.param_groups(1e-3, 0.0) for p in g["params"]}
        for _ in range(3):
            optimizer.zero_grad()
            loss, logs = method.training_loss(batch)
            assert torch.isfinite(loss) and isinstance(logs, dict)
            loss.backward()
            for part in ("backbone", "projection", "head"):
                params = [p for p in getattr(method, part, torch.nn.Module()).parameters() if id(p) in trained]
                if params:
                    grads = [p.grad for p in params if p.grad is not None]
                    assert grads and all(torch.isfinite(g).all() for g in grads)
                    assert sum(g.abs().sum() for g in grads) > 0, f"{name}/{stage}: no gradient on {part}"
            optimizer.step()
        method.eval()
        with torch.no_grad():
            prediction = method.predict(batch)
        assert prediction.shape == (16,) and torch.isfinite(prediction).all()


@pytest.mark.parametrize("name", ["c_mixup", "foma", "ane"])
def test_runs_the_way_run_py_drives_it(name):
    """run.py's loop in miniature: the method's own batch sampler (FOMA), every stage, the trainer."""
    seed_everything(0)
    data = _data(80, seed=5)
    method = METHODS.get(name)(_backbone(), LABELS)
    generator = torch.Generator().manual_seed(0)
    train_labels = np.array([float(d.y) for d in data[:64]])
    sampler = method.train_batch_sampler(train_labels, 16, generator)
    if sampler is not None:
        train_loader = DataLoader(data[:64], batch_sampler=sampler)
        train_loader.generator = generator
    else:
        train_loader = DataLoader(data[:64], batch_size=16, shuffle=True, generator=generator, drop_last=True)
    val_loader = DataLoader(data[64:], batch_size=256)
    for stage in method.stages:
        method.begin_stage(stage)
        result = train(method, train_loader, val_loader, TrainConfig(max_epochs=2), label_std=1.0,
                       progress=False, stage=stage)
        assert result.epochs_run == 2 and all(math.isfinite(h["train_loss"]) for h in result.history)
    assert method.predict(Batch.from_data_list(data[64:])).shape == (16,)


def test_unknown_or_invalid_hyper_parameters_are_rejected():
    with pytest.raises(ValueError, match="unknown"):
        CMixup(_backbone(), LABELS, sigma=1.0)
    with pytest.raises(ValueError, match="loss"):
        FOMA(_backbone(), LABELS, loss="huber")
    with pytest.raises(ValueError, match="stage"):
        ANE(_backbone(), LABELS).begin_stage("main")
