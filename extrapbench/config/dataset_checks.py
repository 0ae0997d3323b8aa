"""The config check of the datasets a config names: its own (`datasets:`), whose files are opened and read here,
before any job, and the dataset and target of every task definition. One line per problem, each naming the key
(extrapbench.config.validate runs it after the schema)."""
from __future__ import annotations

from typing import Any, Dict, List

from extrapbench.data import own, sources


def dataset_errors(config: Dict[str, Any]) -> List[str]:
    messages = []
    for name, entry in (config.get("datasets") or {}).items():
        if sources.is_builtin(name):
            messages.append(f"at 'datasets.{name}': {name!r} is the name of a built-in dataset (matminer's or "
                            f"paper B's); give your own dataset another name")
            continue
        messages += own.dataset_problems(name, entry)
    for task_id, spec in (config.get("task_definitions") or {}).items():
        dataset = spec.get("dataset")
        if not sources.known_dataset(config, dataset):
            messages.append(f"at 'task_definitions.{task_id}.dataset': {sources.unknown_message(dataset)}")
        elif sources.is_own(config, dataset) and spec.get("target") not in own.dataset_targets(
                sources.own_entry(config, dataset)):
            messages.append(f"at 'task_definitions.{task_id}.target': {spec.get('target')!r} is not a target of "
                            f"dataset {dataset!r}; its targets (datasets.{dataset}.target): "
                            f"{', '.join(map(repr, own.dataset_targets(sources.own_entry(config, dataset))))}")
    return messages
