"""MEX's cosine score read from a table: cos(x, l(y)) for every candidate y without encoding each candidate.

Why: the search scores 2,000 candidates in 6 rounds, 12,000 label encodings of d floats per material (an affine
map, the activation, a dot product and a norm each): on a CPU 1-2 ms per material, more than a small backbone's
forward pass. For one material the score is a smooth function of one number, s(y) = x̂ · l̂(y) with l̂ = l / |l|,
so it is tabulated instead. The label side, l̂ and its derivative on a grid of G points over [low, high], does not
depend on the material and is built once per prediction call; two matrix products give s and s' at every grid
point for a whole chunk of materials; a candidate's score is the cubic Hermite interpolant on its grid interval
(four coefficients per interval, Horner's rule).

Accuracy is checked, not assumed: for every chunk the interpolant is compared with the exact score at every
interval's midpoint, where a cubic Hermite interpolant's error peaks while the fourth derivative varies slowly
over an interval; as that is an estimate, not a bound, the midpoint error must stay under a quarter of the
tolerance (1e-6 by default: the rounding level of the direct float32 computation). Until it does the grid is
doubled, up to ``MAX_POINTS``; a chunk that still misses it is scored directly (``CosineTables.for_materials``
returns None). The table is built in float64 (so the check sees interpolation error, not rounding) and read in
float32. Activations without a continuous derivative (relu, leaky_relu) are always scored directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: activations with a continuous derivative, and that derivative
SMOOTH_ACTIVATIONS = ("silu", "tanh", "gelu")
FIRST_POINTS = 1024
MAX_POINTS = 1 << 15
TOLERANCE = 1e-6
#: |x| and |l| are clamped below at this before dividing, here and in the direct cosine (inference.py)
COSINE_EPS = 1e-8


def activation_and_slope(z: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """act(z) and act'(z) for one of SMOOTH_ACTIVATIONS (gelu: the exact erf form, as nn.GELU())."""
    if name == "silu":
        sig = torch.sigmoid(z)
        return z * sig, sig * (1 + z * (1 - sig))
    if name == "tanh":
        t = torch.tanh(z)
        return t, 1 - t * t
    if name == "gelu":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2)))
        return z * cdf, cdf + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    raise ValueError(f"mex: no tabulated score for activation {name!r}; smooth ones: {SMOOTH_ACTIVATIONS}")


@dataclass
class LabelGrid:
    """[l̂ at G grid points; step · dl̂/dy there; l̂ at the G - 1 interval midpoints] as one [3 G - 1, d] matrix
    (``stacked``: one matrix product with the materials gives values, slopes and midpoint values)."""
    low: float
    step: float
    stacked: torch.Tensor

    @property
    def points(self) -> int:
        return (len(self.stacked) + 1) // 3


def label_grid(weight: torch.Tensor, bias: torch.Tensor, activation: str, low: float, high: float,
               points: int) -> LabelGrid:
    """The label encoder l(y) = act(weight · y + bias) (weight, bias: [d]) on `points` grid points of [low, high],
    in the dtype of weight."""
    step = (high - low) / (points - 1)
    y = torch.linspace(low, high, points, device=weight.device, dtype=weight.dtype)
    label, slope = activation_and_slope(torch.addcmul(bias, y.unsqueeze(-1), weight), activation)
    slope = slope * weight                                                        # dl/dy
    unit, norm = _unit_rows(label)
    unit_slope = (slope - unit * (unit * slope).sum(-1, keepdim=True)) / norm     # d(l/|l|)/dy
    midpoints = torch.addcmul(bias, (y[:-1] + 0.5 * step).unsqueeze(-1), weight)
    midpoint_unit, _ = _unit_rows(activation_and_slope(midpoints, activation)[0])
    return LabelGrid(low, step, torch.cat([unit, unit_slope * step, midpoint_unit]))


