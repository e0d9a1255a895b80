"""Reprojected indices R-Q2n, R-Q, R-SAM, R-ERGAS of a scene bigger than memory, in two passes of block sums.

The in-memory indices (:func:`clippan_kit.metrics.full_resolution_metrics`, "peer" co-registration) are

1. per-band shifts: the arg-max over 81 half-pixel candidates of a score that is a mean over pixels of
   local correlation maps between EXP and the PAN filtered by its MTF and shifted
   (:func:`clippan_kit.physics.coregister`): on a whole scene of up to ``EXACT_SEARCH_PIXELS`` PAN pixels the
   mean over every pixel of the image cut by 3 pixels (:func:`~clippan_kit.physics.coregistration.peer_exact_scores`),
   above it the mean over an 8-pixel grid (``SAMPLED_STRIDE``) of interior window centres
   (:func:`~clippan_kit.physics.coregistration.peer_sampled_sums`);
2. the fused image filtered with the λ-PNN MTF kernels (replicate borders), shifted and decimated
   (:func:`clippan_kit.physics.shift_decimate`, zero borders), scored against the MS at MS scale: Q2n
   (``"fr"``: 32² blocks, reflect padding and truncation only when both sizes need it), Q (sliding 32²
   windows, the last overhanging by one mirrored row/column), SAM and ERGAS.

**Pass 1** (:class:`CoregPass`): each window of the grid adds its share of every candidate's score: the
correlation sums over its pixels (exact search) or over the grid centres in it (sampled search), computed
on the window plus a halo by the same cores, so the scene's scores are the sums over windows (to float
rounding: float32 in the sampled search, as in memory) and the arg-max gives the in-memory shifts. Halos:
2 x 8 pixels for the correlation windows (exact) or the sub-image of the window's centres (sampled), plus
search/2 + 6 for the PAN's shifts and half-pixel taps (zero at the scene border), plus 20 replicated for
the PAN's MTF filter; EXP as :meth:`BlockReader.up` (circular 12 MS pixels).

**Pass 2** (:class:`ReprojectedPart`): with the shifts, each window reprojects its MS-scale core plus 32
MS pixels of context (the fused image read with 8 + 20 PAN pixels more for the half-pixel taps and the MTF
filter, clamped at the scene border, the shifted samples zero outside it) and returns the sums its
pixels, blocks and windows contribute: the Q2n block qualities (window edges at multiples of 32 MS pixels;
the last window mirrors the scene's bottom/right as the whole image does, when it does), the Q of the
sliding windows starting in the core, the SAM angles and valid-pixel count, the per-band squared errors and
MS sums of ERGAS.
"""
from __future__ import annotations

import inspect
from math import ceil

import numpy as np
import torch

from ..metrics._common import dn_bits, quantize, symmetric_pad, to_dn
from ..metrics.q2n import q2n_map_torch, q2n_padding
from ..metrics.reduced import ergas_from_means, sam_angles, sam_from_sums, uiqi_map_torch
from ..physics import HALF_SHIFT_TAPS, mtf_filter, shift_decimate
from ..physics import coregistration as coreg
from .blocks import MTF_HALO, BlockReader, Window, clamp

__all__ = ["CoregPass", "shifts_from_parts", "ReprojectedPart", "reprojected_from_sums", "Q_BLOCK", "R_METRICS"]

Q_BLOCK = 32  # block / window side of the R-indices, MS pixels (the in-memory default)
R_METRICS = ("R_Q2n", "R_Q", "R_SAM", "R_ERGAS")
_PEER = {k: p.default for k, p in inspect.signature(coreg.coregister).parameters.items()
         if k in ("search", "semi_width", "crop")}  # the in-memory search's defaults
_STRIDE = coreg.SAMPLED_STRIDE
_TAPS = len(HALF_SHIFT_TAPS) // 2  # half-pixel interpolator reach (6 samples before, 5 after)


def _as_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


