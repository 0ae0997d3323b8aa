"""A training method from outside the package: ERM's head with a Huber loss (quadratic within `delta` standardised
units of the target, linear beyond). Named in a config as `class: my_method:HuberRegression` (see my_backbone.py
for making this folder importable)."""
from __future__ import annotations

import torch.nn.functional as F

from extrapbench.hparams import Integer, Number
from extrapbench.methods.base import Method, mlp


class HuberRegression(Method):
    defaults = {"delta": 1.0, "head_hidden_dim": 128}
    hparam_specs = {"delta": Number(min=0, min_exclusive=True), "head_hidden_dim": Integer(min=1)}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        self.head = mlp(backbone.out_dim, self.hparams["head_hidden_dim"], 1, num_layers=2)

    def predict(self, batch):
        return self.head(self.backbone(batch)).squeeze(-1)

    def training_loss(self, batch):
        return F.huber_loss(self.predict(batch), batch.y, delta=self.hparams["delta"]), {}
