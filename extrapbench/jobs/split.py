"""Rule split_task's job: one task's split of its dataset -> the split summary (JSON, with the split's digest under
``digest``) and the split table (CSV, every member's target)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from extrapbench.data.datasets import read_dataset_table
from extrapbench.files import write_atomic
from extrapbench.naming import PARTS
from extrapbench.splits.task_split import make_split, split_digest, split_frame, task_table
from extrapbench.tasks import Task


def split_task(task: Task, dataset, table_out, summary_out, *, sizes_like=None, split_ties: str | None = None,
               min_part_size: int | None = None) -> None:
    """`dataset`: the task's dataset table; `sizes_like`: for a range task's random twin (its split_params name
    `sizes_like`), that task's split summary, whose part sizes the twin takes; `split_ties` (config key: held_out |
    both_sides): how a label tied at a range cut is assigned, which the summary records; `min_part_size` (config
    key): a part with fewer materials is refused (make_split). The summary's ``digest`` is the split's
    extrapbench.splits.task_split.split_digest (of the table written beside it), the one a record names."""
    if "sizes_like" in task.split_params:
        like = json.loads(Path(sizes_like).read_text())
        params = {k: v for k, v in task.split_params.items() if k != "sizes_like"}
        task = dataclasses.replace(task, split_params={**params, "n_test": like["test"]["n"],
                                                       "n_val": like["val"]["n"]})
        print(f"{task.id}: part sizes of {like['task']}: test {like['test']['n']}, val {like['val']['n']}")
    table = task_table(task, read_dataset_table(dataset))
    summary = make_split(task, table, split_ties=split_ties, min_part_size=min_part_size)
    for part in PARTS:
        print(f"{task.id} {part}: n={summary[part]['n']} range=[{summary[part]['min']:.4f}, "
              f"{summary[part]['max']:.4f}]")
    print(f"{task.id}: ties at a cut: {summary['split_ties']}; {summary['n_in_two_parts']} materials in two parts")
    frame = split_frame(summary, table)
    summary["digest"] = split_digest(frame)
    print(f"{task.id}: split digest {summary['digest']}")
    write_atomic(lambda p: frame.to_csv(p, index=False), table_out)
    write_atomic(lambda p: Path(p).write_text(json.dumps(summary, indent=1)), summary_out)
