# The workflow's own record (extrapbench.records): every final run's predictions, metrics and provenance, the
# reference predictors' and the splits' digests in one file (results/record.json.gz) that `extrapbench compare`
# reads beside other people's, and which another config's `records:` shows in its tables.


localrules:
    record,


rule record:
    """results/record.json.gz: the resolved config, per task the dataset and split digests, per entry (trained
    `<backbone>/<method>` runs, reference predictors) and seed the predictions, metrics and provenance."""
    input:
        **record_run_files(),
        report_stamp=REPORT_STAMP,  # this config's stamp, after every run it reads is checked
        splits=split_files(RECORD_TASKS, "json"),
        split_tables=split_files(RECORD_TASKS, "csv"),
    output:
        record=RECORD_FILE,
    log:
        "results/logs/record.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tasks=RECORD_TASKS,
        references=canonical(REFERENCES),  # key order: no rerun
        dataset_digests={task: source_digest(TASKS[task].dataset) for task in RECORD_TASKS},
        config_files=CONFIG_NAMES,
        config_digest=CONFIG_DIGEST,
    script:
        "../../scripts/write_record.py"
