"""extrapbench used from another workflow as a Snakemake `module` (the catalog's "Usage" snippet), with a
`prefix:`: the host's own folder holds neither the library, the schema nor the scripts, and every file the module
writes must land under the prefix."""
from __future__ import annotations

import json
import subprocess
import sys

import yaml

from conftest import REPO, SHIPPED_DATA_HOME

HOST_SNAKEFILE = """\
from snakemake.utils import min_version

min_version("8.0")


configfile: "config/config.yaml"


module extrapbench:
    # from GitHub: snakefile: github("<owner>/extrapbench", path="workflow/Snakefile", tag="<version>")
    snakefile: "{snakefile}"
    config: config
    prefix: "benchmark"


use rule * from extrapbench as extrapbench_*


rule host_summary:
    input:
        metrics="benchmark/results/runs/phonons_top/magpie_mlp/erm/seed0/metrics.json",
    output:
        "host_summary.txt",
    run:
        import json

        with open(output[0], "w") as handle:
            handle.write(str(json.load(open(input.metrics))["mae"]))
"""

HOST_CONFIG = {
    "data_home": str(SHIPPED_DATA_HOME),
    "tasks": ["phonons_top"],
    "backbones": {"magpie_mlp": {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}},
    "methods": {"erm": {}},
    "seeds": [0],
    "train": {"max_epochs": 2, "early_stopping_patience": 5, "batch_size": 64, "learning_rate": 1e-3},
    "resources": {"train_threads": 1},
}


def test_a_host_workflow_runs_the_first_stages_through_module_with_a_prefix(tmp_path):
    host = tmp_path / "host"
    (host / "config").mkdir(parents=True)
    (host / "Snakefile").write_text(HOST_SNAKEFILE.format(snakefile=REPO / "workflow" / "Snakefile"))
    (host / "config" / "config.yaml").write_text(yaml.safe_dump(HOST_CONFIG))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "host_summary.txt"], cwd=host,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    run_dir = host / "benchmark" / "results" / "runs" / "phonons_top" / "magpie_mlp" / "erm" / "seed0"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert float((host / "host_summary.txt").read_text()) == metrics["mae"]
    # download -> featurize -> split -> train -> evaluate all ran inside the prefix, logs included
    for path in ("results/datasets", "results/features/matbench_phonons/magpie.csv", "results/splits/phonons_top.json",
                 "results/logs/train/phonons_top/magpie_mlp/erm/seed0.log"):
        assert (host / "benchmark" / path).exists(), path
    assert {p.name for p in run_dir.iterdir()} >= {"predictions.csv", "history.csv", "model.pt", "provenance.json"}
    # nothing but Snakemake's own state, the inputs and the outputs outside the prefix
    assert {p.name for p in host.iterdir()} == {"Snakefile", "config", "benchmark", "host_summary.txt", ".snakemake"}
