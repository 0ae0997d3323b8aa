"""Fig. 5 stays readable with the demo's 18 methods: paper A's eight, each in a colour of its own, the rest left to
the detection table (the figure's title says so)."""
from __future__ import annotations

import itertools

import matplotlib.colors
import numpy as np
import pandas as pd

from extrapbench.report.figures import plot_detection_recall

DEMO_METHODS = ["erm", "lds", "denseweight", "fds", "ranksim", "balanced_mse", "balanced_mse_gai", "conr",
                "ranksim_gamma100", "conr_beta4", "c_mixup", "foma", "ane", "mex", "mex_mlp+cos", "mex_cos",
                "mex_train_margin", "mex_dataset_range"]


def _summary(methods):
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"task": task, "backbone": "magpie_mlp", "method": method, "n_seeds": 2,
                          "detect_recall_mean": rng.uniform(0, 1), "detect_recall_std": 0.05}
                         for task in ("phonons_bottom", "phonons_top") for method in methods])


def test_with_the_demos_methods_the_figure_draws_paper_as_eight_in_distinct_colours(tmp_path):
    figure = plot_detection_recall(_summary(DEMO_METHODS), tmp_path / "fig5.png", tmp_path / "fig5.pdf")
    legend = figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["ERM", "LDS", "RankSim", "BalancedMSE", "ConR",
                                                           "C-Mixup", "FOMA", "MEX"]
    colours = [matplotlib.colors.to_rgb(h.get_facecolor()) for h in legend.legend_handles]
    assert len(set(colours)) == 8
    # no two colours alike: every pair at least 0.25 apart in RGB
    assert min(np.linalg.norm(np.subtract(a, b)) for a, b in itertools.combinations(colours, 2)) > 0.25
    assert "tables/detection.md" in figure._suptitle.get_text()
    assert len(figure.axes[0].patches) == 16   # 8 methods x 2 tasks


def test_a_few_methods_are_all_drawn_and_many_leave_paper_as_eight():
    from extrapbench.report.figures import DISTINCT_COLOURS, detection_figure_methods

    methods, left_out = detection_figure_methods(DEMO_METHODS)
    assert methods == ["erm", "lds", "ranksim", "balanced_mse", "conr", "c_mixup", "foma", "mex"] and left_out
    methods, left_out = detection_figure_methods(["erm", "mex", "ane"])
    assert methods == ["erm", "ane", "mex"] and not left_out
    assert len(DISTINCT_COLOURS) == 8
