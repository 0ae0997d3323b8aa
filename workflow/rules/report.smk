# Tables and figures read small files and take seconds: they run where Snakemake runs, never as cluster jobs.
localrules:
    table_splits,
    table_splits_other_split_tasks,
    table_variants,
    table_candidate_range,
    table_running_time,
    statistics_report,
    plot_critical_difference,
    plot_lambda_sensitivity,
    table_provenance,
    table_provenance_other_split_tasks,
    report_stamp,


rule report_stamp:
    """Before any table or figure: every run they read compared with the config (a run trained under settings the
    config no longer has stops here, one line per run, unless `report.allow_stale_runs`), the tables and figures
    another config made moved aside to results/stale/, and results/tables/stamp.json written: the config file(s),
    its digest and the stale runs let through, which every table and figure states (extrapbench.report.stamp)."""
    input:
        provenance=report_run_provenance(),
    output:
        stamp=update(REPORT_STAMP),  # kept while the job runs: the previous config's stamp is read first
    log:
        "results/logs/report_stamp.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config_files=CONFIG_NAMES,
        config_digest=CONFIG_DIGEST,
        allow_stale_runs=config["report"]["allow_stale_runs"],
        graph_backbones=GRAPH_BACKBONES,
        produced=report_outputs(),
    script:
        "../../scripts/report_stamp.py"


# The rest of the paper's outputs (docs/running.md) and the statistics, regenerated from results without retraining.


rule table_splits:
    """Paper Table 1: sample counts and label ranges per task."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        splits=expand("results/splits/{task}.json", task=TASK_ORDER),
    output:
        md="results/tables/table1_splits.md",
        tex="results/tables/table1_splits.tex",
        csv=report(
            "results/tables/table1_splits.csv",
            caption="../report/table1_splits.rst",
            category="Tables",
            labels={"table": "Table 1: splits"},
        ),
    log:
        "results/logs/table_splits.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
    script:
        "../../scripts/table_splits.py"


use rule table_splits as table_splits_other_split_tasks with:
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        splits=expand("results/splits/{task}.json", task=OTHER_TASKS),
    output:
        md=f"{OTHER_TABLES_DIR}/splits.md",
        tex=f"{OTHER_TABLES_DIR}/splits.tex",
        csv=report(
            f"{OTHER_TABLES_DIR}/splits.csv",
            caption="../report/other_split_tasks.rst",
            category="Other split kinds",
            labels={"table": "splits"},
        ),
    log:
        "results/logs/table_splits_other_split_tasks.log",
    params:
        task_order=OTHER_TASKS,
        title="Tasks with other split kinds: sample counts and label ranges",


rule table_variants:
    """Paper Table 4: MEX score-module variants."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
        provenance=paper_run_files("provenance.json", MEX_ENTRIES),
        metrics=paper_run_files("metrics.json", MEX_ENTRIES),
    output:
        md="results/tables/table4_mex_variants.md",
        tex="results/tables/table4_mex_variants.tex",
        csv=report(
            "results/tables/table4_mex_variants.csv",
            caption="../report/table4_variants.rst",
            category="Tables",
            labels={"table": "Table 4: MEX score variants"},
        ),
    log:
        "results/logs/table_variants.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
        std_ddof=config["std_ddof"],
    script:
        "../../scripts/table_variants.py"


rule table_candidate_range:
    """MEX's candidate range: the release's fixed prior (default), the train range widened by a margin and the
    paper's whole-dataset range; per entry the share of test labels outside the searched range."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
        provenance=paper_run_files("provenance.json", MEX_ENTRIES),
        predictions=paper_run_files("predictions.csv", MEX_ENTRIES),
        splits=expand("results/splits/{task}.json", task=TASK_ORDER),
    output:
        md="results/tables/mex_candidate_range.md",
        tex="results/tables/mex_candidate_range.tex",
        csv=report(
            "results/tables/mex_candidate_range.csv",
            caption="../report/candidate_range.rst",
            category="Tables",
            labels={"table": "MEX candidate range"},
        ),
    log:
        "results/logs/table_candidate_range.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
    script:
        "../../scripts/table_candidate_range.py"


rule table_running_time:
    """Inference seconds per test sample per method and backbone, and the ratio to ERM."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
    output:
        md="results/tables/running_time.md",
        tex="results/tables/running_time.tex",
        csv=report(
            "results/tables/running_time.csv",
            caption="../report/running_time.rst",
            category="Tables",
            labels={"table": "Running time"},
        ),
    log:
        "results/logs/table_running_time.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        method_order=METHOD_ORDER,
        std_ddof=config["std_ddof"],
    script:
        "../../scripts/table_running_time.py"


