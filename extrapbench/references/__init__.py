"""Reference predictors: what a trained model's extrapolation error has to beat (docs/benchmark.md).

A reference predictor needs no training loop and no backbone; it sees what every method sees (the train labels,
the val labels through early stopping, the Magpie features of the composition backbone) and predicts every
material of the split. Each is registered by name in :data:`extrapbench.registry.REFERENCES` (one module per
family, like the methods) and selected by the config key ``references``. The workflow writes each reference's
predictions as ordinary runs (``results/runs/{task}/{backbone}/{reference}/seed{seed}/``, the same files under
every backbone, so each backbone's block in the tables carries its references), evaluates them like any run and
shows them as unranked reference rows:

* constants (:mod:`.constants`): ``edge_train`` (the train range's edge on the held-out side), ``edge_known``
  (the edge of train ∪ val), ``train_mean``;
* classical composition baselines on Magpie features: ``random_forest`` (:mod:`.random_forest`, matbench's
  RF-SCM/Magpie learner) and ``ridge`` (:mod:`.ridge`).
"""
