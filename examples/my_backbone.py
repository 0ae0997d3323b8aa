"""A backbone from outside the package, with its own featurizer: a small MLP over a material's element fractions.

Nothing here is part of extrapbench; a config names the class (config/example_plugin.yaml):

    backbones:
      fractions: {class: my_backbone:ElementFractionMLP, hidden_dim: 64}

once this folder is importable: `export PYTHONPATH=$PWD/examples` (an absolute path: Snakemake's jobs run in its
--directory), or install the module as part of a package of your own.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from extrapbench.backbones.base import Backbone
from extrapbench.hparams import Integer, Number

#: one fraction per element, hydrogen (Z=1) to oganesson (Z=118)
MAX_Z = 118


class ElementFractionMLP(Backbone):
    #: the run calls featurize(table) on the split's members and hands the backbone the standardised rows
    input_kind = "features"
    #: what the config check allows for each constructor keyword, before any job starts
    hparam_specs = {"hidden_dim": Integer(min=1), "out_dim": Integer(min=1),
                    "dropout": Number(min=0, max=1, max_exclusive=True)}

    def __init__(self, in_dim: int, hidden_dim: int = 64, out_dim: int = 32, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.SiLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden_dim, out_dim), nn.SiLU())
        self.out_dim = out_dim

    @classmethod
    def featurize(cls, table) -> np.ndarray:
        """One row per material: its element fractions, then the fraction-weighted mean atomic number and atomic
        mass and the number of elements. `table["composition"]` holds pymatgen Compositions (and
        `table["structure"]` pymatgen Structures, for a dataset that has them)."""
        rows = np.zeros((len(table), MAX_Z + 3))
        for row, composition in zip(rows, table["composition"]):
            fractions = composition.fractional_composition
            for species, fraction in fractions.items():
                element = getattr(species, "element", species)  # a Species (with oxidation state) -> its Element
                row[element.Z - 1] += fraction
                row[MAX_Z] += fraction * element.Z
                row[MAX_Z + 1] += fraction * float(element.atomic_mass)
            row[MAX_Z + 2] = len(fractions)
        return rows

    def forward(self, batch):
        return self.net(batch.x)
