"""The training loop: best-val weights restored, early stopping, and resuming an interrupted run."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.methods.base import LabelContext
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, predict_loader, seed_everything, train, train_stages

LABELS = LabelContext(-2.0, 2.0, "top", -2.0, 3.0, 0.0, 1.0)


def _loaders(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 5, generator=g)
    y = x[:, 0] - 0.5 * x[:, 1]
    data = [Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(96)]
    return (DataLoader(data[:64], batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(seed)),
            DataLoader(data[64:], batch_size=32))


def _method():
    seed_everything(0)
    return METHODS.get("erm")(MagpieMLP(in_dim=5, hidden_dim=16, out_dim=8), LABELS)


def test_best_val_weights_are_restored_and_history_is_recorded():
    train_loader, val_loader = _loaders()
    method = _method()
    result = train(method, train_loader, val_loader, TrainConfig(max_epochs=12, early_stopping_patience=50),
                   label_std=2.0, progress=False)
    assert result.epochs_run == 12 and len(result.history) == 12
    best = min(result.history, key=lambda h: h["val_mae"])
    assert result.best_epoch == best["epoch"] and result.best_val_mae == pytest.approx(best["val_mae"])
    pred, target = predict_loader(method, val_loader)
    assert abs(pred - target).mean() * 2.0 == pytest.approx(result.best_val_mae, rel=1e-5)


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    train_loader, val_loader = _loaders()
    # learning rate 0: val MAE never improves after epoch 0
    result = train(_method(), train_loader, val_loader,
                   TrainConfig(max_epochs=50, early_stopping_patience=3, learning_rate=1e-12), label_std=1.0,
                   progress=False)
    assert result.best_epoch == 0 and result.epochs_run == 4


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path):
    resume = tmp_path / "resume.pt"
    train_loader, val_loader = _loaders()
    config = TrainConfig(max_epochs=6, early_stopping_patience=50)

    # uninterrupted reference
    reference = _method()
    full = train(reference, *_loaders(), config, label_std=1.0, progress=False)

    # "interrupted" after 3 epochs: the same run stopped early (the checkpoint is what a killed job leaves)
    class Interrupt(Exception):
        pass

    method = _method()
    original = method.on_epoch_start

    def stop_at_three(epoch, loader):
        if epoch == 3:
            raise Interrupt
        original(epoch, loader)

    method.on_epoch_start = stop_at_three
    with pytest.raises(Interrupt):
        train(method, train_loader, val_loader, config, label_std=1.0, resume_path=resume,
              run_fingerprint={"run": 1}, progress=False)
    assert resume.exists()

    resumed = _method()  # a new process: fresh model, fresh loaders; all state comes from the checkpoint
    result = train(resumed, *_loaders(), config, label_std=1.0, resume_path=resume,
                   run_fingerprint={"run": 1}, progress=False)
    assert result.resumed_from_epoch == 3 and result.epochs_run == 6
    assert [h["val_mae"] for h in result.history] == pytest.approx([h["val_mae"] for h in full.history])

    # a checkpoint of another configuration is not resumed from
    other = train(_method(), *_loaders(), config, label_std=1.0, resume_path=resume,
                  run_fingerprint={"run": 2}, progress=False)
    assert other.resumed_from_epoch == 0


def _train_stages(method, run_dir, config, interrupt_at=None):
    """`train_stages` as run.py calls it, optionally killed at epoch interrupt_at[1] of stage interrupt_at[0]."""
    if interrupt_at:
        original = method.on_epoch_start

        def stop(epoch, loader):
            if method.stage == interrupt_at[0] and epoch == interrupt_at[1]:
                raise KeyboardInterrupt
            original(epoch, loader)
        method.on_epoch_start = stop
    return train_stages(method, *_loaders(), config, label_std=1.0, run_dir=run_dir,
                        run_fingerprint={"run": "ane"}, progress=False)[1]


def test_a_two_stage_run_killed_in_its_second_stage_resumes_without_retraining_the_first(tmp_path):
    config = TrainConfig(max_epochs=5, early_stopping_patience=50)

    def ane():
        seed_everything(0)
        return METHODS.get("ane")(MagpieMLP(in_dim=5, hidden_dim=16, out_dim=8), LABELS, embedding_dim=8,
                                  projection_hidden_dim=16, head_hidden_dim=16)

    reference = ane()
    (tmp_path / "reference").mkdir()
    _train_stages(reference, tmp_path / "reference", config)

    (tmp_path / "killed").mkdir()
    with pytest.raises(KeyboardInterrupt):
        _train_stages(ane(), tmp_path / "killed", config, interrupt_at=("head", 3))
    resumed = ane()  # a new process
    results = _train_stages(resumed, tmp_path / "killed", config)
    assert results["embedding"].resumed_from_epoch == 5   # finished before the kill: restored, not retrained
    assert results["head"].resumed_from_epoch == 3
    _, val_loader = _loaders()
    reference.eval()
    resumed.eval()
    for batch in val_loader:
        with torch.no_grad():
            assert torch.allclose(resumed.embed(batch), reference.embed(batch), atol=1e-6)
            assert torch.allclose(resumed.predict(batch), reference.predict(batch), atol=1e-5)