def _unit_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rows / |rows| and |rows| (clamped below at COSINE_EPS), row-wise."""
    norm = torch.linalg.vector_norm(rows, dim=-1, keepdim=True).clamp_min(COSINE_EPS)
    return rows / norm, norm


class CosineTable:
    """Scores by the interpolant of a LabelGrid: [B, C] candidates of B materials -> [B, C] cosines. ``rows``
    gives the table of a chunk of those materials without copying."""

    def __init__(self, planes: torch.Tensor, grid: LabelGrid, max_error: float):
        # one [B, G - 1] plane per coefficient: each is read by one index_select per call, several times faster on
        # a CPU than a gather per coefficient from [B, G - 1, 4]
        self.planes, self.grid, self.max_error = planes, grid, max_error
        rows, intervals = planes.shape[1:]
        self.row_start = torch.arange(rows, device=planes.device).unsqueeze(1) * intervals

    @property
    def points(self) -> int:
        """The grid size the check settled on, for reports and tests."""
        return self.grid.points

    @classmethod
    def from_coefficients(cls, coefficients: torch.Tensor, grid: LabelGrid, max_error: float) -> "CosineTable":
        """coefficients: [B, G - 1, 4] (c0..c3 of each interval)."""
        return cls(coefficients.permute(2, 0, 1).contiguous(), grid, max_error)

    def rows(self, start: int, stop: int) -> "CosineTable":
        return CosineTable(self.planes[:, start:stop], self.grid, self.max_error)

    def __call__(self, candidates: torch.Tensor) -> torch.Tensor:
        # the position in float64: in float32, t (up to G) keeps only ~1e-3 of an interval at G = 8,192
        t = candidates.double().sub_(self.grid.low).div_(self.grid.step)
        interval = t.floor().clamp_(0, self.grid.points - 2)
        f = t.sub_(interval).float()
        index = (interval.long() + self.row_start).flatten()
        c0, c1, c2, c3 = (plane.reshape(-1).index_select(0, index).view_as(f) for plane in self.planes)
        return torch.addcmul(c0, torch.addcmul(c1, torch.addcmul(c2, c3, f), f), f)


def hermite_coefficients(values: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """Cubic Hermite coefficients per interval from [B, G] values and step-scaled slopes: [B, G - 1, 4]."""
    s0, s1, d0, d1 = values[:, :-1], values[:, 1:], slopes[:, :-1], slopes[:, 1:]
    return torch.stack([s0, d0, 3 * (s1 - s0) - 2 * d0 - d1, 2 * (s0 - s1) + d0 + d1], dim=-1)


class CosineTables:
    """The label grids of one label encoder (finer ones built when some materials need them), and the table of the
    materials of a prediction call."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, activation: str, low: float, high: float,
                 tolerance: float = TOLERANCE, first_points: int = FIRST_POINTS, max_points: int = MAX_POINTS):
        self.weight, self.bias = weight.detach().double(), bias.detach().double()
        self.activation, self.low, self.high = activation, low, high
        self.tolerance, self.first_points, self.max_points = tolerance, first_points, max_points
        self._grids: dict[int, LabelGrid] = {}

    def _grid(self, points: int) -> LabelGrid:
        if points not in self._grids:
            self._grids[points] = label_grid(self.weight, self.bias, self.activation, self.low, self.high, points)
        return self._grids[points]

    def for_materials(self, x: torch.Tensor) -> CosineTable | None:
        """The table of materials x [B, d] whose midpoint error is within the tolerance for every one of them; None
        if no grid up to max_points reaches it (score those materials directly)."""
        with torch.autocast(x.device.type, enabled=False):  # the table is float32 whatever the precision of x
            return self._table(F.normalize(x.detach().double(), dim=-1, eps=COSINE_EPS))

    def _table(self, unit_x: torch.Tensor) -> CosineTable | None:
        points = self.first_points
        while points <= self.max_points:
            grid = self._grid(points)
            # values, slopes and midpoint values of every material in one matrix product
            products = (grid.stacked @ unit_x.T).T
            values, slopes, exact_at_midpoints = products.split([points, points, points - 1], dim=1)
            coefficients = hermite_coefficients(values, slopes)
            at_midpoints = coefficients @ torch.tensor([1, 0.5, 0.25, 0.125], dtype=unit_x.dtype,
                                                       device=unit_x.device)
            error = float((at_midpoints - exact_at_midpoints).abs().max())
            if error <= self.tolerance / 4:
                return CosineTable.from_coefficients(coefficients.float(), grid, error)
            points *= 2
        return None
