"""FDS: feature distribution smoothing (Yang et al. 2021, "Delving into Deep Imbalanced Regression").

ERM's head and loss (L1 by default) on a re-calibrated representation. Training labels are binned as in LDS
(`bin_width` in standardised units from the train minimum). For every bin b the method keeps running
statistics of the backbone representation z: mean mu_b and variance sigma_b^2 (per dimension), and their
smoothed versions mu~_b, sigma~_b^2 (kernel-weighted averages over neighbouring bins, `fds_kernel`, `fds_ks`,
`fds_sigma` in bins). During training, from epoch `start_smooth` on, each sample's z is re-calibrated before
the head by whitening-colouring with its bin's statistics:

    z' = (z - mu_b) * sqrt(clamp(sigma~_b^2 / sigma_b^2, clip_min, clip_max)) + mu~_b

(dimensions with sigma_b^2 = 0, e.g. a bin seen once, are left as they are). The statistics are constants
(no gradient flows into them), so z' is an affine function of z and the backbone still learns through it.
Inference uses z itself (no calibration), as in the paper.

Statistics per epoch: from epoch `start_update` on, the detached, un-calibrated z of every training batch are
accumulated per bin (sums and squared sums, so nothing of size N is stored); at `on_epoch_end` the epoch's
per-bin mean and (unbiased) variance update the running statistics with momentum `fds_momentum`
(running <- m * running + (1 - m) * epoch; a bin seen for the first time takes the epoch's value), and the
smoothed statistics are recomputed from the running ones. Statistics live in fixed-size buffers, so
checkpoints, resumed runs and the restored best-val weights carry them.

`lds: true` combines FDS with LDS loss weights (the paper's LDS + FDS rows), with the LDS hyper-parameters of
`extrapbench.methods.lds`.

Defaults are the authors' released ones (their README's "originally reported" ``--fds_ks 5 --fds_sigma 2``; the
FDS module's momentum 0.9, start_update 0, start_smooth 1; the variance ratio clamped to [0.1, 10] in its
calibration helper for the age benchmarks; the NYUD2-DIR depth code uses [0.2, 5]).

Departures from the paper (and why):

* statistics come from the un-calibrated features z of the training batches (as the paper describes). The
  authors' code collects them in an extra pass at the end of each epoch with the model still in train mode,
  where its calibration overwrites the features in place, so from `start_smooth` on their running statistics
  are of already-calibrated features; we do not reproduce that artefact (and need no extra pass).

* the paper's loop smooths, at the end of epoch e, the running statistics as they stood *before* epoch e's
  features were folded in, so its calibration lags one epoch; here the epoch's features are folded in first
  and the smoothed statistics are computed from the result (no lag);
* a bin that has never held a sample is left out of the smoothing (weights renormalised over bins with
  statistics; likewise at the ends of the label range) instead of contributing its initial mean 0 / variance
  1 (paper), and a bin seen for the first time after `start_update` takes the epoch's statistics instead of
  blending them with that initial state; with continuous labels and fine bins, empty bins inside the range
  are common, and the paper's version would pull neighbouring bins toward an arbitrary prior;
* bins are `bin_width` wide in standardised units (the paper uses integer ages and drops the lowest bins with
  `bucket_start`, which has no counterpart here);
* FDS sits on the backbone output z, in front of ERM's 2-layer head (the paper places it on the last feature
  layer before its linear regressor).
"""
from __future__ import annotations

import torch

from extrapbench.hparams import Boolean, Choice, Integer, Number, NumberList  # noqa: F401
from extrapbench.methods.smoothing import KERNELS, kernel_window, masked_smooth
from extrapbench.methods.lds import LDS
from extrapbench.registry import METHODS


