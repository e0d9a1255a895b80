"""Co-registration of the MS bands with the PAN: per-band shifts for the reprojected indices and JESSE.

Two estimators, both returning integer shifts (r, c) per band in half-PAN-pixel units, the convention of
:func:`clippan_kit.physics.reprojection.shift_decimate` (a band is sampled at ``ratio//2 - r/2`` after filtering):

* ``"peer"`` (default): the λ-PNN authors' ``Coregistration`` (Ciotola, Poggi, Scarpa, IEEE TGRS 2023,
  released code): the PAN is low-passed with its own MTF filter (``mtf_kernel(..., "lambda-pnn-pan")``),
  shifted by every (m/2, n/2) PAN pixels, m, n in -4..4 (half-pixel parts through the 12-tap
  half-sample interpolator, zero borders), and correlated with each band of EXP (the 23-tap upsampled MS)
  with the local correlation of D_ρ (16² windows, ``semi_width`` 8) on the images without their 3-pixel
  border; the shift with the largest mean correlation wins (first maximum in row-major order).
  The authors loop over the 81 shifts with full convolutions (167 s on a 1280² WV2 scene on 2 cores);
  here the four half-pixel variants of the PAN are computed once and every integer shift is a slice;
  on large scenes the candidates are ranked on a sample of window positions with grouped convolutions
  (:func:`_peer_scores_sampled`, ~0.5 s), on small ones exactly.
* ``"phase"``: the integer decimation phases of Scarpa & Ciotola's NumPy tools ("Full-resolution quality
  assessment for pansharpening", Remote Sensing 2022): the PAN low-passed with the first band's MS MTF
  filter is sampled at each of the ratio² phases and correlated (window ``2*floor(ratio/2)``, covariance
  clipped at 1e-20) with the LR MS; phase p is the even shift ``r = 2 (ratio//2 - p)``. Kept for the
  published values of that tool (R-Q2n 0.956255 of EXP on the WV2 scene).

The candidates are scored with the local correlation of D_ρ and its window sums
(:mod:`clippan_kit.physics.windows`, which the metrics use too).
:class:`CoRegistration` wraps :func:`coregister` as an operator.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._dispatch import as_batch, as_pan_batch
from .base import Operator
from .interpolation import half_pixel_shift, interp23tap
from .mtf import mtf_filter
from .reprojection import phases_to_shifts
from .windows import box_sum, local_correlation_torch, window_sum

__all__ = ["coregister", "coregistration_phases", "coregistration_scores", "half_variants", "CoRegistration",
           "COREGISTRATION_METHODS"]

COREGISTRATION_METHODS = ("peer", "phase")
_EPS = 1e-20
# Window centres of the sampled search lie on a grid of this step (PAN pixels). 8 (one centre in 64) picks
# the exact search's shifts on the two 1280² scenes we can check (WV2, IKONOS: each has a band whose best
# two candidates differ by < 2e-4 in the exact scores) and moves the scores near the top by at most 5e-4,
# as 4 does (4e-4) at 1.6x the time; 16 already picks another shift on IKONOS (benchmarks/results/metrics.md).
SAMPLED_STRIDE = 8



def coregistration_phases(ms_lr, pan, gnyq_first: float, ratio: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer decimation phases (rows, cols) in {0..ratio-1} per band (the ``"phase"`` method).

    ms_lr (B, h, w) or (1, B, h, w); pan (H, W). Returns two int arrays of length B.
    """
    m = as_batch(ms_lr, "MS")[0]
    p = mtf_filter(as_pan_batch(pan).to(m.dtype), [gnyq_first], ratio, convention="lambda-pnn")[0, 0]
    phases = p.unfold(0, ratio, ratio).unfold(1, ratio, ratio)  # (h, w, r, r): phase (i, j) at [..., i, j]
    phases = phases.permute(2, 3, 0, 1).reshape(ratio * ratio, 1, *m.shape[-2:])
    rho = local_correlation_torch(m[None], phases, ratio // 2, clip_covariance=True).mean((-1, -2))  # (r*r, B)
    best = rho.argmax(0)  # argmax returns the first maximum, as the reference's np.where(...)[0]
    return (best // ratio).numpy(), (best % ratio).numpy()


def half_variants(pan_lp: torch.Tensor, pad: int, dtype=torch.float64) -> dict:
    """The filtered PAN (H, W) and its three half-pixel shifts (S, E, SE), zero-padded by ``pad``."""
    p = pan_lp.to(dtype)[None]
    half = {(0, 0): p, (1, 0): half_pixel_shift(p, -2)}
    half[(0, 1)], half[(1, 1)] = half_pixel_shift(p, -1), half_pixel_shift(half[(1, 0)], -1)
    return {key: F.pad(v, (pad, pad, pad, pad))[0] for key, v in half.items()}


@torch.no_grad()
def coregistration_scores(ms_exp: torch.Tensor, pan_lp: torch.Tensor, search: int, w: int, crop: int) -> torch.Tensor:
    """The released code's score of every candidate (m, q): mean over all pixels of the local correlation
    map between each EXP band and the filtered PAN shifted by (m/2, q/2). (2s+1, 2s+1, B) float64."""
    H, W = pan_lp.shape
    x = ms_exp[:, crop:H - crop, crop:W - crop].double()
    k = search // 2 + 1
    return peer_exact_scores(x, half_variants(pan_lp, k), (k + crop, k + crop), search, w)


@torch.no_grad()
def peer_exact_scores(x: torch.Tensor, padded: dict, offset: tuple[int, int], search: int, w: int,
                      keep: tuple[slice, slice] | None = None) -> torch.Tensor:
    """Exact candidate scores on a region: x (B, h, w) EXP on the scored region (zero outside it, as the
    released code's cropped image), ``padded`` the zero-padded half-pixel variants of the filtered PAN
    (:func:`half_variants`), the PAN of candidate (m, q) at region pixel (i, j) being
    ``padded[(m % 2, q % 2)][offset[0] + i - m//2, offset[1] + j - q//2]``. ``keep=None``: the mean of each
    correlation map (the whole-image score); ``keep=(rows, cols)``: its sum over those region pixels (the
    block-wise search of :mod:`clippan_kit.scenescale.metrics` adds these over a partition). (2s+1, 2s+1, B)."""
    h, wd = x.shape[-2:]
    xc = x - window_sum(x, w) / (4.0 * w * w)
    a = window_sum(xc * xc, w).clamp_(min=_EPS).rsqrt_()  # 1/sqrt(s_xx); eps as their xcorr_torch
    n = 2 * search + 1
    out = torch.empty(n, n, x.shape[0], dtype=torch.float64)
    for i, m in enumerate(range(-search, search + 1)):
        for j, q in enumerate(range(-search, search + 1)):
            r0, c0 = offset[0] - m // 2, offset[1] - q // 2  # out(i) = p(i - m/2): a slice of the padded image
            y = padded[(m % 2, q % 2)][r0:r0 + h, c0:c0 + wd]
            yc = y - window_sum(y, w) / (4.0 * w * w)
            e = window_sum(yc * yc, w).clamp_(min=_EPS).rsqrt_()
            corr = window_sum(xc * yc, w) * a * e
            out[i, j] = corr.mean((-1, -2)) if keep is None else corr[..., keep[0], keep[1]].sum((-1, -2))
    return out


@torch.no_grad()
def _peer_scores_sampled(ms_exp: torch.Tensor, pan_lp: torch.Tensor, search: int, w: int, crop: int,
                         stride: int = SAMPLED_STRIDE) -> torch.Tensor:
    """The same scores averaged over the interior window centres of a ``stride`` grid (one in stride² pixels).

    Every sampled value is the released code's correlation at that pixel exactly: only windows whose
    pixels and their own local-mean windows lie inside the image are used (there, shifting the PAN and
    computing its local statistics commute, so they are computed once per half-pixel variant), and the
    windows are unions of ``stride`` x ``stride`` blocks. The block sums of x_c(k) y_c(k - d) for all
    integer shifts d of one half-pixel variant come from one grouped convolution per chunk of block rows
    (:func:`peer_sampled_sums`), so the 81 candidates cost four convolutions instead of 81 passes over the
    image. float32: the smallest score gap between candidates we met (1.6e-4) is far above its rounding.
    """
    H, W = pan_lp.shape
    grid = sampled_grid(H - 2 * crop, W - 2 * crop, search, w, stride)
    if grid is None:
        return coregistration_scores(ms_exp, pan_lp, search, w, crop)
    sums = peer_sampled_sums(ms_exp, half_variants(pan_lp, 0, torch.float32), search, w, crop, stride)
    return sampled_scores(sums, grid[0] * grid[1], search)


def sampled_grid(h: int, wd: int, search: int, w: int, stride: int = SAMPLED_STRIDE) -> tuple[int, int] | None:
    """(nu, nv) window centres of the sampled search on an (h, wd) cropped image, None when it falls back to
    the exact search. Centre (u, v) is cropped-image pixel (2g + stride u, 2g + stride v), g = w - 1."""
    s, t, g = stride, search // 2, w - 1
    nu, nv = len(range(2 * g, h - 2 * w, s)), len(range(2 * g, wd - 2 * w, s))
    if nu < 1 or nv < 1 or 2 * w % s or g < t:
        return None
    return nu, nv


def _lags(search: int, parity: int) -> tuple[int, int]:
    """First and last lag index alpha = search//2 - m//2 of the candidates m in -search..search of a parity
    (a half-pixel variant's integer shifts: 5 for even m, 4 for odd m with the released code's search 4)."""
    t = search // 2
    d = [m // 2 for m in range(-search, search + 1) if m % 2 == parity]
    return t - max(d), t - min(d)


@torch.no_grad()
def peer_sampled_sums(ms_exp: torch.Tensor, halves: dict, search: int, w: int, crop: int,
                      stride: int = SAMPLED_STRIDE) -> dict:
    """Per half-pixel variant key (fr, fc), the (B, Lr * Lc) float64 sums over the sampled centres of an image
    (see :func:`_peer_scores_sampled`) of the correlation of every integer lag the variant's candidates use
    (:func:`_lags`: Lr x Lc = 5 x 5, 4 x 5, 5 x 4, 4 x 4 for the released code's search 4).

    ``ms_exp`` (B, H, W) EXP and ``halves`` the four float32 half-pixel variants (H, W) of the filtered PAN
    (:func:`half_variants` with no padding) of the same image; :func:`sampled_grid` must not be None for it.
    Every summand depends only on pixels of the image interior, so sub-images whose centres tile a scene's
    centre grid give sums that add up to the scene's (the block-wise search of :mod:`clippan_kit.scenescale`).
    """
    H, W = ms_exp.shape[-2:]
    x = ms_exp[:, crop:H - crop, crop:W - crop]
    B, h, wd = x.shape
    s = stride
    t = search // 2  # integer shifts d = -t .. t, lag index alpha = t - d
    g = w - 1  # first pixel whose own local-mean window is inside the image
    nu, nv = sampled_grid(h, wd, search, w, stride)  # centres i = 2g + s u
    k = 2 * w // s  # blocks per window side
    nbh, nbw = nu + k - 1, nv + k - 1  # blocks from row g: window of centre u = blocks u..u+k-1
    area = 4.0 * w * w
    keys = list(halves)
    Y = torch.stack([halves[key] for key in keys])  # (V, H, W) float32, the PAN variants before the crop
    lags = [(_lags(search, fr), _lags(search, fc)) for fr, fc in keys]
    totals = [torch.zeros(B, (r1 - r0 + 1) * (q1 - q0 + 1), dtype=torch.float64) for (r0, r1), (q0, q1) in lags]

    def centred(v):  # v minus its local means (zero outside v: callers give rows enough context)
        v = v.float()
        return v - window_sum(v, w) / area

    def rows_of(img, r0, r1, halo, offset=0):  # rows r0..r1 of a cropped image plus `halo` rows of context
        a0, a1 = max(0, offset + r0 - halo), min(img.shape[-2], offset + r1 + halo)
        return img[..., a0:a1, :], offset + r0 - a0

    # Block rows go in chunks of a few MiB that overlap by the k - 1 block rows a window spans beyond its
    # first, so every window sum is the same sum of the same block products; each chunk makes its own x_c,
    # y_c and 1/sqrt(s_yy) from its rows of EXP and of the PAN variants (plus the rows their local means
    # read), so no whole-image intermediate is made and everything a chunk touches stays in cache.
    rows = chunk_rows(nbw, B, search, k)
    for b0 in range(0, nu, rows - k + 1):
        b1 = min(nbh, b0 + rows)  # blocks b0 .. b1-1 serve centres b0 .. b1-k
        c1 = min(nu, b1 - k + 1)
        n = (b1 - b0) * nbw
        xr, o = rows_of(x, g + s * b0, g + s * b1, w)
        xs = centred(xr)[:, o:o + s * (b1 - b0), g:g + s * nbw].reshape(B, b1 - b0, s, nbw, s)
        kernels = xs.permute(1, 3, 0, 2, 4).reshape(n * B, 1, s, s)
        # 1/sqrt(s_xx) at the chunk's centres: the k x k sums of the s x s block sums of xc² (their union).
        a = box_sum(xs.square().sum((2, 4)), k).clamp_(min=_EPS).rsqrt_()  # (B, c1 - b0, nv)
        # y_c on cropped rows R0..R1 (every patch row and lagged centre of the chunk), 1/sqrt(s_yy) exact there.
        R0 = g - t + s * b0
        yr, o = rows_of(Y, R0, g + t + s * b1, 2 * w, offset=crop)
        yc = centred(yr)
        e = window_sum(yc * yc, w).clamp_(min=_EPS).rsqrt_()
        yc = yc[:, o:, crop:crop + wd]  # row 0 = cropped row R0
        e = e[:, o:, crop:crop + wd]
        # The block sums of x_c(k) y_c(k - d) for the lags d of a block: a patch of y_c correlated with the
        # block's s² pixels of x_c (one group per block of a grouped convolution), so each y_c pixel is
        # gathered into a few patches instead of one lagged copy per lag; per variant, only the lags its
        # candidates use (81 of the 100 the four variants could give).
        for v, ((r0, r1), (q0, q1)) in enumerate(lags):
            ph, pw = s + r1 - r0, s + q1 - q0
            # Block u' reads y_c rows g + s u' - d: alpha = t - d from r0, i.e. patches from g - t + r0.
            patches = yc[v, r0:r0 + s * (b1 - b0 - 1) + ph, g - t + q0:g - t + q0 + s * (nbw - 1) + pw]
            patches = patches.unfold(0, ph, s).unfold(1, pw, s).reshape(1, n, ph, pw)
            blocks = F.conv2d(patches, kernels, groups=n).view(b1 - b0, nbw, B, -1)
            S = box_sum(blocks, k, dims=(0, 1))  # (c1 - b0, nv, B, Lr*Lc) window sums
            # e(i - d) at the chunk's centres i = 2g + s u: cropped row 2g - t + alpha + s u (R0 = row 0).
            ec = torch.stack([e[v, g + ar::s, 2 * g - t + ac::s][:c1 - b0, :nv] for ar in range(r0, r1 + 1)
                              for ac in range(q0, q1 + 1)], -1)  # (c1 - b0, nv, Lr*Lc), lag order
            S.mul_(ec[:, :, None, :])
            totals[v] += torch.einsum("uwbl,buw->bl", S, a).double()
    return dict(zip(keys, totals))


# Block products held per chunk of block rows by :func:`peer_sampled_sums` (values; ~2 MiB in float32).
CHUNK_VALUES = 1 << 19


def chunk_rows(nbw: int, bands: int, search: int, k: int) -> int:
    """Block rows per chunk of :func:`peer_sampled_sums`: about :data:`CHUNK_VALUES` block products (nbw blocks
    a row, ``bands`` x (search//2 * 2 + 1)² lags a block), at least 2k (a chunk recomputes k - 1 rows)."""
    return max(2 * k, CHUNK_VALUES // (nbw * bands * (2 * (search // 2) + 1) ** 2))


def sampled_scores(sums: dict, count: int, search: int) -> torch.Tensor:
    """(2s+1, 2s+1, B) candidate scores from the sampled sums (:func:`peer_sampled_sums`) over ``count`` centres."""
    t = search // 2
    B = next(iter(sums.values())).shape[0]
    n = 2 * search + 1
    out = torch.empty(n, n, B, dtype=torch.float64)
    for (fr, fc), total in sums.items():
        (r0, r1), (q0, q1) = _lags(search, fr), _lags(search, fc)
        sc = total.view(B, r1 - r0 + 1, q1 - q0 + 1) / count
        for i, m in enumerate(range(-search, search + 1)):
            for j, q in enumerate(range(-search, search + 1)):
                if m % 2 == fr and q % 2 == fc:
                    out[i, j] = sc[:, t - m // 2 - r0, t - q // 2 - q0]
    return out


def best_shifts(scores: torch.Tensor, search: int) -> np.ndarray:
    """(B, 2) int64 shifts of the best candidate per band (first maximum in row-major order) of (2s+1, 2s+1, B) scores."""
    n = scores.shape[0]
    best = scores.reshape(n * n, -1).argmax(0)
    return np.stack([(best // n).numpy() - search, (best % n).numpy() - search], -1).astype(np.int64)


# Scenes up to this many PAN pixels are searched exactly (81 full passes cost < 1 s there).
EXACT_SEARCH_PIXELS = 256 * 256


def coregister(ms_lr, pan, sensor, *, method: str = "peer", ms_exp=None, search: int = 4, semi_width: int = 8,
               crop: int = 3, exact: bool | None = None) -> np.ndarray:
    """Per-band MS-to-PAN shifts (B, 2) int64 (r, c) in half-PAN-pixel units; see the module docstring.

    Args:
        ms_lr: (B, h, w) LR MS (any units; the estimators are scale-invariant).
        pan: (H, W) or (1, H, W) PAN on the grid ``ratio`` times finer.
        sensor: :class:`~clippan_kit.sensors.Sensor` (MTF gains, ratio).
        method: ``"peer"`` (default) or ``"phase"``.
        ms_exp: the 23-tap expansion of ``ms_lr`` if already computed (``"peer"``).
        search, semi_width, crop: the peer's search half-range (half pixels), correlation half-window and
            border cut (4, 8, 3 in the released code).
        exact: True scores every candidate on every pixel (the released code's computation, ~100 s on
            a 1280² 8-band scene); False averages each candidate's correlation map over the interior
            window centres of an 8-pixel grid (:func:`_peer_scores_sampled`, ~0.5 s there), which picks the
            released code's shifts on the WV2 and IKONOS scenes although its scores differ by up to 0.02; None
            (default): exact up to :data:`EXACT_SEARCH_PIXELS` PAN pixels (border windows weigh too
            much in small images to leave them out), sampled above.
    """
    r = sensor.ratio
    m = as_batch(ms_lr, "MS")[0].double()
    P = as_pan_batch(pan)[0, 0].double()
    if method == "phase":
        rows, cols = coregistration_phases(m, P, sensor.gnyq_ms[0], r)
        return phases_to_shifts(np.stack([rows, cols], -1), r)
    if method != "peer":
        raise ValueError(f"co-registration method must be one of {COREGISTRATION_METHODS}, got {method!r}")
    exp = interp23tap(m, r) if ms_exp is None else as_batch(ms_exp, "EXP")[0].double()
    pan_lp = mtf_filter(P, sensor.gnyq_pan, r, convention="lambda-pnn-pan")
    if exact is None:
        exact = P.numel() <= EXACT_SEARCH_PIXELS
    scores = (coregistration_scores if exact else _peer_scores_sampled)(exp, pan_lp, search, semi_width, crop)
    return best_shifts(scores, search)


class CoRegistration(Operator):
    """Per-band MS-to-PAN shift estimation (:func:`coregister`) as an operator.

    Shape contract: ``forward(ms_lr, pan)`` with ``ms_lr: (B, h, w)`` and ``pan: (H, W)`` (H = r h), numpy or
    torch, any units -> ``(B, 2)`` int64 shifts (r, c) in half-PAN-pixel units, what :class:`Reprojection`
    and :func:`reproject_ms` take. Not linear: the estimate is an arg-max, piecewise constant and invariant
    to scaling either input by a positive factor. :meth:`reprojection` gives the (linear) reprojection
    operator with the estimated shifts.
    """

    linear = False

    def __init__(self, sensor, method: str = "peer", **options):
        from ..sensors import get_sensor

        if method not in COREGISTRATION_METHODS:
            raise ValueError(f"co-registration method must be one of {COREGISTRATION_METHODS}, got {method!r}")
        self.sensor = get_sensor(sensor)
        self.ratio, self.method, self.options = self.sensor.ratio, method, options

    def forward(self, ms_lr, pan) -> np.ndarray:
        return coregister(ms_lr, pan, self.sensor, method=self.method, **self.options)

    def output_shape(self, shape):
        return (shape[-3], 2)

    def reprojection(self, ms_lr, pan):
        """The :class:`~clippan_kit.physics.Reprojection` of this sensor with the shifts of (ms_lr, pan)."""
        from .reprojection import Reprojection

        return Reprojection.for_sensor(self.sensor, self.forward(ms_lr, pan))

    def __repr__(self) -> str:
        return f"CoRegistration({self.sensor.name}, method={self.method!r})"
