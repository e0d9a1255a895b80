"""Q2n (Q4, Q8, ...): hypercomplex ("onions") universal image quality index on blocks.

Garzelli & Nencini, "Hypercomplex quality assessment of multi/hyperspectral images", IEEE GRSL 6(4),
2009; toolbox convention of Vivone et al., IEEE GRSM 2021 (``q2n.m``, ``onions_quality.m``).

Each pixel's B-band vector is a hypercomplex number of dimension 2^n (bands zero-padded up to the
next power of two, Cayley-Dickson algebra). Per ``block_size`` block (stride ``shift``), both
images are normalised with the *reference* block's per-band mean and std (ddof 1) and shifted by +1
(``norm_blocco``), and the block quality is the modulus of

    Q = 4 |cov(z, z_hat)| |mean z| |mean z_hat| / ((var z + var z_hat)(|mean z|^2 + |mean z_hat|^2)),

with the hypercomplex covariance computed with the N/(N-1) factor. Q2n is the mean over blocks.

The hypercomplex product is bilinear, so the block mean of ``z * conj(z_hat)`` is the band cross-moment
matrix contracted with the algebra's structure constants: one batched matmul per image, no per-block
Python loop.

Conventions for sizes that are not a multiple of ``shift`` (bottom/right mirror padding of
``(steps-1)*shift + block_size - size`` pixels, so padding never exceeds ``block_size - 1``
and always mirrors real content):

* ``"toolbox"`` (default of :func:`q2n`): MATLAB symmetric padding (edge repeated), then ``uint16``
  rounding of both images, always (``q2n.m``). Data must be digital numbers (see ``max_value``).
* ``"fr"``: the λ-PNN authors' NumPy tools (Scarpa & Ciotola): numpy ``reflect`` padding (edge not
  repeated), integers truncated with ``astype(int16)`` only when padding happened (and only when both
  sizes need it, as in their code). Used by the reprojected R-Q2n.
* ``"pancollection"``: PanCollection's Python port (reproduces its published numbers): the last
  row/column replicated (its transcription of the MATLAB mirror indexing degenerates to that),
  rounding, block std with ddof 0.
* ``"float"``: symmetric padding, no quantisation: the differentiable path of :func:`q2n_torch`.

On a size that is a multiple of the block the conventions differ only by rounding (~5e-5 on the
256² WV3 test image); with padding they differ by a few 1e-3 (0.71422 toolbox, 0.71426 fr, 0.71163
PanCollection on the same image cut by 21 pixels).
"""
from __future__ import annotations

from functools import lru_cache
from math import ceil

import numpy as np
import torch

from ._common import as_batch, quantize, strip_rows, symmetric_pad, to_dn, warn_if_not_dn

__all__ = ["q2n", "q2n_torch", "q2n_map_torch", "q2n_padding", "onion_multiply", "CONVENTIONS"]

CONVENTIONS = ("toolbox", "fr", "pancollection", "float")
_EPS_STD = float(np.finfo(float).eps)  # toolbox norm_blocco replaces a zero std with eps


