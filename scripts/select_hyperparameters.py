"""Rule select_hyperparameters: the grid points' predictions -> selected.json (every point's val MAE and the winner,
chosen on val rows only) and grid_metrics.json (every point's metrics), by
extrapbench.jobs.selection.select_hyperparameters."""
from extrapbench.jobs.rule import run_rule
from extrapbench.jobs.selection import select_hyperparameters


def main(snakemake):
    select_hyperparameters(points=snakemake.params.points, predictions=list(snakemake.input.predictions),
                           provenance=list(snakemake.input.provenance), split=snakemake.input.split,
                           selected=snakemake.output.selected, grid_metrics=snakemake.output.grid_metrics,
                           task=snakemake.wildcards.task, backbone=snakemake.wildcards.backbone,
                           method=snakemake.wildcards.method, seed=snakemake.params.seed)


run_rule(main, snakemake)  # noqa: F821
