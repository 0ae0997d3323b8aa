"""Composition features: matminer's Magpie element-property statistics (132 numbers per material)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pymatgen.core import Composition


def magpie_features(compositions: pd.Series) -> pd.DataFrame:
    """Magpie features for each composition (index preserved). Missing element data (rare) becomes the
    column mean so that one exotic element does not drop a material from every task."""
    from matminer.featurizers.composition import ElementProperty

    featurizer = ElementProperty.from_preset("magpie", impute_nan=True)
    featurizer.set_n_jobs(1)  # matminer's multiprocessing pool costs more than it saves at this size
    comps = [Composition(c) if isinstance(c, str) else c for c in compositions]
    rows = featurizer.featurize_many(comps, ignore_errors=False, pbar=True)
    features = pd.DataFrame(np.asarray(rows, dtype=float), index=compositions.index,
                            columns=featurizer.feature_labels())
    return features.fillna(features.mean())
