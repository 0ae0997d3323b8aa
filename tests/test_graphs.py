"""Periodic graphs from real phonon structures: edges, cap, offsets and fairchem's distance convention."""
from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from torch_geometric.data import Batch

from extrapbench.data.graphs import build_graphs, capped_neighbor_list, structure_to_graph

DATA_HOME = Path(__file__).resolve().parents[1] / "data" / "matminer"
CUTOFF = 5.0


@pytest.fixture(scope="module")
def structures():
    from matminer.datasets import load_dataset
    frame = load_dataset("matbench_phonons", data_home=str(DATA_HOME))
    # a spread of sizes: the first rows plus the largest cells, where many images and ties occur
    by_size = frame.structure.apply(len).sort_values()
    picked = list(frame.index[:12]) + list(by_size.index[-3:])
    return [frame.structure[k] for k in picked]


def brute_force_edges(structure: Structure, cutoff: float) -> dict:
    """{(i, j, a, b, c): distance} for every periodic image j+(a,b,c) of every site within cutoff of site i,
    by looping over a box of images large enough for the cell (independent of get_neighbor_list)."""
    lattice = structure.lattice
    matrix = lattice.matrix
    # number of images needed along each axis: cutoff / (distance between opposite cell faces), plus one
    # because sites need not lie inside [0, 1) in fractional coordinates
    volume = abs(np.linalg.det(matrix))
    face_spacing = [volume / np.linalg.norm(np.cross(matrix[(k + 1) % 3], matrix[(k + 2) % 3]))
                    for k in range(3)]
    reach = [int(np.ceil(cutoff / spacing)) + 1 for spacing in face_spacing]
    frac = structure.frac_coords
    edges = {}
    for a, b, c in itertools.product(*(range(-r, r + 1) for r in reach)):
        shift = np.array([a, b, c], dtype=float)
        for i in range(len(structure)):
            for j in range(len(structure)):
                distance = float(np.linalg.norm((frac[j] + shift - frac[i]) @ matrix))
                if 1e-8 < distance < cutoff:
                    edges[(i, j, a, b, c)] = distance
    return edges


def graph_edges(graph) -> dict:
    j, i = graph.edge_index.tolist()
    offsets = graph.cell_offsets.round().long().tolist()
    return {(ci, nj, *off): float(d) for ci, nj, off, d in zip(i, j, offsets, graph.distances.tolist())}


def test_edges_match_brute_force_when_uncapped(structures):
    for structure in structures[:8]:
        graph = structure_to_graph(structure, CUTOFF, max_neighbors=10**6)
        expected = brute_force_edges(structure, CUTOFF)
        found = graph_edges(graph)
        assert set(found) == set(expected), structure.composition
        for key, distance in expected.items():
            assert found[key] == pytest.approx(distance, abs=1e-4)


def test_fields_follow_fairchem_layout(structures):
    structure = structures[0]
    graph = structure_to_graph(structure, CUTOFF, max_neighbors=12)
    n_atoms, n_edges = len(structure), graph.edge_index.shape[1]
    assert graph.atomic_numbers.dtype == torch.long and graph.atomic_numbers.shape == (n_atoms,)
    assert graph.pos.dtype == torch.float32 and graph.pos.shape == (n_atoms, 3)
    assert graph.cell.dtype == torch.float32 and graph.cell.shape == (1, 3, 3)
    assert graph.natoms.tolist() == [n_atoms]
    assert graph.edge_index.dtype == torch.long and graph.edge_index.shape == (2, n_edges)
    assert graph.cell_offsets.dtype == torch.float32 and graph.cell_offsets.shape == (n_edges, 3)
    assert torch.equal(graph.cell_offsets, graph.cell_offsets.round())
    assert graph.neighbors.tolist() == [n_edges]
    assert graph.atomic_numbers.tolist() == list(structure.atomic_numbers)
    np.testing.assert_allclose(graph.pos.numpy(), structure.cart_coords, atol=1e-5)


def test_cap_holds_and_keeps_the_nearest(structures):
    cap = 8
    for structure in structures:
        full = structure_to_graph(structure, CUTOFF, max_neighbors=10**6)
        capped = structure_to_graph(structure, CUTOFF, max_neighbors=cap)
        full_count = torch.bincount(full.edge_index[1], minlength=len(structure))
        capped_count = torch.bincount(capped.edge_index[1], minlength=len(structure))
        assert torch.equal(capped_count, full_count.clamp(max=cap))
        assert set(graph_edges(capped)) <= set(graph_edges(full))
        for centre in range(len(structure)):
            kept = capped.distances[capped.edge_index[1] == centre]
            everything = full.distances[full.edge_index[1] == centre]
            # the kept ones are the nearest: their largest is the cap-th smallest overall
            if len(everything) > cap:
                assert kept.max() == pytest.approx(everything.sort().values[cap - 1].item(), abs=1e-6)


