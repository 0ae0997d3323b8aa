"""Constant references: the prediction that knows only the labels, the same for every material.

On a range task every held-out label lies beyond the train range, on one side. ``edge_train`` predicts the train
range's edge on that side (the train minimum on a bottom task, the maximum on a top task): a model that only
learned to push its predictions to the boundary of what it saw gets this error. ``edge_known`` predicts the most
extreme label any method sees, over train ∪ val (every method sees the val labels through early stopping and
model selection). ``train_mean`` is the in-distribution trivial predictor (the R² = 0 line of a random split).

The edges are defined only where the split has a held-out side; on other split kinds (held-out elements, element
count, random) the workflow does not run them and the tables say so.
"""
from __future__ import annotations

import numpy as np

from extrapbench.references.base import ReferenceData, ReferencePredictor, constant
from extrapbench.registry import REFERENCES


def _edge(values: np.ndarray, side: str) -> float:
    if side == "bottom":
        return float(np.min(values))
    if side == "top":
        return float(np.max(values))
    raise ValueError(f"an edge reference needs a split with a held-out side ('top' or 'bottom'), got {side!r}")


@REFERENCES.register("edge_train")
class EdgeTrain(ReferencePredictor):
    needs_side = True
    description = "the train range's edge on the held-out side (train min on a bottom task, max on a top task)"

    def predict(self, data: ReferenceData, seed: int):
        return constant(_edge(data.y["train"], data.side), data)


@REFERENCES.register("edge_known")
class EdgeKnown(ReferencePredictor):
    needs_side = True
    description = "the most extreme known label on the held-out side, over train ∪ val (what early stopping sees)"

    def predict(self, data: ReferenceData, seed: int):
        return constant(_edge(np.concatenate([data.y["train"], data.y["val"]]), data.side), data)


@REFERENCES.register("train_mean")
class TrainMean(ReferencePredictor):
    description = "the mean train label"

    def predict(self, data: ReferenceData, seed: int):
        return constant(float(np.mean(data.y["train"])), data)
