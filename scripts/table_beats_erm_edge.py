"""Rule table_beats_erm_edge: every method's and the edge reference's metrics.json ->
results/tables/beats_erm_edge.{md,tex,csv} (extrapbench.report.beats_table.beats_table)."""
import logging

from extrapbench.report.beats_table import beats_table
from extrapbench.report.summary import collect


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        runs = collect(list(smk.input.metrics))
        table = beats_table(runs, methods=list(smk.params.methods), task_order=smk.params.task_order,
                            std_ddof=int(smk.params.std_ddof))
        table.write(smk.output.md, smk.output.tex, smk.output.csv)
        logging.info("wrote the beats-ERM / beats-edge table (%d rows)", len(table.cells))
    except Exception:
        logging.exception("the beats-ERM / beats-edge table failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
