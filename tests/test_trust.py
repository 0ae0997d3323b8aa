"""Nothing wrong slips through, nothing unsafe is read: bad hyper-parameter values and bad data are refused with a
message naming them, stale checkpoints are not resumed, every file between jobs loads without running code, a failed
job says why on the console."""
from __future__ import annotations

import copy
import gzip
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, SHIPPED_DATA_HOME, shared_or_skip

from extrapbench.config.entries import ConfigError, load_yaml_file
from extrapbench.config.validate import validate_config
from extrapbench.data.errors import DataValidationError
from extrapbench.data.datasets import load_dataset_table, read_dataset_table, write_dataset_table
from extrapbench.files import write_atomic

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEMO = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())


# ---------------------------------------------------------------------------------------------------------------
# hyper-parameter declarations
# ---------------------------------------------------------------------------------------------------------------
def test_every_method_declares_every_hyper_parameter_and_its_defaults_pass():
    from extrapbench.hparams import specs_of
    from extrapbench.registry import BACKBONES, METHODS

    for name in METHODS.names():
        cls = METHODS.get(name)
        assert set(cls.hparam_specs) == set(cls.defaults), (name, set(cls.defaults) ^ set(cls.hparam_specs))
        for key, spec in specs_of(cls)[1].items():
            assert spec.check(cls.defaults[key]) is None, (name, key, cls.defaults[key])
    for name in BACKBONES.names():
        cls = BACKBONES.get(name)
        defaults, specs = specs_of(cls)
        assert set(cls.hparam_specs) <= set(defaults), name
        for size in ("hidden_dim", "out_dim", "num_layers", "hidden_channels", "cutoff", "max_neighbors"):
            if size in defaults:
                assert size in cls.hparam_specs, (name, size)   # the main sizes are declared, not inferred
        for key, spec in specs.items():
            assert spec is None or spec.check(defaults[key]) is None, (name, key, defaults[key])


def _set(path, value):
    def change(config):
        node = config
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return change


