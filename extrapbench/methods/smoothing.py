"""Helpers shared by LDS and FDS (Yang et al. 2021, "Delving into Deep Imbalanced Regression").

* `kernel_window`: the symmetric smoothing kernel over neighbouring label bins (gaussian / triang / laplace),
  size and sigma in bins, peak value 1.
* `LabelBins`: the fixed binning of continuous (standardised) labels. Bins have an explicit width and start at
  the train minimum, so the number of bins is known when the method is built (from `LabelContext`), before any
  label is seen; per-bin state can then live in fixed-shape buffers that `state_dict` saves and the trainer's
  resume / best-weights restore can load. Labels outside the train range (val / test) are clamped to the edge
  bins; only the training labels ever shape the statistics.
* `smooth_histogram`: LDS's effective label density, the empirical histogram convolved with the kernel.
* `masked_smooth`: FDS's smoothing of per-bin feature statistics across bins, renormalised over the bins that
  hold statistics.

Kernels, for offsets k = -(ks-1)/2 .. (ks-1)/2: laplace exp(-|k| / sigma) and triang (scipy's triangular
window), as in the paper's code; gaussian exactly as the paper's code builds it, a unit impulse of ks taps
filtered with scipy's `gaussian_filter1d` (mode 'reflect', truncated at 4 sigma), so that "ks 5, sigma 2" means
the authors' kernel. The reflected tails matter at that default: the window is [0.858, 0.946, 1, 0.946, 0.858],
much flatter than the closed form exp(-k^2 / (2 sigma^2)) = [0.607, 0.882, 1, 0.882, 0.607]; at sigma 1 the two
agree to within 0.01.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.signal.windows import triang

KERNELS = ("gaussian", "triang", "laplace")


def kernel_window(kernel: str, size: int, sigma: float) -> np.ndarray:
    """Symmetric window of `size` (odd) taps over label bins, maximum 1 at the centre."""
    if kernel not in KERNELS:
        raise ValueError(f"smoothing kernel must be one of {KERNELS}, got {kernel!r}")
    size = int(size)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number of bins, got {size}")
    if kernel != "triang" and not sigma > 0:
        raise ValueError(f"kernel sigma must be > 0 (bins), got {sigma}")
    offsets = np.arange(size) - (size - 1) // 2
    if kernel == "gaussian":
        impulse = (offsets == 0).astype(float)
        window = gaussian_filter1d(impulse, sigma=sigma)  # the paper's construction (module docstring)
    elif kernel == "laplace":
        window = np.exp(-np.abs(offsets).astype(float) / sigma)
    else:
        window = triang(size)
    return window / window.max()


class LabelBins:
    """Bins of width `width` (standardised label units) covering [low, high]: bin b = [low + b w, low + (b+1) w).
    The last bin also takes `high`; labels beyond either end are clamped into the edge bins."""

    def __init__(self, low: float, high: float, width: float):
        if not width > 0:
            raise ValueError(f"bin_width must be > 0 (standardised label units), got {width}")
        if not high >= low:
            raise ValueError(f"label range [{low}, {high}] is empty")
        self.low, self.width = float(low), float(width)
        self.num_bins = int(math.floor((high - low) / width)) + 1

    def index(self, y: torch.Tensor) -> torch.Tensor:
        return torch.floor((y - self.low) / self.width).long().clamp(0, self.num_bins - 1)


def smooth_histogram(counts: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Convolve per-bin counts with the window, zero beyond the label range (LDS's effective density).
    The window is symmetric, so convolution and correlation agree."""
    half = (len(window) - 1) // 2
    full = np.convolve(np.asarray(counts, dtype=float), window, mode="full")
    return full[half:half + len(counts)]


def masked_smooth(values: torch.Tensor, valid: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Kernel-weighted average across bins of per-bin vectors, over valid bins only.

    values: [n_bins, d]; valid: [n_bins] bool (bins that hold statistics); window: [ks] (odd).
    smoothed[b] = sum_k w_k valid[b+k] values[b+k] / sum_k w_k valid[b+k]. A bin with no valid bin in its
    window keeps its own value. With every bin valid and away from the edges this is the paper's
    normalised-kernel convolution; at the edges and around empty bins the weights are renormalised instead
    of padding (the paper pads by reflection and averages in untouched initial statistics of empty bins)."""
    half = (len(window) - 1) // 2
    n_bins = values.shape[0]
    weighted = torch.zeros_like(values)
    norm = torch.zeros(n_bins, dtype=values.dtype, device=values.device)
    mask = valid.to(values.dtype)
    for k in range(-half, half + 1):         # loop over the few kernel taps, not over bins
        w = window[k + half].to(values.dtype)
        lo, hi = max(0, -k), min(n_bins, n_bins - k)   # b with 0 <= b + k < n_bins
        if lo >= hi:
            continue
        weighted[lo:hi] += w * mask[lo + k:hi + k, None] * values[lo + k:hi + k]
        norm[lo:hi] += w * mask[lo + k:hi + k]
    has = norm > 0
    return torch.where(has[:, None], weighted / norm.clamp(min=1e-12)[:, None], values)
