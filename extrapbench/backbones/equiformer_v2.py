"""EquiformerV2 backbone: fairchem's ``EquiformerV2Backbone`` on precomputed periodic graphs, mean-pooled.

The wrapped model is ``fairchem.core.models.equiformer_v2.equiformer_v2.EquiformerV2Backbone``
(fairchem-core 1.10), built with ``otf_graph=False, use_pbc=True, regress_forces=False``: it reads
``edge_index``, ``cell_offsets`` and ``neighbors`` from the batch (made by
``extrapbench.data.graphs.build_graphs``) and computes the edge vectors as ``pos[j] + cell_offsets @ cell -
pos[i]`` (``GraphModelMixin.generate_graph`` -> ``get_pbc_distances``). Edges are used as directed
messages j -> i, as given.

Representation: the final node embedding is an ``SO3_Embedding`` with coefficients [N, (lmax+1)^2, C] per
resolution; its l = 0 coefficient (index 0 of each resolution block) is rotation-invariant. Those are
concatenated over resolutions and averaged over the atoms of each structure -> [B, len(lmax_list) *
sphere_channels].

Properties inherited from fairchem, worth knowing:

* Each edge's local frame is fixed up to a roll about the edge axis, and fairchem draws that roll at random
  on every forward pass (``init_edge_rot_mat`` uses ``torch.rand_like``). The l = 0 output does not depend on
  it exactly in theory; in practice the S2-grid activations are only approximately equivariant, so two
  passes on the same input differ slightly (~1e-3 relative at small ``grid_resolution``). Seed torch's RNG
  for bit-reproducible outputs.
* ``alpha_drop`` (attention dropout) and ``drop_path_rate`` (per-structure stochastic depth) act in training
  mode only.
* The model asserts ``Z < max_num_elements``; the default here is 100 (fairchem: 90) so every element in
  the matminer data sets fits. Embeddings are indexed by Z.
* ``avg_degree`` rescales the summed edge-degree embedding. fairchem's default is the mean degree of its
  OC20 IS2RE graphs (23.4); here it defaults to ``max_neighbors``, which is the mean in-degree of these
  crystal graphs whenever the neighbour cap binds, as it does for almost every atom at cutoffs of 5-6 Å.

Nothing is downloaded: the Wigner-D helper tensor ``Jd.pt`` ships inside the fairchem wheel and is read
from the package directory; no scale files exist for EquiformerV2. No fairchem code is patched.

fairchem is imported when a backbone is constructed (after ``extrapbench.workarounds.scatter_shims.install()``),
not when this module is imported, so the registry can list backbones where fairchem is not installed.

Graph/model consistency: build the graphs with this backbone's ``cutoff`` and ``max_neighbors``
(``backbone.cutoff``, ``backbone.max_neighbors``); a batch with edges longer than ``cutoff`` is refused.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from extrapbench.workarounds import scatter_shims
from extrapbench.backbones.base import Backbone
from extrapbench.hparams import Choice, Integer, Number, NumberList
from extrapbench.data.graphs import as_graph_batch, check_graph_batch, mean_pool
from extrapbench.registry import BACKBONES

#: fairchem's OC20 S2EF "31M" configuration (configs/s2ef/all/equiformer_v2/
#: equiformer_v2_N@8_L@4_M@2_31M.yml), the closest published reference for "EquiformerV2 as implemented in
#: fairchem" (paper A does not list its EquiformerV2 hyper-parameters)
FAIRCHEM_OC20_HPARAMS = dict(
    cutoff=12.0, max_neighbors=20, num_layers=8, sphere_channels=128, attn_hidden_channels=64, num_heads=8,
    attn_alpha_channels=64, attn_value_channels=16, ffn_hidden_channels=128, norm_type="layer_norm_sh",
    lmax_list=[4], mmax_list=[2], grid_resolution=18, edge_channels=128, attn_activation="silu",
    ffn_activation="silu", use_grid_mlp=True, alpha_drop=0.1, drop_path_rate=0.1, weight_init="uniform")


@BACKBONES.register("equiformer_v2")
class EquiformerV2(Backbone):
    """fairchem EquiformerV2 -> mean of per-atom l = 0 features.

    Defaults are a small CPU-friendly model (about 0.65 M parameters, most of them in the per-block radial MLPs fed by
    fairchem's fixed 600-Gaussian distance expansion): 2 layers, 64 sphere channels,
    lmax 2 / mmax 2, 4 heads, cutoff 6 Å, at most 20 neighbours per atom, fairchem's own defaults for the
    remaining switches (S2 activation, RMS norm, separable S2 activation, attention re-normalisation). The
    paper-like configuration is ``EquiformerV2(**FAIRCHEM_OC20_HPARAMS)`` (8 layers, 128 channels,
    lmax 4 / mmax 2, 12 Å, 20 neighbours; 27.8 M parameters without fairchem's heads).
    """

    input_kind = "graph"
    #: allowed values of the constructor's keywords (extrapbench.hparams), checked before any job runs
    hparam_specs = {
        "cutoff": Number(min=0, min_exclusive=True), "max_neighbors": Integer(min=1), "num_layers": Integer(min=1),
        "sphere_channels": Integer(min=1), "attn_hidden_channels": Integer(min=1), "num_heads": Integer(min=1),
        "attn_alpha_channels": Integer(min=1), "attn_value_channels": Integer(min=1),
        "ffn_hidden_channels": Integer(min=1), "edge_channels": Integer(min=1), "num_sphere_samples": Integer(min=1),
        "norm_type": Choice("layer_norm", "layer_norm_sh", "rms_norm_sh"),
        "lmax_list": NumberList(item=Number(min=0), integers=True),
        "mmax_list": NumberList(item=Number(min=0), integers=True),
        "grid_resolution": Integer(min=1, nullable=True), "alpha_drop": Number(min=0, max=1, max_exclusive=True),
        "drop_path_rate": Number(min=0, max=1, max_exclusive=True),
        "proj_drop": Number(min=0, max=1, max_exclusive=True), "weight_init": Choice("normal", "uniform"),
        "max_num_elements": Integer(min=1), "avg_degree": Number(min=0, min_exclusive=True, nullable=True),
    }

    def __init__(self, cutoff: float = 6.0, max_neighbors: int = 20, num_layers: int = 2,
                 sphere_channels: int = 64, attn_hidden_channels: int = 32, num_heads: int = 4,
                 attn_alpha_channels: int = 16, attn_value_channels: int = 8,
                 ffn_hidden_channels: int = 64, norm_type: str = "rms_norm_sh",
                 lmax_list: Sequence[int] = (2,), mmax_list: Sequence[int] = (2,),
                 grid_resolution: Optional[int] = None, num_sphere_samples: int = 128,
                 edge_channels: int = 64, use_atom_edge_embedding: bool = True,
                 share_atom_edge_embedding: bool = False, use_m_share_rad: bool = False,
                 attn_activation: str = "scaled_silu", use_s2_act_attn: bool = False,
                 use_attn_renorm: bool = True, ffn_activation: str = "scaled_silu",
                 use_gate_act: bool = False, use_grid_mlp: bool = False, use_sep_s2_act: bool = True,
                 alpha_drop: float = 0.1, drop_path_rate: float = 0.05, proj_drop: float = 0.0,
                 weight_init: str = "normal", max_num_elements: int = 100,
                 avg_degree: Optional[float] = None):
        super().__init__()
        self.cutoff = float(cutoff)
        self.max_neighbors = int(max_neighbors)
        lmax_list, mmax_list = list(lmax_list), list(mmax_list)
        self.out_dim = len(lmax_list) * int(sphere_channels)
        self.hparams = dict(
            cutoff=cutoff, max_neighbors=max_neighbors, num_layers=num_layers, sphere_channels=sphere_channels,
            attn_hidden_channels=attn_hidden_channels, num_heads=num_heads,
            attn_alpha_channels=attn_alpha_channels, attn_value_channels=attn_value_channels,
            ffn_hidden_channels=ffn_hidden_channels, norm_type=norm_type, lmax_list=lmax_list,
            mmax_list=mmax_list, grid_resolution=grid_resolution, num_sphere_samples=num_sphere_samples,
            edge_channels=edge_channels, use_atom_edge_embedding=use_atom_edge_embedding,
            share_atom_edge_embedding=share_atom_edge_embedding, use_m_share_rad=use_m_share_rad,
            attn_activation=attn_activation, use_s2_act_attn=use_s2_act_attn, use_attn_renorm=use_attn_renorm,
            ffn_activation=ffn_activation, use_gate_act=use_gate_act, use_grid_mlp=use_grid_mlp,
            use_sep_s2_act=use_sep_s2_act, alpha_drop=alpha_drop, drop_path_rate=drop_path_rate,
            proj_drop=proj_drop, weight_init=weight_init, max_num_elements=max_num_elements,
            avg_degree=avg_degree)
        # fairchem is imported here, not at module level: the registry imports every backbone module to list
        # them, which must work (and stay fast) where fairchem is not installed
        scatter_shims.install()  # before fairchem: provides torch_scatter / torch_sparse where they are missing
        from fairchem.core.models.equiformer_v2.equiformer_v2 import EquiformerV2Backbone

        self.model = EquiformerV2Backbone(
            use_pbc=True, use_pbc_single=False, regress_forces=False, otf_graph=False,
            max_neighbors=self.max_neighbors, max_radius=self.cutoff, max_num_elements=max_num_elements,
            num_layers=num_layers, sphere_channels=sphere_channels, attn_hidden_channels=attn_hidden_channels,
            num_heads=num_heads, attn_alpha_channels=attn_alpha_channels,
            attn_value_channels=attn_value_channels, ffn_hidden_channels=ffn_hidden_channels,
            norm_type=norm_type, lmax_list=lmax_list, mmax_list=mmax_list, grid_resolution=grid_resolution,
            num_sphere_samples=num_sphere_samples, edge_channels=edge_channels,
            use_atom_edge_embedding=use_atom_edge_embedding,
            share_atom_edge_embedding=share_atom_edge_embedding, use_m_share_rad=use_m_share_rad,
            attn_activation=attn_activation, use_s2_act_attn=use_s2_act_attn, use_attn_renorm=use_attn_renorm,
            ffn_activation=ffn_activation, use_gate_act=use_gate_act, use_grid_mlp=use_grid_mlp,
            use_sep_s2_act=use_sep_s2_act, alpha_drop=alpha_drop, drop_path_rate=drop_path_rate,
            proj_drop=proj_drop, weight_init=weight_init, enforce_max_neighbors_strictly=True,
            avg_degree=float(avg_degree) if avg_degree is not None else float(self.max_neighbors),
            use_energy_lin_ref=False, load_energy_lin_ref=False, activation_checkpoint=False)
        # position of each resolution's l = 0 coefficient in the flattened (l, m) axis
        offsets, start = [], 0
        for lmax in lmax_list:
            offsets.append(start)
            start += (lmax + 1) ** 2
        self.register_buffer("_l0_index", torch.tensor(offsets, dtype=torch.long), persistent=False)

    def forward(self, batch):
        batch = as_graph_batch(batch)
        check_graph_batch(batch, self.cutoff, "equiformer_v2")
        embedding = self.model(batch)["node_embedding"].embedding  # [N, sum (lmax+1)^2, C]
        invariant = embedding.index_select(1, self._l0_index).flatten(1)  # [N, resolutions * C]
        return mean_pool(invariant, batch.batch, int(batch.natoms.shape[0]))