BAD_VALUES = {
    "lambda_abs as a string": (_set(["methods", "mex", "lambda_abs"], "0.5"),
                               ["methods.mex.lambda_abs", "'0.5'", "a finite number >= 0"]),
    "lambda_abs negative": (_set(["methods", "mex", "lambda_abs"], -1), ["methods.mex.lambda_abs", "-1", ">= 0"]),
    "num_candidates a word": (_set(["methods", "mex", "num_candidates"], "fifty"),
                              ["methods.mex.num_candidates", "'fifty'", "an integer >= 1"]),
    "num_candidates zero": (_set(["methods", "mex", "num_candidates"], 0), ["methods.mex.num_candidates", "0"]),
    "range_prior reversed": (_set(["methods", "mex", "range_prior"], [10, -10]),
                             ["methods.mex.range_prior", "strictly increasing"]),
    "noise_sigmas with a negative": (_set(["methods", "mex", "noise_sigmas"], [0.1, -0.2]),
                                     ["methods.mex.noise_sigmas"]),
    "unknown choice": (_set(["methods", "mex", "score"], "mlp+sin"), ["methods.mex.score", "'mlp+sin'", "'cos'"]),
    "boolean as a string": (_set(["methods", "foma", "augment_labels"], "yes"),
                            ["methods.foma.augment_labels", "true or false"]),
    "even kernel size": (_set(["methods", "lds", "lds_ks"], 4), ["methods.lds.lds_ks", "an odd integer"]),
    "dropout probability 1": (_set(["methods", "conr", "x_dropout"], 1.0), ["methods.conr.x_dropout", "< 1"]),
    "variant with a bad value": (_set(["methods", "mex_cos", "lambda_abs"], "x"), ["methods.mex_cos.lambda_abs"]),
    "backbone hidden_dim negative": (_set(["backbones", "magpie_mlp", "hidden_dim"], -5),
                                     ["backbones.magpie_mlp.hidden_dim", "-5", "an integer >= 1"]),
    "backbone size as a float": (_set(["backbones", "magpie_mlp", "num_layers"], 2.5),
                                 ["backbones.magpie_mlp.num_layers", "2.5"]),
    "graph backbone cutoff zero": (lambda c: c["backbones"].update(painn={"cutoff": 0}),
                                   ["backbones.painn.cutoff", "> 0"]),
    "grid batch size 0": (_set(["selection", "grid", "batch_size"], [0, 64]),
                          ["selection.grid.batch_size[0]", "0 is less than the minimum of 2"]),
    "grid learning rate as text": (_set(["selection", "grid", "learning_rate"], [1e-3, "fast"]),
                                   ["selection.grid.learning_rate[1]", "'fast'"]),
    "method grid bad value": (_set(["selection", "methods", "mex", "lambda_abs"], [0.25, -0.5]),
                              ["selection.methods.mex.lambda_abs[1]", "-0.5", "for mex"]),
    "common grid hyper-parameter bad for one method": (
        lambda c: c.update(methods={"erm": {}, "lds": {}}, selection={"grid": {"head_hidden_dim": [64, 0]}}),
        ["selection.grid.head_hidden_dim[1]", "for erm", "for lds"]),
    "train override bad value": (_set(["train_overrides", "magpie_mlp", "batch_size"], "big"),
                                 ["train_overrides.magpie_mlp.batch_size", "'big'"]),
    "train override for an unknown backbone": (_set(["train_overrides", "schnet", "batch_size"], 8),
                                               ["train_overrides.schnet", "configured backbones"]),
    "method train setting bad value": (_set(["methods", "erm", "train", "max_epochs"], 0),
                                       ["methods.erm.train.max_epochs"]),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_hyper_parameter_values_are_refused_before_any_job(case):
    change, expected = BAD_VALUES[case]
    config = copy.deepcopy(DEMO)
    change(config)
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA, "my.yaml")
    message = str(info.value)
    assert "my.yaml" in message
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_run_training_refuses_a_bad_value_it_is_handed_directly(tmp_path, run_inputs):
    from extrapbench.training.run import run_training

    with pytest.raises(ValueError, match=r"methods.mex.num_candidates.*'fifty'"):
        run_training(**run_inputs, backbone_name="magpie_mlp", backbone_params=TINY_BACKBONE, method_name="mex",
                     method_params={"num_candidates": "fifty"}, train_params=TINY_TRAIN, seed=0,
                     run_dir=tmp_path / "run", outputs=_outputs(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run" / "predictions.csv").exists()


def test_a_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data_home: x\ntasks: [phonons_top\nseeds: [0]\n")
    with pytest.raises(ConfigError, match=rf"{bad}:3:\d+: YAML syntax error"):
        load_yaml_file(bad)
    result = subprocess.run([sys.executable, "-m", "extrapbench.config", str(bad)], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 1 and f"{bad}:3:" in result.stderr
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(DEMO))
    assert subprocess.run([sys.executable, "-m", "extrapbench.config", str(good)], capture_output=True, text=True,
                          cwd=REPO, timeout=120).returncode == 0


# ---------------------------------------------------------------------------------------------------------------
# data validation
# ---------------------------------------------------------------------------------------------------------------
def _stand_in(tmp_path, phonons_table, change, name="matbench_phonons", rows=120):
    """A matbench_phonons file in matminer's format (real structures and targets), altered by `change`."""
    from matminer.utils.io import store_dataframe_as_json

    frame = phonons_table[["structure", "last phdos peak"]].iloc[:rows].reset_index(drop=True).copy()
    frame = change(frame)
    store_dataframe_as_json(frame, str(tmp_path / f"{name}.json.gz"), compression="gz")
    return tmp_path


def _raw_structure_file(tmp_path, phonons_table, bad_rows):
    """Like _stand_in, but with an element pymatgen does not know in `bad_rows`."""
    home = _stand_in(tmp_path, phonons_table, lambda f: f)
    path = home / "matbench_phonons.json.gz"
    with gzip.open(path, "rt") as handle:
        document = json.load(handle)
    column = document["columns"].index("structure")
    for row in bad_rows:
        document["data"][row][column]["sites"][0]["species"][0]["element"] = "Xx"
    with gzip.open(path, "wt") as handle:
        json.dump(document, handle)
    return home


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_target_stops_the_load_naming_the_rows(tmp_path, phonons_table, value):
    def change(frame):
        frame.loc[[7, 30], "last phdos peak"] = value
        return frame
    home = _stand_in(tmp_path, phonons_table, change)
    with pytest.raises(DataValidationError) as info:
        load_dataset_table("matbench_phonons", home, home)
    message = str(info.value)
    assert "'matbench_phonons'" in message and "2 of 120 rows" in message and "'last phdos peak'" in message
    assert "matbench_phonons-00007, matbench_phonons-00030" in message and "Fix or remove" in message


def test_a_non_finite_target_of_a_configured_task_stops_the_split(phonons_table):
    from extrapbench.splits.task_split import task_table
    from extrapbench.tasks import get_tasks

    table = phonons_table.iloc[:50].copy()
    table["my_target"] = 1.0
    table.loc[table.index[4], "my_target"] = np.inf
    task = get_tasks({"mine": {"dataset": "matbench_phonons", "target": "my_target", "split": "range",
                               "split_params": {"side": "top"}}})["mine"]
    with pytest.raises(DataValidationError, match=r"task mine: dataset 'matbench_phonons': 1 of 50 rows .*"
                                                  r"'my_target'.*matbench_phonons-00004"):
        task_table(task, table)


def test_a_non_positive_target_of_a_log_task_is_named(phonons_table):
    from extrapbench.splits.task_split import task_table
    from extrapbench.tasks import BUILTIN_TASKS

    table = phonons_table.iloc[:40].copy()
    table.loc[table.index[[2, 9]], "last phdos peak"] = [0.0, -3.0]
    with pytest.raises(DataValidationError, match=r"task phonons_top: .* 2 of 40 rows .* <= 0.*"
                                                  r"matbench_phonons-00002, matbench_phonons-00009"):
        task_table(BUILTIN_TASKS["phonons_top"], table)


def test_duplicated_rows_stop_the_load(tmp_path, phonons_table):
    home = _stand_in(tmp_path, phonons_table, lambda f: pd.concat([f, f.iloc[10:60]], ignore_index=True))
    with pytest.raises(DataValidationError) as info:
        load_dataset_table("matbench_phonons", home, home)
    message = str(info.value)
    assert "50 rows repeat another row" in message and "same structure" in message
    assert "matbench_phonons-00010" in message


def test_the_same_structure_with_another_target_is_kept(tmp_path, phonons_table, caplog):
    def change(frame):
        copy_ = frame.iloc[[3]].copy()
        copy_["last phdos peak"] += 1.0
        return pd.concat([frame, copy_], ignore_index=True)
    home = _stand_in(tmp_path, phonons_table, change)
    assert len(load_dataset_table("matbench_phonons", home, home)) == 121
    assert "share a structure" in caplog.text


def test_a_repeated_source_id_or_composition_row_stops_the_load(tmp_path):
    from extrapbench.data.validation import validate_dataset_table

    mps = pd.read_csv(REPO / "data" / "ane" / "mps.csv").head(20).rename(columns={"m_id": "source_id",
                                                                                 "form": "composition"})
    table = pd.concat([mps, mps.iloc[[5]]], ignore_index=True)
    table.index = [f"mps-{i:05d}" for i in range(len(table))]
    with pytest.raises(DataValidationError, match=r"'mps': 2 rows share a source id.*mps-00005, mps-00020"):
        validate_dataset_table("mps", table)
    polymorph = mps.iloc[[5]].assign(source_id="mp-new", form_eng=-1.0)
    table = pd.concat([mps, polymorph], ignore_index=True)
    validate_dataset_table("mps", table)   # same formula, other values: a polymorph, kept


def test_the_shipped_and_shared_datasets_pass_validation(phonons_table):
    from extrapbench.data.validation import validate_dataset_table

    validate_dataset_table("matbench_phonons", phonons_table)
    load_dataset_table("hoip", SHIPPED_DATA_HOME, REPO / "data" / "ane")
    load_dataset_table("mps", SHIPPED_DATA_HOME, REPO / "data" / "ane")
    shared = shared_or_skip("matminer", "matbench_dielectric.json.gz").parent
    assert len(load_dataset_table("matbench_dielectric", shared, shared)) == 4764


def test_an_unreadable_structure_is_named_as_a_data_problem_not_a_download(tmp_path, phonons_table):
    home = _raw_structure_file(tmp_path, phonons_table, [12, 40])
    with pytest.raises(DataValidationError) as info:
        load_dataset_table("matbench_phonons", home, home)
    message = str(info.value)
    assert "2 of 120 rows" in message and "row 12" in message and "Xx" in message
    assert "not a download problem" in message and "Download it" not in message


def test_an_object_of_another_class_is_refused_not_decoded(tmp_path, phonons_table):
    home = _stand_in(tmp_path, phonons_table, lambda f: f)
    path = home / "matbench_phonons.json.gz"
    with gzip.open(path, "rt") as handle:
        document = json.load(handle)
    column = document["columns"].index("structure")
    document["data"][0][column] = {"@module": "subprocess", "@class": "Popen", "args": ["touch", "pwned"]}
    with gzip.open(path, "wt") as handle:
        json.dump(document, handle)
    with pytest.raises(DataValidationError, match="subprocess.Popen"):
        load_dataset_table("matbench_phonons", home, home)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("fault", ["unknown element", "unreadable cell"])
def test_an_unreadable_hoip_cif_is_named(tmp_path, fault):
    import io
    import shutil
    import tarfile

    shutil.copy(REPO / "data" / "ane" / "hoip_splits.csv", tmp_path)
    with tarfile.open(REPO / "data" / "ane" / "hoip_cifs.tar.gz") as src, \
            tarfile.open(tmp_path / "hoip_cifs.tar.gz", "w:gz") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("perov (5).cif"):
                data = (data.replace(b"C1   C   ", b"C1   Xq   ") if fault == "unknown element"
                        else data.replace(b"_cell_length_a    4.67795629958", b"_cell_length_a    abc"))
            if data is not None:
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
    expected = (r"'hoip': 1 of 1345 rows have a structure with an unknown element \(Xq.*\), first ids: hoip-00004"
                if fault == "unknown element" else r"'hoip': 1 of 1345 structures cannot be read.*perov \(5\)")
    with pytest.raises(DataValidationError, match=expected):
        load_dataset_table("hoip", tmp_path, tmp_path)


def test_the_dataset_table_round_trips_exactly_without_pickle(tmp_path, phonons_table):
    write_atomic(lambda p: write_dataset_table(phonons_table, p), tmp_path / "t.json.gz")
    back = read_dataset_table(tmp_path / "t.json.gz")
    pd.testing.assert_frame_equal(back.drop(columns="structure"), phonons_table.drop(columns="structure"))
    assert all(a == b for a, b in zip(back["structure"], phonons_table["structure"]))
    assert "structure" not in read_dataset_table(tmp_path / "t.json.gz", structures=False)
    with gzip.open(tmp_path / "t.json.gz", "rt") as handle:
        assert json.load(handle)["format"] == "extrapbench-dataset-table/1"


def test_outputs_get_the_same_permissions_as_other_new_files(tmp_path):
    import tempfile

    def private_writer(path):          # e.g. a writer that goes through tempfile.mkstemp (0600)
        fd, name = tempfile.mkstemp(dir=tmp_path)
        os.write(fd, b"{}")
        os.close(fd)
        os.replace(name, path)
    write_atomic(private_writer, tmp_path / "metrics.json")
    write_atomic(lambda p: open(p, "w").write("x"), tmp_path / "plain.csv")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode) == 0o666 & ~umask


def test_the_ane_archive_digest_is_checked_when_pinned(tmp_path):
    import hashlib
    import io
    import tarfile

    from extrapbench.data.ane import ANE_COMMIT, load_mps

    archive = tmp_path / "ane.tar.gz"
    buffer = io.BytesIO()
    pd.read_csv(REPO / "data" / "ane" / "mps.csv").head(4).drop(columns="ane_split").to_excel(buffer, index=False)
    with tarfile.open(archive, "w:gz") as tar:
        for part in ("train", "test"):
            info = tarfile.TarInfo(f"ane-{ANE_COMMIT}/ane/materials_property_prediction/datasets/mps/"
                                   f"metadata_{part}.xlsx")
            info.size = len(buffer.getvalue())
            tar.addfile(info, io.BytesIO(buffer.getvalue()))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    from extrapbench.data.errors import DatasetUnavailableError

    with pytest.raises(DatasetUnavailableError, match="sha256 .* expected 0+: refused"):
        load_mps(tmp_path / "bad", url=archive.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "bad" / "mps.csv").exists()
    assert len(load_mps(tmp_path / "good", url=archive.as_uri(), sha256=digest)) == 8   # the digest matched


# ---------------------------------------------------------------------------------------------------------------
# files between jobs load with weights_only=True; stale checkpoints are discarded
# ---------------------------------------------------------------------------------------------------------------
TINY_BACKBONE = {"hidden_dim": 16, "out_dim": 8, "num_layers": 2}
TINY_TRAIN = {"max_epochs": 6, "early_stopping_patience": 50, "batch_size": 32, "learning_rate": 1e-3}


def _outputs(run_dir):
    return {k: str(run_dir / f"{k}.{ext}") for k, ext in
            (("history", "csv"), ("checkpoint", "pt"), ("provenance", "json"), ("predictions", "csv"))}


@pytest.fixture
def run_inputs(tmp_path, phonons_table):
    """Split + Magpie features of phonons_top on 150 materials, as the workflow's jobs write them."""
    from extrapbench.data.features import magpie_features
    from extrapbench.splits.task_split import make_split, split_frame, task_table
    from extrapbench.tasks import BUILTIN_TASKS

    table = task_table(BUILTIN_TASKS["phonons_top"], phonons_table.iloc[:150])
    summary = make_split(BUILTIN_TASKS["phonons_top"], table)
    (tmp_path / "split.json").write_text(json.dumps(summary))
    split_frame(summary, table).to_csv(tmp_path / "split.csv", index=False)
    magpie_features(table["composition"]).to_csv(tmp_path / "magpie.csv")
    return {"split_json": tmp_path / "split.json", "split_csv": tmp_path / "split.csv",
            "inputs": tmp_path / "magpie.csv"}


def _train(run_inputs, run_dir, kill_at=None, method="erm", params=None):
    """run_training as the train rule calls it; `kill_at`: the job dies (KeyboardInterrupt) in that epoch."""
    import extrapbench.training.loop as training
    from extrapbench.training.run import run_training

    original = training.validation_score
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if kill_at is not None and calls["n"] == kill_at:
            raise KeyboardInterrupt
        calls["n"] += 1
        return original(*args, **kwargs)

    training.validation_score = dying
    try:
        return run_training(**run_inputs, backbone_name="magpie_mlp", backbone_params=TINY_BACKBONE,
                            method_name=method, method_params=params or {}, train_params=TINY_TRAIN, seed=0,
                            run_dir=run_dir, outputs=_outputs(run_dir), progress=False)
    finally:
        training.validation_score = original


def test_a_resumed_run_matches_a_clean_one_and_records_every_attempts_time(tmp_path, run_inputs):
    clean = _train(run_inputs, tmp_path / "clean")
    with pytest.raises(KeyboardInterrupt):
        _train(run_inputs, tmp_path / "killed", kill_at=3)
    state = torch.load(tmp_path / "killed" / "resume-main.pt", weights_only=True)   # no code in a checkpoint
    assert state["epoch"] == 2 and state["seconds"] > 0
    resumed = _train(run_inputs, tmp_path / "killed")
    assert resumed["resumed_from_epoch"] == 3 and resumed["attempts"] == 2
    assert resumed["earlier_attempts_s"] == pytest.approx(state["seconds"])
    assert resumed["train_time_s"] > resumed["earlier_attempts_s"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "killed" / "predictions.csv"),
                                  pd.read_csv(tmp_path / "clean" / "predictions.csv"))
    assert clean["attempts"] == 1 and clean["earlier_attempts_s"] == 0


def test_a_stale_checkpoint_is_discarded_when_the_train_labels_changed(tmp_path, run_inputs, capsys):
    """Killed, then the data changed (other train labels, same test set): the rerun starts over and matches a
    clean run on the new data, and the log says why."""
    with pytest.raises(KeyboardInterrupt):
        _train(run_inputs, tmp_path / "run", kill_at=3)
    split = pd.read_csv(run_inputs["split_csv"])
    train = split["split"] == "train"
    split.loc[train, "target"] = split.loc[train, "target"].to_numpy()[::-1]   # same values, other materials
    split.to_csv(run_inputs["split_csv"], index=False)
    capsys.readouterr()
    rerun = _train(run_inputs, tmp_path / "run")
    assert rerun["resumed_from_epoch"] == 0 and rerun["attempts"] == 1
    assert "discarded: it belongs to another run (split changed)" in capsys.readouterr().out
    _train(run_inputs, tmp_path / "clean")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "run" / "predictions.csv"),
                                  pd.read_csv(tmp_path / "clean" / "predictions.csv"))


