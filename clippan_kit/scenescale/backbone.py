"""Block-wise inference of a Stage II backbone (any model of :mod:`clippan_kit.models`).

Each block is fused from its core plus ``halo`` PAN pixels of context (clipped at the scene
border, where the model's own padding applies, as in a whole-scene pass) with exact EXP inputs
(:meth:`BlockReader.up`). For a convolutional model whose receptive-field radius is at most the
halo, the block output equals the untiled model output, hence :func:`clippan_kit.infer.fuse_scene`
(which equals it under the same condition); for models with global operations (λ-PNN's CBAM
pooling, scans, attention) each block sees its own context, as the tiles of ``fuse_scene`` do.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from .blocks import BlockReader, Window
from .methods import BlockMethod

__all__ = ["Backbone"]


class Backbone(BlockMethod):
    """A backbone as a block method (no global statistics).

    Args:
        model: called as ``model(ms_up, pan, ms_lr)`` on inputs divided by the scene's ``max_value``.
        halo: context per side in PAN pixels (rounded up to the ratio); default: the model's
            ``receptive_field`` (at least 32) or 64 when it has none.
        device: torch device for the forward pass (default CPU).
    """

    name = "backbone"
    # Smaller blocks than the classical methods' 1024: a network's feature maps dominate a worker's memory
    # (λ-PNN small: +530 MiB in the forward pass at 1024 + 2 x 64 pixels of context, +330 MiB at 768 + 128),
    # which put two workers at 3.2 GiB (RSS sum) on a 16384² scene; the halo costs 36 % more pixels instead of 27 %.
    # 768 is a multiple of the 256-pixel tiles and of 32 x ratio, as DEFAULT_BLOCK.
    block = 768

    def __init__(self, model: nn.Module, halo: int | None = None, device: str = "cpu"):
        self.model = model.eval()
        rf = getattr(model, "receptive_field", None)
        self.halo = int(halo if halo is not None else (64 if rf is None else max(32, rf)))
        self.device = device

    def apply(self, rd: BlockReader, win: Window, g=None) -> np.ndarray:
        r = rd.r
        k = int(math.ceil(self.halo / r) * r)
        ctx = Window(max(0, win.y0 - k), min(rd.H, win.y1 + k), max(0, win.x0 - k), min(rd.W, win.x1 + k))
        scale = float(rd.pair.max_value)
        dev = torch.device(self.device)
        self.model.to(dev)
        dtype = next(iter(self.model.parameters())).dtype
        # Inputs become float32 tensors one at a time, so no float64 copy is alive during the forward pass.
        t = [torch.from_numpy(np.ascontiguousarray(read(ctx) / scale, np.float32))[None].to(dev, dtype)
             for read in (rd.up, lambda w: rd.core_pan(w)[None], rd.core_ms)]
        with torch.inference_mode():
            pred = self.model(*t)[0].float().cpu().numpy()
        del t
        oy, ox = win.y0 - ctx.y0, win.x0 - ctx.x0
        return pred[:, oy:oy + win.shape[0], ox:ox + win.shape[1]].astype(np.float64) * scale
