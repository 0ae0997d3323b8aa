"""Snakemake script for the running-time table: inference seconds per test sample per method and backbone.

input:  summary (results/tables/summary.csv; the only input if unnamed)
output: md, tex, csv
params: reference (optional, default "erm"), method_order, backbone_order (optional lists), std_ddof
        (optional, 0 or 1; default: the summary's, else 1; config key std_ddof)
log:    one file.
"""
import logging

import pandas as pd

from extrapbench.report.paper_outputs import running_time_table


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        summary = getattr(smk.input, "summary", None) or smk.input[0]
        table = running_time_table(pd.read_csv(summary), reference=getattr(smk.params, "reference", None) or "erm",
                                   method_order=getattr(smk.params, "method_order", None),
                                   backbone_order=getattr(smk.params, "backbone_order", None),
                                   std_ddof=getattr(smk.params, "std_ddof", None))
        table.write(markdown_path=smk.output.md, latex_path=smk.output.tex, csv_path=smk.output.csv)
        logging.info("wrote the running-time table (%d method × backbone cells)", len(table.frame))
    except Exception:
        logging.exception("building the running-time table failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
