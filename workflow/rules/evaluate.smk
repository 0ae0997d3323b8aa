# evaluate_run reads one predictions file and writes one JSON (no torch): it runs where Snakemake runs, never as a
# cluster job (a submission per run would cost more than the work)
localrules:
    evaluate_run,


rule evaluate_run:
    """SPEC §6 metrics of one run (test MAE, GM, Spearman, R², detection, seconds per sample). The grid points are
    evaluated by select_hyperparameters (grid_metrics.json)."""
    input:
        predictions=f"{RUN_DIR}/predictions.csv",
        split="results/splits/{task}.json",
        provenance=f"{RUN_DIR}/provenance.json",
    output:
        metrics=f"{RUN_DIR}/metrics.json",
    log:
        RUN_DIR.replace("results/runs", "results/logs/evaluate") + ".log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/evaluate_run.py"
