"""Graph backbones (fairchem PaiNN / EquiformerV2, PyG SchNet) on real phonon structures; the torch_scatter shim.

Small hyper-parameters keep this CPU-only file to a few seconds. Invariance tests use a neighbour cap that
does not bind (see extrapbench.graphs: a binding cap cuts shells in an order-dependent way).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from extrapbench.workarounds import scatter_shims
from extrapbench.data.graphs import build_graphs

DATA_HOME = Path(__file__).resolve().parents[1] / "data" / "matminer"
CUTOFF = 5.0
NO_CAP = 10**6


# --------------------------------------------------------------------------------------------------------
# shim: torch_scatter / torch_sparse stand-ins against naive loops
# --------------------------------------------------------------------------------------------------------

def naive_scatter(src: torch.Tensor, index: torch.Tensor, dim_size: int, reduce: str) -> torch.Tensor:
    """Loop reference for reductions along dimension 0 with a 1-D index; empty groups -> 0 (1 for mul)."""
    rows = []
    for k in range(dim_size):
        members = src[index == k]
        if len(members) == 0:
            rows.append(src.new_ones(src.shape[1:]) if reduce == "mul" else src.new_zeros(src.shape[1:]))
        elif reduce in ("sum", "add"):
            rows.append(members.sum(0))
        elif reduce == "mean":
            rows.append(members.mean(0))
        elif reduce == "min":
            rows.append(members.min(0).values)
        elif reduce == "max":
            rows.append(members.max(0).values)
        elif reduce == "mul":
            rows.append(members.prod(0))
    return torch.stack(rows)


@pytest.mark.parametrize("reduce", ["sum", "add", "mean", "min", "max", "mul"])
def test_shim_scatter_matches_naive_loop(reduce):
    generator = torch.Generator().manual_seed(0)
    src = torch.randn(11, 3, 2, generator=generator)
    index = torch.tensor([0, 2, 2, 5, 0, 1, 5, 5, 2, 0, 1])  # unsorted; groups 3, 4, 6 stay empty
    expected = naive_scatter(src, index, dim_size=7, reduce=reduce)
    torch.testing.assert_close(scatter_shims.scatter(src, index, dim=0, dim_size=7, reduce=reduce), expected)
    # along the last dimension (torch_scatter's default dim=-1), same numbers transposed
    moved = src.permute(1, 2, 0)
    torch.testing.assert_close(scatter_shims.scatter(moved, index, dim_size=7, reduce=reduce),
                               expected.permute(1, 2, 0))
    # dim_size defaults to index.max() + 1
    assert scatter_shims.scatter(src, index, dim=0, reduce=reduce).shape == (6, 3, 2)


def test_shim_scatter_hand_computed_and_gradients():
    src = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    index = torch.tensor([1, 0, 1, 1])
    summed = scatter_shims.scatter(src, index, dim=0, dim_size=3)
    assert summed.tolist() == [2.0, 8.0, 0.0]
    mean = scatter_shims.scatter(src, index, dim=0, reduce="mean")
    torch.testing.assert_close(mean, torch.tensor([2.0, 8.0 / 3]))
    (summed.sum() + mean.sum()).backward()
    torch.testing.assert_close(src.grad, torch.tensor([1 + 1 / 3, 2.0, 1 + 1 / 3, 1 + 1 / 3]))
    # a same-shape (2-D) index and accumulation into out=
    out = torch.zeros(2, 2)
    scatter_shims.scatter(torch.ones(2, 3), torch.tensor([[0, 1, 1], [1, 1, 1]]), dim=1, out=out)
    assert out.tolist() == [[1.0, 2.0], [0.0, 3.0]]
    # integer tensors (fairchem counts edges with them)
    assert scatter_shims.scatter(torch.ones(5, dtype=torch.long), torch.tensor([0, 0, 2, 2, 2])).tolist() == [2, 0, 3]


@pytest.mark.parametrize("reduce", ["sum", "mean", "min", "max"])
def test_shim_segment_coo_matches_naive_loop(reduce):
    src = torch.randn(9, 4, generator=torch.Generator().manual_seed(1))
    index = torch.tensor([0, 0, 1, 3, 3, 3, 4, 4, 6])  # sorted, with empty segments 2 and 5
    expected = naive_scatter(src, index, dim_size=8, reduce=reduce)
    torch.testing.assert_close(scatter_shims.segment_coo(src, index, dim_size=8, reduce=reduce), expected)
    torch.testing.assert_close(scatter_shims.segment_coo(src, index, reduce=reduce), expected[:7])
    # a batched (2-D) index reduces along dimension 1, row by row
    batched = torch.stack([src, src.flip(0)])
    rows = scatter_shims.segment_coo(batched, torch.stack([index, index]), dim_size=8, reduce=reduce)
    torch.testing.assert_close(rows[1], naive_scatter(src.flip(0), index, dim_size=8, reduce=reduce))


@pytest.mark.parametrize("reduce", ["sum", "mean", "min", "max"])
def test_shim_segment_csr_matches_naive_loop(reduce):
    src = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    indptr = torch.tensor([1, 3, 3, 7, 9])  # starts at 1, segment 1 empty, element 9 outside
    expected = torch.stack([
        naive_scatter(src[start:stop], torch.zeros(stop - start, dtype=torch.long), 1, reduce)[0]
        for start, stop in zip(indptr[:-1].tolist(), indptr[1:].tolist())])
    torch.testing.assert_close(scatter_shims.segment_csr(src, indptr, reduce=reduce), expected)


def test_shim_through_fairchem_repeat_blocks():
    """fairchem's repeat_blocks calls segment_csr for zero repeats; its docstring examples are the reference."""
    scatter_shims.install()
    from fairchem.core.models.painn.utils import repeat_blocks

    result = repeat_blocks(torch.tensor([2, 3, 2]), repeats=torch.tensor([2, 0, 2]), continuous_indexing=True)
    assert result.tolist() == [0, 1, 0, 1, 5, 6, 5, 6]
    result = repeat_blocks(torch.tensor([1, 3, 2]), repeats=torch.tensor([3, 2, 3]), continuous_indexing=True,
                           repeat_inc=4)
    assert result.tolist() == [0, 4, 8, 1, 2, 3, 5, 6, 7, 4, 5, 8, 9, 12, 13]


