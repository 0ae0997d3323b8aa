"""The MEX authors' training protocol (EMA, gradient clipping, AMP, no weight decay on biases and norms, no early
stopping), each switch tested for the property that defines it, and resuming with it on, across devices too."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from extrapbench.training.ema import WeightEMA
from extrapbench.training.optimizer import build_optimizer, no_weight_decay_names
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, predict_loader, train
from test_training import LABELS, _loaders, _method

RELEASE = dict(ema_decay=0.9, clip_grad_norm=1.0, amp=True, weight_decay=1e-2, no_weight_decay_bias_norm=True)


def test_ema_weights_are_the_closed_form_exponential_average():
    decay = 0.8
    weight = nn.Parameter(torch.tensor([1.0, -2.0]))
    ema = WeightEMA([weight], decay)
    sequence = [weight.detach().clone()]
    for step in range(1, 6):
        with torch.no_grad():
            weight.copy_(torch.tensor([float(step) ** 2, -step / 3.0]))
        sequence.append(weight.detach().clone())
        ema.update()
    t = len(sequence) - 1
    expected = decay ** t * sequence[0] + sum((1 - decay) * decay ** (t - k) * sequence[k] for k in range(1, t + 1))
    torch.testing.assert_close(ema.shadow[0], expected)
    with ema.swapped_in():
        torch.testing.assert_close(weight.detach(), expected)
    torch.testing.assert_close(weight.detach(), sequence[-1])    # the live weights come back


def test_validation_and_the_final_model_use_the_ema_weights():
    train_loader, val_loader = _loaders()
    method = _method()
    result = train(method, train_loader, val_loader, TrainConfig(max_epochs=4, early_stopping_patience=None,
                                                                 ema_decay=0.5), label_std=1.0, progress=False)
    pred, target = predict_loader(method, val_loader)
    # the restored model reproduces the best epoch's val MAE, which was measured with the EMA weights
    assert abs(pred - target).mean() == pytest.approx(result.best_val_mae, rel=1e-5)
    plain = _method()
    plain_result = train(plain, *_loaders(), TrainConfig(max_epochs=4, early_stopping_patience=None),
                         label_std=1.0, progress=False)
    assert [h["val_mae"] for h in result.history] != pytest.approx([h["val_mae"] for h in plain_result.history])


def test_clipping_bounds_the_gradient_norm_of_every_step(monkeypatch):
    norms_at_step = []
    original_step = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norms_at_step.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    max_norm = 1e-3
    result = train(_method(), *_loaders(), TrainConfig(max_epochs=2, clip_grad_norm=max_norm), label_std=1.0,
                   progress=False)
    assert norms_at_step and max(norms_at_step) <= max_norm * (1 + 1e-4)
    # the history keeps the pre-clip norm, which the clip did bring down
    assert all(h["grad_norm"] > max_norm for h in result.history)


def test_biases_and_norm_layers_get_no_weight_decay_and_nothing_else_does():
    backbone = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 8))
    backbone.out_dim = 8
    method = METHODS.get("erm")(backbone, LABELS)
    optimizer = build_optimizer(method, 1e-3, 0.1, no_weight_decay_bias_norm=True)
    names = {id(p): n for n, p in method.named_parameters()}
    decay = {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    free = {names[id(p)] for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert free == {"backbone.0.bias", "backbone.1.weight", "backbone.1.bias", "backbone.2.bias",
                    "head.0.bias", "head.2.bias"}
    assert decay == {"backbone.0.weight", "backbone.2.weight", "head.0.weight", "head.2.weight"}
    off = build_optimizer(method, 1e-3, 0.1)
    assert [g["weight_decay"] for g in off.param_groups] == [0.1]


def test_a_methods_own_groups_keep_their_flags_when_split():
    from extrapbench.backbones.magpie_mlp import MagpieMLP
    method = METHODS.get("balanced_mse")(MagpieMLP(in_dim=5, hidden_dim=16, out_dim=8), LABELS)
    groups = build_optimizer(method, 1e-3, 0.1, no_weight_decay_bias_norm=True).param_groups
    sigma = [g for g in groups if any(p is method.noise_sigma for p in g["params"])]
    assert len(sigma) == 1 and sigma[0]["scheduled"] is False and sigma[0]["weight_decay"] == 0.0
    assert sigma[0]["lr"] == method.hparams["sigma_lr"] and len(sigma[0]["params"]) == 1
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.0, 0.1]


def test_equiformer_v2_exempts_exactly_what_its_own_no_weight_decay_lists():
    from test_backbones import small_equiformer_v2
    backbone = small_equiformer_v2(norm_type="layer_norm_sh")
    ours = {n[len("model."):] for n in no_weight_decay_names(backbone) if n.startswith("model.")}
    assert ours == set(backbone.model.no_weight_decay())       # the release's rule (fairchem's model method)


def test_without_early_stopping_training_runs_max_epochs():
    # learning rate ~0: val MAE never improves after epoch 0, so any patience would stop early
    result = train(_method(), *_loaders(), TrainConfig(max_epochs=7, early_stopping_patience=None,
                                                       learning_rate=1e-12), label_std=1.0, progress=False)
    assert result.best_epoch == 0 and result.epochs_run == 7


def test_amp_on_cpu_is_a_recorded_no_op():
    with_amp = train(_method(), *_loaders(), TrainConfig(max_epochs=3, amp=True), label_std=1.0, progress=False)
    without = train(_method(), *_loaders(), TrainConfig(max_epochs=3), label_std=1.0, progress=False)
    assert with_amp.amp_active is False
    assert [h["val_mae"] for h in with_amp.history] == [h["val_mae"] for h in without.history]


class Interrupt(Exception):
    pass


def _interrupted(resume, config, at=3):
    method = _method()
    original = method.on_epoch_start

    def stop(epoch, loader):
        if epoch == at:
            raise Interrupt
        original(epoch, loader)
    method.on_epoch_start = stop
    with pytest.raises(Interrupt):
        train(method, *_loaders(), config, label_std=1.0, resume_path=resume, run_fingerprint={"run": 1},
              progress=False)


def _resave_as_written_on_cuda(path):
    """Rewrite a checkpoint so that every storage in it is tagged cuda:0, as one written on a GPU is."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    entry = (0, lambda storage: "cuda:0", lambda storage, location: None)
    torch.serialization._package_registry.insert(0, entry)
    try:
        torch.save(state, path)
    finally:
        torch.serialization._package_registry.remove(entry)


