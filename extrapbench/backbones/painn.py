"""PaiNN backbone: fairchem's ``PaiNNBackbone`` on precomputed periodic graphs, mean-pooled per structure.

The wrapped model is ``fairchem.core.models.painn.painn.PaiNNBackbone`` (fairchem-core 1.10), built with
``otf_graph=False, use_pbc=True, regress_forces=False``: it reads ``edge_index``, ``cell_offsets`` and
``neighbors`` from the batch (made by ``extrapbench.data.graphs.build_graphs``) instead of searching neighbours
itself, and computes the edge vectors as ``pos[j] + cell_offsets @ cell - pos[i]``
(``GraphModelMixin.generate_graph`` -> ``get_pbc_distances``). PaiNN then re-symmetrises the edge set
(keeps edges with j < i, mirrors them) because its message passing needs each edge's counter-edge.

Representation: the invariant (scalar) per-atom features ``node_embedding`` [N, hidden_channels] after the
last interaction block, averaged over the atoms of each structure -> [B, hidden_channels]. The vector
features ``node_vec`` are not pooled (they are not rotation-invariant).

fairchem is imported when a backbone is constructed (after ``extrapbench.workarounds.scatter_shims.install()``),
not when this module is imported, so the registry can list backbones where fairchem is not installed.

Graph/model consistency: build the graphs with this backbone's ``cutoff`` and ``max_neighbors``
(``backbone.cutoff``, ``backbone.max_neighbors``). fairchem's radial basis has a polynomial envelope that
is zero at ``cutoff``; a batch with longer edges is refused.

Departures from fairchem's OC20 setup:

* no energy/force heads: the ``out_energy`` MLP fairchem builds inside the backbone is removed (it is unused by
  ``PaiNNBackbone.forward``), and ``regress_forces=False`` so no force head is built;
* no ``scale_file``: fairchem's per-layer ``ScaleFactor`` modules stay unfitted, which makes them the
  identity. fairchem fits them on OC20 data for its pretrained configs; training from scratch on a small
  property data set does not need them;
* ``num_elements=100`` (fairchem's default 83 ends at Bi) so that every element in the matminer data sets
  is embeddable; embeddings are indexed by Z - 1.
"""
from __future__ import annotations

import warnings

from extrapbench.workarounds import scatter_shims
from extrapbench.backbones.base import Backbone
from extrapbench.hparams import Choice, Integer, Number, NumberList
from extrapbench.data.graphs import as_graph_batch, check_graph_batch, mean_pool
from extrapbench.registry import BACKBONES

#: fairchem's OC20 S2EF configuration (configs/s2ef/all/painn/painn_h512.yml), the closest published
#: reference for "PaiNN as implemented in fairchem" (paper A does not list its PaiNN hyper-parameters)
FAIRCHEM_OC20_HPARAMS = dict(hidden_channels=512, num_layers=6, num_rbf=128, cutoff=12.0, max_neighbors=50)


@BACKBONES.register("painn")
class PaiNN(Backbone):
    """fairchem PaiNN -> mean of per-atom scalar features.

    Defaults are a small CPU-friendly model (about 0.63 M parameters): 3 layers of 128 channels, 64 Gaussian
    radial functions, cutoff 6 Å, at most 24 neighbours per atom. The paper-like configuration is
    ``PaiNN(**FAIRCHEM_OC20_HPARAMS)`` (512 channels, 6 layers, 128 RBF, 12 Å, 50 neighbours; 18.6 M
    parameters).
    """

    input_kind = "graph"
    #: allowed values of the constructor's keywords (extrapbench.hparams), checked before any job runs
    hparam_specs = {"hidden_channels": Integer(min=1), "num_layers": Integer(min=1), "num_rbf": Integer(min=1),
                    "cutoff": Number(min=0, min_exclusive=True), "max_neighbors": Integer(min=1),
                    "num_elements": Integer(min=1)}

    def __init__(self, hidden_channels: int = 128, num_layers: int = 3, num_rbf: int = 64,
                 cutoff: float = 6.0, max_neighbors: int = 24, rbf: dict | None = None,
                 envelope: dict | None = None, num_elements: int = 100):
        super().__init__()
        self.cutoff = float(cutoff)
        self.max_neighbors = int(max_neighbors)
        self.out_dim = int(hidden_channels)
        self.hparams = dict(hidden_channels=hidden_channels, num_layers=num_layers, num_rbf=num_rbf,
                            cutoff=cutoff, max_neighbors=max_neighbors, rbf=rbf, envelope=envelope,
                            num_elements=num_elements)
        # fairchem is imported here, not at module level: the registry imports every backbone module to list
        # them, which must work (and stay fast) where fairchem is not installed
        scatter_shims.install()  # before fairchem: provides torch_scatter / torch_sparse where they are missing
        from fairchem.core.models.painn.painn import PaiNNBackbone

        with warnings.catch_warnings():
            # fairchem calls MessagePassing.jittable(), a documented no-op in PyG >= 2.5 that warns
            warnings.filterwarnings("ignore", message=".*jittable.*")
            self.model = PaiNNBackbone(
                hidden_channels=hidden_channels, num_layers=num_layers, num_rbf=num_rbf,
                cutoff=self.cutoff, max_neighbors=self.max_neighbors, rbf=rbf, envelope=envelope,
                regress_forces=False, direct_forces=False, use_pbc=True, use_pbc_single=False,
                otf_graph=False, num_elements=num_elements, scale_file=None)
        # fairchem builds an energy MLP inside the backbone that PaiNNBackbone.forward never uses (its
        # PaiNNEnergyHead drops it the same way); without this it would sit in the optimiser with no gradient
        self.model.out_energy = None

    def forward(self, batch):
        batch = as_graph_batch(batch)
        check_graph_batch(batch, self.cutoff, "painn")
        embedding = self.model(batch)
        return mean_pool(embedding["node_embedding"], batch.batch, int(batch.natoms.shape[0]))
