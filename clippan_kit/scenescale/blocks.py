"""Block grid and exact halo operators: each block computes what the whole-image operator gives there.

Every operator of :mod:`clippan_kit.wald` is shift-invariant except at the image border, where it
has a fixed border rule. A block therefore reads its window plus a halo, with the halo's indices
mapped by the *whole image's* border rule, and keeps only its core:

========================  ==========================  ====================================  =============
operator                  border rule (whole image)   halo (per side)                       index map
========================  ==========================  ====================================  =============
``interp23tap`` (23 taps) circular, on the MS grid    12 MS px = 12 r PAN px (supports sum  wrap mod h
                                                      to 6 + 3 + 1.5 + ... < 12 MS px)
``mtf_filter`` (41 taps)  replicate                   20 px of the grid filtered            clamp
``decimate``              phase r//2                  none (block starts are multiples of r)
========================  ==========================  ====================================  =============

Compositions take the union: MTF-GLP's ``interp23tap(decimate(mtf_filter(PAN)))`` wraps 12 MS
pixels of the decimated low-pass, each of which clamps its own 20 PAN pixels. A halo read names
its pixels by index vectors (:func:`wrap`, :func:`clamp`), so it never pads or copies the scene.

Nodata follows :meth:`clippan_kit.scene.Scene.filled`: a PAN pixel is valid when it and every MS
band above it are finite; an MS pixel when every PAN pixel under it is. Invalid pixels are filled
with the band means of the valid pixels (:class:`FillValues`, one global pass) before filtering.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics import KERNEL_SIZE, interp23tap, mtf_filter
from .lazy import LazyPair

__all__ = ["Window", "block_grid", "wrap", "clamp", "FillValues", "BlockReader", "INTERP_HALO_MS", "MTF_HALO"]

INTERP_HALO_MS = 12  # MS pixels: > the summed support of the dyadic 23-tap steps (6 + 3 + 1.5 + ...)
MTF_HALO = KERNEL_SIZE // 2  # pixels of the filtered grid: half of the 41-tap MTF filter


@dataclass(frozen=True)
class Window:
    """A block's core on the PAN grid: rows y0..y1, cols x0..x1 (multiples of the ratio)."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    def ms(self, r: int) -> "Window":
        return Window(self.y0 // r, self.y1 // r, self.x0 // r, self.x1 // r)


def block_grid(shape: tuple[int, int], block: int) -> list[Window]:
    """Row-major cores of side ``block`` (last row/column shorter) partitioning an (H, W) grid."""
    H, W = shape
    return [Window(y, min(y + block, H), x, min(x + block, W)) for y in range(0, H, block) for x in range(0, W, block)]


def wrap(start: int, stop: int, n: int) -> np.ndarray:
    """Indices start..stop-1 with circular borders on an axis of length n."""
    return np.arange(start, stop) % n


def clamp(start: int, stop: int, n: int) -> np.ndarray:
    """Indices start..stop-1 with replicated borders on an axis of length n."""
    return np.clip(np.arange(start, stop), 0, n - 1)


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) positions of the maximal runs of consecutive values in an index vector."""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    edges = np.concatenate([[0], breaks, [idx.size]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


@dataclass(frozen=True)
class FillValues:
    """Means of the valid pixels, the values :meth:`Scene.filled` puts in nodata pixels.

    Attributes:
        pan: mean PAN over valid PAN pixels; ms: (B,) band means over valid MS pixels;
        n_invalid: number of invalid PAN pixels in the scene (0: nothing to fill, no mask to apply).
    """

    pan: float
    ms: tuple[float, ...]
    n_invalid: int


def _validity(pair: LazyPair, pan: np.ndarray, ms: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(PAN-grid valid, MS-grid valid) for a ratio-aligned PAN block and the MS block above it."""
    ms_ok = np.isfinite(ms).all(axis=0)
    valid = np.isfinite(pan) & np.repeat(np.repeat(ms_ok, r, 0), r, 1)
    h, w = ms_ok.shape
    return valid, valid.reshape(h, r, w, r).all(axis=(1, 3))


def fill_partial(pair: LazyPair, win: Window) -> tuple[int, float, int, np.ndarray, int]:
    """One block's share of :class:`FillValues`: (n PAN valid, PAN sum, n MS valid, (B,) MS sums, n invalid)."""
    r = pair.ratio
    m = win.ms(r)
    pan = pair.read_pan(np.arange(win.y0, win.y1), np.arange(win.x0, win.x1))
    ms = pair.read_ms(np.arange(m.y0, m.y1), np.arange(m.x0, m.x1))
    valid, ms_valid = _validity(pair, pan, ms, r)
    return (int(valid.sum()), float(pan[valid].sum()), int(ms_valid.sum()),
            np.where(ms_valid[None], ms, 0.0).sum(axis=(1, 2)), int(valid.size - valid.sum()))


def combine_fill(parts) -> FillValues:
    parts = list(parts)
    n_pan = sum(p[0] for p in parts)
    n_ms = sum(p[2] for p in parts)
    if n_pan == 0:
        raise ValueError("scene has no valid pixel (all nodata/NaN)")
    return FillValues(pan=sum(p[1] for p in parts) / n_pan, ms=tuple((sum(p[3] for p in parts) / max(n_ms, 1)).tolist()),
                      n_invalid=sum(p[4] for p in parts))


