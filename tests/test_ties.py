"""Every beats / trails comparison of the report uses one tolerance (extrapbench.report.compare): a method whose MAE
equals the train-edge constant's up to float rounding beats nothing, wherever the report asks."""
from __future__ import annotations

import matplotlib.colors
import numpy as np
import pandas as pd

EDGE = 0.787
#: below the edge by far less than the tolerance: float rounding, not a win
ROUNDING = EDGE * (1 - 1e-12)


def test_the_tolerance_is_relative_and_documented():
    from extrapbench.report.compare import RELATIVE_TOLERANCE, beats, direction

    assert 1e-9 <= RELATIVE_TOLERANCE <= 1e-4
    assert not beats(ROUNDING, EDGE) and direction(ROUNDING, EDGE) == "equal"
    assert beats(EDGE * (1 - 1e-3), EDGE) and direction(EDGE * (1 + 1e-3), EDGE) == "worse"
    assert beats(2.0, 1.0, higher_is_better=True) and not beats(float("nan"), 1.0)


def _runs(maes_by_method):
    return pd.DataFrame([{"task": "phonons_top", "backbone": "magpie_mlp", "method": method, "seed": seed,
                          "mae": mae, "gm": mae, "spearman": 0.5, "n_test": 190}
                         for method, maes in maes_by_method.items() for seed, mae in enumerate(maes)])


def test_the_paper_tables_dagger_a_tie_with_the_edge():
    from extrapbench.report.summary import summarize
    from extrapbench.report.tables import paper_table

    summary = summarize(_runs({"erm": [ROUNDING] * 3, "mex": [0.5, 0.6, 0.7], "edge_train": [EDGE] * 3}))
    table = paper_table(summary, "mae", references=["edge_train"])
    assert table.beats_edge(("magpie_mlp", "erm"), "phonons_top") is False
    assert table.beats_edge(("magpie_mlp", "mex"), "phonons_top") is True
    erm_line = next(line for line in table.to_markdown().splitlines() if "| ERM |" in line)
    assert "†" in erm_line


def test_the_skill_table_does_not_count_a_tie_as_beating_the_edge():
    from extrapbench.report.references import skill_table

    table = skill_table(_runs({"erm": [ROUNDING] * 3, "edge_train": [EDGE] * 3}), methods=["erm"],
                        references=["edge_train"])
    assert table.frame.set_index("method").loc["erm", "tasks_beaten"] == 0


def test_the_beats_table_calls_a_tie_a_tie_however_small_the_p():
    from extrapbench.report.beats_table import beats_table

    # per-seed differences to the edge of -1.0, -1.1, -1.2 x 1e-12: a t-test would give p ~ 0.003
    near = [EDGE - d * 1e-12 for d in (1.0, 1.1, 1.2)]
    table = beats_table(_runs({"erm": [1.0, 1.1, 1.2], "mex": near, "edge_train": [EDGE] * 3}), methods=["erm", "mex"])
    cells = {row[2]: row for row in table.cells}
    assert cells["MEX"][10] == "≈"
    assert any("tie" in note for note in table.notes)


def test_paired_tests_wilcoxon_and_ablations_say_equal_for_a_tie():
    from extrapbench.report.ablations import ablation_frame
    from extrapbench.report.method_sets import method_sets
    from extrapbench.report.significance import paired_tests, wilcoxon_tests

    runs = _runs({"erm": [0.6, 0.7, 0.8], "mex": [v * (1 - 1e-12) for v in (0.6, 0.7, 0.8)]})
    paired = paired_tests(runs, "mae", "erm").set_index("method")
    assert paired.loc["mex", "direction"] == "equal"
    wilcoxon = wilcoxon_tests(runs, "mae", "erm").set_index("method")
    assert wilcoxon.loc["mex", "n_ties"] == 3 and wilcoxon.loc["mex", "n_better"] == 0
    runs = _runs({"erm": [0.6, 0.7, 0.8], "mex_cos": [v * (1 - 1e-12) for v in (0.6, 0.7, 0.8)]})
    sets = method_sets(["erm", "mex_cos"], {"erm": {}, "mex_cos": {"method": "mex", "score": "cos"}})
    frame = ablation_frame(runs, sets, "mae")
    assert list(frame["direction"]) == ["equal"]


def test_no_bold_for_a_win_by_rounding():
    from extrapbench.report.cell_marks import mark_best

    best, second = mark_best(pd.Series({"a": ROUNDING, "b": EDGE, "c": 1.0}), higher_is_better=False)
    assert best == set() and second == set()
    best, _ = mark_best(pd.Series({"a": 0.5, "b": EDGE}), higher_is_better=False)
    assert best == {"a"}


def test_the_mae_figure_colours_every_bar_by_whether_it_beats_the_edge(tmp_path):
    from extrapbench.report.reference_figures import BEATS, plot_mae_vs_references

    summary = pd.DataFrame([{"task": "phonons_top", "backbone": "magpie_mlp", "method": m, "mae_mean": v,
                             "mae_std": 0.01} for m, v in (("erm", 0.667), ("mex", ROUNDING))])
    references = pd.DataFrame([{"task": "phonons_top", "backbone": "magpie_mlp", "method": m, "mae_mean": v,
                                "mae_std": np.nan} for m, v in (("edge_train", EDGE), ("edge_known", 0.441),
                                                                ("train_mean", 1.481), ("random_forest", 0.961),
                                                                ("ridge", 0.652))])
    figure = plot_mae_vs_references(summary, references, "phonons_top", tmp_path / "f.png")
    bars = sorted(figure.axes[0].patches, key=lambda patch: patch.get_x())   # one bar per method or baseline
    colours = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in bars]
    blue = matplotlib.colors.to_hex(BEATS)
    grey = matplotlib.colors.to_hex("0.72")   # reference_figures.DOES_NOT
    # ERM, MEX (a tie: grey), random forest (worse than the edge: grey, not a "baseline" colour), ridge (beats it)
    assert colours == [blue, grey, grey, blue]
    labels = figure.axes[0].get_legend().get_texts()
    assert any("beats the train edge" in t.get_text() for t in labels)