@pytest.mark.parametrize("change", ["code", "representation", "config"])
def test_a_stale_checkpoint_names_the_component_that_changed(tmp_path, run_inputs, capsys, monkeypatch, change):
    with pytest.raises(KeyboardInterrupt):
        _train(run_inputs, tmp_path / "run", kill_at=2)
    params = None
    if change == "code":
        monkeypatch.setattr("extrapbench.training.run.code_digest", lambda: "another version")
    elif change == "representation":
        features = pd.read_csv(run_inputs["inputs"], index_col=0)
        (features * 1.5).to_csv(run_inputs["inputs"])
    else:
        params = {"head_hidden_dim": 64}
    capsys.readouterr()
    assert _train(run_inputs, tmp_path / "run", params=params)["resumed_from_epoch"] == 0
    assert f"({change} changed)" in capsys.readouterr().out


def test_every_pt_file_loads_with_weights_only(tmp_path, phonons_table):
    """graphs, model.pt and resume checkpoints (of a two-stage method and of MEX) hold no pickled code."""
    from extrapbench.data.graphs import build_graphs, load_graphs, save_graphs
    from extrapbench.training.run import run_training
    from extrapbench.splits.task_split import make_split, split_frame, task_table
    from extrapbench.tasks import BUILTIN_TASKS

    small = phonons_table[phonons_table["structure"].map(len) <= 4].iloc[:80]
    graphs = build_graphs(list(small["structure"]), cutoff=5.0, max_neighbors=12, progress=False)
    save_graphs(tmp_path / "graphs.pt", list(small.index), graphs, cutoff=5.0, max_neighbors=12)
    ids, back, meta = load_graphs(tmp_path / "graphs.pt")
    assert ids == list(small.index) and meta == {"cutoff": 5.0, "max_neighbors": 12}
    for a, b in zip(graphs, back):
        for key in ("atomic_numbers", "pos", "cell", "natoms", "edge_index", "cell_offsets", "neighbors",
                    "distances"):
            assert torch.equal(getattr(a, key), getattr(b, key)), key
    table = task_table(BUILTIN_TASKS["phonons_top"], small)
    summary = make_split(BUILTIN_TASKS["phonons_top"], table)
    (tmp_path / "split.json").write_text(json.dumps(summary))
    split_frame(summary, table).to_csv(tmp_path / "split.csv", index=False)
    inputs = {"split_json": tmp_path / "split.json", "split_csv": tmp_path / "split.csv",
              "inputs": tmp_path / "graphs.pt"}
    for method, params, kill_at in (
            ("ane", {"embedding_dim": 8, "projection_hidden_dim": 8, "head_hidden_dim": 8}, 5),   # in stage 2
            ("mex", {"num_noise_labels": 8, "num_candidates": 16, "search_iterations": 2}, 3)):
        run_dir = tmp_path / method
        import extrapbench.training.loop as training
        original, calls = training.validation_score, {"n": 0}

        def dying(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == kill_at:
                raise KeyboardInterrupt
            return original(*args, **kwargs)
        kwargs = dict(**inputs, backbone_name="schnet", backbone_params={"hidden_channels": 8, "num_filters": 8,
                                                                           "num_interactions": 1,
                                                                           "num_gaussians": 8},
                      method_name=method, method_params=params,
                      train_params={"max_epochs": 3, "batch_size": 16, "ema_decay": 0.9}, seed=0, run_dir=run_dir,
                      outputs=_outputs(run_dir), progress=False)
        training.validation_score = dying
        try:
            with pytest.raises(KeyboardInterrupt):
                run_training(**kwargs)
        finally:
            training.validation_score = original
        checkpoints = sorted(run_dir.glob("resume-*.pt"))
        assert len(checkpoints) == (2 if method == "ane" else 1)
        for path in checkpoints:
            torch.load(path, weights_only=True)
        run_training(**kwargs)
        model = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        assert model["method"] == method and model["record"]["stages"]


# ---------------------------------------------------------------------------------------------------------------
# a failed job says why on the console; attempts keep their logs
# ---------------------------------------------------------------------------------------------------------------
SCRIPT = textwrap.dedent("""
    from extrapbench.jobs.logs import attempt_logs, finish_attempt
    from extrapbench.jobs.rule import run_rule

    class Snakemake:
        log = [{log!r}]
        rule = "split_task"

    def main(snakemake):
        print("working")
        if {fail}:
            raise ValueError("task phonons_top: dataset 'x': 2 of 9 rows\\nhave a non-finite target")
        print(attempt_logs())
        finish_attempt()

    run_rule(main, Snakemake, resumable={resumable}, resuming={resuming})
""")


def _script(tmp_path, fail, resumable=False, resuming=False):
    log = tmp_path / "logs" / "job.log"
    code = SCRIPT.format(log=str(log), fail=fail, resumable=resumable, resuming=resuming)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60), log


