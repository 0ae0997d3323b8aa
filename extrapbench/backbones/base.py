"""The backbone contract: a structure (or composition) batch in, one d-dimensional vector per material out.

Backbones never own a prediction head; the training method does, so every method runs on every backbone.
"""
from __future__ import annotations

from torch import nn


class Backbone(nn.Module):
    #: "composition": the batch carries ``x`` [B, F] (Magpie features);
    #: "graph": the batch is a torch_geometric Batch of periodic graphs (see extrapbench.data.graphs);
    #: "features": the batch carries ``x`` [B, F], the backbone's own features: a classmethod (or staticmethod)
    #: ``featurize(table) -> array [materials, F]`` over the split members' rows of the dataset table (pymatgen
    #: ``composition`` and, where the dataset has them, ``structure``), run by each training run and standardised
    #: with train statistics (extrapbench.training.samples.own_feature_samples). The constructor gets ``in_dim=F``.
    input_kind: str = "composition"
    #: size of the representation returned by forward()
    out_dim: int
    #: what each constructor keyword may be (extrapbench.hparams); a keyword without a spec is checked against the
    #: type of its default
    hparam_specs: dict = {}

    def forward(self, batch):  # -> Tensor [B, out_dim]
        raise NotImplementedError
