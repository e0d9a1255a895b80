"""SHIP: synergistic high-order interaction paradigm, applied to pansharpening (Stage II teacher)."""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import LayerNorm2d, PansharpeningModel

__all__ = ["SHIP"]


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1))


class _SpatialInteraction(nn.Module):
    """High-order spatial interaction: a global first-order term (element-wise product of the two
    modalities' spectra, i.e. a circular convolution over the tile) gates the PAN features, then
    each further order multiplies by an evolved ("refreshed") PAN feature map."""

    def __init__(self, ch: int, order: int):
        super().__init__()
        self.refresh_fused = nn.ModuleList([_conv_block(ch, ch) for _ in range(order)])
        self.refresh_pan = nn.ModuleList([_conv_block(ch, ch) for _ in range(order)])
        self.norms = nn.ModuleList([LayerNorm2d(ch) for _ in range(order + 1)])

    def forward(self, ms: torch.Tensor, pan: torch.Tensor):
        H, W = ms.shape[-2:]
        spec = torch.fft.rfft2(ms.float()) * torch.fft.rfft2(pan.float())
        fused = self.norms[0](torch.fft.irfft2(spec, s=(H, W)).to(ms.dtype)) * pan
        for f_conv, p_conv, norm in zip(self.refresh_fused, self.refresh_pan, self.norms[1:]):
            pan = p_conv(pan)
            fused = norm(f_conv(fused)) * pan
        return fused + ms, pan


class _ChannelInteraction(nn.Module):
    """High-order channel interaction: softmax channel attention from global means of [MS, PAN],
    evolved order by order and multiplied into refreshed features."""

    def __init__(self, ch: int, order: int):
        super().__init__()

        def mlp():
            return nn.Sequential(nn.Conv2d(2 * ch, ch, 1), nn.ReLU(), nn.Conv2d(ch, 2 * ch, 1))

        self.attention = mlp()
        self.refresh_attention = nn.ModuleList([mlp() for _ in range(order)])
        self.refresh_fused = nn.ModuleList([_conv_block(2 * ch, 2 * ch) for _ in range(order)])
        self.post = nn.Sequential(nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(2 * ch, ch, 1))

    def forward(self, ms: torch.Tensor, pan: torch.Tensor):
        both = torch.cat([ms, pan], dim=1)
        att = self.attention(both.mean(dim=(2, 3), keepdim=True)).softmax(dim=1)
        fused = both * att
        for f_conv, a_mlp in zip(self.refresh_fused, self.refresh_attention):
            att = a_mlp(att).softmax(dim=1)
            fused = f_conv(fused) * att
        return self.post(fused) + ms, pan


class SHIP(PansharpeningModel):
    """Zhou, Zheng, He, Hong, Chanussot, "Probing synergistic high-order interaction for
    multi-modal image fusion", IEEE TPAMI 47(2):840-857, 2025 (conference version: Zheng et al.,
    CVPR 2024, infrared-visible fusion). The pseudo-supervision teacher of CLIPPan's Stage II.

    MS (``ms_up``) and PAN are embedded by 3x3 convs; ``n_blocks`` high-order interaction blocks
    each apply (1) a spatial interaction: a global first-order term, the element-wise product of
    MS and PAN feature spectra (FFT), layer-normalised and multiplied with the PAN features, then
    ``order`` further orders obtained by iteratively refreshing both the fused and the PAN
    features and multiplying them; (2) a channel interaction: softmax channel attention from the
    global means of [MS, PAN] (first order), refreshed ``order`` times and multiplied into the
    refreshed features. A conv head predicts the residual added to ``ms_up``. Uses ``ms_up`` and
    ``pan``. Built from the published description and the authors' public CVPR-2024 code; the
    pansharpening configuration of the TPAMI paper is not public in detail, so the block count
    and widths are ours and the invertible post-processing block is replaced by a conv layer
    (faithful in spirit, not weight-compatible). Global (FFT, channel means): tiles are blended.
    """

    name = "ship"
    citation = (
        'M. Zhou, N. Zheng, X. He, D. Hong, J. Chanussot, "Probing synergistic high-order interaction for '
        'multi-modal image fusion", IEEE Trans. Pattern Anal. Mach. Intell. 47(2):840-857, 2025.'
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, features: int = 32, n_blocks: int = 3, order: int = 3):
        super().__init__(n_bands, ratio)
        self.ms_embed = nn.Conv2d(n_bands, features, 3, padding=1)
        self.pan_embed = nn.Conv2d(1, features, 3, padding=1)
        self.spatial = nn.ModuleList([_SpatialInteraction(features, order) for _ in range(n_blocks)])
        self.channel = nn.ModuleList([_ChannelInteraction(features, order) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.Conv2d(features, features, 3, padding=1), nn.LeakyReLU(0.2),
                                  nn.Conv2d(features, n_bands, 3, padding=1))

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        ms, pn = self.ms_embed(ms_up), self.pan_embed(pan)
        for spa, cha in zip(self.spatial, self.channel):
            ms, pn = spa(ms, pn)
            ms, pn = cha(ms, pn)
        return self.head(ms) + ms_up
