# Tables and figures read small files and take seconds: they run where Snakemake runs (a cluster's login node),
# never as cluster jobs.
localrules:
    aggregate_tables,
    aggregate_other_split_tasks,
    plot_label_distributions,
    plot_parity,
    plot_detection_recall,


rule aggregate_tables:
    """summary.csv (mean/std over seeds of every metric) and the paper-style MAE / GM / Spearman tables."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=paper_run_files("metrics.json") + reference_run_files(tasks=PAPER_TASKS),
        # config `records`: their external rows, on the run's splits (their digests)
        records=RECORDS,
        splits=record_split_files(PAPER_TASKS, "json"),
        split_tables=record_split_files(PAPER_TASKS, "csv"),
    output:
        summary=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"table": "summary (all metrics)"},
        ),
        references_summary="results/tables/summary_references.csv",
        mae_md="results/tables/mae.md",
        mae_tex="results/tables/mae.tex",
        mae_csv=report(
            "results/tables/mae.csv",
            caption="../report/mae_table.rst",
            category="Tables",
            labels={"table": "test MAE (paper Tables 2, 3, 6)"},
        ),
        gm_md="results/tables/gm.md",
        gm_tex="results/tables/gm.tex",
        gm_csv=report(
            "results/tables/gm.csv",
            caption="../report/gm_table.rst",
            category="Tables",
            labels={"table": "test GM (paper Tables 2, 3, 6)"},
        ),
        spearman_md="results/tables/spearman.md",
        spearman_tex="results/tables/spearman.tex",
        spearman_csv=report(
            "results/tables/spearman.csv",
            caption="../report/spearman_table.rst",
            category="Tables",
            labels={"table": "test Spearman (paper Tables 2, 3, 6)"},
        ),
        # every method entry, ranked within each backbone (the tables above: the paper's eight methods)
        mae_all_methods_md="results/tables/mae_all_methods.md",
        mae_all_methods_tex="results/tables/mae_all_methods.tex",
        mae_all_methods_csv=report(
            "results/tables/mae_all_methods.csv",
            caption="../report/all_methods_tables.rst",
            category="Tables",
            labels={"table": "test MAE, every method"},
        ),
        gm_all_methods_md="results/tables/gm_all_methods.md",
        gm_all_methods_tex="results/tables/gm_all_methods.tex",
        gm_all_methods_csv=report(
            "results/tables/gm_all_methods.csv",
            caption="../report/all_methods_tables.rst",
            category="Tables",
            labels={"table": "test GM, every method"},
        ),
        spearman_all_methods_md="results/tables/spearman_all_methods.md",
        spearman_all_methods_tex="results/tables/spearman_all_methods.tex",
        spearman_all_methods_csv=report(
            "results/tables/spearman_all_methods.csv",
            caption="../report/all_methods_tables.rst",
            category="Tables",
            labels={"table": "test Spearman, every method"},
        ),
        # ablation entries next to their reference entries (never ranked), and detection recall / precision / F1
        ablations_md="results/tables/ablations.md",
        ablations_tex="results/tables/ablations.tex",
        ablations_csv=report(
            "results/tables/ablations.csv",
            caption="../report/ablations.rst",
            category="Tables",
            labels={"table": "ablations"},
        ),
        detection_md="results/tables/detection.md",
        detection_tex="results/tables/detection.tex",
        detection_csv=report(
            "results/tables/detection.csv",
            caption="../report/detection.rst",
            category="Tables",
            labels={"table": "detection of extrapolative samples"},
        ),
    log:
        "results/logs/aggregate_tables.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        method_order=METHOD_ORDER,
        task_order=TASK_ORDER,
        std_ddof=config["std_ddof"],  # std over seeds: 1 sample std, 0 the MEX authors' (numpy default)
        detection_release_recall=config["detection_release_recall"],
        # which entries are variants / ablations (extrapbench.report.method_sets): `method:` keys, `ablations`
        method_entries={name: dict(entry or {}) for name, entry in config["methods"].items()},
        ablations=config.get("ablations"),
        method_set="paper",
        references=REFERENCE_NAMES,
        records_other_split=config["records_other_split"],
    script:
        "../../scripts/aggregate_tables.py"


rule plot_label_distributions:
    """Paper Fig. 3: label distribution of each task with its split cuts."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summaries=expand("results/splits/{task}.json", task=TASK_ORDER),
        tables=expand("results/splits/{task}.csv", task=TASK_ORDER),
    output:
        png=report(
            "results/figures/fig3_label_distributions.png",
            caption="../report/fig3_label_distributions.rst",
            category="Figures",
            labels={"figure": "Fig. 3: label distributions"},
        ),
        pdf="results/figures/fig3_label_distributions.pdf",
    log:
        "results/logs/plot_label_distributions.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../../scripts/plot_label_distributions.py"


