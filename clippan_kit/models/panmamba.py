"""Pan-Mamba: state-space (Mamba) pansharpening with channel-swapping and cross-modal Mamba."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import ChannelAttention, PansharpeningModel
from .selective_scan import selective_scan

__all__ = ["PanMamba", "MambaMixer"]


class _SSMBranch(nn.Module):
    """Input projection, causal depthwise conv, input-dependent (dt, B, C) and the selective scan
    of one Mamba mixer (Gu & Dao 2023), gated by SiLU(z). Tokens (N, L, d) -> (N, d_inner, L)."""

    def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int,
                 dt_min: float = 1e-3, dt_max: float = 0.1):
        super().__init__()
        d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16)
        self.d_state = d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        # Mamba's initialisation: dt log-uniform in [dt_min, dt_max] through an inverse softplus bias,
        # S4D-real A = -(1..S), D = 1.
        std = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        L = tokens.shape[1]
        x, z = self.in_proj(tokens).transpose(1, 2).chunk(2, dim=1)  # (N, d_inner, L) each
        x = F.silu(self.conv(x)[..., :L])
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.T).transpose(1, 2)
        return selective_scan(x, dt, -torch.exp(self.A_log), B.transpose(1, 2).contiguous(),
                              C.transpose(1, 2).contiguous(), self.D, z, self.dt_proj.bias, delta_softplus=True)


class MambaMixer(nn.Module):
    """Mamba mixer on (N, L, d) tokens. With ``cross=True`` a second branch scans an extra
    sequence (the other modality) and both gated outputs are summed before the output projection
    (Pan-Mamba's cross-modal Mamba, ``bimamba_type="v3"`` in the authors' code)."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, cross: bool = False):
        super().__init__()
        self.main = _SSMBranch(d_model, d_state, d_conv, expand)
        self.extra = _SSMBranch(d_model, d_state, d_conv, expand) if cross else None
        self.out_proj = nn.Linear(expand * d_model, d_model, bias=False)

    def forward(self, tokens: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        y = self.main(tokens)
        if self.extra is not None:
            if extra is None:
                raise ValueError("cross-modal mixer needs the extra sequence")
            y = y + self.extra(extra)
        return self.out_proj(y.transpose(1, 2))


class _HinResBlock(nn.Module):
    """Residual block with half instance normalisation (HINet, Chen et al. 2021)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(ch, ch, 3, padding=1), nn.Conv2d(ch, ch, 3, padding=1)
        self.norm = nn.InstanceNorm2d(ch // 2, affine=True) if ch >= 2 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = F.leaky_relu(self.conv1(x), 0.2)
        if self.norm is not None:
            a, b = r.split([r.shape[1] // 2, r.shape[1] - r.shape[1] // 2], dim=1)
            r = torch.cat([self.norm(a), b], dim=1)
        return x + F.leaky_relu(self.conv2(r), 0.2)


class PanMamba(PansharpeningModel):
    """He, Cao, Zhang, Yan, Wang, Li, Xie, Hong, Zhou, "Pan-Mamba: effective pan-sharpening with
    state space model", Information Fusion 115:102779, 2025.

    MS (``ms_up``; the authors upsample by nearest neighbour) and PAN are encoded by a conv and
    HIN-ResBlocks, flattened to pixel tokens (raster order) and processed by ``n_single`` Mamba
    blocks per modality, ``n_swap`` channel-swapping Mamba blocks (the first half of the channels
    is exchanged between MS and PAN before each scan), a shallow conv fusion, and ``n_cross``
    cross-modal Mamba blocks (MS and PAN sequences scanned by two branches of one mixer, plus a
    depthwise-conv refinement); a conv/channel-attention head predicts the residual added to
    ``ms_up``. Uses ``ms_up`` and ``pan``. The scan is the pure-PyTorch
    :func:`~clippan_kit.models.selective_scan.selective_scan` (fused ``mamba_ssm`` kernel on CUDA
    when installed). Global: a causal scan over the whole tile, instance norms.
    """

    name = "panmamba"
    citation = (
        'X. He, K. Cao, J. Zhang, K. Yan, Y. Wang, R. Li, C. Xie, D. Hong, M. Zhou, "Pan-Mamba: effective '
        'pan-sharpening with state space model", Information Fusion 115:102779, 2025.'
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, features: int = 32, n_hin: int = 3, n_single: int = 8,
                 n_swap: int = 2, n_cross: int = 5, d_state: int = 16, expand: int = 2):
        super().__init__(n_bands, ratio)
        Fc = features

        def encoder(c_in):
            return nn.Sequential(nn.Conv2d(c_in, Fc, 3, padding=1), *[_HinResBlock(Fc) for _ in range(n_hin)])

        def mixer(cross=False):
            return MambaMixer(Fc, d_state=d_state, expand=expand, cross=cross)

        self.ms_encoder, self.pan_encoder = encoder(n_bands), encoder(1)
        self.ms_embed, self.pan_embed = nn.Conv2d(Fc, Fc, 1), nn.Conv2d(Fc, Fc, 1)
        self.ms_single = nn.ModuleList([mixer() for _ in range(n_single)])
        self.pan_single = nn.ModuleList([mixer() for _ in range(n_single)])
        self.ms_single_norm = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_single)])
        self.pan_single_norm = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_single)])
        self.swap_ms = nn.ModuleList([mixer() for _ in range(n_swap)])
        self.swap_pan = nn.ModuleList([mixer() for _ in range(n_swap)])
        self.swap_norm_ms = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_swap)])
        self.swap_norm_pan = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_swap)])
        self.shallow_ms = nn.Conv2d(2 * Fc, Fc, 3, padding=1)
        self.shallow_pan = nn.Conv2d(2 * Fc, Fc, 3, padding=1)
        self.cross = nn.ModuleList([mixer(cross=True) for _ in range(n_cross)])
        self.cross_norm_ms = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_cross)])
        self.cross_norm_pan = nn.ModuleList([nn.LayerNorm(Fc) for _ in range(n_cross)])
        self.cross_dw = nn.ModuleList([nn.Conv2d(Fc, Fc, 3, padding=1, groups=Fc) for _ in range(n_cross)])
        self.head = nn.Sequential(nn.Conv2d(Fc, Fc, 3, padding=1), nn.LeakyReLU(0.2), ChannelAttention(Fc),
                                  nn.Conv2d(Fc, n_bands, 3, padding=1))

    @staticmethod
    def _tokens(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)  # (N, C, H, W) -> (N, HW, C), raster order

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        N, _, H, W = ms_up.shape

        def image(t):
            return t.transpose(1, 2).reshape(N, -1, H, W)

        ms = self._tokens(self.ms_embed(self.ms_encoder(ms_up)))
        pn = self._tokens(self.pan_embed(self.pan_encoder(pan)))
        # Per-modality Mamba blocks; "add, norm, mix" with a running residual as in Mamba's Block.
        ms_res = pn_res = 0
        for mix_m, mix_p, nm, npn in zip(self.ms_single, self.pan_single, self.ms_single_norm, self.pan_single_norm):
            ms_res, pn_res = ms + ms_res, pn + pn_res
            ms, pn = mix_m(nm(ms_res)), mix_p(npn(pn_res))
        # Channel-swapping Mamba: exchange the first half of the channels before scanning.
        h = ms.shape[-1] // 2
        for mix_m, mix_p, nm, npn in zip(self.swap_ms, self.swap_pan, self.swap_norm_ms, self.swap_norm_pan):
            ms_res, pn_res = ms + ms_res, pn + pn_res
            a, b = nm(ms_res), npn(pn_res)
            ms = mix_m(torch.cat([b[..., :h], a[..., h:]], dim=-1))
            pn = mix_p(torch.cat([a[..., :h], b[..., h:]], dim=-1))
        ms_img, pn_img = image(ms), image(pn)
        ms_img = ms_img + self.shallow_ms(torch.cat([ms_img, pn_img], dim=1))
        pn_img = pn_img + self.shallow_pan(torch.cat([pn_img, ms_img], dim=1))
        ms, pn = self._tokens(self.ms_embed(ms_img)), self._tokens(self.pan_embed(pn_img))
        ms_res = 0
        for mix, nm, npn, dw in zip(self.cross, self.cross_norm_ms, self.cross_norm_pan, self.cross_dw):
            ms_res = ms + ms_res
            g = image(mix(nm(ms_res), npn(pn)))
            ms = self._tokens(g + dw(g))
        return self.head(image(ms)) + ms_up
