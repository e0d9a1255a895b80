"""λ-PNN: residual attention CNN of the JESSE paper."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import CBAM, PansharpeningModel, ResBlock

__all__ = ["LambdaPNN"]


class LambdaPNN(PansharpeningModel):
    """Ciotola, Poggi, Scarpa, "Unsupervised deep learning-based pansharpening with jointly
    enhanced spectral and spatial fidelity", IEEE TGRS 61, 2023 (arXiv 2307.14403).

    Input ``cat(ms_up, pan)``; conv 3x3 - ReLU - conv 3x3 - ReLU; R-CBAM (x + CBAM(x));
    two ResBlocks (conv - GELU - conv + x); R-CBAM; conv 5x5 to B bands; plus the global skip of
    ``ms_up``. Reflect padding, as the authors' code. Uses ``ms_up`` and ``pan``.
    The CBAM channel gate pools over the whole input, so outputs depend (weakly) on the whole
    tile: ``receptive_field`` is None and tiled inference blends tiles.
    """

    name = "lambda_pnn"
    citation = (
        'M. Ciotola, G. Poggi, G. Scarpa, "Unsupervised deep learning-based pansharpening with jointly '
        'enhanced spectral and spatial fidelity", IEEE Trans. Geosci. Remote Sens. 61:5405417, 2023.'
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, features: int = 64, reduction: int = 4, padding_mode: str = "reflect"):
        super().__init__(n_bands, ratio)
        pm = padding_mode
        self.conv1 = nn.Conv2d(n_bands + 1, features, 3, padding=1, padding_mode=pm)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1, padding_mode=pm)
        self.cbam1 = CBAM(features, reduction, padding_mode=pm)
        self.res1 = ResBlock(features, 3, act=nn.GELU, padding_mode=pm)
        self.res2 = ResBlock(features, 3, act=nn.GELU, padding_mode=pm)
        self.cbam2 = CBAM(features, reduction, padding_mode=pm)
        self.conv_out = nn.Conv2d(features, n_bands, 5, padding=2, padding_mode=pm)

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        x = F.relu(self.conv1(torch.cat([ms_up, pan], dim=1)))
        x = F.relu(self.conv2(x))
        x = x + self.cbam1(x)
        x = self.res2(self.res1(x))
        x = x + self.cbam2(x)
        return self.conv_out(x) + ms_up
