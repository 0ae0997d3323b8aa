"""MLP on Magpie composition features: the cheap CPU backbone of the embedded default and the tests."""
from __future__ import annotations

from torch import nn

from extrapbench.backbones.base import Backbone
from extrapbench.hparams import Choice, Integer, Number, NumberList
from extrapbench.registry import BACKBONES


@BACKBONES.register("magpie_mlp")
class MagpieMLP(Backbone):
    input_kind = "composition"
    #: allowed values of the constructor's keywords (extrapbench.hparams), checked before any job runs
    hparam_specs = {"hidden_dim": Integer(min=1), "out_dim": Integer(min=1), "num_layers": Integer(min=1),
                    "dropout": Number(min=0, max=1, max_exclusive=True)}

    def __init__(self, in_dim: int, hidden_dim: int = 256, out_dim: int = 128, num_layers: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"magpie_mlp: num_layers must be >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, hidden_dim), nn.SiLU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers += [nn.Linear(width, out_dim), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, batch):
        return self.net(batch.x)
