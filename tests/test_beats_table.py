"""The beats-ERM / beats-edge table: paired t-tests over seeds against ERM and the train-edge constant, checked
against hand-computed t statistics."""
import math

import pandas as pd
import pytest
from scipy import stats

from extrapbench.report.beats_table import beats_table


def _runs(rows):
    return pd.DataFrame([{"task": task, "backbone": "schnet", "method": method, "seed": seed, "mae": mae}
                         for task, method, maes in rows for seed, mae in enumerate(maes)])


def _two_sided_p(t, dof):
    return 2 * stats.t.sf(abs(t), dof)


def test_paired_tests_against_erm_and_the_edge_match_hand_computed_values():
    runs = _runs([("phonons_top", "erm", [1.0, 1.1, 1.2]),
                  ("phonons_top", "mex", [0.5, 0.7, 0.6]),
                  ("phonons_top", "foma", [1.0, 1.3, 1.0]),
                  ("phonons_top", "edge_train", [1.5, 1.5, 1.5])])
    table = beats_table(runs, methods=["erm", "mex", "foma"], std_ddof=1)
    frame = table.frame.set_index("method")
    # MEX - edge per seed: -1.0, -0.8, -0.9 -> mean -0.9, sample sd 0.1, t = -0.9 / (0.1 / sqrt 3)
    t_edge = -0.9 / (0.1 / math.sqrt(3))
    assert frame.loc["mex", "edge_mean_diff"] == pytest.approx(-0.9)
    assert frame.loc["mex", "edge_p"] == pytest.approx(_two_sided_p(t_edge, 2), rel=1e-6)
    assert frame.loc["mex", "edge_mae"] == pytest.approx(1.5)
    # MEX - ERM per seed: -0.5, -0.4, -0.6 -> mean -0.5, sd 0.1
    assert frame.loc["mex", "erm_mean_diff"] == pytest.approx(-0.5)
    assert frame.loc["mex", "erm_p"] == pytest.approx(_two_sided_p(-0.5 / (0.1 / math.sqrt(3)), 2), rel=1e-6)
    # FOMA - ERM: 0, +0.2, -0.2 -> mean 0: no difference the seeds can show
    assert frame.loc["foma", "erm_mean_diff"] == pytest.approx(0.0, abs=1e-12)
    by_method = {row[2]: row for row in table.cells}
    assert by_method["MEX"][7] == "beats" and by_method["MEX"][10] == "beats"
    assert by_method["FOMA"][7] == "≈"
    assert by_method["ERM"][7] == "(ERM)" and by_method["ERM"][5] == "—"
    # ERM against the edge: -0.5, -0.4, -0.3 -> beats; the p cell is bold in Markdown
    assert frame.loc["erm", "edge_mean_diff"] == pytest.approx(-0.4)
    assert "**" in table.to_markdown().splitlines()[2]


def test_a_method_worse_than_the_edge_trails_and_one_seed_gives_no_test():
    runs = _runs([("phonons_bottom", "erm", [2.0, 2.2, 2.1]),
                  ("phonons_bottom", "ranksim", [0.9]),
                  ("phonons_bottom", "edge_train", [1.0, 1.0, 1.0])])
    table = beats_table(runs, methods=["erm", "ranksim"])
    by_method = {row[2]: row for row in table.cells}
    assert by_method["ERM"][10] == "trails"
    assert by_method["RankSim"][3] == "1" and by_method["RankSim"][10] == "—"


def test_without_the_edge_reference_the_table_says_which_key_is_missing():
    runs = _runs([("phonons_top", "erm", [1.0, 1.1])])
    with pytest.raises(ValueError, match="edge_train.*references"):
        beats_table(runs, methods=["erm"])
