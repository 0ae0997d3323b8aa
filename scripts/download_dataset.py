"""Rule download_dataset: matminer load_dataset (or paper B's HOIP / MPS) -> results/datasets/{dataset}.json.gz

The table is validated where it is loaded (extrapbench.data.validate_dataset_table: non-finite targets, duplicated
materials, unreadable structures stop the job, and nothing is written)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

from extrapbench.data.datasets import load_dataset_table, write_dataset_table  # noqa: E402
from extrapbench.files import write_atomic  # noqa: E402

name = snakemake.wildcards.dataset  # noqa: F821
frame = load_dataset_table(name, snakemake.params.data_home, snakemake.params.ane_data_home)  # noqa: F821
print(f"{name}: {len(frame)} rows, columns {list(frame.columns)}")
write_atomic(lambda p: write_dataset_table(frame, p), snakemake.output[0])  # noqa: F821
