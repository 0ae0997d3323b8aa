"""Rule train: one (method, backbone, task, seed) run -> predictions, history, checkpoint, provenance"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logging import attempt_logs, finish_attempt, redirect_to_log  # noqa: E402

# a resume checkpoint in the run directory means an earlier attempt was interrupted: keep its log
redirect_to_log(snakemake, resumable=True,  # noqa: F821
                resuming=any(Path(snakemake.params.run_dir).glob("resume-*.pt")))  # noqa: F821

import json  # noqa: E402

from extrapbench.run import run_training  # noqa: E402
from extrapbench.selection import apply_point  # noqa: E402

sm = snakemake  # noqa: F821
train_params, method_params = dict(sm.params.train_params), dict(sm.params.method_params)
point = sm.params.point  # a grid point being tried, or None
selection = {"role": "grid point", "params": point} if point else None
if "selected" in sm.input.keys():  # a final run of a method with a selection: the winning grid point
    selected = json.loads(Path(sm.input.selected).read_text())
    point = selected["selected_params"]
    selection = {"role": "selected", "point": selected["selected"], "params": point, "file": sm.input.selected}
if point:
    train_params, method_params = apply_point(train_params, method_params, point)
run_training(
    split_json=sm.input.split_json, split_csv=sm.input.split_csv, inputs=sm.input.representation,
    backbone_name=sm.wildcards.backbone, backbone_params=dict(sm.params.backbone_params),
    method_name=sm.wildcards.method, method_params=method_params,
    train_params=train_params, seed=int(sm.params.seed), run_dir=sm.params.run_dir,
    outputs={"predictions": sm.output.predictions, "history": sm.output.history,
             "checkpoint": sm.output.checkpoint, "provenance": sm.output.provenance},
    resolved_config={k: v for k, v in sm.config.items()}, threads=sm.threads, selection=selection,
    predict_train=bool(sm.params.predict_train), attempt_logs=attempt_logs(),
)
finish_attempt()
