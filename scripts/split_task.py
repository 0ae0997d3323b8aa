"""Rule split_task: one task's split -> results/splits/{task}.json (+ .csv with every member's target)"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

from extrapbench.data.datasets import read_dataset_table  # noqa: E402
from extrapbench.files import write_atomic  # noqa: E402
from extrapbench.naming import PARTS  # noqa: E402
from extrapbench.splits.task_split import make_split, split_frame, task_table  # noqa: E402

task = snakemake.params.task  # noqa: F821
if "sizes_like" in task.split_params:  # a range task's random twin: the same part sizes as that task's split
    import dataclasses

    like = json.loads(Path(snakemake.input.sizes_like).read_text())  # noqa: F821
    params = {k: v for k, v in task.split_params.items() if k != "sizes_like"}
    task = dataclasses.replace(task, split_params={**params, "n_test": like["test"]["n"], "n_val": like["val"]["n"]})
    print(f"{task.id}: part sizes of {like['task']}: test {like['test']['n']}, val {like['val']['n']}")
table = task_table(task, read_dataset_table(snakemake.input.dataset))  # noqa: F821
# config key split_ties (held_out | both_sides): how a label tied at a range cut is assigned; the summary records it
summary = make_split(task, table, split_ties=getattr(snakemake.params, "split_ties", None))  # noqa: F821
for part in PARTS:
    print(f"{task.id} {part}: n={summary[part]['n']} range=[{summary[part]['min']:.4f}, {summary[part]['max']:.4f}]")
print(f"{task.id}: ties at a cut: {summary['split_ties']}; {summary['n_in_two_parts']} materials in two parts")
write_atomic(lambda p: split_frame(summary, table).to_csv(p, index=False), snakemake.output.table)  # noqa: F821
write_atomic(lambda p: Path(p).write_text(json.dumps(summary, indent=1)), snakemake.output.summary)  # noqa: F821
