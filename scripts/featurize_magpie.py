"""Rule featurize_magpie: compositions -> Magpie features (results/features/{dataset}/magpie.csv)"""
from extrapbench.data.datasets import read_dataset_table
from extrapbench.data.features import magpie_features
from extrapbench.files import write_atomic
from extrapbench.jobs.rule import run_rule


def main(snakemake):
    table = read_dataset_table(snakemake.input[0], structures=False)
    features = magpie_features(table["composition"])
    write_atomic(lambda p: features.to_csv(p), snakemake.output[0])


run_rule(main, snakemake)  # noqa: F821
