"""Make data/examples/my_phonons.csv: 300 materials of the shipped matbench_phonons file as a user's own dataset.

Run from the repository root: ``.venv/bin/python data/examples/make_my_phonons.py``. A seeded sample of 300 rows
(numpy default_rng(0), kept in file order) of data/matminer/matbench_phonons.json.gz; each structure written as CIF
text (pymatgen's CifWriter, 6 significant figures, as the shipped file's structures were given), ids
``ph-0001`` ... in that order, and the target renamed ``last_phdos_peak`` (cm^-1, unchanged). The same input gives
the same file byte for byte.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "data" / "matminer"
OUT = REPO / "data" / "examples" / "my_phonons.csv"
ROWS, SEED = 300, 0


def main() -> None:
    from matminer.datasets import load_dataset
    from pymatgen.io.cif import CifWriter

    frame = load_dataset("matbench_phonons", data_home=str(SOURCE))
    rows = np.sort(np.random.default_rng(SEED).choice(len(frame), size=ROWS, replace=False))
    picked = frame.iloc[rows]
    table = pd.DataFrame({
        "id": [f"ph-{i + 1:04d}" for i in range(ROWS)],
        "cif": [str(CifWriter(s, significant_figures=6)) for s in picked["structure"]],
        "last_phdos_peak": picked["last phdos peak"].to_numpy(),
    })
    table.to_csv(OUT, index=False, lineterminator="\n")
    print(f"{OUT.relative_to(REPO)}: {len(table)} rows from matbench_phonons rows {rows[:5].tolist()} ...")


if __name__ == "__main__":
    main()