def test_cap_is_deterministic_and_rotation_stable(structures):
    structure = structures[-1]  # largest cell: shells are cut by the cap
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0].numpy()
    rotated = Structure(Lattice(structure.lattice.matrix @ rotation.T), structure.species,
                        structure.frac_coords)
    first = structure_to_graph(structure, CUTOFF, max_neighbors=6)
    again = structure_to_graph(structure, CUTOFF, max_neighbors=6)
    turned = structure_to_graph(rotated, CUTOFF, max_neighbors=6)
    for other in (again, turned):
        assert torch.equal(first.edge_index, other.edge_index)
        assert torch.equal(first.cell_offsets, other.cell_offsets)


def test_uncapped_graph_has_every_edge_in_both_directions(structures):
    for structure in structures[:6]:
        edges = set(graph_edges(structure_to_graph(structure, CUTOFF, max_neighbors=10**6)))
        assert edges == {(j, i, -a, -b, -c) for (i, j, a, b, c) in edges}


def test_offsets_reproduce_pymatgen_distances_in_fairchem_convention(structures):
    """pos[j] + offset @ cell - pos[i], computed both directly and by fairchem's own get_pbc_distances on a
    collated batch, equals pymatgen's distance for each edge."""
    from extrapbench.workarounds import scatter_shims
    scatter_shims.install()
    from fairchem.core.common.utils import get_pbc_distances

    graphs = [structure_to_graph(s, CUTOFF, max_neighbors=16) for s in structures]
    for graph in graphs:
        j, i = graph.edge_index
        vectors = graph.pos[j] + graph.cell_offsets @ graph.cell[0] - graph.pos[i]
        torch.testing.assert_close(vectors.norm(dim=1), graph.distances, atol=1e-4, rtol=0)

    batch = Batch.from_data_list(graphs)
    assert batch.natoms.shape == (len(graphs),) and batch.neighbors.shape == (len(graphs),)
    assert batch.cell.shape == (len(graphs), 3, 3)
    out = get_pbc_distances(batch.pos, batch.edge_index, batch.cell, batch.cell_offsets, batch.neighbors,
                            return_offsets=True, return_distance_vec=True)
    assert out["edge_index"].shape == batch.edge_index.shape  # no zero-length edge was dropped
    torch.testing.assert_close(out["distances"], batch.distances, atol=1e-4, rtol=0)
    # and the vectors point from the centre (row 1) to the neighbour (row 0)
    structure, graph = structures[0], graphs[0]
    j, i = graph.edge_index[:, 0].tolist()
    image = structure[j].frac_coords + graph.cell_offsets[0].numpy()
    expected = structure.lattice.get_cartesian_coords(image) - structure[i].coords
    np.testing.assert_allclose(out["distance_vec"][0].numpy(), expected, atol=1e-4)


def test_capped_neighbor_list_breaks_ties_by_index_then_offset():
    # simple cubic: the 6 nearest images of the single site are all at 3 Å, a tie the cap of 4 must cut
    structure = Structure(Lattice.cubic(3.0), ["Po"], [[0, 0, 0]])
    centre, neighbour, offset, distance = capped_neighbor_list(structure, 3.5, max_neighbors=4)
    assert len(centre) == 4 and np.allclose(distance, 3.0)
    assert [tuple(o) for o in offset.astype(int)] == [(-1, 0, 0), (0, -1, 0), (0, 0, -1), (0, 0, 1)]


def test_isolated_atoms(caplog):
    # Na bonded to Cl, and a far-away Ar with no neighbour within the cutoff
    lonely = Structure(Lattice.cubic(30.0), ["Na", "Cl", "Ar"],
                       [[0, 0, 0], [0.08, 0, 0], [0.5, 0.5, 0.5]])
    graph = structure_to_graph(lonely, CUTOFF, max_neighbors=12)
    assert graph.num_nodes == 3
    assert 2 not in graph.edge_index.flatten().tolist()  # Ar is a node without edges
    assert graph.neighbors.item() == 2  # Na<-Cl and Cl<-Na

    nothing = Structure(Lattice.cubic(30.0), ["Ar"], [[0, 0, 0]])
    with caplog.at_level(logging.WARNING, logger="extrapbench.data.graphs"):
        graphs = build_graphs([lonely, nothing], CUTOFF, 12, progress=False)
    empty = graphs[1]
    assert empty.edge_index.shape == (2, 0) and empty.cell_offsets.shape == (0, 3)
    assert empty.neighbors.item() == 0
    assert "no neighbour" in caplog.text and "[1]" in caplog.text
