"""Training tiles from a :class:`clippan_kit.Scene`, normalised by the scene's ``max_value``.

The MS is upsampled once for the whole scene with the 23-tap interpolator (as
:func:`clippan_kit.infer.fuse_scene` does), so a tile's ``ms_up`` is exactly what inference feeds the
backbone. Supervised mode (Wald's protocol): the scene is reduced by the ratio first and the original
MS becomes the per-tile ``target``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..scene import Scene, SceneError
from ..physics import WaldProtocol, interp23tap

__all__ = ["SceneTiles", "prepare_inputs"]


def prepare_inputs(scene: Scene) -> dict[str, np.ndarray]:
    """Normalised float32 arrays of a scene: ms_lr (B,h,w), pan (1,H,W), ms_up (B,H,W)[, target (B,H,W)]."""
    s = scene.filled()
    scale = np.float32(1.0 / float(s.max_value))
    ms = s.ms.astype(np.float32) * scale
    out = {
        "ms_lr": ms,
        "pan": (s.pan.astype(np.float32) * scale)[None],
        "ms_up": interp23tap(ms.astype(np.float64), s.ratio).astype(np.float32),
    }
    if s.reference is not None:
        out["target"] = s.reference.astype(np.float32) * scale
    return out


@dataclass
class SceneTiles:
    """Random (or fixed) square tiles of one or more scenes, as batches of tensors.

    Args:
        scenes: scenes of one sensor (same band count and ratio).
        tile: tile side in PAN pixels (a multiple of the ratio).
        supervised: reduce each scene by Wald's protocol and keep the original MS as ``target``.
        valid_fraction: minimum fraction of valid (non-nodata) pixels for a random tile.
    """

    scenes: list[Scene]
    tile: int = 64
    supervised: bool = False
    valid_fraction: float = 0.95

    def __post_init__(self) -> None:
        if not self.scenes:
            raise SceneError("no training scene given")
        first = self.scenes[0]
        for s in self.scenes[1:]:
            if s.n_bands != first.n_bands or s.ratio != first.ratio:
                raise SceneError(f"scenes differ in bands/ratio: {first} vs {s}")
        self.sensor = first.sensor
        r = first.ratio
        if self.tile % r:
            raise SceneError(f"tile {self.tile} must be a multiple of the ratio {r}")
        used = []
        for s in self.scenes:
            if self.supervised:
                # A scene that carries its ground truth (reduced-resolution data set) is used as is.
                if s.reference is None:
                    h, w = s.ms.shape[1:]
                    s = s.crop(0, 0, (h - h % r) * r, (w - w % r) * r) if (h % r or w % r) else s
                    s = WaldProtocol(s.sensor).reduce(s)
            if min(s.shape) < self.tile:
                raise SceneError(f"scene {s.name!r} ({s.shape[0]}x{s.shape[1]}) is smaller than the tile {self.tile}")
            used.append(s)
        self._scenes = used
        self._arrays = [prepare_inputs(s) for s in used]
        self._valid = [s.valid for s in used]

    @property
    def n_bands(self) -> int:
        return self.sensor.n_bands

    @property
    def ratio(self) -> int:
        return self.sensor.ratio

    def attach(self, fn) -> None:
        """Add per-scene constants computed once: ``fn(scene, arrays) -> {key: array}``.

        Arrays whose last two axes are the scene's PAN size (e.g. a (B, H, W) loss threshold map) are cut
        with every tile; any other array (e.g. per-band phases (B, 2)) is repeated for each tile.
        """
        for s, a in zip(self._scenes, self._arrays):
            a.update({k: np.asarray(v) for k, v in fn(s, a).items()})

    def _cut(self, k: int, row: int, col: int, size: int) -> dict[str, np.ndarray]:
        a, r = self._arrays[k], self.ratio
        H, W = self._scenes[k].shape
        out = {}
        for key, v in a.items():
            if key == "ms_lr":
                out[key] = v[:, row // r:(row + size) // r, col // r:(col + size) // r]
            elif v.ndim >= 2 and v.shape[-2:] == (H, W):  # PAN-grid map: pan, ms_up, target, attached maps
                out[key] = v[..., row:row + size, col:col + size]
            else:  # per-scene constant
                out[key] = v
        return out

    def sample(self, batch_size: int, generator: np.random.Generator, share: slice | None = None
               ) -> dict[str, torch.Tensor]:
        """A batch of random tiles (positions on the ratio grid, mostly valid pixels).

        ``share``: cut only these of the ``batch_size`` draws (this process's part of a global batch,
        :meth:`clippan_kit.engine.Dist.share`); every position is still drawn, so the generators of all
        processes stay in step and the union of the shares is the 1-process batch.
        """
        r, t = self.ratio, self.tile
        keep = range(batch_size)[share or slice(None)]
        items = []
        for i in range(batch_size):
            for _attempt in range(20):
                k = int(generator.integers(len(self._arrays)))
                H, W = self._scenes[k].shape
                row = int(generator.integers(0, (H - t) // r + 1)) * r
                col = int(generator.integers(0, (W - t) // r + 1)) * r
                if self._valid[k][row:row + t, col:col + t].mean() >= self.valid_fraction:
                    break
            if i in keep:
                items.append(self._cut(k, row, col, t))
        return {key: torch.from_numpy(np.stack([it[key] for it in items])) for key in items[0]}

    def grid(self, size: int | None = None, max_tiles: int | None = None) -> dict[str, torch.Tensor]:
        """Non-overlapping ``size`` tiles covering the scenes (row-major), e.g. for adaptation or validation."""
        size = size or self.tile
        items = []
        for k, s in enumerate(self._scenes):
            H, W = s.shape
            for row in range(0, H - size + 1, size):
                for col in range(0, W - size + 1, size):
                    if self._valid[k][row:row + size, col:col + size].mean() >= self.valid_fraction:
                        items.append(self._cut(k, row, col, size))
        if not items:
            raise SceneError(f"no valid {size}x{size} tile in the scene(s)")
        if max_tiles is not None:
            items = items[:max_tiles]
        return {key: torch.from_numpy(np.stack([it[key] for it in items])) for key in items[0]}

    def center(self, size: int) -> dict[str, torch.Tensor]:
        """The central ``size`` tile of the first scene (validation crop), as a batch of one."""
        s = self._scenes[0]
        r = self.ratio
        size = min(size, *s.shape) // r * r
        row = (s.shape[0] - size) // 2 // r * r
        col = (s.shape[1] - size) // 2 // r * r
        return {k: torch.from_numpy(np.ascontiguousarray(v[None])) for k, v in self._cut(0, row, col, size).items()}
