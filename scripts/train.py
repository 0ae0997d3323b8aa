"""Rules train, train_seeds and train_grid_point: one training job (extrapbench.jobs.train.train_job, which says
what each rule trains, how a failed seed, a killed job and a deterministic error are handled).

input:  split_json, split_csv, representation (the backbone's features or graphs); a final run of a method with a
        selection also selected (its selected.json)
output: predictions, history, provenance and, but for train_grid_point, checkpoint: one path each, one per seed for
        train_seeds
params: run (workflow/rules/common.smk, run_params), predict_train
resources: attempt (Snakemake's attempt: > 1 on a retry)
log:    one file; one per seed for train_seeds.
"""
from extrapbench.jobs.rule import run_rule
from extrapbench.jobs.train import OUTPUT_KINDS, train_job


def main(snakemake):
    train_job(run=snakemake.params.run, split_json=snakemake.input.split_json, split_csv=snakemake.input.split_csv,
              representation=snakemake.input.representation,
              selected=getattr(snakemake.input, "selected", None),
              outputs={kind: getattr(snakemake.output, kind, None) for kind in OUTPUT_KINDS},
              logs=list(snakemake.log), backbone=snakemake.wildcards.backbone, method=snakemake.wildcards.method,
              config=snakemake.config, threads=snakemake.threads, predict_train=snakemake.params.predict_train,
              attempt=int(getattr(getattr(snakemake, "resources", None), "attempt", 1) or 1))


run_rule(main, snakemake)  # noqa: F821
