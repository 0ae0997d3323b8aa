"""Rule table_skill: every method's and reference's metrics.json -> results/tables/skill.{md,tex,csv}
(extrapbench.report.references.skill_table)."""
import logging

from extrapbench.report.references import skill_table
from extrapbench.report.summary import collect


def main(smk) -> None:
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        runs = collect(list(smk.input.metrics))
        table = skill_table(runs, methods=list(smk.params.methods), references=list(smk.params.references),
                            task_order=smk.params.task_order, std_ddof=int(smk.params.std_ddof))
        table.write(smk.output.md, smk.output.tex, smk.output.csv)
        logging.info("wrote the skill table (%d rows)", len(table.cells))
    except Exception:
        logging.exception("the skill table failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
