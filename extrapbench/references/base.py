"""The reference-predictor contract and the data it is given."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

from extrapbench.naming import PARTS



@dataclass
class ReferenceData:
    """One task's split as a reference predictor sees it, in transformed-target units.

    ``y``: part -> labels; ``x``: part -> Magpie feature matrix (standardised with train statistics), or None
    when no predictor asked for features; ``side``: the held-out side of a range split ("top" / "bottom"), None
    for split kinds without one (held-out elements, element count, random)."""

    y: Dict[str, np.ndarray]
    side: str | None
    x: Dict[str, np.ndarray] | None = None

    def n(self, part: str) -> int:
        return len(self.y[part])


class ReferencePredictor:
    """A predictor without a training loop. Subclasses set the class attributes and implement ``predict``."""

    #: hyper-parameters and their defaults; config values override them, unknown keys are an error
    defaults: Dict[str, Any] = {}
    #: what each hyper-parameter may be (extrapbench.hparams), checked with the config
    hparam_specs: Dict[str, Any] = {}
    #: reads Magpie features (ReferenceData.x)
    needs_features: bool = False
    #: defined only for splits with a held-out side (a range split)
    needs_side: bool = False
    #: predictions depend on the seed (a random forest); False: every seed gets the same predictions
    seeded: bool = False
    #: one line for the tables' notes: what the reference predicts
    description: str = ""

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise ValueError(f"reference {getattr(self, 'registry_name', type(self).__name__)!r}: unknown "
                             f"hyper-parameter(s) {sorted(unknown)}; known: {sorted(self.defaults)}")
        self.params = {**self.defaults, **params}

    def predict(self, data: ReferenceData, seed: int) -> Dict[str, np.ndarray]:
        """Predictions for every part of ``data`` (part -> array of that part's length)."""
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        """What to record in the run's provenance beyond the hyper-parameters (e.g. a selected alpha)."""
        return {}


def constant(value: float, data: ReferenceData) -> Dict[str, np.ndarray]:
    return {part: np.full(data.n(part), float(value)) for part in PARTS}


def describe_references(names) -> str:
    """One sentence per reference predictor, for the tables' notes (registered classes' ``description``)."""
    from extrapbench.registry import REFERENCES
    from extrapbench.naming import display_name

    parts = []
    for name in names:
        try:
            parts.append(f"{display_name(name)}: {REFERENCES.get(name).description}")
        except KeyError:  # a variant entry (`reference:` key) or a removed predictor: its name says enough
            parts.append(display_name(name))
    return "; ".join(parts) + "."
