"""Snakemake script for Table 4: MEX score-module variants (mlp, mlp+cos, cos), test MAE and GM.

input:  summary (results/tables/summary.csv), provenance (list of the runs' provenance.json; only runs whose
        registered method is MEX are used, so passing every run's file is fine) and, optionally, metrics (the
        MEX entries' metrics.json: for Δ and the paired t-test's p against the default score module)
output: md, tex, csv (both metrics in each: a section / tabular per metric; the CSV has a `metric` column)
params: metrics (optional list, default ["mae", "gm"]), task_order, backbone_order (optional lists),
        std_ddof (optional, 0 or 1; default: the summary's, else 1; config key std_ddof)
log:    one file.
"""
import logging

import pandas as pd

from extrapbench.report.paper_outputs import variant_tables
from extrapbench.report.tables import collect


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        provenance = smk.input.provenance
        if isinstance(provenance, str):
            provenance = [provenance]
        metrics = getattr(smk.input, "metrics", None)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics or [])
        tables = variant_tables(pd.read_csv(smk.input.summary), list(provenance),
                                metrics=getattr(smk.params, "metrics", None) or ("mae", "gm"),
                                task_order=getattr(smk.params, "task_order", None),
                                backbone_order=getattr(smk.params, "backbone_order", None),
                                std_ddof=getattr(smk.params, "std_ddof", None),
                                runs=collect(metrics) if metrics else None)
        tables.write(markdown_path=smk.output.md, latex_path=smk.output.tex, csv_path=smk.output.csv)
        logging.info("wrote Table 4 (%d MEX entries: %s)", len(tables.entries), ", ".join(tables.entries["label"]))
    except Exception:
        logging.exception("building Table 4 failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
