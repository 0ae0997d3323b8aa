"""Pure-torch stand-ins for ``torch_scatter`` and ``torch_sparse``, used only where the real ones are missing.

Why: fairchem-core 1.10 imports ``torch_scatter`` (``scatter``, ``segment_coo``, ``segment_csr``) in the
modules that PaiNN and EquiformerV2 load, and ``torch_sparse.SparseTensor`` in GemNet, which PaiNN's import
chain pulls in (``fairchem.core.models.gemnet`` package ``__init__``). Neither package publishes wheels for
current torch releases (there are none for torch 2.13 on PyPI or the PyG wheel index), and compiling them
from source takes about half an hour per package. Everything PaiNN and EquiformerV2 actually compute with
these functions is a plain scatter/segment reduction that torch itself provides
(``Tensor.scatter_reduce``), so a small shim suffices.

``install()`` registers the shims in ``sys.modules`` under the names ``torch_scatter`` and
``torch_sparse`` *only if* the real package cannot be imported, so a user with the compiled packages
(e.g. on a GPU cluster) gets the real ones. It must run before anything imports fairchem. It imports
``torch_geometric`` *first*: PyG probes ``torch_scatter``/``torch_sparse`` once, at import time, to decide
whether to route its own ops through them (``torch_geometric.typing.WITH_TORCH_SCATTER`` and
``WITH_TORCH_SPARSE``); it must see the true environment, not the shim, or it would take code paths
(``SparseTensor`` adjacency, ``torch_scatter`` kernels) the shim does not provide.

Implemented subset (signatures as in torch_scatter 2.1 / torch_sparse 0.6):

* ``torch_scatter.scatter(src, index, dim=-1, out=None, dim_size=None, reduce="sum")`` with
  ``reduce`` in {"sum", "add", "mean", "min", "max", "mul"}; ``index`` is broadcast to ``src`` as
  torch_scatter does (a 1-D index runs along ``dim``; missing trailing dimensions are appended). A sum
  with a 1-D index (message aggregation, the hot path) runs as ``index_add_``, ~3x faster than
  ``scatter_add_`` on CPU for forward plus backward; the other reductions use ``scatter_reduce``. Output positions that receive
  nothing are 0 (1 for "mul"), as in torch_scatter. With ``out=`` given, results are accumulated into it
  (sum/add only).
* ``torch_scatter.segment_coo(src, index, out=None, dim_size=None, reduce="sum")`` with ``reduce`` in
  {"sum", "add", "mean", "min", "max"}; ``index`` is sorted and covers the leading ``index.dim()``
  dimensions of ``src`` (reduction along dimension ``index.dim() - 1``). Sortedness is not required by
  the shim (scatter does not need it) and is not checked.
* ``torch_scatter.segment_csr(src, indptr, out=None, reduce="sum")`` with ``reduce`` in
  {"sum", "add", "mean", "min", "max"}; 1-D ``indptr`` only (reduction along dimension 0); elements
  outside ``[indptr[0], indptr[-1])`` are ignored and empty segments give 0, as in torch_scatter.
* ``torch_sparse.SparseTensor`` and ``torch_sparse.SparseStorage``: names only, so that
  ``from torch_sparse import SparseTensor`` succeeds. Constructing one raises ``NotImplementedError``:
  neither PaiNN nor EquiformerV2 builds a SparseTensor (GemNet, GemNet-OC and DimeNet++ do; they are not
  supported without the real package).

Which of these PaiNN / EquiformerV2 call at run time: ``scatter`` (sum, dim 0, message aggregation and
PaiNN's energy readout) and ``segment_coo`` (sum, PaiNN's edge counting). ``segment_csr`` is called by
``repeat_blocks`` only for tensor-valued ``repeats``; the other reductions serve the imported-but-unused
code (relaxation utilities use "max", the rank-2 heads use "mean") and keep the shim honest to the API.

Gradient note: for "min"/"max", torch's ``scatter_reduce`` splits the gradient evenly among tied
maxima, while torch_scatter sends it to one arg-max element; the values agree. ``scatter_max`` /
``scatter_min`` (which also return arg indices) are not provided.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Optional

import torch

_SHIM_MARK = "__extrapbench_shim__"

_TORCH_REDUCE = {"sum": "sum", "add": "sum", "mean": "mean", "min": "amin", "max": "amax", "mul": "prod"}


def _broadcast_index(index: torch.Tensor, src: torch.Tensor, dim: int) -> torch.Tensor:
    """Expand ``index`` to ``src``'s shape the way torch_scatter does: a 1-D index runs along ``dim``,
    missing trailing dimensions are appended, then the result is expanded."""
    if index.dim() == 1:
        index = index.view([1] * dim + [-1])
    while index.dim() < src.dim():
        index = index.unsqueeze(-1)
    return index.expand_as(src)


def scatter(src: torch.Tensor, index: torch.Tensor, dim: int = -1, out: Optional[torch.Tensor] = None,
            dim_size: Optional[int] = None, reduce: str = "sum") -> torch.Tensor:
    """Reduce the slices of ``src`` along ``dim`` into the positions given by ``index`` (torch_scatter API)."""
    if reduce not in _TORCH_REDUCE:
        raise ValueError(f"scatter: unsupported reduce {reduce!r}; supported: {sorted(_TORCH_REDUCE)}")
    dim = dim % src.dim() if src.dim() > 0 else 0
    if _TORCH_REDUCE[reduce] == "sum" and index.dim() == 1 and out is None:
        # the common case (message aggregation): index_add is ~3x faster than scatter_add on CPU,
        # forward plus backward, because it needs no expanded index
        if dim_size is None:
            dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
        shape = list(src.shape)
        shape[dim] = dim_size
        return src.new_zeros(shape).index_add_(dim, index, src)
    index = _broadcast_index(index, src, dim)
    if out is not None:
        if _TORCH_REDUCE[reduce] != "sum":
            raise NotImplementedError("scatter: out= is supported for reduce='sum' only in this shim")
        return out.scatter_add_(dim, index, src)
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    shape = list(src.shape)
    shape[dim] = dim_size
    torch_reduce = _TORCH_REDUCE[reduce]
    if torch_reduce == "sum":
        return src.new_zeros(shape).scatter_add_(dim, index, src)
    if torch_reduce == "prod":
        # torch_scatter starts products from 1, so empty positions stay 1
        return src.new_ones(shape).scatter_reduce(dim, index, src, reduce="prod", include_self=True)
    # include_self=False: the zero initial value does not take part; empty positions keep it (0), like
    # torch_scatter
    return src.new_zeros(shape).scatter_reduce(dim, index, src, reduce=torch_reduce, include_self=False)


def segment_coo(src: torch.Tensor, index: torch.Tensor, out: Optional[torch.Tensor] = None,
                dim_size: Optional[int] = None, reduce: str = "sum") -> torch.Tensor:
    """Reduce ``src`` over runs of equal (sorted) ``index`` values; reduction dimension is ``index.dim()-1``."""
    if reduce not in ("sum", "add", "mean", "min", "max"):
        raise ValueError(f"segment_coo: unsupported reduce {reduce!r}")
    dim = index.dim() - 1
    if index.dim() > 1:
        if tuple(index.shape) != tuple(src.shape[: index.dim()]):
            raise ValueError("segment_coo: index must match the leading dimensions of src")
    if out is not None:
        if reduce not in ("sum", "add"):
            raise NotImplementedError("segment_coo: out= is supported for reduce='sum' only in this shim")
        return scatter(src, index, dim=dim, out=out, reduce="sum")
    if dim_size is None:
        dim_size = int(index.max()) + 1 if index.numel() > 0 else 0
    return scatter(src, index, dim=dim, dim_size=dim_size, reduce=reduce)


def segment_csr(src: torch.Tensor, indptr: torch.Tensor, out: Optional[torch.Tensor] = None,
                reduce: str = "sum") -> torch.Tensor:
    """Reduce ``src[indptr[k]:indptr[k+1]]`` along dimension 0 for each segment k (1-D ``indptr`` only)."""
    if reduce not in ("sum", "add", "mean", "min", "max"):
        raise ValueError(f"segment_csr: unsupported reduce {reduce!r}")
    if indptr.dim() != 1:
        raise NotImplementedError("segment_csr: only 1-D indptr is supported in this shim")
    n_segments = indptr.numel() - 1
    start, stop = int(indptr[0]), int(indptr[-1])
    lengths = indptr[1:] - indptr[:-1]
    segment_of_element = torch.repeat_interleave(torch.arange(n_segments, device=src.device), lengths)
    result = scatter(src[start:stop], segment_of_element, dim=0, dim_size=n_segments, reduce=reduce)
    if out is not None:
        out.copy_(result)
        return out
    return result


class _SparseUnavailable:
    """Placeholder for torch_sparse classes: importable, not constructible (see module docstring)."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            f"torch_sparse.{type(self).__name__} is not available: extrapbench registered a pure-torch "
            "torch_sparse shim because the compiled package is not installed. Only PaiNN and EquiformerV2 "
            "are supported without it; install torch-sparse for GemNet / DimeNet++.")