def test_install_registers_shims_only_where_missing():
    status = scatter_shims.install()
    assert scatter_shims.install() == status  # idempotent
    import torch_geometric.typing

    for name in ("torch_scatter", "torch_sparse"):
        assert (status[name] == "shim") == scatter_shims.using_shims()[name]
    # PyG must have seen the real environment, never the shim
    assert torch_geometric.typing.WITH_TORCH_SCATTER == (status["torch_scatter"] == "real")
    assert torch_geometric.typing.WITH_TORCH_SPARSE == (status["torch_sparse"] == "real")
    if status["torch_scatter"] == "shim":
        from torch_scatter import scatter, segment_coo, segment_csr
        assert (scatter, segment_coo, segment_csr) == (scatter_shims.scatter, scatter_shims.segment_coo,
                                                        scatter_shims.segment_csr)
    if status["torch_sparse"] == "shim":
        from torch_sparse import SparseTensor
        with pytest.raises(NotImplementedError):
            SparseTensor(row=torch.tensor([0]), col=torch.tensor([0]))


def test_install_keeps_a_real_package(monkeypatch):
    real = type(sys)("torch_scatter")  # stands for an importable compiled package
    monkeypatch.setitem(sys.modules, "torch_scatter", real)
    assert scatter_shims.install()["torch_scatter"] == "real"
    assert sys.modules["torch_scatter"] is real


# --------------------------------------------------------------------------------------------------------
# backbones on real structures
# --------------------------------------------------------------------------------------------------------

def small_painn(**overrides):
    from extrapbench.backbones.painn import PaiNN
    settings = dict(hidden_channels=32, num_layers=2, num_rbf=16, cutoff=CUTOFF, max_neighbors=NO_CAP)
    return PaiNN(**{**settings, **overrides})


def small_equiformer_v2(**overrides):
    from extrapbench.backbones.equiformer_v2 import EquiformerV2
    settings = dict(cutoff=CUTOFF, max_neighbors=NO_CAP, num_layers=2, sphere_channels=16,
                    attn_hidden_channels=16, num_heads=2, attn_alpha_channels=8, attn_value_channels=4,
                    ffn_hidden_channels=16, edge_channels=16, lmax_list=[2], mmax_list=[2],
                    alpha_drop=0.0, drop_path_rate=0.0, avg_degree=30.0)
    return EquiformerV2(**{**settings, **overrides})


def small_schnet(**overrides):
    from extrapbench.backbones.schnet import SchNet
    settings = dict(hidden_channels=32, num_filters=32, num_interactions=2, num_gaussians=16, cutoff=CUTOFF,
                    max_neighbors=NO_CAP)
    return SchNet(**{**settings, **overrides})


BUILDERS = {"painn": small_painn, "equiformer_v2": small_equiformer_v2, "schnet": small_schnet}
NAMES = list(BUILDERS)
# relative tolerance of the invariance tests: PaiNN is exact up to float32 rounding; EquiformerV2's S2-grid
# activations are equivariant only approximately (see extrapbench.backbones.equiformer_v2)
TOLERANCE = {"painn": 1e-4, "equiformer_v2": 2e-3, "schnet": 1e-4}


@pytest.fixture(scope="module")
def structures():
    from matminer.datasets import load_dataset
    frame = load_dataset("matbench_phonons", data_home=str(DATA_HOME))
    small = frame.structure[frame.structure.apply(len).between(2, 6)]
    return [small.iloc[k] for k in (0, 1, 2, 5)]  # 2-, 2-, 4- and 4-atom cells, mixed chemistry


