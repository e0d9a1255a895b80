"""Full-resolution indices of a fused scene bigger than memory, from per-block sums.

The QNR-family indices are means over distinct 32 x 32 PAN-pixel blocks of per-block qualities
(Q of band pairs, Q of band vs PAN, hypercomplex Q2n), combined nonlinearly only at the end. So with
evaluation windows whose edges lie on multiples of 32 (and of the ratio), each window returns the
*sums* of its block qualities, the sums add exactly across windows, and the final indices equal the
whole-image ones (:func:`clippan_kit.metrics.full_resolution_metrics`) to float rounding:

* D_λ (toolbox 1.0, expanded): mean over band pairs of |mean Q(F_i, F_j) - mean Q(EXP_i, EXP_j)|;
* D_s (toolbox 1.0, expanded): mean over bands of |mean Q(F_b, P) - mean Q(EXP_b, interp23tap(imresize(P, 1/r)))|;
* QNR = (1 - D_λ)(1 - D_s); D_λ^(K) = 1 - mean Q2n(MTF-filtered F, EXP) (toolbox rounding); HQNR;
* D_ρ (λ-PNN): mean over valid pixels and bands of 1 - rho(F_b, P), a per-pixel sum.

Every image term is computed per window with the exact halos of :mod:`clippan_kit.scenescale.blocks`
(EXP: circular 12 MS pixels; MTF filter of F: replicated 20 PAN pixels; MATLAB ``imresize``: mirrored
2 MS pixels; D_ρ's local correlation: 2 ceil(r/2) PAN pixels clipped at the scene border, where the whole
image pads with zeros).

The reprojected R-Q2n, R-Q, R-SAM, R-ERGAS (Scarpa & Ciotola, "peer" co-registration) take two passes
(:mod:`clippan_kit.scenescale.reprojected`): pass 1 adds the windows' shares of the 81 co-registration
candidates' scores (sums of local correlation maps) into the global per-band shifts; pass 2, with the
shifts, reprojects each window (MTF filter -> sub-pixel shift -> decimation, exact halos) and adds its Q2n
block qualities (32² MS-pixel blocks, so window edges lie on multiples of 32 x ratio PAN pixels), the Q of
the sliding windows starting in it, its SAM angles and its per-band ERGAS sums, along with the sums above.
"""
from __future__ import annotations

from math import ceil
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..metrics._common import to_dn
from ..metrics.q2n import q2n_map_torch
from ..metrics.qnr import _block_q, _pairwise_q
from ..metrics.reprojected import local_correlation_torch
from ..sensors import Sensor
from ..physics import imresize_down, interp23tap, mtf_filter
from .blocks import MTF_HALO, BlockReader, Window, clamp, wrap, _runs
from .engine import executor
from .fuse import DEFAULT_BLOCK, ordered, prepare_reader
from .lazy import FileWindow, LazyPair, open_pair, open_raster
from .reprojected import R_METRICS, CoregPass, ReprojectedPart, reprojected_from_sums, shifts_from_parts

__all__ = ["evaluate_blockwise", "BLOCKWISE_METRICS"]

BLOCKWISE_METRICS = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR", "D_rho", *R_METRICS)
Q_BLOCK = 32  # the toolbox's block side (PAN pixels)


def _mirror(start: int, stop: int, n: int) -> np.ndarray:
    """Indices start..stop-1 with MATLAB 'symmetric' borders (edge repeated) on an axis of length n."""
    i = np.arange(start, stop)
    i = np.where(i < 0, -i - 1, i)
    return np.where(i >= n, 2 * n - 1 - i, i)


