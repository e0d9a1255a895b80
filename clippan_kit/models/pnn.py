"""PNN: the three-layer pansharpening CNN, in its residual (Z-PNN / A-PNN) form."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .base import PansharpeningModel

__all__ = ["PNN"]


class PNN(PansharpeningModel):
    """Masi, Cozzolino, Verdoliva, Scarpa, "Pansharpening by convolutional neural networks",
    Remote Sensing 8(7):594, 2016.

    Input: ``cat(ms_up, pan)`` (B+1 channels); conv 9x9 (64) - ReLU - conv 5x5 (32) - ReLU -
    conv 5x5 (B). With ``residual=True`` (default) the output is added to ``ms_up``, the
    residual variant used by A-PNN (Scarpa et al., TGRS 2018) and Z-PNN (Ciotola et al., TGRS 2022),
    which trains much better without ground truth. Padding is "same" (reflect) instead of the
    original valid convolutions, so the output has the input size. Uses ``ms_up`` and ``pan``.
    Purely convolutional: receptive-field radius 8 for the default kernels.
    """

    name = "pnn"
    citation = (
        'G. Masi, D. Cozzolino, L. Verdoliva, G. Scarpa, "Pansharpening by convolutional neural networks", '
        "Remote Sensing 8(7):594, 2016 (residual form: Scarpa et al., TGRS 2018; Ciotola et al., TGRS 2022)."
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, features: Sequence[int] = (64, 32),
                 kernels: Sequence[int] = (9, 5, 5), residual: bool = True, padding_mode: str = "reflect"):
        super().__init__(n_bands, ratio)
        if len(kernels) != len(features) + 1:
            raise ValueError("need one kernel size per layer: len(kernels) == len(features) + 1")
        chans = [n_bands + 1, *features, n_bands]
        layers: list[nn.Module] = []
        for i, k in enumerate(kernels):
            layers.append(nn.Conv2d(chans[i], chans[i + 1], k, padding=k // 2, padding_mode=padding_mode))
            if i < len(kernels) - 1:
                layers.append(nn.ReLU())
        self.body = nn.Sequential(*layers)
        self.residual = residual
        self._radius = sum(k // 2 for k in kernels)

    @property
    def receptive_field(self) -> int:
        return self._radius

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        out = self.body(torch.cat([ms_up, pan], dim=1))
        return out + ms_up if self.residual else out