class SparseTensor(_SparseUnavailable):
    pass


class SparseStorage(_SparseUnavailable):
    pass


def _make_module(name: str, attributes: dict) -> types.ModuleType:
    module = types.ModuleType(name, f"extrapbench pure-torch stand-in for {name} (see extrapbench.workarounds.scatter_shims)")
    for key, value in attributes.items():
        setattr(module, key, value)
    setattr(module, _SHIM_MARK, True)
    module.__version__ = "0.0.0+extrapbench.shim"
    return module


def _importable(name: str) -> bool:
    """True if a real ``name`` package can be imported (a broken install counts as missing)."""
    existing = sys.modules.get(name)
    if existing is not None:
        return not getattr(existing, _SHIM_MARK, False)
    if importlib.util.find_spec(name) is None:
        return False
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - e.g. an ABI-mismatched wheel fails with OSError / RuntimeError
        sys.modules.pop(name, None)
        return False


def install() -> dict:
    """Register the shims as ``torch_scatter`` / ``torch_sparse`` where the real packages are missing.

    Idempotent. Returns ``{"torch_scatter": "real" | "shim", "torch_sparse": "real" | "shim"}``.
    """
    # PyG decides once, at its import, whether torch_scatter / torch_sparse exist; let it see the truth
    import torch_geometric  # noqa: F401

    status = {}
    if _importable("torch_scatter"):
        status["torch_scatter"] = "real"
    else:
        torch_scatter = _make_module("torch_scatter", {
            "scatter": scatter, "segment_coo": segment_coo, "segment_csr": segment_csr})
        sys.modules["torch_scatter"] = torch_scatter
        status["torch_scatter"] = "shim"
    if _importable("torch_sparse"):
        status["torch_sparse"] = "real"
    else:
        sys.modules["torch_sparse"] = _make_module("torch_sparse", {
            "SparseTensor": SparseTensor, "SparseStorage": SparseStorage})
        status["torch_sparse"] = "shim"
    return status


def using_shims() -> dict:
    """Which of torch_scatter / torch_sparse currently resolve to the shim (after ``install()``)."""
    return {name: bool(getattr(sys.modules.get(name), _SHIM_MARK, False))
            for name in ("torch_scatter", "torch_sparse")}