@pytest.mark.parametrize("written_on", ["cpu", "cuda"])
def test_resume_with_the_release_protocol_reproduces_an_uninterrupted_run(tmp_path, written_on):
    config = TrainConfig(max_epochs=6, early_stopping_patience=None, **RELEASE)
    reference = _method()
    full = train(reference, *_loaders(), config, label_std=1.0, progress=False)

    resume = tmp_path / "resume.pt"
    _interrupted(resume, config)
    if written_on == "cuda":
        _resave_as_written_on_cuda(resume)
        if not torch.cuda.is_available():
            with pytest.raises(RuntimeError, match="CUDA"):   # the file really claims a GPU
                torch.load(resume, weights_only=False)
    resumed = _method()
    result = train(resumed, *_loaders(), config, label_std=1.0, resume_path=resume, run_fingerprint={"run": 1},
                   progress=False)
    assert result.resumed_from_epoch == 3
    assert [h["val_mae"] for h in result.history] == pytest.approx([h["val_mae"] for h in full.history])
    assert [h["grad_norm"] for h in result.history] == pytest.approx([h["grad_norm"] for h in full.history])
    for a, b in zip(resumed.state_dict().values(), reference.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_a_host_checkpoint_resumes_on_the_device(tmp_path, monkeypatch):
    from simulated_cuda import install

    config = TrainConfig(max_epochs=5, early_stopping_patience=None, **RELEASE)
    full = train(_method(), *_loaders(), config, label_std=1.0, progress=False)
    resume = tmp_path / "resume.pt"
    _interrupted(resume, config)
    sim = install(monkeypatch)
    with sim:
        method = _method().to("cuda")
        result = train(method, *_loaders(), config, label_std=1.0, resume_path=resume,
                       run_fingerprint={"run": 1}, progress=False)
    assert not sim.violations, sim.violations[:5]
    assert result.resumed_from_epoch == 3
    assert [h["val_mae"] for h in result.history] == pytest.approx([h["val_mae"] for h in full.history])