def representation(model, structures, seed=0):
    """Eval-mode representation; the seed fixes EquiformerV2's random edge-frame roll."""
    graphs = build_graphs(structures, model.cutoff, model.max_neighbors, progress=False)
    torch.manual_seed(seed)
    with torch.no_grad():
        return model.eval()(Batch.from_data_list(graphs))


def assert_close_relative(actual, expected, tolerance):
    scale = expected.abs().max().item()
    assert (actual - expected).abs().max().item() <= tolerance * scale


@pytest.mark.parametrize("name", NAMES)
def test_registered(name):
    from extrapbench.registry import BACKBONES
    cls = BACKBONES.get(name)
    assert cls.input_kind == "graph" and cls.registry_name == name


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_on_real_batch(name, structures):
    torch.manual_seed(0)
    # a neighbour cap that binds, so the asymmetric capped edge set is exercised too
    model = BUILDERS[name](max_neighbors=12)
    model.train()
    graphs = build_graphs(structures, model.cutoff, model.max_neighbors, progress=False)
    batch = Batch.from_data_list(graphs)
    output = model(batch)
    assert output.shape == (len(structures), model.out_dim)
    assert torch.isfinite(output).all()
    output.square().mean().backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for parameter_name, parameter in trainable:
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_rigid_rotation_and_translation(name, structures):
    torch.manual_seed(0)
    model = BUILDERS[name]()
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(3)))[0].numpy()
    moved = [Structure(Lattice(s.lattice.matrix @ rotation.T), s.species, s.frac_coords + 0.137)
             for s in structures]
    assert_close_relative(representation(model, moved), representation(model, structures), TOLERANCE[name])


@pytest.mark.parametrize("name", NAMES)
def test_invariant_to_atom_order(name, structures):
    torch.manual_seed(0)
    model = BUILDERS[name]()
    permuted = []
    for s in structures:
        order = np.roll(np.arange(len(s)), 1)  # never the identity
        permuted.append(Structure(s.lattice, [s.species[k] for k in order], s.frac_coords[order]))
    assert_close_relative(representation(model, permuted), representation(model, structures), TOLERANCE[name])


@pytest.mark.parametrize("name", NAMES)
def test_mean_pooling_supercell_gives_same_representation(name, structures):
    """A 2x1x1 supercell has the same atomic environments (the cap does not bind), so a mean-pooled
    representation is unchanged, while a sum would double."""
    torch.manual_seed(0)
    model = BUILDERS[name]()
    supercells = [s * (2, 1, 1) for s in structures]
    assert_close_relative(representation(model, supercells), representation(model, structures),
                          TOLERANCE[name])


def test_equiformer_v2_random_edge_roll_barely_matters(structures):
    torch.manual_seed(0)
    model = small_equiformer_v2()
    assert_close_relative(representation(model, structures, seed=1), representation(model, structures, seed=2),
                          TOLERANCE["equiformer_v2"])


@pytest.mark.parametrize("name", NAMES)
def test_refuses_edgeless_graphs_and_mismatched_cutoff(name, structures):
    model = BUILDERS[name]()
    lonely = Structure(Lattice.cubic(30.0), ["Ar"], [[0, 0, 0]])
    graphs = build_graphs([structures[0], lonely], CUTOFF, NO_CAP, progress=False)
    with pytest.raises(ValueError, match="no edge"):
        model(Batch.from_data_list(graphs))
    too_long = build_graphs([structures[0]], CUTOFF + 1.0, NO_CAP, progress=False)
    with pytest.raises(ValueError, match="beyond the model cutoff"):
        model(Batch.from_data_list(too_long))


def test_single_graph_is_accepted(structures):
    model = small_painn()
    graph = build_graphs(structures[:1], CUTOFF, NO_CAP, progress=False)[0]
    assert model.eval()(graph).shape == (1, model.out_dim)


def test_no_network_access_at_import_construction_or_forward():
    """fairchem must not fetch anything (scale files, Jd.pt, checkpoints): run everything with sockets off."""
    import os
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import torch
        from pymatgen.core import Lattice, Structure
        from torch_geometric.data import Batch
        from extrapbench.data.graphs import build_graphs
        from extrapbench.backbones.painn import PaiNN
        from extrapbench.backbones.equiformer_v2 import EquiformerV2
        rocksalt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        for model in (PaiNN(hidden_channels=16, num_layers=1, num_rbf=8),
                      EquiformerV2(num_layers=1, sphere_channels=8, lmax_list=[1], mmax_list=[1])):
            batch = Batch.from_data_list(build_graphs([rocksalt], model.cutoff, model.max_neighbors,
                                                      progress=False))
            assert torch.isfinite(model(batch)).all()
        print("offline ok")
    """)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert done.returncode == 0 and "offline ok" in done.stdout, done.stderr[-2000:]
