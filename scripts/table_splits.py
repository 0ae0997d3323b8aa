"""Snakemake script for Table 1: per task, sample counts and train/val/test label ranges.

input:  splits (list of results/splits/{task}.json); unnamed inputs: every .json among them
output: md, tex, csv
params: task_order (optional list), title (optional)
log:    one file.
"""
import logging

from extrapbench.report.paper_outputs import split_table


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        splits = getattr(smk.input, "splits", None)
        if splits is None:
            splits = [str(path) for path in smk.input if str(path).endswith(".json")]
        if isinstance(splits, str):
            splits = [splits]
        title = getattr(smk.params, "title", None)
        table = split_table(list(splits), task_order=getattr(smk.params, "task_order", None),
                            **({"title": title} if title else {}))
        table.write(markdown_path=smk.output.md, latex_path=smk.output.tex, csv_path=smk.output.csv)
        logging.info("wrote Table 1 (%d tasks)", len(table.frame))
    except Exception:
        logging.exception("building Table 1 failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
