"""ArbRPN: band-recurrent pansharpening network for any number of bands."""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import PansharpeningModel, ResBlock

__all__ = ["ArbRPN"]


class _HiddenUnit(nn.Module):
    """1x1 compression of [band features, previous hidden state, PAN features] + ResBlocks."""

    def __init__(self, hidden: int, n_resblocks: int):
        super().__init__()
        self.compress = nn.Conv2d(3 * hidden, hidden, 1)
        self.body = nn.Sequential(*[ResBlock(hidden) for _ in range(n_resblocks)])

    def forward(self, band: torch.Tensor, state: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        return self.body(self.compress(torch.cat([band, state, pan], dim=1)))


class ArbRPN(PansharpeningModel):
    """Chen, Lai, Vivone, Jeon, Chanussot, Yang, "ArbRPN: a bidirectional recurrent pansharpening
    network for multispectral images with arbitrary numbers of bands", IEEE TGRS 60, 2022.

    Every band is a step of a recurrence: a shared 3x3 conv embeds each upsampled band and the
    PAN; ``n_cycles`` times, a forward pass over the bands then a backward pass update a hidden
    state (1x1 compression of [band/previous-pass features, state, PAN features] + ResBlocks);
    a shared 3x3 conv maps each band's final state to a residual added to that band. The weights
    do not depend on the band count, so one model serves any B. Uses ``ms_up`` (interp23tap
    instead of the paper's bicubic upsampling) and ``pan``. Purely convolutional; the receptive
    field grows with B (the state crosses every band ``2 * n_cycles`` times).
    """

    name = "arbrpn"
    citation = (
        'L. Chen, Z. Lai, G. Vivone, G. Jeon, J. Chanussot, X. Yang, "ArbRPN: a bidirectional recurrent '
        'pansharpening network for multispectral images with arbitrary numbers of bands", '
        "IEEE Trans. Geosci. Remote Sens. 60:5406418, 2022."
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, hidden: int = 64, n_cycles: int = 5, n_resblocks: int = 3):
        super().__init__(n_bands, ratio)
        self.embed_pan = nn.Conv2d(1, hidden, 3, padding=1)
        self.embed_band = nn.Conv2d(1, hidden, 3, padding=1)
        self.forward_units = nn.ModuleList([_HiddenUnit(hidden, n_resblocks) for _ in range(n_cycles)])
        self.backward_units = nn.ModuleList([_HiddenUnit(hidden, n_resblocks) for _ in range(n_cycles)])
        self.to_band = nn.Conv2d(hidden, 1, 3, padding=1)
        self._radius = 2 + n_cycles * 2 * n_bands * 2 * n_resblocks

    @property
    def receptive_field(self) -> int:
        return self._radius

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        N, B, H, W = ms_up.shape
        # Embed all bands at once (the conv is shared): (N*B, 1, H, W) -> (N, B, hidden, H, W).
        feats = self.embed_band(ms_up.reshape(N * B, 1, H, W)).unflatten(0, (N, B)).unbind(1)
        pan_f = self.embed_pan(pan)
        state = pan_f
        backward = list(feats)  # "previous pass" features, indexed by band
        for fwd_unit, bwd_unit in zip(self.forward_units, self.backward_units):
            forward = []
            for b in range(B):
                state = fwd_unit(backward[b], state, pan_f)
                forward.append(state)
            backward = [None] * B
            for b in reversed(range(B)):
                state = bwd_unit(forward[b], state, pan_f)
                backward[b] = state
        out = self.to_band(torch.stack(backward, dim=1).flatten(0, 1)).reshape(N, B, H, W)
        return out + ms_up
