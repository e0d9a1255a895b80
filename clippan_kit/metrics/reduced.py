"""Reduced-resolution (reference-based) quality indices: Q, SAM, ERGAS, PSNR, SSIM, SCC.

Inputs are the fused image and its ground truth, band-first (B, H, W) numpy arrays for the plain
functions, (N, B, H, W) tensors for the ``*_torch`` cores (differentiable, float in, tensor (N,) out).
Q2n lives in :mod:`clippan_kit.metrics.q2n`.

References: Wang & Bovik, "A universal image quality index", IEEE SPL 2002 (Q); Yuhas et al. 1992 (SAM);
Wald, "Data fusion", 2002 (ERGAS); Wang et al., IEEE TIP 2004 (SSIM); Zhou et al., IJRS 1998 (SCC);
conventions of Vivone et al.'s toolbox (IEEE GRSM 2021) and of the λ-PNN authors' tools (Scarpa & Ciotola).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import as_batch, block_sums, box_sum, symmetric_pad

__all__ = [
    "q_index", "q_index_torch", "uiqi_map_torch", "sam", "sam_torch", "sam_angles", "sam_from_sums", "ergas",
    "ergas_torch", "ergas_from_means",
    "psnr", "mpsnr", "psnr_torch", "ssim", "ssim_torch", "scc", "scc_torch",
]


def _pair(fused, reference) -> tuple[torch.Tensor, torch.Tensor]:
    f, r = as_batch(fused, "fused"), as_batch(reference, "reference")
    if f.shape != r.shape:
        raise ValueError(f"fused {tuple(f.shape)} and reference {tuple(r.shape)} differ in shape")
    return f, r.to(f.dtype)


# ----------------------------------------------------------------------------- Q (UIQI)
def uiqi_from_sums(sx, sy, sxx, syy, sxy, n: float) -> torch.Tensor:
    """Wang-Bovik Q from window sums (toolbox ``img_qi.m`` special cases for flat windows).

    Q = 4 s_xy m_x m_y / ((s_x^2 + s_y^2)(m_x^2 + m_y^2)), written with sums so that the N vs N-1
    normalisation cancels. Flat windows: 2 m_x m_y / (m_x^2 + m_y^2) when both variances vanish, 1 when
    everything vanishes.
    """
    mul = sx * sy
    sq = sx**2 + sy**2
    num = 4.0 * (n * sxy - mul) * mul
    den_var = n * (sxx + syy) - sq
    den = den_var * sq
    safe = torch.where(den != 0, den, torch.ones_like(den))
    q = torch.where(den != 0, num / safe, torch.ones_like(den))
    flat = (den_var == 0) & (sq != 0)
    return torch.where(flat, 2.0 * mul / torch.where(sq != 0, sq, torch.ones_like(sq)), q)


def uiqi_map_torch(x: torch.Tensor, y: torch.Tensor, block_size: int, *, sliding: bool = True) -> torch.Tensor:
    """Q map of two same-shape stacks (..., H, W).

    ``sliding=True``: every ``block_size`` window of the λ-PNN tools' ``Q`` (``scipy.ndimage.convolve``
    with mirrored borders, the outer ``(block_size-1)//2`` positions dropped): H - 2*((bs-1)//2)
    positions, windows starting at 0, 1, ..., the last one overhanging by one mirrored (edge-repeated)
    row/column when ``block_size`` is even. ``sliding=False``: distinct blocks (toolbox ``blockproc``).
    """
    n = float(block_size**2)
    if sliding:
        over = block_size - 1 - 2 * ((block_size - 1) // 2)
        x, y = symmetric_pad(x, over, over, "symmetric"), symmetric_pad(y, over, over, "symmetric")

        def s(t):
            return box_sum(t, block_size)
    else:
        def s(t):
            return block_sums(t, block_size)
    return uiqi_from_sums(s(x), s(y), s(x * x), s(y * y), s(x * y), n)


def q_index_torch(fused, reference, *, block_size: int = 32, sliding: bool = True) -> torch.Tensor:
    """Mean over bands of the mean UIQI map (see :func:`uiqi_map_torch`): (N, B, H, W) x2 -> (N,)."""
    f, r = _pair(fused, reference)
    return uiqi_map_torch(f, r, block_size, sliding=sliding).mean((-1, -2)).mean(-1)


def q_index(fused, reference, *, block_size: int = 32, sliding: bool = True) -> float:
    """Q: per-band universal image quality index (Wang & Bovik 2002), averaged over bands.

    Default: sliding ``block_size`` windows as the λ-PNN authors' ``Q`` (mirrored borders; 0.70188 for
    EXP on the 256² WV3 test image); ``sliding=False`` uses distinct blocks. Scale-invariant, in [-1, 1].
    """
    return float(q_index_torch(fused, reference, block_size=block_size, sliding=sliding)[0])


# ----------------------------------------------------------------------------- SAM
def sam_torch(fused, reference, *, eps: float = 0.0) -> torch.Tensor:
    """Mean spectral angle in degrees: (N, B, H, W) x2 -> (N,).

    Toolbox ``SAM.m``: pixels where either spectrum is zero are excluded from the mean. Differentiable
    away from identical spectra (acos' slope is infinite at angle 0; ``eps`` > 0 clamps the cosine to
    ``1 - eps`` for training).
    """
    angle, valid = sam_angles(*_pair(fused, reference), eps=eps)
    return sam_from_sums(angle.sum((-1, -2)), valid.sum((-1, -2)))


def sam_angles(f: torch.Tensor, r: torch.Tensor, *, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel spectral angles (radians, 0 where either spectrum is zero) and the mask of pixels that count:
    (N, B, H, W) x2 -> (N, H, W) x2. Sums of both over any partition give :func:`sam_from_sums` its inputs."""
    dot = (f * r).sum(1)
    norm = torch.sqrt((f * f).sum(1) * (r * r).sum(1))
    valid = norm > 0
    cos = torch.where(valid, dot / torch.where(valid, norm, torch.ones_like(norm)), torch.ones_like(norm))
    angle = torch.acos(cos.clamp(-1.0, 1.0 - eps))
    return torch.where(valid, angle, torch.zeros_like(angle)), valid


