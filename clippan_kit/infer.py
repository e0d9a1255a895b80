"""Full-scene inference: any scene size through any backbone in bounded memory, without seams.

The scene is cut into tiles of ``tile`` PAN pixels whose *cores* partition the scene; each tile
extends its core by ``overlap`` pixels of context on every side (shifted inward at the scene
borders so every tile has the same size). Outputs are blended with a partition-of-unity window:
across each core boundary a raised-sine ramp of half-width ``blend`` hands over from one tile to
the next (weights of neighbouring tiles sum to exactly 1). For a convolutional network whose
receptive-field radius is at most ``overlap - blend``, every blended output equals the untiled
one (up to float rounding); for models with global operations (attention pooling, FFTs, scans,
instance norms) the ramp hides the small tile-to-tile differences.

Tile borders on the low-resolution grid: tiles start at multiples of the ratio, so each PAN tile
maps to an exact MS tile. The 23-tap interpolation (circular borders) is computed once on the
whole MS, never per tile, so tiles see the same ``ms_up`` as an untiled run (it is cheap).
Nodata: inputs come from :meth:`Scene.filled`; masking the output is left to writers.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from .devices import select_device
from .scene import Scene
from .physics import interp23tap

__all__ = ["fuse_scene", "tile_layout", "blend_weights", "select_device"]


def tile_layout(size: int, tile: int, overlap: int, ratio: int) -> list[tuple[int, int, int, int]]:
    """Tiles along one axis of ``size`` PAN pixels.

    Returns:
        list of (start, stop, core_start, core_stop): the tile read and the core it owns; cores
        partition [0, size), every value a multiple of ``ratio``, all tiles the same length
        (``min(tile, size)``).
    """
    if size <= tile:
        return [(0, size, 0, size)]
    core = tile - 2 * overlap
    if core < ratio:
        raise ValueError(f"tile {tile} leaves no core with overlap {overlap}: need tile > 2*overlap")
    out = []
    for c0 in range(0, size, core):
        c1 = min(c0 + core, size)
        start = min(max(c0 - overlap, 0), size - tile)
        out.append((start, start + tile, c0, c1))
    return out


def _ramp_1d(length: int, start: int, c0: int, c1: int, size: int, blend: int) -> np.ndarray:
    """Weights of one tile along one axis (positions start..start+length), partition of unity."""
    x = np.arange(start, start + length, dtype=np.float64) + 0.5
    w = np.ones(length)
    if blend == 0:
        return ((x >= c0) & (x < c1)).astype(np.float64)
    if c0 > 0:
        w *= 0.5 + 0.5 * np.sin(np.pi / 2 * np.clip((x - c0) / blend, -1, 1))
    if c1 < size:
        w *= 0.5 - 0.5 * np.sin(np.pi / 2 * np.clip((x - c1) / blend, -1, 1))
    return w


def blend_weights(rows: tuple[int, int, int, int], cols: tuple[int, int, int, int], shape: tuple[int, int],
                  blend: int) -> np.ndarray:
    """(tile_h, tile_w) float32 blending window of one tile (see module docstring)."""
    wy = _ramp_1d(rows[1] - rows[0], rows[0], rows[2], rows[3], shape[0], blend)
    wx = _ramp_1d(cols[1] - cols[0], cols[0], cols[2], cols[3], shape[1], blend)
    return np.outer(wy, wx).astype(np.float32)


def _auto_blend(model: nn.Module, overlap: int, tile: int) -> int:
    rf = getattr(model, "receptive_field", None)
    blend = overlap if rf is None or rf > overlap else overlap - rf
    return max(0, min(blend, (tile - 2 * overlap) // 2))


def fuse_scene(
    model: nn.Module,
    scene: Scene,
    *,
    tile: int = 512,
    overlap: int = 32,
    device: str | torch.device | None = None,
    batch_size: int = 1,
    progress: bool = True,
    autocast: bool = False,
    blend: int | None = None,
) -> np.ndarray:
    """Pansharpen a whole scene with a Stage II backbone, tile by tile.

    Args:
        model: a backbone called as ``model(ms_up, pan, ms_lr)`` on inputs divided by
            ``scene.max_value`` (see :mod:`clippan_kit.models`). It is moved to ``device`` and put
            in eval mode.
        scene: the scene; nodata pixels are filled (:meth:`Scene.filled`) before fusion.
        tile: tile size in PAN pixels (rounded down to a multiple of the ratio).
        overlap: context added on each side of a tile's core, PAN pixels (rounded up to a
            multiple of the ratio). Tiled equals untiled for a CNN when the receptive-field
            radius is <= ``overlap - blend``.
        device: torch device; None picks CUDA when available, else CPU.
        batch_size: tiles per forward pass.
        progress: show a tqdm progress bar.
        autocast: mixed precision (bfloat16 on CPU, float16 on CUDA) for the forward pass.
        blend: half-width of the blending ramp, PAN pixels; None chooses ``overlap`` for models
            with a global or large receptive field, else ``overlap - receptive_field``.

    Returns:
        (B, H, W) float32 fused image in scene units (same scale as ``scene.ms``), clipped to the
        physical range ``[0, scene.max_value]`` (a network's residual can overshoot it).
    """
    r = scene.ratio
    tile = max(r, int(tile) // r * r)
    overlap = int(math.ceil(int(overlap) / r) * r)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    filled = scene.filled()
    H, W = filled.shape
    B = filled.n_bands
    scale = float(filled.max_value)
    blend = _auto_blend(model, overlap, tile) if blend is None else int(blend)
    if blend > overlap:
        raise ValueError(f"blend {blend} must not exceed overlap {overlap}")

    ms = (filled.ms / scale).astype(np.float32)
    pan = (filled.pan / scale).astype(np.float32)
    ms_up = interp23tap(ms.astype(np.float64), r).astype(np.float32)  # once, on the whole MS

    dev = select_device(device)
    model.to(dev).eval()
    dtype = next(iter(model.parameters())).dtype if any(True for _ in model.parameters()) else torch.float32
    amp = (torch.autocast(dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16)
           if autocast else contextlib.nullcontext())

    out = np.zeros((B, H, W), np.float32)
    weight = np.zeros((H, W), np.float32)
    tiles = [(ry, cx) for ry in tile_layout(H, tile, overlap, r) for cx in tile_layout(W, tile, overlap, r)]
    bar = tqdm(total=len(tiles), desc=f"fusing {scene.name}", unit="tile", disable=not progress)
    with torch.inference_mode():
        for i in range(0, len(tiles), batch_size):
            batch = tiles[i:i + batch_size]

            def stack(fn):
                return torch.from_numpy(np.stack([fn(ry, cx) for ry, cx in batch])).to(dev, dtype)

            t_up = stack(lambda ry, cx: ms_up[:, ry[0]:ry[1], cx[0]:cx[1]])
            t_pan = stack(lambda ry, cx: pan[None, ry[0]:ry[1], cx[0]:cx[1]])
            t_lr = stack(lambda ry, cx: ms[:, ry[0] // r:ry[1] // r, cx[0] // r:cx[1] // r])
            with amp:
                pred = model(t_up, t_pan, t_lr)
            pred = pred.float().cpu().numpy()
            for k, (ry, cx) in enumerate(batch):
                w = blend_weights(ry, cx, (H, W), blend)
                out[:, ry[0]:ry[1], cx[0]:cx[1]] += pred[k] * w
                weight[ry[0]:ry[1], cx[0]:cx[1]] += w
            bar.update(len(batch))
    bar.close()
    out /= np.maximum(weight, 1e-12)
    np.clip(out, 0.0, 1.0, out=out)  # inputs were divided by the full scale: 1 is full scale
    out *= scale
    return out
