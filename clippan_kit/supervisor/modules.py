"""Small trainable parts of the supervisor: MS/PAN input stems, CLIP-Adapters and the fusion adapters.

References: CLIPPan (Liu et al., AAAI 2026) Stage I, Table 4 (MS input manners) and Eq. 4 (IFA/TFA);
CLIP-Adapter (Gao et al., IJCV 2024) for the residual bottleneck adapter.
"""
from __future__ import annotations

import torch
from torch import nn

from ..sensors import Sensor

__all__ = ["MS_INPUTS", "MSInput", "PanInput", "Adapter", "FusionAdapter", "gbnir_indices"]

MS_INPUTS = ("conv", "pca", "rgb", "gbnir")


def gbnir_indices(sensor: Sensor) -> tuple[int, int, int]:
    """0-based (green, blue, NIR) band indices of a sensor, looked up by band name."""
    names = [b.lower() for b in sensor.bands]
    try:
        g, b = names.index("green"), names.index("blue")
        nir = next(i for i, n in enumerate(names) if n.startswith("nir"))
    except (ValueError, StopIteration):
        raise ValueError(f"ms_input='gbnir' needs green, blue and NIR bands; sensor {sensor.name} has {sensor.bands}") from None
    return g, b, nir


class MSInput(nn.Module):
    """B-band MS image -> 3-channel image for the frozen RGB image tower (paper Table 4).

    Modes:
        ``conv`` (paper's best, default): the sensor's RGB composite plus a learnable 3x3 convolution of
            all B bands (residual, initialised small so training starts from true colour).
        ``pca``: first three principal components of the bands, per image, each min-max scaled to [0, 1].
        ``rgb``: the sensor's red, green, blue bands.  ``gbnir``: green, blue, NIR bands.

    Input (N, B, h, w) float in ~[0, 1]; output (N, 3, h, w).
    """

    def __init__(self, sensor: Sensor, mode: str = "conv"):
        super().__init__()
        if mode not in MS_INPUTS:
            raise ValueError(f"ms_input must be one of {MS_INPUTS}, got {mode!r}")
        self.mode = mode
        self.n_bands = sensor.n_bands
        idx = {"conv": sensor.rgb, "rgb": sensor.rgb, "gbnir": gbnir_indices(sensor) if mode == "gbnir" else sensor.rgb,
               "pca": sensor.rgb}[mode]
        self.register_buffer("select", torch.tensor(idx, dtype=torch.long), persistent=False)
        if mode == "conv":
            self.conv = nn.Conv2d(self.n_bands, 3, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():  # small residual: start from the true-colour composite, but not exactly zero
                self.conv.weight.mul_(0.1)
                self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.n_bands:
            raise ValueError(f"MS input has {x.shape[1]} bands, the supervisor was built for {self.n_bands}")
        if self.mode == "pca":
            return _pca3(x)
        out = x.index_select(1, self.select)
        if self.mode == "conv":
            out = out + self.conv(x)
        return out


def _pca3(x: torch.Tensor) -> torch.Tensor:
    """(N, B, h, w) -> (N, 3, h, w): per-image top-3 principal components, min-max scaled to [0, 1]."""
    n, b, h, w = x.shape
    flat = x.reshape(n, b, h * w)
    centred = flat - flat.mean(-1, keepdim=True)
    cov = centred @ centred.transpose(1, 2) / (h * w)
    _, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    vecs = vecs.flip(-1)[..., :3]  # (n, b, 3)
    # eigenvector sign is arbitrary: orient each component to correlate positively with the band mean
    sign = torch.sign(vecs.sum(1, keepdim=True)).clamp(min=0) * 2 - 1
    pcs = (vecs * sign).transpose(1, 2) @ centred  # (n, 3, hw)
    lo, hi = pcs.amin(-1, keepdim=True), pcs.amax(-1, keepdim=True)
    return ((pcs - lo) / (hi - lo).clamp_min(1e-8)).reshape(n, 3, h, w)


class PanInput(nn.Module):
    """PAN (N, 1, H, W) -> (N, 3, H, W): replicated (default) or a learnable 1->3 3x3 conv stem (``conv``)."""

    def __init__(self, mode: str = "replicate"):
        super().__init__()
        if mode not in ("replicate", "conv"):
            raise ValueError(f"pan_input must be 'replicate' or 'conv', got {mode!r}")
        self.mode = mode
        if mode == "conv":
            self.conv = nn.Conv2d(1, 3, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():
                self.conv.weight.mul_(0.1)
                self.conv.bias.zero_()

    def forward(self, pan: torch.Tensor) -> torch.Tensor:
        out = pan.expand(-1, 3, -1, -1)
        return out + self.conv(pan) if self.mode == "conv" else out


class Adapter(nn.Module):
    """CLIP-Adapter: ``y = ratio * relu(W2 relu(W1 x)) + (1 - ratio) * x`` on (N, D) features.

    ``reduction`` is the bottleneck factor (D -> D/reduction -> D), ``ratio`` the residual mix
    (0.2 in CLIP-Adapter for image features).
    """

    def __init__(self, dim: int, reduction: int = 4, ratio: float = 0.2):
        super().__init__()
        hidden = max(dim // reduction, 4)
        self.ratio = ratio
        self.net = nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, dim, bias=False), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ratio * self.net(x) + (1.0 - self.ratio) * x


class FusionAdapter(nn.Module):
    """IFA / TFA of CLIPPan Eq. 4: (N, D) MS features + (N, D) PAN features -> (N, D) fused features.

    ``y = ratio * MLP([a; b]) + (1 - ratio) * (a + b) / 2``: starts near the mean of the two sources
    and learns the displacement towards the HRMS (image) or protocol (text) features.
    """

    def __init__(self, dim: int, reduction: int = 4, ratio: float = 0.5):
        super().__init__()
        hidden = max(dim // reduction, 4)
        self.ratio = ratio
        # GELU, not ReLU: a small fusion MLP must not start with dead units (they would never train)
        self.net = nn.Sequential(nn.Linear(2 * dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.ratio * self.net(torch.cat([a, b], dim=-1)) + (1.0 - self.ratio) * 0.5 * (a + b)
