"""Rule report_stamp: before every table and figure, every run they read compared with the config, the tables and
figures another config made moved aside, results/tables/stamp.json written (extrapbench.report.stale_outputs).

input:  provenance (every provenance.json the tables and figures read: runs, reference predictors, grid points)
output: stamp (results/tables/stamp.json; flagged `update`: the previous one is read before it is replaced)
params: config_files, config_digest, allow_stale_runs (config report.allow_stale_runs), graph_backbones,
        produced (this config's tables and figures, relative to results/)
log:    one file.
"""
from extrapbench.jobs.rule import run_rule
from extrapbench.report.stale_outputs import report_stamp


def main(snakemake):
    report_stamp(provenance_paths=[str(path) for path in snakemake.input.provenance], config=snakemake.config,
                 config_files=list(snakemake.params.config_files), config_digest=snakemake.params.config_digest,
                 allow_stale_runs=bool(snakemake.params.allow_stale_runs),
                 graph_backbones=list(snakemake.params.graph_backbones), produced=list(snakemake.params.produced),
                 stamp_path=snakemake.output.stamp)


run_rule(main, snakemake)  # noqa: F821