class BlockReader:
    """Filled inputs and exact halo operators for blocks of one :class:`LazyPair`.

    All arrays are float64; ``fill=None`` means the scene has no nodata (nothing is checked or filled).
    """

    def __init__(self, pair: LazyPair, fill: FillValues | None):
        self.pair = pair
        self.fill = fill if fill is not None and fill.n_invalid else None
        self.r = pair.ratio
        self.H, self.W = pair.shape
        self.h, self.w = self.H // self.r, self.W // self.r

    # ------------------------------------------------------------------ filled reads
    def pan(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(len(rows), len(cols)) filled PAN at PAN-grid indices."""
        pan = self.pair.read_pan(rows, cols)
        if self.fill is None:
            return pan
        ms_ok = np.isfinite(self.pair.read_ms(rows // self.r, cols // self.r)).all(axis=0)
        return np.where(np.isfinite(pan) & ms_ok, pan, self.fill.pan)

    def ms(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(B, len(rows), len(cols)) filled MS at MS-grid indices."""
        ms = self.pair.read_ms(rows, cols)
        if self.fill is None:
            return ms
        r = self.r
        sub = np.arange(r)
        pan = self.pair.read_pan((rows[:, None] * r + sub).ravel(), (cols[:, None] * r + sub).ravel())
        pan_ok = np.isfinite(pan).reshape(rows.size, r, cols.size, r).all(axis=(1, 3))
        ok = pan_ok & np.isfinite(ms).all(axis=0)
        return np.where(ok[None], ms, np.asarray(self.fill.ms)[:, None, None])

    def valid(self, win: Window) -> np.ndarray | None:
        """(h, w) bool validity of a block's core (None when the scene has no nodata)."""
        if self.fill is None:
            return None
        m = win.ms(self.r)
        pan = self.pair.read_pan(np.arange(win.y0, win.y1), np.arange(win.x0, win.x1))
        ms = self.pair.read_ms(np.arange(m.y0, m.y1), np.arange(m.x0, m.x1))
        return _validity(self.pair, pan, ms, self.r)[0]

    def core_pan(self, win: Window) -> np.ndarray:
        return self.pan(np.arange(win.y0, win.y1), np.arange(win.x0, win.x1))

    def core_ms(self, win: Window) -> np.ndarray:
        m = win.ms(self.r)
        return self.ms(np.arange(m.y0, m.y1), np.arange(m.x0, m.x1))

    # ------------------------------------------------------------------ operators
    def _interp_core(self, lowres: np.ndarray, win: Window) -> np.ndarray:
        """interp23tap of an MS-grid stack read with the interp halo, cropped to the block core."""
        hr = INTERP_HALO_MS * self.r
        up = interp23tap(lowres, self.r)
        return up[..., hr:hr + win.shape[0], hr:hr + win.shape[1]]

    def _halo_ms_index(self, win: Window) -> tuple[np.ndarray, np.ndarray]:
        m, k = win.ms(self.r), INTERP_HALO_MS
        return wrap(m.y0 - k, m.y1 + k, self.h), wrap(m.x0 - k, m.x1 + k, self.w)

    def up(self, win: Window) -> np.ndarray:
        """(B, *win.shape): EXP (``interp23tap`` of the filled MS) on the block core."""
        return self._interp_core(self.ms(*self._halo_ms_index(win)), win)

    def pan_lowpass_decimated(self, gains, rows_ms: np.ndarray, cols_ms: np.ndarray) -> np.ndarray:
        """(G, len(rows_ms), len(cols_ms)): ``decimate(mtf_filter(PAN, g))`` for each gain g, at MS indices.

        Each run of consecutive MS indices reads its PAN rows with a clamped 20-pixel halo, so the
        result equals the whole-image filter (replicate borders) followed by decimation.
        """
        r, p, s = self.r, MTF_HALO, self.r // 2
        gains = [float(g) for g in gains]
        out = np.empty((len(gains), rows_ms.size, cols_ms.size))
        for a, b in _runs(rows_ms):
            k0, k1 = int(rows_ms[a]), int(rows_ms[b - 1]) + 1
            rows = clamp(r * k0 + s - p, r * (k1 - 1) + s + p + 1, self.H)
            for c, d in _runs(cols_ms):
                j0, j1 = int(cols_ms[c]), int(cols_ms[d - 1]) + 1
                cols = clamp(r * j0 + s - p, r * (j1 - 1) + s + p + 1, self.W)
                pan = self.pan(rows, cols)
                for i, g in enumerate(gains):  # one gain at a time: a filter's FFT temporaries are ~6x the PAN read
                    low = mtf_filter(pan, g, r)
                    out[i, a:b, c:d] = low[p:low.shape[0] - p:r, p:low.shape[1] - p:r]
        return out

    def pan_lowpass_per_band(self, win: Window) -> np.ndarray:
        """(B, *win.shape): :func:`clippan_kit.classical.mra.pan_lowpass_per_band` on the block core."""
        gains, inverse = np.unique(np.asarray(self.pair.sensor.gnyq_ms, dtype=float), return_inverse=True)
        low = self.pan_lowpass_decimated(gains.tolist(), *self._halo_ms_index(win))
        return self._interp_core(low, win)[inverse.ravel()]

    def ms_lowpass(self, win: Window) -> np.ndarray:
        """(B, *win.ms(r).shape): the MS low-passed at MS scale by its MTF filters (replicate borders)."""
        m, p = win.ms(self.r), MTF_HALO
        ms = self.ms(clamp(m.y0 - p, m.y1 + p, self.h), clamp(m.x0 - p, m.x1 + p, self.w))
        return mtf_filter(ms, self.pair.sensor.gnyq_ms, self.r)[:, p:p + m.shape[0], p:p + m.shape[1]]
