"""Snakemake script for the ``evaluate_runs`` rule: each seed's predictions of one (task, backbone, method) ->
that run's ``metrics.json``.

input:  predictions (one predictions.csv per seed), provenance (one provenance.json per seed, same order),
        split (results/splits/{task}.json); a trained method's also checkpoint (model.pt) and history
        (history.csv), one per seed, same order
output: metrics (one metrics.json per seed, same order, each written atomically)
log:    one file; the traceback of a failure goes there as well as to Snakemake's stderr.
The logic lives in :func:`extrapbench.evaluation.evaluate_runs`.
"""
import logging

from extrapbench.evaluation.runs import evaluate_runs


def main(smk) -> None:
    # force: replace any handler a host process installed, so the log file gets the records
    logging.basicConfig(filename=smk.log[0] if smk.log else None, filemode="w", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    # a trained method's runs also give their checkpoints (checked to be complete archives) and histories (the
    # train loss, for the divergence flag); a reference predictor's have neither
    evaluate_runs(smk.input.predictions, smk.input.split, smk.input.provenance, smk.output.metrics,
                  backbone=getattr(smk.wildcards, "backbone", None),
                  checkpoint_paths=getattr(smk.input, "checkpoint", None),
                  history_paths=getattr(smk.input, "history", None))


if "snakemake" in globals():
    main(snakemake)  # noqa: F821 (injected by Snakemake)
