"""The paper's remaining outputs besides Tables 2/3/6 and Figs 3-5, in one namespace for callers outside the
package (benchmarks/workflow_cost.py times importing it). The report's own modules, the scripts and the tests
import each name from the module that defines it:

* :mod:`~extrapbench.report.split_table` — :func:`split_table`, Table 1: sample counts and label ranges per task;
* :mod:`~extrapbench.report.variants` — :func:`read_run_provenance` and :func:`variant_tables`, Table 4: MEX
  score-module variants (an ablation: no marks, Δ and paired p against the default score module);
* :mod:`~extrapbench.report.running_time` — :func:`running_time_table`, inference seconds per test sample;
* :mod:`~extrapbench.report.candidate_range` — :func:`candidate_range_table`, MEX's candidate-range ablation;
* :mod:`~extrapbench.report.lambda_figure` — :func:`plot_lambda_sensitivity`, Fig. 6;
* :mod:`~extrapbench.report.ablations` — :func:`ablation_tables`, every ablation entry next to its reference.

Tables render through :class:`~extrapbench.report.text_table.TextTable`, their cells through
:mod:`~extrapbench.report.format`. Labels are in transformed-target units throughout.
"""
from __future__ import annotations

from extrapbench.report.ablations import AblationTables, ablation_tables
from extrapbench.report.candidate_range import candidate_range_table, read_test_labels, unreachable_share
from extrapbench.report.lambda_figure import lambda_curves, plot_lambda_sensitivity, read_point_metrics
from extrapbench.report.running_time import pooled_mean_std, running_time_table
from extrapbench.report.split_table import split_rule_text, split_table
from extrapbench.report.variants import VariantTables, read_run_provenance, variant_label, variant_tables

__all__ = ["AblationTables", "ablation_tables", "candidate_range_table", "read_test_labels", "unreachable_share",
           "lambda_curves", "plot_lambda_sensitivity", "read_point_metrics", "pooled_mean_std",
           "running_time_table", "split_rule_text", "split_table", "VariantTables", "read_run_provenance",
           "variant_label", "variant_tables"]
