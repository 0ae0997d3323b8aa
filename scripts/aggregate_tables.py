"""Snakemake script for the table-aggregation rule: all runs' ``metrics.json`` -> summary, the paper tables, the
all-methods tables, the ablation tables and the detection table.

input:  metrics (list of metrics.json paths); records, splits, split_tables (optional: other people's records, config
        ``records``, and the run's results/splits/{task}.json / .csv, whose digests they must match: their model
        entries become unranked external rows of the {metric} and all-methods tables, extrapbench.records.workflow)
output: summary (results/tables/summary.csv: the methods' rows), references_summary (optional: the reference
        predictors' rows, results/tables/summary_references.csv) and, per metric, named outputs ``{metric}_md``, ``{metric}_tex``
        and ``{metric}_csv`` — at least mae, gm and spearman (Tables 2, 3, 6: the paper's eight methods, ranked
        within each backbone) — and ``{metric}_all_methods_{md,tex,csv}`` (every method entry, ranked within
        each backbone); any other metric of extrapbench.report.summary.HIGHER_IS_BETTER (r2, ...) is written too
        when the rule names its outputs. Optional: ``ablations_{md,tex,csv}`` (every ablation entry against its
        reference, Δ and paired p) and ``detection_{md,tex,csv}`` (recall; precision and F1 when train
        predictions exist).
params: method_order, task_order, backbone_order (optional lists); references (optional list: reference predictors'
        names, shown as unranked rows under each backbone); not_applicable (optional list of
        {task, backbone, reason}: pairs left out by design, shown as "n/a" with the reason); std_ddof (optional,
        0 or 1, default 1: ddof of the std over seeds, config key std_ddof); method_entries (optional: the
        config's ``methods:`` mapping, to tell variants from methods); ablations (optional: the config key
        ``ablations``); method_set (optional, "paper" (default) or "all": the rows of the ``{metric}`` tables);
        detection_release_recall (optional, default false: add the release's recall column to the detection table);
        records_other_split (optional, stop (default) | skip: a record's task on another split stops the job, or
        is left out)
log:    one file.
"""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.records.workflow import job_external_rows
from extrapbench.report.ablations import ablation_tables
from extrapbench.report.detection_table import detection_table
from extrapbench.report.method_sets import method_sets
from extrapbench.report.summary import HIGHER_IS_BETTER, collect, summarize
from extrapbench.report.tables import paper_table


def _paths(output, stem):
    return {kind: getattr(output, f"{stem}_{kind}", None) for kind in ("md", "tex", "csv")}


def main(snakemake):
    method_order = getattr(snakemake.params, "method_order", None)
    task_order = getattr(snakemake.params, "task_order", None)
    backbone_order = getattr(snakemake.params, "backbone_order", None)
    not_applicable = getattr(snakemake.params, "not_applicable", None)
    std_ddof = getattr(snakemake.params, "std_ddof", None)
    std_ddof = 1 if std_ddof is None else int(std_ddof)
    main_set = getattr(snakemake.params, "method_set", None) or "paper"

    runs = collect(list(snakemake.input.metrics))
    logging.info("collected %d runs", len(runs))
    summary = summarize(runs, task_order=task_order, method_order=method_order,
                        backbone_order=backbone_order, std_ddof=std_ddof)
    references = [r for r in (getattr(snakemake.params, "references", None) or ()) if r in set(summary["method"])]
    # summary.csv keeps the methods (what the rank analyses, figures and other tables read); the reference
    # predictors' rows go to their own file
    is_reference = summary["method"].isin(references)
    summary[~is_reference].to_csv(snakemake.output.summary, index=False)
    if getattr(snakemake.output, "references_summary", None):
        summary[is_reference].to_csv(snakemake.output.references_summary, index=False)
    sets = method_sets(summary["method"].unique(), getattr(snakemake.params, "method_entries", None),
                       getattr(snakemake.params, "ablations", None), method_order,
                       references=references)
    logging.info("paper set %s; other methods %s; ablations %s", sets.paper, sets.others, sets.ablations)
    if main_set == "paper" and not sets.paper:
        main_set = "all"  # none of the paper's eight ran: the main tables hold every method

    # other people's records (config `records`): unranked external rows of the main and all-methods tables
    external = job_external_rows(snakemake, runs, references)
    tables_summary = (summary if not external.methods else
                      summarize(external.with_runs(runs), task_order=task_order, method_order=method_order,
                                backbone_order=backbone_order, std_ddof=std_ddof))
    common = dict(backbone_order=external.backbone_order(runs, backbone_order), task_order=task_order,
                  not_applicable=not_applicable, std_ddof=std_ddof, labels=sets.labels())
    for metric, higher_is_better in HIGHER_IS_BETTER.items():
        for which, stem in ((main_set, metric), ("all", f"{metric}_all_methods")):
            paths = _paths(snakemake.output, stem)
            if not any(paths.values()):
                continue
            if f"{metric}_mean" not in summary.columns:
                raise ValueError(f"the runs have no {metric} values for the {stem} table")
            table = paper_table(tables_summary, metric, higher_is_better,
                                methods=[*sets.select(which), *external.methods], external=external.methods,
                                extra_notes=[*sets.notes(which), *external.notes], references=sets.references,
                                **common)
            table.write(markdown_path=paths["md"], latex_path=paths["tex"], csv_path=paths["csv"])
            logging.info("wrote the %s table (%d rows, %d tasks)", stem, len(table.rows), len(table.tasks))

    paths = _paths(snakemake.output, "ablations")
    if any(paths.values()):
        ablation_tables(runs, sets, [m for m in ("mae", "gm", "spearman", "r2") if _paths(snakemake.output, m)["md"]
                                     or _paths(snakemake.output, m)["csv"]] or ["mae"], std_ddof, task_order,
                        backbone_order).write(paths["md"], paths["tex"], paths["csv"])
        logging.info("wrote the ablation tables (%d entries)", len(sets.ablations))
    paths = _paths(snakemake.output, "detection")
    if any(paths.values()):
        detection_table(summary, sets.all_methods, task_order, backbone_order,
                        extra_notes=[n for n in sets.notes("all")[1:]],
                        release_recall=bool(getattr(snakemake.params, "detection_release_recall", False))).write(
            paths["md"], paths["tex"], paths["csv"])


run_rule(main, snakemake)  # noqa: F821