def sam_from_sums(angle_sum: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """SAM in degrees from the sum of the :func:`sam_angles` angles and the number of pixels that count."""
    return torch.rad2deg(angle_sum / count.clamp(min=1))


def sam(fused, reference) -> float:
    """Spectral Angle Mapper (Yuhas et al. 1992), degrees, mean over pixels with non-zero spectra; 0 is perfect."""
    return float(sam_torch(fused, reference)[0])


# ----------------------------------------------------------------------------- ERGAS
def ergas_torch(fused, reference, ratio: float) -> torch.Tensor:
    """ERGAS = 100/ratio * sqrt(mean_b(MSE_b / mean_b(ref)^2)) (toolbox ``ERGAS.m``): (N, B, H, W) x2 -> (N,)."""
    f, r = _pair(fused, reference)
    return ergas_from_means(((f - r) ** 2).mean((-1, -2)), r.mean((-1, -2)), ratio)


def ergas_from_means(mse: torch.Tensor, ref_mean: torch.Tensor, ratio: float) -> torch.Tensor:
    """ERGAS from the per-band MSE and reference means (..., B) -> (...,) (so sums over blocks can feed it)."""
    return 100.0 / ratio * torch.sqrt((mse / ref_mean ** 2).mean(-1))


def ergas(fused, reference, ratio: float) -> float:
    """Erreur Relative Globale Adimensionnelle de Synthèse (Wald 2002); ``ratio`` = PAN/MS scale. 0 is perfect."""
    return float(ergas_torch(fused, reference, ratio)[0])


# ----------------------------------------------------------------------------- PSNR
def psnr_torch(fused, reference, *, max_value: float, per_band: bool = False) -> torch.Tensor:
    """PSNR in dB with peak ``max_value``: global MSE over all bands, or the mean of per-band PSNRs."""
    f, r = _pair(fused, reference)
    if per_band:
        mse = ((f - r) ** 2).mean((-1, -2))
        return (10.0 * torch.log10(max_value**2 / mse)).mean(-1)
    return 10.0 * torch.log10(max_value**2 / ((f - r) ** 2).mean((-1, -2, -3)))


def psnr(fused, reference, *, max_value: float) -> float:
    """Peak signal-to-noise ratio (dB) over the whole cube, peak = ``max_value`` (full scale of the data)."""
    return float(psnr_torch(fused, reference, max_value=max_value)[0])


def mpsnr(fused, reference, *, max_value: float) -> float:
    """Mean over bands of the per-band PSNR (dB), peak = ``max_value``."""
    return float(psnr_torch(fused, reference, max_value=max_value, per_band=True)[0])


# ----------------------------------------------------------------------------- SSIM
def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    t = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def ssim_torch(fused, reference, *, max_value: float, window: int = 11, sigma: float = 1.5,
               k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004): 11x11 Gaussian window (sigma 1.5), 'valid' positions, per band, averaged.

    C1 = (k1 L)^2, C2 = (k2 L)^2 with L = ``max_value``. (N, B, H, W) x2 -> (N,).
    """
    f, r = _pair(fused, reference)
    N, B, H, W = f.shape
    g = _gaussian_window(window, sigma, f.dtype, f.device)

    def blur(t):  # separable valid filtering of each band
        t = t.reshape(N * B, 1, *t.shape[-2:])
        t = F.conv2d(t, g.view(1, 1, -1, 1))
        return F.conv2d(t, g.view(1, 1, 1, -1))

    mx, my = blur(f), blur(r)
    sxx = blur(f * f) - mx**2
    syy = blur(r * r) - my**2
    sxy = blur(f * r) - mx * my
    c1, c2 = (k1 * max_value) ** 2, (k2 * max_value) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.reshape(N, B, -1).mean(-1).mean(-1)


def ssim(fused, reference, *, max_value: float) -> float:
    """Structural similarity (Wang et al., IEEE TIP 2004), mean over bands; 1 is perfect."""
    return float(ssim_torch(fused, reference, max_value=max_value)[0])


# ----------------------------------------------------------------------------- SCC
_SOBEL = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])


def _sobel_magnitude(t: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude per band, zero-padded borders (MATLAB ``imfilter`` default)."""
    N, B, H, W = t.shape
    k = _SOBEL.to(t.dtype).to(t.device)
    x = t.reshape(N * B, 1, H, W)
    gy = F.conv2d(x, k.view(1, 1, 3, 3), padding=1)
    gx = F.conv2d(x, k.t().contiguous().view(1, 1, 3, 3), padding=1)
    return torch.sqrt(gx**2 + gy**2).reshape(N, B, H, W)


def scc_torch(fused, reference) -> torch.Tensor:
    """Spatial correlation coefficient as the toolbox's ``SCC.m``: (N, B, H, W) x2 -> (N,).

    Both images lose a 1-pixel frame, each band is Sobel-filtered (zero-padded borders, MATLAB
    ``imfilter``) into a gradient magnitude, and SCC = <|G_f|, |G_r|> / (||G_f|| ||G_r||) over all bands and
    pixels at once (uncentred; a per-band Pearson variant would give a different number).
    """
    f, r = _pair(fused, reference)
    a, b = _sobel_magnitude(f[..., 1:-1, 1:-1]), _sobel_magnitude(r[..., 1:-1, 1:-1])
    dims = (-1, -2, -3)
    return (a * b).sum(dims) / torch.sqrt((a * a).sum(dims) * (b * b).sum(dims))


def scc(fused, reference) -> float:
    """Spatial correlation coefficient (Zhou et al. 1998; toolbox ``SCC.m``, Sobel high-pass): 1 is perfect."""
    return float(scc_torch(fused, reference)[0])
