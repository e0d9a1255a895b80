"""LFormer: linearly-evolved transformer, window cross-attention computed once and evolved."""
from __future__ import annotations

import torch
import torch.nn as nn

from .base import LayerNorm2d, PansharpeningModel, ResBlock, pad_to_multiple

__all__ = ["LFormer"]


def _to_windows(x: torch.Tensor, ws: int, heads: int) -> torch.Tensor:
    """(N, C, H, W) -> (N * nW, heads, ws*ws, C/heads), windows in raster order."""
    N, C, H, W = x.shape
    x = x.reshape(N, heads, C // heads, H // ws, ws, W // ws, ws)
    return x.permute(0, 3, 5, 1, 4, 6, 2).reshape(N * (H // ws) * (W // ws), heads, ws * ws, C // heads)


def _from_windows(x: torch.Tensor, ws: int, N: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`_to_windows`."""
    heads, c = x.shape[1], x.shape[3]
    x = x.reshape(N, H // ws, W // ws, heads, ws, ws, c)
    return x.permute(0, 3, 6, 1, 4, 2, 5).reshape(N, heads * c, H, W)


def _dw_proj(c_in: int, c_out: int) -> nn.Sequential:
    """1x1 projection then depthwise 3x3 (local context for q, k, v)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1), nn.Conv2d(c_out, c_out, 3, padding=1, groups=c_out))


class _FirstAttention(nn.Module):
    """Window cross-attention: queries from PAN features, keys/values from the upsampled MS."""

    def __init__(self, n_bands: int, dim: int, heads: int, window: int, attn_drop: float):
        super().__init__()
        self.heads, self.window = heads, window
        self.ms_norm = LayerNorm2d(n_bands)
        self.q, self.k, self.v = _dw_proj(1, dim), _dw_proj(n_bands, dim), _dw_proj(n_bands, dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(attn_drop)
        self.scale = (dim // heads) ** -0.5

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor):
        N, _, H, W = ms_up.shape
        ms = self.ms_norm(ms_up)
        q, k, v = (_to_windows(t, self.window, self.heads) for t in (self.q(pan), self.k(ms), self.v(ms)))
        attn = self.drop(q @ k.transpose(-2, -1) * self.scale).softmax(-1)
        out = attn @ v  # (N*nW, heads, ws*ws, c)
        out = self.proj(out.transpose(1, 2).flatten(2)).unflatten(2, (self.heads, -1)).transpose(1, 2)
        return attn, _from_windows(out, self.window, N, H, W)


class _RefreshAttention(nn.Module):
    """Evolves the reused attention map: a light conv across heads, then a softmax."""

    def __init__(self, heads: int, k: int = 3):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(heads, heads, (1, k), padding=(0, k // 2), bias=False),
                                  nn.Conv2d(heads, heads, 1), nn.ReLU())
        nn.init.constant_(self.body[0].weight, 1.0 / (k * k))
        nn.init.constant_(self.body[1].weight, 1.0)
        nn.init.zeros_(self.body[1].bias)

    def forward(self, attn: torch.Tensor) -> torch.Tensor:
        return self.body(attn).softmax(-1)


class _RefineStage(nn.Module):
    """Applies the evolved attention to the current MS features and fuses the high-pass branch."""

    def __init__(self, dim: int, hp_dim: int, heads: int, window: int, first: bool):
        super().__init__()
        self.first, self.heads, self.window = first, heads, window
        if not first:
            self.proj_v = nn.Linear(dim, dim)
            self.refresh = _RefreshAttention(heads)
        self.local = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, groups=dim), nn.ReLU(), nn.Conv2d(dim, dim, 1))
        self.fuse = nn.Conv2d(dim + hp_dim, dim, 3, padding=1)

    def forward(self, attn: torch.Tensor, feat: torch.Tensor, hp: torch.Tensor):
        if not self.first:
            N, _, H, W = feat.shape
            attn = self.refresh(attn)
            v = _to_windows(feat, self.window, self.heads)
            v = self.proj_v(v.transpose(1, 2).flatten(2)).unflatten(2, (self.heads, -1)).transpose(1, 2)
            feat = _from_windows(attn @ v, self.window, N, H, W)
        out = self.fuse(torch.cat([feat + self.local(feat), hp], dim=1))
        return attn, feat * out  # multiplicative modulation, as in the paper's refine block


class _HighPassBranch(nn.Module):
    def __init__(self, dim: int, hp_dim: int, n_res: int = 2):
        super().__init__()
        self.from_attn = nn.Conv2d(dim, hp_dim, 1)
        self.merge = nn.Conv2d(2 * hp_dim, hp_dim, 1)
        self.body = nn.Sequential(*[ResBlock(hp_dim) for _ in range(n_res)])

    def forward(self, feat: torch.Tensor, hp: torch.Tensor) -> torch.Tensor:
        return self.body(self.merge(torch.cat([self.from_attn(feat), hp], dim=1)))


class _PreHighPass(nn.Module):
    """Laplacian-initialised depthwise high-pass of PAN and MS, merged and refined by ResBlocks."""

    def __init__(self, n_bands: int, hp_dim: int, n_res: int):
        super().__init__()
        lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.hp_pan = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, hp_dim, 1))
        self.hp_ms = nn.Sequential(nn.Conv2d(n_bands, n_bands, 3, padding=1, groups=n_bands), nn.Conv2d(n_bands, hp_dim, 1))
        with torch.no_grad():
            for conv in (self.hp_pan[0], self.hp_ms[0]):
                conv.weight.copy_(lap.expand_as(conv.weight))
                conv.bias.zero_()
        self.merge = nn.Conv2d(2 * hp_dim, hp_dim, 1)
        self.body = nn.Sequential(*[ResBlock(hp_dim) for _ in range(n_res)])

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
        return self.body(self.merge(torch.cat([self.hp_pan(pan), self.hp_ms(ms_up)], dim=1)))


