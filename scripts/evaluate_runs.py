"""Snakemake script for the ``evaluate_runs`` rule: each seed's predictions of one (task, backbone, method) ->
that run's ``metrics.json``.

input:  predictions (one predictions.csv per seed), provenance (one provenance.json per seed, same order),
        split (results/splits/{task}.json); a trained method's also checkpoint (model.pt) and history
        (history.csv), one per seed, same order
output: metrics (one metrics.json per seed, same order, each written atomically)
log:    one file; the traceback of a failure goes there as well as to Snakemake's stderr.
The logic lives in :func:`extrapbench.evaluation.evaluate_runs`.
"""
from extrapbench.evaluation.runs import evaluate_runs
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    # a trained method's runs also give their checkpoints (checked to be complete archives) and histories (the
    # train loss, for the divergence flag); a reference predictor's have neither
    evaluate_runs(snakemake.input.predictions, snakemake.input.split, snakemake.input.provenance,
                  snakemake.output.metrics, backbone=getattr(snakemake.wildcards, "backbone", None),
                  checkpoint_paths=getattr(snakemake.input, "checkpoint", None),
                  history_paths=getattr(snakemake.input, "history", None))


run_rule(main, snakemake)  # noqa: F821
