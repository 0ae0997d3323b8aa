"""A run's samples: the split's members as model inputs (Magpie features, graphs, or a backbone's own features) with
standardised targets, and the loaders of the backbone's input kind. No training here: extrapbench.training.run puts
them to use."""
from __future__ import annotations

import os
from typing import Any, Dict

import numpy as np
import pandas as pd
import torch

from extrapbench.data.batch import TensorSample, composition_loader
from extrapbench.training.inputs import standardised, standardised_features


def composition_samples(features_csv: str | os.PathLike, ids_by_part: Dict[str, list]) -> Dict[str, list]:
    """Magpie features standardised with train statistics (constant columns left at 0)."""
    scaled = standardised_features(features_csv, ids_by_part)
    return {part: [TensorSample(torch.from_numpy(row).unsqueeze(0)) for row in rows] for part, rows in scaled.items()}


def own_feature_samples(table_path: str | os.PathLike, ids_by_part: Dict[str, list], backbone_cls) -> Dict[str, list]:
    """The features a backbone of input kind "features" computes itself: its `featurize(table)` over the split
    members' rows of the dataset table (`composition`: pymatgen Compositions; `structure`: pymatgen Structures,
    where the dataset has them; no targets), one row per material in the table's order, then standardised with
    train statistics as Magpie features are."""
    from pymatgen.core import Composition

    from extrapbench.data.datasets import read_dataset_table

    name = getattr(backbone_cls, "registry_name", backbone_cls.__name__)
    members = list(dict.fromkeys(i for ids in ids_by_part.values() for i in ids))
    table = read_dataset_table(table_path)
    missing = [i for i in members if i not in table.index]
    if missing:
        raise KeyError(f"{table_path}: no row for {len(missing)} split members, e.g. {sorted(missing)[:3]}")
    columns = [column for column in ("composition", "structure") if column in table.columns]
    rows = table.loc[members, columns].copy()
    if "composition" in rows:
        rows["composition"] = [c if isinstance(c, Composition) else Composition(c) for c in rows["composition"]]
    try:
        features = np.asarray(backbone_cls.featurize(rows), dtype=np.float64)
    except KeyError as exc:
        raise KeyError(f"backbone {name!r}: featurize(table) read {exc}; the table has the columns {columns}") from exc
    if features.ndim != 2 or len(features) != len(rows):
        raise ValueError(f"backbone {name!r}: featurize(table) returned shape {features.shape}; expected "
                         f"({len(rows)}, n_features), one row per material in the table's order")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise ValueError(f"backbone {name!r}: featurize(table) gave non-finite features for {int((~finite).sum())} "
                         f"materials, e.g. {list(rows.index[~finite][:3])}")
    scaled = standardised(pd.DataFrame(features, index=rows.index), ids_by_part)
    return {part: [TensorSample(torch.from_numpy(row).unsqueeze(0)) for row in part_rows]
            for part, part_rows in scaled.items()}


def graph_samples(graphs_pt: str | os.PathLike, ids_by_part: Dict[str, list]) -> tuple[Dict[str, list], dict]:
    """Graphs of the split members, and how the graphs were built (cutoff, max_neighbors)."""
    from extrapbench.data.graphs import edgeless_members_error, load_graphs  # torch_geometric: graph backbones only

    # onto the host whatever device wrote them (weights_only: plain tensors, extrapbench.data.graphs.save_graphs):
    # data stay there and travel to the run's device per batch. Only the split's members become graphs, each once.
    wanted = {i for ids in ids_by_part.values() for i in ids}
    ids, graphs, meta = load_graphs(graphs_pt, only=wanted)
    by_id = dict(zip(ids, graphs))
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise KeyError(f"{graphs_pt}: no graph for {len(missing)} split members, e.g. {sorted(missing)[:3]}")
    # a member without a neighbour within the cutoff: every graph backbone refuses it at its first batch, which
    # could only say its position in that batch; say which material, now, before any training
    parts = {i: part for part, part_ids in ids_by_part.items() for i in part_ids}
    edgeless = edgeless_members_error(ids, graphs, meta.get("cutoff"), graphs_pt, parts)
    if edgeless:
        raise ValueError(edgeless)
    seen, samples = set(), {}
    for part, part_ids in ids_by_part.items():
        # a member in two parts (split_ties: both_sides) gets its own copy: the parts' targets are set per sample
        samples[part] = [by_id[i].clone() if i in seen else by_id[i] for i in part_ids]
        seen.update(part_ids)
    return samples, meta


def make_loader(samples, kind: str, **options):
    """A DataLoader of the backbone's input kind: torch_geometric batches for graphs, TensorSample batches for
    Magpie or own features (no torch_geometric import)."""
    if kind in ("composition", "features"):
        return composition_loader(samples, **options)
    from torch_geometric.loader import DataLoader

    return DataLoader(samples, **options)


def graph_backbone_params(backbone_cls, params: Dict[str, Any], graph_meta: dict, source) -> Dict[str, Any]:
    """A graph backbone's cutoff / neighbour cap follow the graphs it is given (config key `graph`), so the two
    cannot drift apart; setting them differently in the backbone's own config is an error."""
    import inspect

    accepted = inspect.signature(backbone_cls.__init__).parameters
    params = dict(params)
    for key, value in graph_meta.items():
        if key not in accepted:
            continue
        if key in params and params[key] != value:
            raise ValueError(f"backbone {backbone_cls.registry_name!r}: {key}={params[key]} differs from the "
                             f"graphs in {source} ({key}={value}); set it once, under the config key 'graph'")
        params[key] = value
    return params


def standardise_targets(samples: Dict[str, list], target: pd.Series, ids_by_part: Dict[str, list]) -> tuple:
    """Set every sample's `y` to its target standardised with the train part's mean and std; returns (mean, std)."""
    train_y = target.loc[ids_by_part["train"]].to_numpy(float)
    mean, std = float(train_y.mean()), float(train_y.std()) or 1.0
    for part, ids in ids_by_part.items():
        y = ((target.loc[ids].to_numpy(float) - mean) / std).astype(np.float32)
        for sample, value in zip(samples[part], y):
            sample.y = torch.tensor([value])
    return mean, std