class CoregPass:
    """Pass 1: each window's share of the co-registration scores (picklable task context)."""

    def __init__(self, reader: BlockReader):
        self.rd = reader
        H, W = reader.H, reader.W
        c, w = _PEER["crop"], _PEER["semi_width"]
        self.exact = H * W <= coreg.EXACT_SEARCH_PIXELS  # read when the pass starts, as coregister does
        self.grid = None if self.exact else coreg.sampled_grid(H - 2 * c, W - 2 * c, _PEER["search"], w, _STRIDE)
        self.exact = self.exact or self.grid is None

    # -------------------------------------------------------------- exact images on scene regions
    def exp_at(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """(B, y1-y0, x1-x0) EXP on a region inside the scene (read on its ratio-aligned hull)."""
        r = self.rd.r
        hull = Window(y0 // r * r, -(-y1 // r) * r, x0 // r * r, -(-x1 // r) * r)
        up = self.rd.up(hull)
        return _as_t(up[:, y0 - hull.y0:y1 - hull.y0, x0 - hull.x0:x1 - hull.x0])

    def halves_at(self, y0: int, y1: int, x0: int, x1: int, pad: int, dtype) -> tuple[dict, int, int]:
        """The half-pixel variants of the MTF-filtered PAN (:func:`coreg.half_variants`) on the region plus
        ``search/2 + 6`` pixels (clipped at the scene border, where the whole image's zero borders are), and
        the scene row/col of their first sample (before ``pad``)."""
        rd, s, p = self.rd, self.rd.pair.sensor, MTF_HALO
        k = _PEER["search"] // 2 + _TAPS
        e0, e1, f0, f1 = max(0, y0 - k), min(rd.H, y1 + k), max(0, x0 - k), min(rd.W, x1 + k)
        pan = rd.pan(clamp(e0 - p, e1 + p, rd.H), clamp(f0 - p, f1 + p, rd.W))
        low = mtf_filter(pan, s.gnyq_pan, rd.r, convention="lambda-pnn-pan")[p:p + e1 - e0, p:p + f1 - f0]
        return coreg.half_variants(_as_t(low), pad, dtype), e0, f0

    # -------------------------------------------------------------- the two searches
    def exact_part(self, win: Window):
        """Sum over the window's pixels of the image cut by ``crop`` of every candidate's correlation map."""
        rd, c, w, search = self.rd, _PEER["crop"], _PEER["semi_width"], _PEER["search"]
        cy0, cy1, cx0, cx1 = max(win.y0, c), min(win.y1, rd.H - c), max(win.x0, c), min(win.x1, rd.W - c)
        if cy1 <= cy0 or cx1 <= cx0:
            return None
        # The correlation at a pixel reads EXP and PAN 2w pixels away; the cut image's border pads with zeros.
        ry0, ry1, rx0, rx1 = max(c, cy0 - 2 * w), min(rd.H - c, cy1 + 2 * w), max(c, cx0 - 2 * w), min(rd.W - c, cx1 + 2 * w)
        k = search // 2 + 1
        padded, e0, f0 = self.halves_at(ry0, ry1, rx0, rx1, k, torch.float64)
        keep = (slice(cy0 - ry0, cy1 - ry0), slice(cx0 - rx0, cx1 - rx0))
        return coreg.peer_exact_scores(self.exp_at(ry0, ry1, rx0, rx1), padded, (k + ry0 - e0, k + rx0 - f0),
                                       search, w, keep=keep)

    def sampled_part(self, win: Window):
        """Sums over the grid centres in the window, from the sub-image whose own centre grid they are."""
        c, w, search, s = _PEER["crop"], _PEER["semi_width"], _PEER["search"], _STRIDE
        first = c + 2 * (w - 1)  # scene row/col of centre 0

        def span(lo, hi, n):
            u0, u1 = max(0, -(-(lo - first) // s)), min(n, -(-(hi - first) // s))
            return u0, u1, s * u0, s * (u1 - 1) + first + 2 * w + c + 1  # centres, sub-image rows

        u0, u1, y0, y1 = span(win.y0, win.y1, self.grid[0])
        v0, v1, x0, x1 = span(win.x0, win.x1, self.grid[1])
        if u1 <= u0 or v1 <= v0:
            return None
        halves, e0, f0 = self.halves_at(y0, y1, x0, x1, 0, torch.float32)
        halves = {key: v[y0 - e0:y1 - e0, x0 - f0:x1 - f0] for key, v in halves.items()}
        grid = coreg.sampled_grid(y1 - y0 - 2 * c, x1 - x0 - 2 * c, search, w, s)
        if grid != (u1 - u0, v1 - v0):  # not an assert: `python -O` would drop it and sum the wrong centres
            raise RuntimeError(f"window {win}: its sub-image has the centre grid {grid}, the window holds "
                               f"{(u1 - u0, v1 - v0)} centres (a bug of the block-wise search: please report it)")
        return coreg.peer_sampled_sums(self.exp_at(y0, y1, x0, x1), halves, search, w, c, s)

    def __call__(self, win: Window):
        return self.exact_part(win) if self.exact else self.sampled_part(win)


def shifts_from_parts(ctx: CoregPass, parts: list) -> np.ndarray:
    """(B, 2) int64 shifts (half-PAN-pixel units) from the window parts of :class:`CoregPass`, in grid order."""
    parts = [p for p in parts if p is not None]
    search, c = _PEER["search"], _PEER["crop"]
    if ctx.exact:
        scores = sum(parts[1:], parts[0]) / ((ctx.rd.H - 2 * c) * (ctx.rd.W - 2 * c))
    else:
        total = {key: sum((p[key] for p in parts[1:]), parts[0][key]) for key in parts[0]}
        scores = coreg.sampled_scores(total, ctx.grid[0] * ctx.grid[1], search)
    return coreg.best_shifts(scores, search)


class ReprojectedPart:
    """Pass 2: a window's sums of the reprojected indices (composed into :class:`clippan_kit.scenescale.metrics._Eval`)."""

    def __init__(self, reader: BlockReader, shifts: np.ndarray):
        self.rd, self.shifts = reader, np.asarray(shifts, dtype=np.int64)
        self.h, self.w = reader.h, reader.w
        self.pad_h, self.pad_w, self.padded = q2n_padding(self.h, self.w, block_size=Q_BLOCK, pad="reflect")
        self.bits = dn_bits(reader.pair)

    def ms_region(self, win: Window) -> tuple[int, int, int, int]:
        """MS rows/cols (M0, M1, N0, N1) a window reprojects: its MS-scale core plus one block of context."""
        m, b = win.ms(self.rd.r), Q_BLOCK
        return max(0, m.y0 - b), min(self.h, m.y1 + b), max(0, m.x0 - b), min(self.w, m.x1 + b)

    def read_box(self, win: Window) -> tuple[int, int, int, int]:
        """PAN rows/cols (y0, y1, x0, x1) of the fused image the window's reprojection reads, before the
        replicate clamp at the scene border (they may start below 0 or end past the scene)."""
        (a0, a1, b0, b1), p = self._pan_region(*self.ms_region(win)), MTF_HALO
        return a0 - p, a1 + p, b0 - p, b1 + p

    def _pan_region(self, m0: int, m1: int, n0: int, n1: int) -> tuple[int, int, int, int]:
        rd, r = self.rd, self.rd.r
        hh = r * ceil((_PEER["search"] // 2 + _TAPS) / r)  # PAN pixels the shifted samples reach, whole MS pixels
        # Clipped at the scene border, so shift_decimate's own border rule (zero taps, samples whose
        # position falls outside the axis set to 0) acts there exactly as on the whole image.
        return max(0, r * m0 - hh), min(rd.H, r * m1 + hh), max(0, r * n0 - hh), min(rd.W, r * n1 + hh)

    def reprojected(self, fused_box, m0: int, m1: int, n0: int, n1: int) -> torch.Tensor:
        """(1, B, m1-m0, n1-n0): the reprojected fused image on MS rows m0..m1-1, cols n0..n1-1.

        ``fused_box(y0, y1, x0, x1)`` gives the fused (B, y1-y0, x1-x0) float64 on PAN rows y0..y1-1 and
        cols x0..x1-1 clamped to the scene (replicated borders).
        """
        rd, r, p = self.rd, self.rd.r, MTF_HALO
        a0, a1, b0, b1 = self._pan_region(m0, m1, n0, n1)
        f = fused_box(a0 - p, a1 + p, b0 - p, b1 + p)
        low = mtf_filter(f, rd.pair.sensor.gnyq_ms, r, convention="lambda-pnn")[:, p:p + a1 - a0, p:p + b1 - b0]
        out = shift_decimate(_as_t(low)[None], self.shifts, r)
        return out[..., m0 - a0 // r:m1 - a0 // r, n0 - b0 // r:n1 - b0 // r]

    def _q2n_axis(self, lo: int, hi: int, n: int, pad: int) -> tuple[int, int, int]:
        """(first row read, rows kept after it, rows mirrored after) of a window's Q2n blocks on one axis."""
        if n < Q_BLOCK:  # an axis shorter than a block is one block (one window covers it)
            return lo, hi - lo, 0
        if self.padded and hi == n:
            start = min(lo, n - 1 - pad)  # the mirrored rows reflect up to pad + 1 rows back
            return start, hi - start, pad
        return lo, (hi - lo) // Q_BLOCK * Q_BLOCK, 0  # unpadded: a partial last block is dropped

    def __call__(self, win: Window, fused_box) -> dict:
        """The window's sums; ``fused_box`` as in :meth:`reprojected`."""
        rd, r, b = self.rd, self.rd.r, Q_BLOCK
        m = win.ms(r)
        M0, M1, N0, N1 = self.ms_region(win)
        x = self.reprojected(fused_box, M0, M1, N0, N1)
        ms = _as_t(rd.ms(np.arange(M0, M1), np.arange(N0, N1)))[None]
        cy, cx = slice(m.y0 - M0, m.y1 - M0), slice(m.x0 - N0, m.x1 - N0)
        # R-Q2n: the window's blocks of the whole image's (possibly mirrored, then truncated) MS-scale pair.
        ys, ny, py = self._q2n_axis(m.y0, m.y1, self.h, self.pad_h)
        xs, nx, px = self._q2n_axis(m.x0, m.x1, self.w, self.pad_w)
        q2n_sum, q2n_n = 0.0, 0
        if ny > 0 and nx > 0:
            def prep(t):
                t = to_dn(t[..., ys - M0:ys - M0 + ny, xs - N0:xs - N0 + nx], rd.pair.max_value, self.bits)
                t = symmetric_pad(t, py, px, "reflect")[..., m.y0 - ys:, m.x0 - xs:]
                return quantize(t, "trunc") if self.padded else t

            qmap = q2n_map_torch(prep(x), prep(ms), block_size=b, pad="reflect", quantize_mode=None, ddof=1)
            q2n_sum, q2n_n = float(qmap.sum()), qmap.numel()
        # R-Q: sliding windows starting in the core (positions 0 .. h - b + 1 - 1 of the whole image).
        e0, e1 = m.y1 - M0 + b - 1, m.x1 - N0 + b - 1  # rows a window starting in the core reads
        ky, kx = min(m.y1, self.h - b + 2) - m.y0, min(m.x1, self.w - b + 2) - m.x0
        q_sum, q_n = 0.0, 0
        if ky > 0 and kx > 0:
            qm = uiqi_map_torch(x[..., cy.start:e0, cx.start:e1], ms[..., cy.start:e0, cx.start:e1], b)
            q_sum, q_n = float(qm[..., :ky, :kx].sum()), qm[..., :ky, :kx].numel()
        xc, mc = x[..., cy, cx], ms[..., cy, cx]
        angle, valid = sam_angles(xc, mc)
        return dict(rq2n=q2n_sum, rq2n_n=q2n_n, rq=q_sum, rq_n=q_n, sam=float(angle.sum()), sam_n=int(valid.sum()),
                    sse=((xc - mc) ** 2).sum((0, 2, 3)).numpy(), msum=mc.sum((0, 2, 3)).numpy(), npix=mc[0, 0].numel())


def reprojected_from_sums(parts: list[dict], ratio: int) -> dict[str, float]:
    """R-Q2n, R-Q, R-SAM (degrees), R-ERGAS from the window sums of :class:`ReprojectedPart`."""
    tot = {k: sum(p[k] for p in parts) for k in parts[0]}
    n = tot["npix"]
    nan = float("nan")
    return {
        "R_Q2n": tot["rq2n"] / tot["rq2n_n"] if tot["rq2n_n"] else nan,
        "R_Q": tot["rq"] / tot["rq_n"] if tot["rq_n"] else nan,
        "R_SAM": float(sam_from_sums(torch.tensor(tot["sam"], dtype=torch.float64), torch.tensor(tot["sam_n"]))),
        "R_ERGAS": float(ergas_from_means(torch.from_numpy(tot["sse"] / n), torch.from_numpy(tot["msum"] / n), ratio)),
    }
