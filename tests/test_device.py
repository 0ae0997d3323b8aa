"""The GPU path, proven without a GPU: on a simulated CUDA device (tests/simulated_cuda.py: every tensor on the
CPU, labelled host or device, CUDA's same-device rules enforced on every torch call), no tensor reaches a method
or backbone on another device than the method's parameters.

Every registered method trains every stage through `extrapbench.training` with the whole release protocol on (EMA,
clipping, AMP's code path, the no-decay groups) and predicts, on the Magpie MLP and on a tiny PaiNN and a tiny
EquiformerV2 fed real matbench_phonons crystals; then one whole job (`run_training`) decides its device itself,
times its inference after synchronising, and saves a checkpoint that loads on the host.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from extrapbench.backbones.magpie_mlp import MagpieMLP
from extrapbench.device import resolve_device
from extrapbench.methods.base import LabelContext
from extrapbench.registry import METHODS
from extrapbench.training.loop import TrainConfig, predict_loader, seed_everything, train_stages
from simulated_cuda import install
from test_backbones import small_equiformer_v2, small_painn
from test_methods_on_graph_backbones import SMALL_HPARAMS, phonon_graphs  # noqa: F401  (a fixture)

PROTOCOL = dict(max_epochs=2, early_stopping_patience=None, batch_size=6, weight_decay=1e-3, ema_decay=0.9,
                clip_grad_norm=10.0, amp=True, no_weight_decay_bias_norm=True)
BACKBONES = {"magpie_mlp": lambda: MagpieMLP(in_dim=5, hidden_dim=16, out_dim=8),
             "painn": lambda: small_painn(max_neighbors=12),
             "equiformer_v2": lambda: small_equiformer_v2(max_neighbors=12)}


def composition_data(n=24):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    y = x[:, 0] - 0.5 * x[:, 1]
    return [Data(x=x[i:i + 1], y=y[i:i + 1]) for i in range(n)]


def report(sim) -> str:
    return f"{len(sim.violations)} cross-device operations, e.g.\n" + "\n".join(sim.violations[:8])


@pytest.mark.parametrize("backbone_name", list(BACKBONES))
@pytest.mark.parametrize("method_name", METHODS.names())
def test_every_tensor_reaching_the_method_is_on_its_device(method_name, backbone_name, request, monkeypatch,
                                                            tmp_path):
    data = (composition_data() if backbone_name == "magpie_mlp"
            else [g.clone() for g in request.getfixturevalue("phonon_graphs")])
    y = np.array([float(d.y) for d in data])
    labels = LabelContext(train_min=float(y.min()), train_max=float(y.max()), side="top",
                          dataset_min=float(y.min()), dataset_max=float(y.max()) + 1.0, mean=0.0, std=1.0)
    seed_everything(0)
    method = METHODS.get(method_name)(BACKBONES[backbone_name](), labels, **SMALL_HPARAMS.get(method_name, {}))
    # one epoch on the graph backbones: every step of the protocol runs in it (and EquiformerV2 is slow on CPU)
    config = TrainConfig(**{**PROTOCOL, "max_epochs": 2 if backbone_name == "magpie_mlp" else 1})
    sim = install(monkeypatch)
    with sim:
        generator = torch.Generator().manual_seed(0)
        sampler = method.train_batch_sampler(y, config.batch_size, generator)   # as run.py builds the loader
        train_loader = (DataLoader(data, batch_sampler=sampler) if sampler is not None else
                        DataLoader(data, batch_size=config.batch_size, shuffle=True, generator=generator))
        val_loader = DataLoader(data, batch_size=8)
        method.to(resolve_device(config.device))
        assert all(sim.is_on_device(p) for p in method.parameters())
        train_stages(method, train_loader, val_loader, config, label_std=1.0, run_dir=tmp_path, progress=False,
                     run_fingerprint={"test": method_name})
        prediction, _ = predict_loader(method, val_loader, amp=True)
    assert prediction.shape == (len(data),) and np.isfinite(prediction).all()
    assert not sim.violations, report(sim)


def _job_files(tmp_path, n=30):
    """A split and Magpie-like features on disk, the inputs `run_training` reads."""
    rng = np.random.default_rng(0)
    ids = [f"m{i}" for i in range(n)]
    features = pd.DataFrame(rng.normal(size=(n, 5)), index=ids)
    target = features[0] - 0.5 * features[1]
    order = list(target.sort_values().index)
    parts = {"train": order[:20], "val": order[20:25], "test": order[25:]}
    summary = {"task": "toy_top", "side": "top", **{part: {"ids": members, "n": len(members)}
                                                     for part, members in parts.items()}}
    (tmp_path / "split.json").write_text(json.dumps(summary))
    pd.DataFrame({"id": ids, "target": target.to_numpy()}).to_csv(tmp_path / "split.csv", index=False)
    features.to_csv(tmp_path / "features.csv")
    return {"split_json": tmp_path / "split.json", "split_csv": tmp_path / "split.csv",
            "inputs": tmp_path / "features.csv"}


def test_a_whole_job_runs_on_the_device_it_decided_and_saves_host_weights(tmp_path, monkeypatch):
    from extrapbench.training.run import run_training

    files = _job_files(tmp_path)
    outputs = {k: str(tmp_path / "out" / f"{k}.{ext}") for k, ext in
               (("history", "csv"), ("checkpoint", "pt"), ("provenance", "json"), ("predictions", "csv"))}
    sim = install(monkeypatch)
    with sim:
        record = run_training(**files, backbone_name="magpie_mlp", backbone_params={"hidden_dim": 16, "out_dim": 8},
                              method_name="erm", method_params={}, train_params={**PROTOCOL, "batch_size": 8},
                              seed=0, run_dir=tmp_path / "run", outputs=outputs, progress=False)
        synchronized = sim.synchronized
    assert not sim.violations, report(sim)
    assert record["device"].startswith("cuda") and record["amp_active"] is True
    assert synchronized >= 2 * 2 + 2      # before and after every epoch's clock reads, and around inference
    saved = torch.load(outputs["checkpoint"], weights_only=False)   # no map_location: host tensors only
    assert all(v.device.type == "cpu" for v in saved["state_dict"].values())


def test_cuda_requested_where_there_is_none_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="train.device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="train.device"):
        resolve_device("gpu")


@pytest.mark.parametrize("flush", [True, False])
def test_flush_denormal_reaches_torch_and_the_provenance(tmp_path, flush):
    """train.flush_denormal: subnormal floats become zero during the run (the CPU speed-up of radial bases at a long
    cutoff), or stay where it is off; the provenance says which happened."""
    from extrapbench.training.run import run_training

    subnormal = torch.tensor([1e-40], dtype=torch.float32)
    outputs = {k: str(tmp_path / "out" / f"{k}.{ext}") for k, ext in
               (("history", "csv"), ("checkpoint", "pt"), ("provenance", "json"), ("predictions", "csv"))}
    try:
        record = run_training(**_job_files(tmp_path), backbone_name="magpie_mlp",
                              backbone_params={"hidden_dim": 16, "out_dim": 8}, method_name="erm", method_params={},
                              train_params={**PROTOCOL, "batch_size": 8, "device": "cpu", "flush_denormal": flush},
                              seed=0, run_dir=tmp_path / "run", outputs=outputs, progress=False)
        flushed = bool((subnormal * 1.0).item() == 0.0)
    finally:
        torch.set_flush_denormal(False)
    if not torch.set_flush_denormal(False) and flush:   # a CPU without the flag: recorded as inactive
        assert record["flush_denormal_active"] is False
        return
    assert record["flush_denormal_active"] is flush and flushed is flush
    assert record["config"]["train"]["flush_denormal"] is flush