class LFormer(PansharpeningModel):
    """Hou, Cao, Zheng, Li, Chen, Liu, Cong, Hong, Zhou, "Linearly-evolved transformer for
    pan-sharpening", ACM Multimedia 2024, pp. 1486-1494.

    A window cross-attention map (queries from PAN, keys/values from ``ms_up``) is computed
    once; ``n_stages`` refine stages reuse it, each *evolving* it with a cheap conv + softmax
    instead of recomputing q·k (the "linearly-evolved" chain), and modulate the MS features with a
    high-pass branch (Laplacian-initialised depthwise convs on PAN and MS + ResBlocks). A final
    ResBlock head predicts the residual added to ``ms_up``. Uses ``ms_up`` and ``pan``.
    Departures from the authors' code: the single-channel PAN is not LayerNorm-ed (a LayerNorm
    over one channel returns a constant and would discard the PAN), attention logits are scaled by
    1/sqrt(head dim), and inputs are reflect-padded to a multiple of the window.
    """

    name = "lformer"
    citation = (
        'J. Hou, Z. Cao, N. Zheng, X. Li, X. Chen, X. Liu, X. Cong, D. Hong, M. Zhou, "Linearly-evolved '
        'transformer for pan-sharpening", Proc. ACM Int. Conf. Multimedia, 1486-1494, 2024.'
    )
    inputs = ("ms_up", "pan")

    def __init__(self, n_bands: int, ratio: int, dim: int = 32, hp_dim: int = 32, n_stages: int = 5,
                 heads: int = 8, window: int = 8, n_pre_res: int = 4, attn_drop: float = 0.0):
        super().__init__(n_bands, ratio)
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.window = window
        self.attention = _FirstAttention(n_bands, dim, heads, window, attn_drop)
        self.pre_hp = _PreHighPass(n_bands, hp_dim, n_pre_res)
        self.stages = nn.ModuleList([_RefineStage(dim, hp_dim, heads, window, first=(i == 0)) for i in range(n_stages)])
        self.hp_branches = nn.ModuleList([_HighPassBranch(dim, hp_dim) for _ in range(n_stages + 1)])
        self.head = nn.Sequential(ResBlock(dim + hp_dim), ResBlock(dim + hp_dim), nn.Conv2d(dim + hp_dim, n_bands, 1))

    def forward(self, ms_up: torch.Tensor, pan: torch.Tensor, ms_lr: torch.Tensor | None = None) -> torch.Tensor:
        self.check_inputs(ms_up, pan, ms_lr)
        x, (H, W) = pad_to_multiple(torch.cat([ms_up, pan], dim=1), self.window)
        lms, p = x[:, :-1], x[:, -1:]
        attn, feat = self.attention(lms, p)
        hp = self.pre_hp(lms, p)
        for stage, branch in zip(self.stages, self.hp_branches):
            attn, feat = stage(attn, feat, branch(feat, hp))
        out = self.head(torch.cat([self.hp_branches[-1](feat, hp), feat], dim=1))
        return out[..., :H, :W] + ms_up
