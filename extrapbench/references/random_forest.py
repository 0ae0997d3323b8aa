"""Random forest on Magpie composition features: matbench's RF-SCM/Magpie learner (scikit-learn's
``RandomForestRegressor(n_estimators=500)``, every other setting at scikit-learn's default), fitted on the train
part. A forest averages train labels, so it can never predict beyond the train range: on a range task it is the
reference for "interpolates well, cannot extrapolate"."""
from __future__ import annotations

from extrapbench.hparams import Integer
from extrapbench.naming import PARTS
from extrapbench.references.base import ReferenceData, ReferencePredictor
from extrapbench.registry import REFERENCES


@REFERENCES.register("random_forest")
class RandomForest(ReferencePredictor):
    defaults = {"n_estimators": 500, "min_samples_leaf": 1, "n_jobs": 1}
    hparam_specs = {"n_estimators": Integer(min=1), "min_samples_leaf": Integer(min=1), "n_jobs": Integer(min=1)}
    needs_features = True
    seeded = True
    description = "random forest on Magpie features (matbench's RF-SCM/Magpie: 500 trees), fitted on train"

    def predict(self, data: ReferenceData, seed: int):
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(n_estimators=self.params["n_estimators"],
                                      min_samples_leaf=self.params["min_samples_leaf"],
                                      n_jobs=self.params["n_jobs"], random_state=seed)
        model.fit(data.x["train"], data.y["train"])
        return {part: model.predict(data.x[part]) for part in PARTS}