class _Eval:
    """Per-window sums of block qualities (picklable context of the evaluation tasks)."""

    def __init__(self, reader: BlockReader, fused: FileWindow, fill_fused: np.ndarray, shifts: np.ndarray):
        self.rd, self.fused, self.fill_fused = reader, fused, fill_fused
        self.reprojected = ReprojectedPart(reader, shifts)

    def fused_at(self, rows, cols) -> np.ndarray:
        f = self.fused.read(rows, cols).astype(np.float64)
        bad = ~np.isfinite(f)
        return np.where(bad, self.fill_fused[:, None, None], f) if bad.any() else f

    def pan_lr_up(self, win: Window) -> np.ndarray:
        """(1, *win.shape): ``interp23tap(imresize(P, 1/r))`` on the window (D_s low-scale PAN)."""
        rd, r = self.rd, self.rd.r
        m, k = win.ms(r), 12
        rows, cols = wrap(m.y0 - k, m.y1 + k, rd.h), wrap(m.x0 - k, m.x1 + k, rd.w)
        low = np.empty((rows.size, cols.size))
        for a, b in _runs(rows):
            k0, k1 = int(rows[a]), int(rows[b - 1]) + 1
            pr = _mirror(r * (k0 - 2), r * (k1 + 2), rd.H)
            for c, d in _runs(cols):
                j0, j1 = int(cols[c]), int(cols[d - 1]) + 1
                pc = _mirror(r * (j0 - 2), r * (j1 + 2), rd.W)
                small = imresize_down(torch.from_numpy(rd.pan(pr, pc))[None, None], r)[0, 0].numpy()
                low[a:b, c:d] = small[2:-2, 2:-2]
        up = interp23tap(low, r)
        hr = k * r
        return up[None, hr:hr + win.shape[0], hr:hr + win.shape[1]]

    def __call__(self, win: Window) -> dict:
        rd, s = self.rd, self.rd.pair.sensor
        p = MTF_HALO
        rows, cols = np.arange(win.y0, win.y1), np.arange(win.x0, win.x1)
        # One read of the fused file per window: the reprojection's box (the window plus 128 + 28 PAN
        # pixels) holds the QNR terms' 20-pixel halo too; both are clamped to the scene the same way.
        y0, y1, x0, x1 = self.reprojected.read_box(win)
        y0, y1, x0, x1 = min(y0, win.y0 - p), max(y1, win.y1 + p), min(x0, win.x0 - p), max(x1, win.x1 + p)
        box = self.fused_at(clamp(y0, y1, rd.H), clamp(x0, x1, rd.W))

        def fused_box(a0: int, a1: int, b0: int, b1: int) -> np.ndarray:
            return box[:, a0 - y0:a1 - y0, b0 - x0:b1 - x0]

        f_halo = fused_box(win.y0 - p, win.y1 + p, win.x0 - p, win.x1 + p)
        f = f_halo[:, p:p + win.shape[0], p:p + win.shape[1]]
        exp = rd.up(win)
        pan = rd.pan(rows, cols)[None]
        nb = (win.shape[0] // Q_BLOCK) * (win.shape[1] // Q_BLOCK)
        T = lambda a: torch.from_numpy(np.ascontiguousarray(a))[None]  # noqa: E731
        tf, te = T(f), T(exp)
        filtered = mtf_filter(f_halo, s.gnyq_ms, rd.r)[:, p:p + win.shape[0], p:p + win.shape[1]]
        scale = lambda t: to_dn(t, rd.pair.max_value, s.bits)  # noqa: E731
        qmap = q2n_map_torch(scale(T(filtered)), scale(te), block_size=Q_BLOCK, quantize_mode="round", ddof=1)
        # D_ρ: local correlation (2w windows, zero padding at the scene border) on the block plus
        # 2w pixels of context clipped at the scene border, so the border padding is the whole image's.
        wr, k = ceil(rd.r / 2), 2 * ceil(rd.r / 2)
        cy0, cy1, cx0, cx1 = max(0, win.y0 - k), min(rd.H, win.y1 + k), max(0, win.x0 - k), min(rd.W, win.x1 + k)
        f_ctx = f_halo[:, cy0 - win.y0 + p:cy1 - win.y0 + p, cx0 - win.x0 + p:cx1 - win.x0 + p]
        pan_ctx = rd.pan(np.arange(cy0, cy1), np.arange(cx0, cx1))
        rho = local_correlation_torch(T(f_ctx), T(pan_ctx[None]), wr).clamp(-1.0, 1.0)[0].numpy()
        rho = rho[:, win.y0 - cy0:win.y1 - cy0, win.x0 - cx0:win.x1 - cx0]
        valid = rd.valid(win)
        drho = (1.0 - rho).sum() if valid is None else (1.0 - rho[:, valid]).sum()
        return dict(
            n=nb, rho_sum=float(drho), rho_n=int(rho[0].size if valid is None else valid.sum()) * rho.shape[0],
            dl_fus=(_pairwise_q(tf, Q_BLOCK)[0] * nb).numpy(),
            dl_exp=(_pairwise_q(te, Q_BLOCK)[0] * nb).numpy(),
            ds_high=(_block_q(tf, T(pan), Q_BLOCK)[0] * nb).numpy(),
            ds_low=(_block_q(te, T(self.pan_lr_up(win)), Q_BLOCK)[0] * nb).numpy(),
            q2n=float(qmap.sum()),
            reprojected=self.reprojected(win, fused_box),
        )


def _eval_task(ctx: _Eval, win: Window) -> dict:
    return ctx(win)


def _coreg_task(ctx: CoregPass, win: Window):
    return ctx(win)


def indices_from_sums(parts: list[dict]) -> dict[str, float]:
    """The QNR-family indices from the per-window sums of :class:`_Eval`."""
    n = sum(p["n"] for p in parts)
    total = {k: sum(p[k] for p in parts) / n for k in ("dl_fus", "dl_exp", "ds_high", "ds_low", "q2n")}
    dl = float(np.abs(total["dl_fus"] - total["dl_exp"]).mean())
    ds = float(np.abs(total["ds_high"] - total["ds_low"]).mean())
    dlk = 1.0 - float(total["q2n"])
    drho = sum(p["rho_sum"] for p in parts) / sum(p["rho_n"] for p in parts)
    return {"D_lambda": dl, "D_s": ds, "QNR": (1 - dl) * (1 - ds), "D_lambda_K": dlk, "HQNR": (1 - dlk) * (1 - ds),
            "D_rho": drho}


def indices_from_parts(parts: list[dict], ratio: int) -> dict[str, float]:
    """All :data:`BLOCKWISE_METRICS` from the per-window results of :class:`_Eval`."""
    return {**indices_from_sums(parts), **reprojected_from_sums([p["reprojected"] for p in parts], ratio)}


def evaluate_blockwise(
    fused_path: str | Path,
    ms_path: str | Path | LazyPair,
    pan_path: str | Path | None = None,
    *,
    sensor: str | Sensor | None = None,
    bands: Sequence[str | int] | None = None,
    chunks: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    max_value: float | None = None,
) -> dict[str, float]:
    """Full-resolution indices (:data:`BLOCKWISE_METRICS`) of a fused GeoTIFF on the PAN grid of a pair.

    Equal to the same keys of :func:`clippan_kit.metrics.full_resolution_metrics` on the in-memory
    scene (to float rounding). As there, a scene that is not a whole number of 32 x 32 blocks is
    scored on its top-left whole-block part. Fused nodata pixels (NaN) read as the MS band fill
    values, and scene nodata is filled as :meth:`Scene.filled` does.

    Args:
        fused_path: fused (B, H, W) GeoTIFF on the pair's PAN grid (e.g. from :func:`fuse_blockwise`).
        ms_path, pan_path, sensor, bands, max_value: the pair, as :func:`fuse_blockwise`.
        chunks: evaluation window side in PAN pixels, rounded down to a multiple of 32 x ratio.
        workers, scheduler: as :func:`fuse_blockwise`.
    """
    pair = ms_path if isinstance(ms_path, LazyPair) else open_pair(pan_path, ms_path, sensor, bands=bands,
                                                                      max_value=max_value)
    fused = open_raster(fused_path)
    H, W = pair.shape
    if tuple(fused.shape) != (pair.n_bands, H, W):
        raise ValueError(f"{fused_path}: fused image {tuple(fused.shape)} does not match the scene "
                         f"{(pair.n_bands, H, W)}")
    h, w = H - H % Q_BLOCK, W - W % Q_BLOCK
    if (h, w) != (H, W):
        pair = pair.crop(h, w)
    unit = Q_BLOCK * pair.ratio  # the R-indices' 32² blocks are at MS scale
    block = max(unit, int(chunks or DEFAULT_BLOCK) // unit * unit)
    windows = [Window(y, min(y + block, h), x, min(x + block, w)) for y in range(0, h, block) for x in range(0, w, block)]
    with executor(workers, scheduler) as ex:
        reader = prepare_reader(pair, windows, ex, progress)
        coreg = CoregPass(reader)
        shifts = shifts_from_parts(coreg, ordered(ex.map(_coreg_task, coreg, windows, desc="co-registration",
                                                         progress=progress), windows))
        fill = np.asarray(reader.fill.ms if reader.fill is not None else np.zeros(pair.n_bands))
        ctx = _Eval(reader, FileWindow(str(fused_path), 0, 0), fill, shifts)
        parts = ordered(ex.map(_eval_task, ctx, windows, desc="full-resolution indices", progress=progress), windows)
    return indices_from_parts(parts, pair.ratio)
