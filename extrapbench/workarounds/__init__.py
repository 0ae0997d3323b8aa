"""Workarounds for other projects' bugs and gaps, each in its own module with the upstream issue and the condition
under which it can be deleted: scatter_shims (torch_scatter / torch_sparse without wheels for current torch),
snakemake (Snakemake's unquoted script interpreter). The SLURM executor plugin's patch lives with the cluster
tooling (scripts/slurm/)."""
