# Reference predictors (config `references`, extrapbench/references/): what a trained model's extrapolation error
# has to beat. One job per (task, reference) predicts every seed, once for all backbones (a reference does not
# depend on the backbone); evaluate_runs then evaluates it into each backbone's run folder, so the tables show it
# in every backbone's block.


rule predict_reference:
    """One reference predictor on one task: every seed's val/test/train predictions and provenance (a constant, or
    a random forest / ridge on Magpie features). Seconds for constants, minutes for a random forest on the
    largest dataset."""
    input:
        unpack(reference_inputs),
    output:
        predictions=expand(f"{REFERENCE_DIR}/predictions.csv", seed=SEEDS, allow_missing=True),
        provenance=expand(f"{REFERENCE_DIR}/provenance.json", seed=SEEDS, allow_missing=True),
    log:
        "results/logs/predict_reference/{task}/{method}.log",
    wildcard_constraints:
        method=REFERENCE_PATTERN,
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    # no seed list among the params: the seeds are read from the outputs' folders, so dropping a seed from the
    # config keeps the other seeds' predictions instead of predicting them again
    params:
        reference=lambda wildcards: canonical(REFERENCES[wildcards.method]),  # key order: no rerun
    script:
        "../../scripts/predict_reference.py"


# The reference tables and figure read small files and take seconds: they run where Snakemake runs.
localrules:
    table_skill,
    table_beats_erm_edge,
    table_extrapolation_penalty,
    plot_mae_vs_references,


rule table_skill:
    """Skill = 1 - MAE / MAE(edge_train) per backbone x method x task (> 0: beats the train-edge constant)."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=paper_run_files("metrics.json") + reference_run_files(tasks=PAPER_TASKS),
        # config `records`: their external rows, on the run's splits (their digests)
        records=RECORDS,
        splits=record_split_files(PAPER_TASKS, "json"),
        split_tables=record_split_files(PAPER_TASKS, "csv"),
    output:
        md="results/tables/skill.md",
        tex="results/tables/skill.tex",
        csv=report(
            "results/tables/skill.csv",
            caption="../report/skill.rst",
            category="Tables",
            labels={"table": "skill against the train-edge constant"},
        ),
    log:
        "results/logs/table_skill.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=METHOD_ORDER,
        references=REFERENCE_NAMES,
        task_order=TASK_ORDER,
        std_ddof=config["std_ddof"],
        records_other_split=config["records_other_split"],
    script:
        "../../scripts/table_skill.py"


rule table_beats_erm_edge:
    """Per task, backbone and method: test MAE, and whether it beats ERM and the train-edge constant (paired
    t-tests over seeds)."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=paper_run_files("metrics.json") + reference_run_files(tasks=PAPER_TASKS),
    output:
        md="results/tables/beats_erm_edge.md",
        tex="results/tables/beats_erm_edge.tex",
        csv=report(
            "results/tables/beats_erm_edge.csv",
            caption="../report/beats_erm_edge.rst",
            category="Tables",
            labels={"table": "beats ERM / the train-edge constant"},
        ),
    log:
        "results/logs/table_beats_erm_edge.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        methods=METHOD_ORDER,
        task_order=TASK_ORDER,
        std_ddof=config["std_ddof"],
    script:
        "../../scripts/table_beats_erm_edge.py"


rule table_extrapolation_penalty:
    """MAE on each range task / MAE on its random twin (same sizes, backbone, method): the in-distribution penalty."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=run_files("metrics.json", IN_DISTRIBUTION["methods"], list(RANDOM_TWINS.values())) + twin_run_files(),
    output:
        md="results/tables/extrapolation_penalty.md",
        tex="results/tables/extrapolation_penalty.tex",
        csv=report(
            "results/tables/extrapolation_penalty.csv",
            caption="../report/extrapolation_penalty.rst",
            category="Tables",
            labels={"table": "extrapolation penalty"},
        ),
    log:
        "results/logs/table_extrapolation_penalty.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        twins=RANDOM_TWINS,
        methods=IN_DISTRIBUTION["methods"],
        task_order=TASK_ORDER,
        std_ddof=config["std_ddof"],
    script:
        "../../scripts/table_extrapolation_penalty.py"


rule plot_mae_vs_references:
    """One task: every method's test MAE (mean +- std over seeds) per backbone, the constant references as
    horizontal lines and the classical baselines as points."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
        references="results/tables/summary_references.csv",
    output:
        png=report(
            "results/figures/mae_vs_references_{task}.png",
            caption="../report/mae_vs_references.rst",
            category="Figures",
            labels={"figure": "MAE against the references", "task": "{task}"},
        ),
        pdf="results/figures/mae_vs_references_{task}.pdf",
    log:
        "results/logs/plot_mae_vs_references/{task}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        method_order=METHOD_ORDER,
    script:
        "../../scripts/plot_mae_vs_references.py"