def test_a_failed_job_prints_its_cause_on_the_console_and_the_traceback_in_the_log(tmp_path):
    result, log = _script(tmp_path, fail=True)
    assert result.returncode != 0
    assert result.stderr.strip() == (f"extrapbench: split_task failed: ValueError: task phonons_top: dataset 'x': "
                                     f"2 of 9 rows have a non-finite target (log: {log})")
    assert "Traceback" in log.read_text() and "working" in log.read_text()


def test_every_attempt_of_a_resumed_job_keeps_its_log(tmp_path):
    _, log = _script(tmp_path, fail=True, resumable=True)
    first = log.read_text()
    log.unlink()                            # Snakemake deletes a job's log before running it again
    result, log = _script(tmp_path, fail=False, resumable=True, resuming=True)
    assert (log.parent / "job.log.attempt1").read_text() == first
    assert not (log.parent / "job.log.attempt2").exists()   # the completed attempt's log is the log itself
    assert "attempt 2" in log.read_text() and str(log.parent / "job.log.attempt1") in log.read_text()
    log.unlink()
    _script(tmp_path, fail=False, resumable=True, resuming=False)   # a fresh start: old attempts go
    assert not list(log.parent.glob("job.log.attempt*"))


def test_the_workflow_refuses_bad_data_at_the_first_job_and_says_why(tmp_path, phonons_table):
    """inf targets in data_home: the download job fails, its one-line cause is on Snakemake's console, and
    nothing of the dataset, its split or features is written."""
    def change(frame):
        frame.loc[[5, 6, 7], "last phdos peak"] = np.inf
        return frame
    (tmp_path / "data").mkdir()
    home = _stand_in(tmp_path / "data", phonons_table, change, rows=300)
    config = {"data_home": str(home), "tasks": ["phonons_top"], "backbones": {"magpie_mlp": TINY_BACKBONE},
              "methods": {"erm": {}}, "seeds": [0], "train": {"max_epochs": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-s",
                             str(REPO / "workflow" / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                             str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert ("extrapbench: download_dataset failed: DataValidationError: dataset 'matbench_phonons': 3 of 300 rows "
            "have a non-finite or non-numeric 'last phdos peak'") in output
    assert "matbench_phonons-00005, matbench_phonons-00006, matbench_phonons-00007" in output
    written = [p for p in (tmp_path / "results").rglob("*") if p.is_file() and "logs" not in p.parts]
    assert written == []
