"""Rule featurize_magpie: compositions -> Magpie features (results/features/{dataset}/magpie.csv)"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import redirect_to_log  # noqa: E402

redirect_to_log(snakemake)  # noqa: F821

from extrapbench.data.datasets import read_dataset_table  # noqa: E402
from extrapbench.files import write_atomic  # noqa: E402
from extrapbench.data.features import magpie_features  # noqa: E402

table = read_dataset_table(snakemake.input[0], structures=False)  # noqa: F821
features = magpie_features(table["composition"])
write_atomic(lambda p: features.to_csv(p), snakemake.output[0])  # noqa: F821