@METHODS.register("fds")
class FDS(LDS):
    defaults = {
        **LDS.defaults,                  # loss, head_hidden_dim, bin_width, reweight, lds_kernel/ks/sigma
        "lds": False,                    # also weight the loss with LDS (the paper's LDS + FDS)
        "fds_kernel": "gaussian",        # gaussian | triang | laplace
        "fds_ks": 5,                     # kernel size, bins (odd)
        "fds_sigma": 2.0,                # kernel sigma, bins
        "fds_momentum": 0.9,             # running <- m * running + (1 - m) * epoch statistics
        "start_update": 0,               # first epoch (0-based) whose features update the statistics
        "start_smooth": 1,               # first epoch whose training features are re-calibrated
        "clip_min": 0.1,                 # clamp of the variance ratio sigma~^2 / sigma^2
        "clip_max": 10.0,
    }
    hparam_specs = {**LDS.hparam_specs, "lds": Boolean(), "fds_kernel": Choice(*KERNELS),
                    "fds_ks": Integer(min=1, odd=True), "fds_sigma": Number(min=0, min_exclusive=True),
                    "fds_momentum": Number(min=0, max=1, max_exclusive=True), "start_update": Integer(min=0),
                    "start_smooth": Integer(min=0), "clip_min": Number(min=0, min_exclusive=True),
                    "clip_max": Number(min=0, min_exclusive=True)}

    def __init__(self, backbone, labels, **hparams):
        super().__init__(backbone, labels, **hparams)
        h = self.hparams
        if not h["clip_min"] <= h["clip_max"]:  # each is checked by its spec; their order only here
            raise ValueError(f"fds: need clip_min <= clip_max, got {h['clip_min']}, {h['clip_max']}")
        n, d = self.bins.num_bins, backbone.out_dim
        self.register_buffer("fds_window", torch.as_tensor(kernel_window(h["fds_kernel"], h["fds_ks"],
                                                                         h["fds_sigma"]), dtype=torch.float32))
        self.register_buffer("running_mean", torch.zeros(n, d))
        self.register_buffer("running_var", torch.ones(n, d))
        self.register_buffer("smoothed_mean", torch.zeros(n, d))
        self.register_buffer("smoothed_var", torch.ones(n, d))
        self.register_buffer("num_tracked", torch.zeros(n))          # samples folded into the running stats
        # the current epoch's sums: rebuilt every epoch, never checkpointed (runs resume at epoch boundaries)
        self.register_buffer("epoch_sum", torch.zeros(n, d, dtype=torch.float64), persistent=False)
        self.register_buffer("epoch_sumsq", torch.zeros(n, d, dtype=torch.float64), persistent=False)
        self.register_buffer("epoch_count", torch.zeros(n, dtype=torch.float64), persistent=False)
        self.epoch = 0

    @property
    def uses_lds(self) -> bool:
        return bool(self.hparams["lds"])

    # --- statistics -----------------------------------------------------------------------------------------
    def on_epoch_start(self, epoch, train_loader):
        super().on_epoch_start(epoch, train_loader)
        self.epoch = epoch
        self.epoch_sum.zero_()
        self.epoch_sumsq.zero_()
        self.epoch_count.zero_()

    @torch.no_grad()
    def accumulate(self, z: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch of (detached, un-calibrated) representations to this epoch's per-bin sums."""
        b = self.bins.index(y)
        z = z.detach().to(torch.float64)
        self.epoch_sum.index_add_(0, b, z)
        self.epoch_sumsq.index_add_(0, b, z * z)
        self.epoch_count.index_add_(0, b, torch.ones_like(b, dtype=torch.float64))

    @torch.no_grad()
    def update_statistics(self) -> None:
        """Fold this epoch's per-bin statistics into the running ones (momentum), then re-smooth."""
        seen = self.epoch_count > 0
        if not seen.any():
            return
        count = self.epoch_count[seen, None]
        mean = self.epoch_sum[seen] / count
        # unbiased variance; a bin with a single sample gets 0 (calibration then leaves it alone)
        var = ((self.epoch_sumsq[seen] - count * mean ** 2) / (count - 1).clamp(min=1)).clamp(min=0)
        var = torch.where(count > 1, var, torch.zeros_like(var))
        momentum = torch.where(self.num_tracked[seen, None] > 0, self.hparams["fds_momentum"], 0.0)
        momentum = momentum.to(torch.float64)
        self.running_mean[seen] = (momentum * self.running_mean[seen] + (1 - momentum) * mean).float()
        self.running_var[seen] = (momentum * self.running_var[seen] + (1 - momentum) * var).float()
        self.num_tracked[seen] += self.epoch_count[seen].float()
        self.smooth_statistics()

    @torch.no_grad()
    def smooth_statistics(self) -> None:
        valid = self.num_tracked > 0
        self.smoothed_mean.copy_(masked_smooth(self.running_mean, valid, self.fds_window))
        self.smoothed_var.copy_(masked_smooth(self.running_var, valid, self.fds_window))

    def on_epoch_end(self, epoch):
        if epoch >= self.hparams["start_update"]:
            self.update_statistics()

    # --- calibration ----------------------------------------------------------------------------------------
    def calibrate(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Whitening-colouring of each z with its bin's running and smoothed statistics."""
        h = self.hparams
        b = self.bins.index(y)
        mean, var = self.running_mean[b], self.running_var[b]
        s_mean, s_var = self.smoothed_mean[b], self.smoothed_var[b]
        usable = (var > 1e-10) & (self.num_tracked[b] > 0)[:, None]
        factor = (s_var / var.clamp(min=1e-10)).clamp(h["clip_min"], h["clip_max"]).sqrt()
        return torch.where(usable, (z - mean) * factor + s_mean, z)

    def training_loss(self, batch):
        h = self.hparams
        z = self.backbone(batch)
        if self.epoch >= h["start_update"]:
            self.accumulate(z, batch.y)
        if self.epoch >= h["start_smooth"]:
            z = self.calibrate(z, batch.y)
        pred = self.head(z).squeeze(-1)
        return self.regression_loss(pred, batch.y), {}
