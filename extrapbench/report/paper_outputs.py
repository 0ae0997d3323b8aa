"""The paper's remaining outputs (SPEC §7) besides Tables 2/3/6 and Figs 3-5 — one module per table family,
re-exported here so that ``from extrapbench.report.paper_outputs import ...`` keeps working:

* :mod:`~extrapbench.report.text_table` — :class:`TextTable` (Markdown, booktabs LaTeX, CSV, footnotes) and the
  formatting helpers;
* :mod:`~extrapbench.report.split_table` — :func:`split_table`, Table 1: sample counts and label ranges per task;
* :mod:`~extrapbench.report.variants` — :func:`read_run_provenance` and :func:`variant_tables`, Table 4: MEX
  score-module variants (an ablation: no marks, Δ and paired p against the default score module);
* :mod:`~extrapbench.report.running_time` — :func:`running_time_table`, inference seconds per test sample;
* :mod:`~extrapbench.report.candidate_range` — :func:`candidate_range_table`, MEX's candidate-range ablation;
* :mod:`~extrapbench.report.lambda_figure` — :func:`plot_lambda_sensitivity`, Fig. 6;
* :mod:`~extrapbench.report.ablations` — :func:`ablation_tables`, every ablation entry next to its reference.

Labels are in transformed-target units throughout.
"""
from __future__ import annotations

from extrapbench.report.ablations import AblationTables, ablation_tables  # noqa: F401
from extrapbench.report.candidate_range import (  # noqa: F401
    DEFAULT_CANDIDATE_RANGE, RANGE_KEYS, REFERENCE_CANDIDATE_RANGES, _config_differences, _reference_entry,
    candidate_range_table, read_test_labels, unreachable_share)
from extrapbench.report.lambda_figure import (  # noqa: F401
    _baseline_lines, lambda_curves, plot_lambda_sensitivity, read_point_metrics)
from extrapbench.report.running_time import pooled_mean_std, running_time_table  # noqa: F401
from extrapbench.report.split_table import PARTS, split_rule_text, split_table  # noqa: F401
from extrapbench.report.text_table import (  # noqa: F401
    TextTable, _fmt, _fmt_range, _fmt_sig, _read_json, _write_text, latex_text)
from extrapbench.report.variants import (  # noqa: F401
    LAMBDA_KEY, SCORE_ORDER, VariantTables, _mex_entries, _registered_method, read_run_provenance, variant_label,
    variant_tables)
