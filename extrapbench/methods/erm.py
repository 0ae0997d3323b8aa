"""ERM: plain empirical risk minimisation with a regression head.

The head is a 2-layer MLP on the backbone representation. The loss is L1 by default because both papers
report MAE and select models on val MAE; `loss: mse` is available.
"""
from __future__ import annotations

import torch.nn.functional as F

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.base import Method, mlp
from extrapbench.registry import METHODS


@METHODS.register("erm")
class ERM(Method):
    defaults = {"loss": "l1", "head_hidden_dim": 128}
    hparam_specs = {"loss": Choice("l1", "mse"), "head_hidden_dim": Integer(min=1)}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        self.head = mlp(backbone.out_dim, self.hparams["head_hidden_dim"], 1, num_layers=2)

    def predict(self, batch):
        return self.head(self.backbone(batch)).squeeze(-1)

    def regression_loss(self, pred, target):
        """The configured regression loss; methods built on ERM's head reuse it on their own targets."""
        return F.l1_loss(pred, target) if self.hparams["loss"] == "l1" else F.mse_loss(pred, target)

    def training_loss(self, batch):
        return self.regression_loss(self.predict(batch), batch.y), {}
