"""Rule predict_reference: one reference predictor on one task -> predictions.csv and provenance.json per seed
(extrapbench.reference_runs), in the backbone-independent results/references/{task}/{reference}/seed{seed}/."""
from extrapbench.jobs.rule import run_rule
from extrapbench.naming import run_folder_seed
from extrapbench.training.reference_run import predict_references


def main(snakemake):
    # each seed from its outputs' folder (seed<N>): the seed list is no param, so dropping a seed predicts nothing again
    runs = [{"backbone": None, "reference": snakemake.wildcards.method, "seed": run_folder_seed(predictions),
             "predictions": predictions, "provenance": provenance}
            for predictions, provenance in zip(snakemake.output.predictions, snakemake.output.provenance, strict=True)]
    predict_references(split_json=snakemake.input.split_json, split_csv=snakemake.input.split_csv,
                       features_csv=snakemake.input.get("features"),
                       references={snakemake.wildcards.method: snakemake.params.reference}, runs=runs)


run_rule(main, snakemake)  # noqa: F821