rule plot_parity:
    """Paper Fig. 4: predicted vs true on one task's test set, train range shaded."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        predictions=lambda wildcards: run_files("predictions.csv", METHOD_ORDER, [wildcards.task]),
        split="results/splits/{task}.json",
    output:
        png=report(
            "results/figures/fig4_parity_{task}.png",
            caption="../report/fig4_parity.rst",
            category="Figures",
            labels={"figure": "Fig. 4: parity", "task": "{task}"},
        ),
        pdf="results/figures/fig4_parity_{task}.pdf",
    log:
        "results/logs/plot_parity/{task}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        seed=config.get("figures", {}).get("parity_seed", min(SEEDS)),
        method_order=METHOD_ORDER,
    script:
        "../../scripts/plot_parity.py"


rule plot_detection_recall:
    """Paper Fig. 5: recall of extrapolative-sample detection per method and task."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
    output:
        png=report(
            "results/figures/fig5_detection_recall.png",
            caption="../report/fig5_detection_recall.rst",
            category="Figures",
            labels={"figure": "Fig. 5: detection recall"},
        ),
        pdf="results/figures/fig5_detection_recall.pdf",
    log:
        "results/logs/plot_detection_recall.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        method_order=METHOD_ORDER,
        task_order=TASK_ORDER,
    script:
        "../../scripts/plot_detection_recall.py"


use rule aggregate_tables as aggregate_other_split_tasks with:
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=run_files("metrics.json", tasks=OTHER_TASKS) + reference_run_files(tasks=OTHER_TASKS),
        records=RECORDS,
        splits=record_split_files(OTHER_TASKS, "json"),
        split_tables=record_split_files(OTHER_TASKS, "csv"),
    output:
        summary=report(
            f"{OTHER_TABLES_DIR}/summary.csv",
            caption="../report/other_split_tasks.rst",
            category="Other split kinds",
            labels={"table": "summary (all metrics)"},
        ),
        references_summary=f"{OTHER_TABLES_DIR}/summary_references.csv",
        mae_md=f"{OTHER_TABLES_DIR}/mae.md",
        mae_tex=f"{OTHER_TABLES_DIR}/mae.tex",
        mae_csv=report(
            f"{OTHER_TABLES_DIR}/mae.csv",
            caption="../report/other_split_tasks.rst",
            category="Other split kinds",
            labels={"table": "test MAE"},
        ),
        r2_md=f"{OTHER_TABLES_DIR}/r2.md",
        r2_tex=f"{OTHER_TABLES_DIR}/r2.tex",
        r2_csv=report(
            f"{OTHER_TABLES_DIR}/r2.csv",
            caption="../report/other_split_tasks.rst",
            category="Other split kinds",
            labels={"table": "test R²"},
        ),
        spearman_md=f"{OTHER_TABLES_DIR}/spearman.md",
        spearman_tex=f"{OTHER_TABLES_DIR}/spearman.tex",
        spearman_csv=report(
            f"{OTHER_TABLES_DIR}/spearman.csv",
            caption="../report/other_split_tasks.rst",
            category="Other split kinds",
            labels={"table": "test Spearman"},
        ),
        ablations_md=f"{OTHER_TABLES_DIR}/ablations.md",
        ablations_tex=f"{OTHER_TABLES_DIR}/ablations.tex",
        ablations_csv=report(
            f"{OTHER_TABLES_DIR}/ablations.csv",
            caption="../report/ablations.rst",
            category="Other split kinds",
            labels={"table": "ablations"},
        ),
    log:
        "results/logs/aggregate_other_split_tasks.log",
    params:
        method_order=METHOD_ORDER,
        task_order=OTHER_TASKS,
        not_applicable=skipped_pairs(OTHER_TASKS),
        std_ddof=config["std_ddof"],
        method_entries={name: dict(entry or {}) for name, entry in config["methods"].items()},
        ablations=config.get("ablations"),
        method_set="all",  # paper B's comparison (ANE among them), not paper A's eight: every method, ranked
        references=REFERENCE_NAMES,
        records_other_split=config["records_other_split"],