def onion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cayley-Dickson product of hypercomplex numbers stored along the last axis (length 2^n).

    Follows the recursion of ``onion_mult.m``: split a = (a1, a2), b = (b1, b2), with the toolbox's
    partial conjugate ``c(v) = (v0, -v1, ..., -vk)`` applied to the second halves,
    product = (a1 b1 - c(b2) a2, c(a1) c(b2) + b1 c(a2))... written out below exactly as the recursion.
    """
    n = a.shape[-1]
    if n == 1:
        return a * b

    def conj(v):
        return np.concatenate([v[..., :1], -v[..., 1:]], axis=-1)

    h = n // 2
    p, q = a[..., :h], conj(a[..., h:])
    r, s = b[..., :h], conj(b[..., h:])
    if n == 2:
        return np.concatenate([p * r - s * q, p * s + r * q], axis=-1)
    first = onion_multiply(p, r) - onion_multiply(s, conj(q))
    second = onion_multiply(conj(p), s) + onion_multiply(r, q)
    return np.concatenate([first, second], axis=-1)


@lru_cache(maxsize=8)
def _structure_constants(n: int) -> np.ndarray:
    """(n, n, n) tensor S with onion_multiply(x, y) = einsum('i,j,ijk->k', x, y, S)."""
    eye = np.eye(n)
    return onion_multiply(eye[:, None, :].repeat(n, 1), eye[None, :, :].repeat(n, 0))


def _pad_bands(x: torch.Tensor) -> torch.Tensor:
    B = x.shape[1]
    n = 1 << (B - 1).bit_length()
    if n == B:
        return x
    return torch.cat([x, x.new_zeros(x.shape[0], n - B, *x.shape[2:])], dim=1)


def _block_quality(ref: torch.Tensor, fus: torch.Tensor, ddof: int, integers: bool = False) -> torch.Tensor:
    """Onion quality of blocks: ref, fus (..., C, P) with C a power of two -> (...,) quality in [0, 1].

    ``onions_quality.m`` normalises both blocks with the reference's per-band mean and std and adds 1;
    every term it needs is a central moment, so the normalisation is applied to the block moments
    (per-band affine maps) instead of to every pixel: same numbers, a third of the passes over the data.
    ``integers=True`` (the toolbox's quantised DN): the moments come from the raw sums and products, which
    are exact in float64 for integers (over a 32² block the products of 16-bit values sum to < 2^42), so no
    centred copies are made; otherwise from the centred blocks, which keeps real-valued data accurate.
    """
    C, P = ref.shape[-2:]
    if integers:
        sum_r, sum_f = ref.sum(-1), fus.sum(-1)
        mean_r, mean_f = sum_r / P, sum_f / P
        # Diagonals of the Gram matrices (batched products: no squared copy), then central moments, ddof 0.
        var_r = (torch.einsum("...cp,...cp->...c", ref, ref) - sum_r * mean_r) / P
        var_f = (torch.einsum("...cp,...cp->...c", fus, fus) - sum_f * mean_f) / P
        cov = (ref @ fus.transpose(-1, -2) - sum_r[..., :, None] * mean_f[..., None, :]) / P
    else:
        mean_r = ref.mean(-1, keepdim=True)
        mean_f = fus.mean(-1, keepdim=True)
        rc, fc = ref - mean_r, fus - mean_f
        var_r, var_f = (rc * rc).mean(-1), (fc * fc).mean(-1)  # (..., C), ddof 0
        cov = rc @ fc.transpose(-1, -2) / P  # (..., C, C) cross-covariances, ddof 0
        mean_r, mean_f = mean_r[..., 0], mean_f[..., 0]
    std = torch.sqrt(var_r * (P / (P - ddof)))
    std = torch.where(std == 0, torch.full_like(std, _EPS_STD), std)
    # Toolbox quirk kept for fidelity: a zero-mean reference band leaves the fused band unscaled.
    scale = torch.where(mean_r == 0, torch.ones_like(std), std)
    a, c = 1.0 / std, 1.0 / scale
    sign = torch.ones(C, dtype=ref.dtype, device=ref.device)
    sign[1:] = -1.0  # hypercomplex conjugate of the fused vector
    m1 = a * mean_r + (1.0 - mean_r * a)
    m2 = sign * (c * mean_f + (1.0 - mean_r * c))
    n1, n2 = (m1**2).sum(-1), (m2**2).sum(-1)
    temp = P / (P - 1.0)
    term3 = temp * (a * a * var_r + c * c * var_f).sum(-1)
    mean_bias = 2.0 * torch.sqrt(n1 * n2) / (n1 + n2)
    S = torch.as_tensor(_structure_constants(C), dtype=ref.dtype, device=ref.device)
    cov_xy = cov * (a[..., :, None] * (c * sign)[..., None, :])
    q = temp * torch.einsum("...ij,ijk->...k", cov_xy, S)
    q = q * (mean_bias * 2.0 / torch.where(term3 == 0, torch.ones_like(term3), term3))[..., None]
    degenerate = torch.zeros_like(q)
    degenerate[..., -1] = 1.0
    q = torch.where((term3 == 0)[..., None], degenerate * mean_bias[..., None], q)
    return torch.sqrt((q**2).sum(-1))


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def q2n_padding(H: int, W: int, *, block_size: int = 32, shift: int | None = None,
                pad: str = "symmetric") -> tuple[int, int, bool]:
    """(rows, cols, padded): how many rows/cols :func:`q2n_map_torch` mirrors at the bottom/right of an
    (H, W) image before cutting its blocks, and whether it padded (which decides the ``"fr"`` quantisation)."""
    shift = block_size if shift is None else shift
    bs_h, bs_w = min(block_size, H), min(block_size, W)
    est_h = (ceil(H / shift) - 1) * shift + bs_h - H if bs_h == block_size else 0
    est_w = (ceil(W / shift) - 1) * shift + bs_w - W if bs_w == block_size else 0
    padded = est_h != 0 or est_w != 0
    if pad == "reflect":
        padded = est_h != 0 and est_w != 0  # the λ-PNN port pads only when both sizes need it
        if not padded:
            est_h = est_w = 0
    return est_h, est_w, padded


def q2n_map_torch(
    fused: torch.Tensor,
    reference: torch.Tensor,
    *,
    block_size: int = 32,
    shift: int | None = None,
    pad: str = "symmetric",
    quantize_mode: str | None = None,
    quantize_only_if_padded: bool = False,
    ddof: int = 1,
) -> torch.Tensor:
    """Per-block Q2n map: (N, B, H, W) x2 -> (N, steps_h, steps_w) block qualities."""
    fused, reference = as_batch(fused, "fused"), as_batch(reference, "reference")
    if fused.shape != reference.shape:
        raise ValueError(f"fused {tuple(fused.shape)} and reference {tuple(reference.shape)} differ")
    shift = block_size if shift is None else shift
    H, W = reference.shape[-2:]
    if min(H, W) < 2:
        raise ValueError(f"image {H}x{W} too small for Q2n")
    bs_h, bs_w = min(block_size, H), min(block_size, W)  # an image smaller than a block is one block
    steps_h, steps_w = ceil(H / shift), ceil(W / shift)
    if bs_h < block_size:
        steps_h = 1
    if bs_w < block_size:
        steps_w = 1
    est_h, est_w, padded = q2n_padding(H, W, block_size=block_size, shift=shift, pad=pad)
    fused = symmetric_pad(fused, est_h, est_w, pad)
    reference = symmetric_pad(reference, est_h, est_w, pad)
    quantize_now = quantize_mode is not None and (padded or not quantize_only_if_padded)
    # Whole blocks only (the λ-PNN port's unpadded case drops a partial last block).
    steps_h = min(steps_h, (reference.shape[-2] - bs_h) // shift + 1)
    steps_w = min(steps_w, (reference.shape[-1] - bs_w) // shift + 1)

    def tiles(t):  # (N, C, rows, W) -> (N, k, steps_w, C, bs_h*bs_w) for the k block rows of the strip
        t = t.unfold(-2, bs_h, shift).unfold(-2, bs_w, shift)[:, :, :, :steps_w]
        N, C, k = t.shape[:3]
        return t.permute(0, 2, 3, 1, 4, 5).reshape(N, k, steps_w, C, bs_h * bs_w)

    # Block rows in strips (a few MiB each): quantisation, tiling and moments stay in cache.
    per = max(1, strip_rows(reference.shape, shift) // shift)
    rows = []
    for k0 in range(0, steps_h, per):
        k1 = min(steps_h, k0 + per)
        y0, y1 = k0 * shift, (k1 - 1) * shift + bs_h
        f, r = tiles(_pad_bands(fused[..., y0:y1, :])), tiles(_pad_bands(reference[..., y0:y1, :]))
        if quantize_now:  # on the tiles' own copies (tiling and quantising commute): one pass fewer each
            f = quantize(f, quantize_mode, in_place=not _shares_memory(f, fused))
            r = quantize(r, quantize_mode, in_place=not _shares_memory(r, reference))
        # Raw-sum moments only where they are exact: integers in float64 (float32 sums of 16-bit squares are not).
        rows.append(_block_quality(r, f, ddof, integers=quantize_now and r.dtype == f.dtype == torch.float64))
    return torch.cat(rows, 1)


def q2n_torch(fused: torch.Tensor, reference: torch.Tensor, *, block_size: int = 32, shift: int | None = None,
              pad: str = "symmetric", ddof: int = 1) -> torch.Tensor:
    """Differentiable Q2n of each image of a batch: (N, B, H, W) x2 -> (N,) in [0, 1] (1 = identical).

    No quantisation (the toolbox's integer rounding is evaluation-only, see :func:`q2n`); scale-free,
    so the data may be in any units. Gradients flow to ``fused`` (and to ``reference`` if it requires them).
    """
    return q2n_map_torch(fused, reference, block_size=block_size, shift=shift, pad=pad, ddof=ddof).mean((-1, -2))


def q2n(fused, reference, *, block_size: int = 32, shift: int | None = None, max_value: float | None = None,
        bits: int = 11, convention: str = "toolbox") -> float:
    """Q2n of a fused image against its reference (Garzelli & Nencini 2009; toolbox ``q2n.m``).

    Args:
        fused, reference: (B, H, W) arrays (any B; bands are zero-padded to a power of two).
        block_size: block side in pixels (32 in the toolbox); ``shift`` the block stride (default = block).
        max_value: full-scale value of the data (1.0 for normalised data, 2047 for 11-bit DN); the data are
            rescaled to ``2**bits - 1`` before the integer quantisation. None: data already are DN.
        convention: ``"toolbox"`` (default: symmetric padding + uint16 rounding, Vivone's MATLAB
            toolbox), ``"fr"`` (reflect padding, truncation only when padding; λ-PNN NumPy tools),
            ``"pancollection"`` (replicate padding, rounding, ddof 0) or ``"float"`` (no rounding; equals :func:`q2n_torch`). See the module docstring.

    Returns:
        Q2n in [0, 1], 1 for a perfect fusion.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    f = to_dn(as_batch(fused, "fused"), max_value, bits)
    r = to_dn(as_batch(reference, "reference"), max_value, bits)
    mode = {"toolbox": "round", "fr": "trunc", "pancollection": "round", "float": None}[convention]
    pad = {"fr": "reflect", "pancollection": "replicate"}.get(convention, "symmetric")
    warn_if_not_dn(r, mode)
    qmap = q2n_map_torch(
        f, r, block_size=block_size, shift=shift, pad=pad, quantize_mode=mode,
        quantize_only_if_padded=convention == "fr", ddof=0 if convention == "pancollection" else 1,
    )
    return float(qmap.mean())
