"""Ridge regression on Magpie composition features (standardised with train statistics): a linear model
extrapolates along its fitted slope, so on a range task it is the reference for "extrapolates linearly". The
regularisation strength is chosen as every method's hyper-parameters are, by val MAE over a grid; the model is
fitted on train only."""
from __future__ import annotations

import numpy as np

from extrapbench.hparams import Number, NumberList
from extrapbench.naming import PARTS
from extrapbench.references.base import ReferenceData, ReferencePredictor
from extrapbench.registry import REFERENCES


@REFERENCES.register("ridge")
class Ridge(ReferencePredictor):
    defaults = {"alphas": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]}
    hparam_specs = {"alphas": NumberList(item=Number(min=0, min_exclusive=True))}
    needs_features = True
    description = "ridge regression on Magpie features, alpha chosen by val MAE, fitted on train"

    def __init__(self, **params):
        super().__init__(**params)
        self.selected_alpha = None
        self.val_mae_by_alpha = {}

    def predict(self, data: ReferenceData, seed: int):
        from sklearn.linear_model import Ridge as SklearnRidge

        best = None
        for alpha in self.params["alphas"]:
            model = SklearnRidge(alpha=float(alpha)).fit(data.x["train"], data.y["train"])
            val_mae = float(np.mean(np.abs(model.predict(data.x["val"]) - data.y["val"])))
            self.val_mae_by_alpha[float(alpha)] = val_mae
            if best is None or val_mae < best[0]:
                best = (val_mae, float(alpha), model)
        _, self.selected_alpha, model = best
        return {part: model.predict(data.x[part]) for part in PARTS}

    def describe(self):
        return {"selected_alpha": self.selected_alpha, "val_mae_by_alpha": self.val_mae_by_alpha}
