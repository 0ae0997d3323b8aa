"""Snakemake script for the table-aggregation rule: all runs' ``metrics.json`` -> summary and paper tables.

input:  metrics (list of metrics.json paths)
output: summary (results/tables/summary.csv) and, per metric, named outputs ``{metric}_md``, ``{metric}_tex``
        and ``{metric}_csv`` — at least mae, gm and spearman (Tables 2, 3, 6); any other metric of
        extrapbench.report.tables.HIGHER_IS_BETTER (r2, detect_recall, seconds_per_sample, ...) is written too
        when the rule names its outputs.
params: method_order, task_order, backbone_order (optional lists); not_applicable (optional list of
        {task, backbone, reason}: pairs left out by design, shown as "n/a" with the reason); std_ddof (optional,
        0 or 1, default 1: ddof of the std over seeds, config key std_ddof)
log:    one file.
"""
import logging

from extrapbench.report.tables import HIGHER_IS_BETTER, collect, paper_table, summarize


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        method_order = getattr(smk.params, "method_order", None)
        task_order = getattr(smk.params, "task_order", None)
        backbone_order = getattr(smk.params, "backbone_order", None)
        not_applicable = getattr(smk.params, "not_applicable", None)
        std_ddof = getattr(smk.params, "std_ddof", None)
        std_ddof = 1 if std_ddof is None else int(std_ddof)

        runs = collect(list(smk.input.metrics))
        logging.info("collected %d runs", len(runs))
        summary = summarize(runs, task_order=task_order, method_order=method_order,
                            backbone_order=backbone_order, std_ddof=std_ddof)
        summary.to_csv(smk.output.summary, index=False)

        for metric, higher_is_better in HIGHER_IS_BETTER.items():
            paths = {kind: getattr(smk.output, f"{metric}_{kind}", None) for kind in ("md", "tex", "csv")}
            if not any(paths.values()):
                continue
            table = paper_table(summary, metric, higher_is_better, method_order=method_order,
                                backbone_order=backbone_order, task_order=task_order,
                                not_applicable=not_applicable, std_ddof=std_ddof)
            table.write(markdown_path=paths["md"], latex_path=paths["tex"], csv_path=paths["csv"])
            logging.info("wrote the %s table (%d rows, %d tasks)", metric, len(table.rows), len(table.tasks))
    except Exception:
        logging.exception("aggregating tables failed")
        raise


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
