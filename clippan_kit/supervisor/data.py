"""Training / evaluation tiles for the supervisor, cut from :class:`~clippan_kit.Scene` objects.

Tiles are torch float32 in normalised units (data / ``scene.max_value``): MS (N, B, t/r, t/r),
PAN (N, 1, t, t) and, where the scene has one, reference HRMS (N, B, t, t); ``t`` is the tile size in
PAN pixels (multiple of the ratio r). Nodata pixels are filled (``Scene.filled``) and tiles with
less than ``min_valid`` valid PAN pixels are never drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..scene import Scene, SceneError
from ..sensors import Sensor

__all__ = ["Tiles", "TileSampler", "grid_tiles", "split_scene", "resolve_pseudo_label_fn"]

PseudoLabelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Tiles:
    """A batch of co-located tiles: ms (N, B, h, w), pan (N, 1, H, W), reference (N, B, H, W) or None."""

    ms: torch.Tensor
    pan: torch.Tensor
    reference: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.ms.shape[0]

    def to(self, device) -> "Tiles":
        return Tiles(self.ms.to(device), self.pan.to(device), None if self.reference is None else self.reference.to(device))


def _normalised(scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    s = scene.filled()
    scale = np.float32(1.0 / float(s.max_value))
    ref = None if s.reference is None else s.reference * scale
    return s.ms * scale, s.pan[None] * scale, ref


def _check_tile(scene: Scene, tile: int) -> None:
    r = scene.ratio
    if tile % r:
        raise SceneError(f"tile size {tile} is not a multiple of the ratio {r} of {scene.name}")
    if min(scene.shape) < tile:
        raise SceneError(f"scene {scene.name} ({scene.shape[0]}x{scene.shape[1]}) is smaller than the tile size {tile}")


class TileSampler:
    """Random tiles from one or more scenes with the same band count (seeded, reproducible).

    Args:
        scenes: scenes to draw from (one sensor band count); each drawn in proportion to its area.
        tile_size: PAN-pixel side of a tile (multiple of every scene's ratio).
        seed: seed of the sampler's own generator.
        min_valid: minimum fraction of valid PAN pixels in a drawn tile.
    """

    def __init__(self, scenes: Sequence[Scene], tile_size: int = 128, seed: int = 0, min_valid: float = 0.95):
        if not scenes:
            raise SceneError("no training scene given")
        bands = {s.n_bands for s in scenes}
        if len(bands) != 1:
            raise SceneError(f"training scenes must share one band count, got {sorted(bands)}")
        for s in scenes:
            _check_tile(s, tile_size)
        self.scenes = list(scenes)
        self.tile_size = tile_size
        self.min_valid = min_valid
        self.rng = np.random.default_rng(seed)
        self._arrays = [_normalised(s) for s in self.scenes]
        self._valid_frac = []
        for s in self.scenes:  # integral image: fraction of valid pixels in any tile in O(1)
            ii = np.pad(s.valid.astype(np.float64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            self._valid_frac.append(ii)
        area = np.array([s.shape[0] * s.shape[1] for s in self.scenes], float)
        self._p = area / area.sum()
        self.has_reference = all(s.reference is not None for s in self.scenes)

    @property
    def n_bands(self) -> int:
        return self.scenes[0].n_bands

    def _draw_one(self, k: int) -> tuple[int, int]:
        s, t = self.scenes[k], self.tile_size
        r = s.ratio
        ii = self._valid_frac[k]
        for _ in range(100):
            row = int(self.rng.integers(0, (s.shape[0] - t) // r + 1)) * r
            col = int(self.rng.integers(0, (s.shape[1] - t) // r + 1)) * r
            n_valid = ii[row + t, col + t] - ii[row, col + t] - ii[row + t, col] + ii[row, col]
            if n_valid >= self.min_valid * t * t:
                return row, col
        raise SceneError(f"could not find a tile of {t} px with {self.min_valid:.0%} valid pixels in {s.name}")

    def sample(self, n: int, share: slice | None = None) -> Tiles:
        """``n`` random tiles (independent draws, scenes weighted by area).

        ``share``: cut only these of the ``n`` draws (this process's part of a global batch,
        :meth:`clippan_kit.engine.Dist.share`); every position is still drawn, so each process's
        generator stays in step with the others and the union of the shares is the 1-process batch.
        """
        draws = [(int(k), *self._draw_one(int(k))) for k in self.rng.choice(len(self.scenes), size=n, p=self._p)]
        ms, pan, ref = [], [], []
        for k, row, col in draws[share or slice(None)]:
            r, t = self.scenes[k].ratio, self.tile_size
            a_ms, a_pan, a_ref = self._arrays[k]
            ms.append(a_ms[:, row // r:(row + t) // r, col // r:(col + t) // r])
            pan.append(a_pan[:, row:row + t, col:col + t])
            if a_ref is not None:
                ref.append(a_ref[:, row:row + t, col:col + t])
        reference = torch.from_numpy(np.stack(ref)) if self.has_reference else None
        return Tiles(torch.from_numpy(np.stack(ms)), torch.from_numpy(np.stack(pan)), reference)


def grid_tiles(scene: Scene, tile_size: int = 128, min_valid: float = 0.95, max_tiles: int | None = None) -> Tiles:
    """All non-overlapping ``tile_size`` tiles of a scene (row-major), skipping mostly-nodata ones."""
    _check_tile(scene, tile_size)
    ms, pan, ref = _normalised(scene)
    r, t = scene.ratio, tile_size
    H, W = scene.shape
    rows, cols = np.meshgrid(np.arange(H // t) * t, np.arange(W // t) * t, indexing="ij")
    keep = [(i, j) for i, j in zip(rows.ravel(), cols.ravel()) if scene.valid[i:i + t, j:j + t].mean() >= min_valid]
    if max_tiles is not None:
        keep = keep[:max_tiles]
    if not keep:
        raise SceneError(f"scene {scene.name} has no {t}-px tile with {min_valid:.0%} valid pixels")
    return Tiles(
        torch.from_numpy(np.stack([ms[:, i // r:(i + t) // r, j // r:(j + t) // r] for i, j in keep])),
        torch.from_numpy(np.stack([pan[:, i:i + t, j:j + t] for i, j in keep])),
        None if ref is None else torch.from_numpy(np.stack([ref[:, i:i + t, j:j + t] for i, j in keep])),
    )


def split_scene(scene: Scene, holdout: float = 0.25) -> tuple[Scene, Scene]:
    """(train, held-out) parts of a scene: the bottom ``holdout`` fraction of rows is held out.

    Lets a single large scene give disjoint training and evaluation areas.
    """
    r = scene.ratio
    H, W = scene.shape
    cut = int(round(H * (1 - holdout) / r)) * r
    if not 0 < cut < H:
        raise SceneError(f"holdout {holdout} leaves an empty part of the {H}-row scene")
    return scene.crop(0, 0, cut, W), scene.crop(cut, 0, H - cut, W)


def resolve_pseudo_label_fn(pseudo_label: str | PseudoLabelFn, sensor: Sensor) -> PseudoLabelFn | None:
    """``"bdsd"`` -> BDSD-PC on the fly (the paper's choice); ``"reference"`` -> None (use ground truth);
    a callable ``(ms_lr (N,B,h,w), pan (N,1,H,W)) -> hrms (N,B,H,W)`` is returned as is."""
    if callable(pseudo_label):
        return pseudo_label
    if pseudo_label == "reference":
        return None
    if pseudo_label == "bdsd":
        try:
            from ..classical import bdsd_pc_torch  # written by the classical-methods module; imported lazily
        except ImportError as exc:
            raise ImportError(f"pseudo_label='bdsd' needs clippan_kit.classical.bdsd_pc_torch ({exc}); "
                              "pass pseudo_label='reference' for data with ground truth, or a callable") from exc

        def bdsd(ms_lr: torch.Tensor, pan: torch.Tensor) -> torch.Tensor:
            return bdsd_pc_torch(ms_lr, pan, sensor)

        return bdsd
    raise ValueError(f"pseudo_label must be 'bdsd', 'reference' or a callable, got {pseudo_label!r}")