rule statistics_report:
    """Paired tests of every method against ERM; average ranks of the paper's methods within each backbone, Friedman
    and Nemenyi critical difference."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        metrics=paper_run_files("metrics.json"),
    output:
        md="results/tables/statistics.md",
        tex="results/tables/statistics.tex",
        paired_csv=report(
            "results/tables/statistics_paired.csv",
            caption="../report/statistics.rst",
            category="Statistical tests",
            labels={"table": "paired t-tests vs ERM"},
        ),
        wilcoxon_csv=report(
            "results/tables/statistics_wilcoxon.csv",
            caption="../report/statistics.rst",
            category="Statistical tests",
            labels={"table": "Wilcoxon vs ERM"},
        ),
        ranks_csv=report(
            "results/tables/statistics_ranks.csv",
            caption="../report/statistics.rst",
            category="Statistical tests",
            labels={"table": "average ranks"},
        ),
    log:
        "results/logs/statistics_report.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
        method_order=METHOD_ORDER,
        std_ddof=config["std_ddof"],
        method_entries={name: dict(entry or {}) for name, entry in config["methods"].items()},
        ablations=config.get("ablations"),
        method_set="paper",
    script:
        "../../scripts/statistics_report.py"


rule plot_critical_difference:
    """Average ranks across tasks within each backbone (the paper's methods) with Nemenyi critical-difference groups."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        summary="results/tables/summary.csv",
    output:
        png=report(
            "results/figures/critical_difference.png",
            caption="../report/critical_difference.rst",
            category="Statistical tests",
            labels={"figure": "critical difference"},
        ),
        pdf="results/figures/critical_difference.pdf",
    log:
        "results/logs/plot_critical_difference.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
        method_order=METHOD_ORDER,
        method_entries={name: dict(entry or {}) for name, entry in config["methods"].items()},
        ablations=config.get("ablations"),
        method_set="paper",
    script:
        "../../scripts/plot_critical_difference.py"


rule plot_lambda_sensitivity:
    """Paper Fig. 6: MEX test MAE across λ (selection grid, one seed) against ERM and the best baseline."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        selected=[f for f in selected_files(PAPER_TASKS) if f.split("/")[4] in MEX_ENTRIES],
        points=[f for f in selected_files(PAPER_TASKS, name="grid_metrics.json") if f.split("/")[4] in MEX_ENTRIES],
        summary="results/tables/summary.csv",
    output:
        png=report(
            "results/figures/fig6_lambda_sensitivity.png",
            caption="../report/fig6_lambda_sensitivity.rst",
            category="Figures",
            labels={"figure": "Fig. 6: MEX λ sensitivity"},
        ),
        pdf="results/figures/fig6_lambda_sensitivity.pdf",
    log:
        "results/logs/plot_lambda_sensitivity.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        task_order=TASK_ORDER,
    script:
        "../../scripts/plot_lambda_sensitivity.py"


rule table_provenance:
    """Where every run of the paper's tasks came from: seed, selected hyper-parameters, epochs, wall time, versions,
    commit, device. The other split kinds' runs have their own table (below), so a config with only those (e.g.
    config/demo_paper_b.yaml) never overwrites this one."""
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        provenance=paper_run_files("provenance.json"),
    output:
        csv=report(
            "results/tables/provenance.csv",
            caption="../report/provenance.rst",
            category="Provenance",
            labels={"table": "runs"},
        ),
    log:
        "results/logs/table_provenance.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../../scripts/table_provenance.py"


use rule table_provenance as table_provenance_other_split_tasks with:
    input:
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        provenance=run_files("provenance.json", tasks=OTHER_TASKS),
    output:
        csv=report(
            f"{OTHER_TABLES_DIR}/provenance.csv",
            caption="../report/provenance.rst",
            category="Other split kinds",
            labels={"table": "provenance"},
        ),
    log:
        "results/logs/table_provenance_other_split_tasks.log",
