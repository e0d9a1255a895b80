"""Common base class and small building blocks shared by the Stage II backbones.

Every backbone takes the same three tensors (values normalised, e.g. divided by ``max_value``):

* ``ms_up`` (N, B, H, W): MS upsampled to the PAN grid with :func:`clippan_kit.wald.interp23tap`
* ``pan``   (N, 1, H, W): PAN
* ``ms_lr`` (N, B, H/r, W/r): original low-resolution MS

and returns the fused HRMS (N, B, H, W) in the same units. Each class says which inputs it uses
(``inputs``), where it comes from (``citation``) and how far an output pixel sees
(``receptive_field``: radius in PAN pixels, or ``None`` when some operation is global, e.g.
attention pooling, FFTs or a state-space scan over the whole tile).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["PansharpeningModel", "ResBlock", "CBAM", "LayerNorm2d", "ChannelAttention", "pad_to_multiple"]


class PansharpeningModel(nn.Module):
    """Base class: one call signature ``model(ms_up, pan, ms_lr) -> (N, B, H, W)``."""

    name: str = ""
    citation: str = ""
    inputs: tuple[str, ...] = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int):
        super().__init__()
        if n_bands < 1:
            raise ValueError(f"n_bands must be >= 1, got {n_bands}")
        if ratio < 1:
            raise ValueError(f"ratio must be >= 1, got {ratio}")
        self.n_bands = int(n_bands)
        self.ratio = int(ratio)

    @property
    def receptive_field(self) -> int | None:
        """Radius (PAN pixels) of the region an output pixel depends on; None when global."""
        return None

    def check_inputs(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None) -> None:
        N, B, H, W = ms_up.shape
        if B != self.n_bands:
            raise ValueError(f"{type(self).__name__} was built for {self.n_bands} bands, got ms_up with {B}")
        if pan.shape != (N, 1, H, W):
            raise ValueError(f"pan must be {(N, 1, H, W)}, got {tuple(pan.shape)}")
        if ms_lr is not None and ms_lr.shape[-2:] != (H // self.ratio, W // self.ratio):
            raise ValueError(
                f"ms_lr must be {H // self.ratio}x{W // self.ratio} (ratio {self.ratio}), got {tuple(ms_lr.shape[-2:])}"
            )

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"n_bands={self.n_bands}, ratio={self.ratio}"


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (N, C, H, W) on the bottom/right to multiples of ``multiple``; returns (x, (H, W))."""
    H, W = x.shape[-2:]
    ph, pw = (-H) % multiple, (-W) % multiple
    if ph or pw:
        mode = "reflect" if ph < H and pw < W else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (H, W)


class ResBlock(nn.Module):
    """conv - act - conv + identity (EDSR-style, no normalisation)."""

    def __init__(self, channels: int, kernel_size: int = 3, act: type[nn.Module] = nn.ReLU, padding_mode: str = "zeros"):
        super().__init__()
        p = kernel_size // 2
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=p, padding_mode=padding_mode)
        self.act = act()
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, padding=p, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class CBAM(nn.Module):
    """Convolutional block attention module (Woo et al., ECCV 2018): channel gate (shared MLP on
    global average- and max-pooled features) then spatial gate (7x7 conv on channel max/mean)."""

    def __init__(self, channels: int, reduction: int = 4, spatial_kernel: int = 7, padding_mode: str = "reflect"):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, spatial_kernel, padding=spatial_kernel // 2, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        x = x * torch.sigmoid(gate)[:, :, None, None]
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (global average pool, 1x1 MLP, sigmoid)."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.body = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.body(x)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of (N, C, H, W) at every pixel."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=False)
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]
