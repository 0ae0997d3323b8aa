"""Rule table_extrapolation_penalty: the range tasks' and their random twins' metrics.json ->
results/tables/extrapolation_penalty.{md,tex,csv} (extrapbench.report.references.penalty_table)."""
import logging

from extrapbench.report.references import penalty_table
from extrapbench.report.summary import collect


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        runs = collect(list(smk.input.metrics))
        table = penalty_table(runs, dict(smk.params.twins), methods=list(smk.params.methods),
                              task_order=smk.params.task_order, std_ddof=int(smk.params.std_ddof))
        table.write(smk.output.md, smk.output.tex, smk.output.csv)
        logging.info("wrote the extrapolation penalty table (%d rows)", len(table.cells))
    except Exception:
        logging.exception("the extrapolation penalty table failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
