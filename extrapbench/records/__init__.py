"""Scoring predictions made outside the workflow, and the record that carries them (``record.json.gz``): a task's
split as the workflow makes it (task_data), predictions checked against it (predictions), metrics, reference
predictors and verdicts with the workflow's definitions (scoring), the record file (record) and records side by
side in the report's tables (compare). extrapbench.api and extrapbench.cli are built on these."""
