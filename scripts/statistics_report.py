"""Snakemake script for the statistics report: paired t-tests and Wilcoxon tests against ERM, average ranks
within each backbone with the Friedman test and the Nemenyi critical difference.

input:  metrics (list of results/runs/.../metrics.json; the only input if unnamed)
output: md, tex, paired_csv, wilcoxon_csv, ranks_csv
params: metric (default "mae"), reference (default "erm"), alpha (default 0.05), task_order, method_order,
        backbone_order (optional lists), std_ddof (optional, 0 or 1, default 1; config key std_ddof),
        method_entries (optional: the config's ``methods:`` mapping), ablations (optional: the config key), both
        to leave ablation entries out (extrapbench.report.method_sets); method_set (optional, "paper" (default)
        or "all": the methods of the rank analysis)
log:    one file.
"""
import logging

from extrapbench.jobs.rule import run_rule
from extrapbench.report.method_sets import method_sets
from extrapbench.report.statistics import statistics_report
from extrapbench.report.summary import collect


def main(snakemake):
    metrics = getattr(snakemake.input, "metrics", None) or list(snakemake.input)
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    runs = collect(metrics)
    std_ddof = getattr(snakemake.params, "std_ddof", None)
    method_order = getattr(snakemake.params, "method_order", None)
    sets = method_sets(runs["method"].unique(), getattr(snakemake.params, "method_entries", None),
                       getattr(snakemake.params, "ablations", None), method_order)
    which = getattr(snakemake.params, "method_set", None) or "paper"
    ranked = sets.select(which) if (which == "all" or sets.paper) else sets.all_methods
    notes = [f"(a) and (b) test every method entry against the reference; (c) ranks "
             f"{'the paper' if ranked == sets.paper else 'every'} method set within each backbone "
             f"({', '.join(ranked)}); ablation entries are in ablations.md."]
    report = statistics_report(runs, metric=getattr(snakemake.params, "metric", None) or "mae",
                               reference=getattr(snakemake.params, "reference", None) or "erm",
                               alpha=float(getattr(snakemake.params, "alpha", None) or 0.05),
                               task_order=getattr(snakemake.params, "task_order", None),
                               method_order=method_order,
                               backbone_order=getattr(snakemake.params, "backbone_order", None),
                               std_ddof=1 if std_ddof is None else int(std_ddof),
                               methods=sets.all_methods, ranked_methods=ranked, set_notes=notes)
    report.write(markdown_path=snakemake.output.md, latex_path=snakemake.output.tex,
                 paired_csv=snakemake.output.paired_csv, wilcoxon_csv=snakemake.output.wilcoxon_csv,
                 ranks_csv=snakemake.output.ranks_csv)
    for analysis in report.analyses:
        logging.info("%s", analysis.summary_line())


run_rule(main, snakemake)  # noqa: F821
