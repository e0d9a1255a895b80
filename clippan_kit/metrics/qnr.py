"""No-reference full-resolution indices of the QNR family: D_λ, D_s, QNR, D_λ^(K), HQNR.

* QNR: Alparone et al., "Multispectral and panchromatic data fusion assessment without reference",
  PE&RS 74(2), 2008, as coded in Vivone et al.'s toolbox 1.0 (``D_lambda.m``, ``D_s.m``, ``QNR.m``,
  IEEE TGRS 2015). Q is the Wang-Bovik index on distinct ``S`` x ``S`` blocks (``blockproc``), averaged.
* HQNR: Aiazzi et al. / Khan et al., "Pansharpening quality assessment using the modulation transfer
  functions of instruments", IEEE TGRS 47(11), 2009, as in Vivone et al.'s toolbox (``D_lambda_K.m``,
  ``HQNR.m``; IEEE GRSM 2021): D_λ^(K) = 1 - Q2n(EXP, MTF-filtered fused), HQNR = (1-D_λ^(K))(1-D_s).

Two definitions exist for each distortion; both are offered (``domain=``):

* D_λ: ``"expanded"`` (default, toolbox 1.0: band-pair Q of the fused image vs of the 23-tap
  expanded MS, S blocks; 0 for EXP by construction) or ``"original"`` (original QNR paper: band-pair Q
  of the LR MS on S/ratio blocks vs band-pair Q of the fused image on S blocks; ``D_lambda.m`` with
  ``flag_orig_paper = 1``).
* D_s: ``"expanded"`` (default, toolbox 1.0: Q(fused band, PAN) vs Q(EXP band, interp23tap(imresize(PAN,
  1/r)))) or ``"original"`` (Q(LR MS band, imresize(PAN, 1/r)) on S/ratio blocks as the low-scale term).
* D_λ^(K): ``"pan"`` (default, Vivone's HQNR at PAN scale, toolbox Q2n with integer rounding) or
  ``"reprojected"`` (Scarpa's reprojection: 1 - R-Q2n, see :mod:`clippan_kit.metrics.reprojected`).

Images: fused (B, H, W) on the PAN grid, in the scene's units (DN for the toolbox's rounding).
"""
from __future__ import annotations

import torch

from ..scene import Scene
from ..physics import imresize_down, interp23tap, mtf_filter
from ._common import as_batch, as_pan_batch, blocks, dn_bits, strip_rows
from .q2n import q2n, q2n_torch
from .reduced import uiqi_from_sums, uiqi_map_torch

__all__ = [
    "d_lambda", "d_lambda_torch", "d_lambda_reference", "d_s", "d_s_torch", "d_s_reference", "qnr", "d_lambda_k",
    "d_lambda_k_torch", "hqnr", "qnr_references", "fused_qnr_terms",
]


def _block_q(x: torch.Tensor, y: torch.Tensor, block: int) -> torch.Tensor:
    """Mean Wang-Bovik Q over distinct blocks of the last two dims: (..., H, W) -> (...).

    Block rows in strips of a few MiB (:func:`~clippan_kit.metrics._common.strip_rows`): same sums, in cache.
    """
    nh = x.shape[-2] // block
    step = strip_rows(torch.broadcast_shapes(x.shape, y.shape), block)
    total = sum(uiqi_map_torch(x[..., r:r + step, :], y[..., r:r + step, :], block, sliding=False).sum((-1, -2))
                for r in range(0, nh * block, step))
    return total / (nh * (x.shape[-1] // block))


def _gram_q(parts, block: int, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Mean block Q of the band pairs (i[k], j[k]): (N, K), the bands being those of ``parts`` stacked in order
    ((N, C_p, H, W) tensors; a one-band PAN is one part).

    One Gram matrix per block gives every pair's cross-sums at once (no full-size products); block rows in
    strips as :func:`_block_q`, each strip's parts stacked there (in cache), never the whole images.
    """
    N = max(p.shape[0] for p in parts)
    H, W = parts[0].shape[-2:]
    nh, nw = H // block, W // block
    C = sum(p.shape[1] for p in parts)
    total = 0.0
    step = strip_rows((N, C, H, W), block)
    for r in range(0, nh * block, step):
        rows = [p[..., r:r + step, :].expand(N, -1, -1, -1) for p in parts]
        t = blocks(rows[0] if len(rows) == 1 else torch.cat(rows, 1), block).permute(0, 2, 3, 1, 4)  # (N, nh', nw, C, P)
        s = t.sum(-1)
        gram = t @ t.transpose(-1, -2)
        q = uiqi_from_sums(s[..., i], s[..., j], gram[..., i, i], gram[..., j, j], gram[..., i, j], float(block**2))
        total = total + q.sum((1, 2))
    return total / (nh * nw)


def _pairwise_q(x: torch.Tensor, block: int) -> torch.Tensor:
    """Mean block Q between every band pair i < j: (N, B, H, W) -> (N, B(B-1)/2) (:func:`_gram_q`)."""
    B = x.shape[1]
    return _gram_q([x], block, *torch.triu_indices(B, B, 1))


def _qnr_pairs(x: torch.Tensor, pan: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """D_λ's and D_s's block Q of one image in one pass: every band pair i < j of x (N, B, H, W), and each
    band with ``pan`` (N or 1, 1, H, W): ((N, B(B-1)/2), (N, B))."""
    B = x.shape[1]
    i, j = torch.triu_indices(B, B, 1)
    band = torch.arange(B)
    q = _gram_q([x, pan.to(x.dtype)], block, torch.cat([i, band]), torch.cat([j, torch.full((B,), B)]))
    return q[:, :i.numel()], q[:, i.numel():]


def qnr_references(ms_exp, pan, *, ratio: int, block_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The scene's own terms of D_λ and D_s ("expanded" domain) in one pass: (:func:`d_lambda_reference`,
    :func:`d_s_reference`) of EXP (N, B, H, W) and the PAN (N, 1, H, W). The metric suite keeps them per scene."""
    e = as_batch(ms_exp, "EXP")
    _check_blocks(e.shape, block_size)
    return _qnr_pairs(e, _degraded_pan(pan, ratio, e.dtype), block_size)


def fused_qnr_terms(fused, pan, *, block_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused image's own terms of D_λ and D_s ("expanded" domain) in one pass: band-pair Q of the fused
    image and Q of each band with the PAN ((N, B(B-1)/2), (N, B)), what :func:`d_lambda_torch` and
    :func:`d_s_torch` take as ``q_fused``."""
    f = as_batch(fused, "fused")
    _check_blocks(f.shape, block_size)
    return _qnr_pairs(f, as_pan_batch(pan), block_size)


def _check_blocks(shape, block: int) -> None:
    if shape[-1] % block or shape[-2] % block:
        raise ValueError(f"image {shape[-2]}x{shape[-1]} is not a multiple of the block size {block} "
                         "(toolbox pre-condition); crop it first")


# ----------------------------------------------------------------------------- D_lambda
def d_lambda_reference(ms_exp, *, block_size: int = 32) -> torch.Tensor:
    """The scene's own term of D_λ ("expanded" domain): mean block Q of every band pair i < j of EXP,
    (N, B, H, W) -> (N, B(B-1)/2). It does not depend on the fused image (the metric suite keeps it per scene)."""
    e = as_batch(ms_exp, "EXP")
    _check_blocks(e.shape, block_size)
    return _pairwise_q(e, block_size)


def d_s_reference(ms_exp, pan, *, ratio: int, block_size: int = 32) -> torch.Tensor:
    """The scene's own term of D_s ("expanded" domain): block Q of each EXP band with the PAN degraded
    (``imresize`` by 1/ratio) and re-expanded (23-tap), (N, B, H, W), (N, 1, H, W) -> (N, B)."""
    e = as_batch(ms_exp, "EXP")
    _check_blocks(e.shape, block_size)
    return _block_q(e, _degraded_pan(pan, ratio, e.dtype), block_size)


def _degraded_pan(pan, ratio: int, dtype) -> torch.Tensor:
    """D_s's low-scale PAN at full size (toolbox 1.0): ``imresize`` by 1/ratio, then the 23-tap expansion."""
    P = as_pan_batch(pan).to(dtype)
    return interp23tap(imresize_down(P, ratio), ratio)


def d_lambda_torch(fused, ms_lr, *, ratio: int, block_size: int = 32, p: float = 1.0,
                   domain: str = "expanded", ms_exp=None, q_ref=None, q_fused=None) -> torch.Tensor:
    """D_λ of QNR: (N, B, H, W) fused, (N, B, h, w) LR MS -> (N,). See module docstring for ``domain``.

    ``q_ref``: :func:`d_lambda_reference` of the scene when already computed ("expanded" domain);
    ``q_fused``: the fused image's band-pair Q (first of :func:`fused_qnr_terms`) when already computed."""
    f, m = as_batch(fused, "fused"), as_batch(ms_lr, "MS").to(as_batch(fused).dtype)
    if domain == "expanded":
        _check_blocks(f.shape, block_size)
        if q_ref is None:
            ref = interp23tap(m, ratio) if ms_exp is None else as_batch(ms_exp).to(f.dtype)
            q_ref = d_lambda_reference(ref, block_size=block_size)
        q_fus = _pairwise_q(f, block_size) if q_fused is None else q_fused
    elif domain == "original":
        small = block_size // ratio
        _check_blocks(f.shape, block_size)
        _check_blocks(m.shape, small)
        q_ref, q_fus = _pairwise_q(m, small), _pairwise_q(f, block_size)
    else:
        raise ValueError(f"domain must be 'expanded' or 'original', got {domain!r}")
    return ((q_fus - q_ref).abs() ** p).mean(-1) ** (1.0 / p)


def d_lambda(fused, scene: Scene, *, block_size: int = 32, p: float = 1.0, domain: str = "expanded") -> float:
    """Spectral distortion D_λ of QNR (Alparone et al. 2008), toolbox 1.0 default; 0 is best."""
    return float(d_lambda_torch(fused, scene.ms, ratio=scene.ratio, block_size=block_size, p=p, domain=domain)[0])


# ----------------------------------------------------------------------------- D_s
def d_s_torch(fused, ms_lr, pan, *, ratio: int, block_size: int = 32, q: float = 1.0,
              domain: str = "expanded", ms_exp=None, q_low=None, q_fused=None) -> torch.Tensor:
    """D_s of QNR: fused (N, B, H, W), LR MS (N, B, h, w), PAN (N, 1, H, W) -> (N,).

    ``q_low``: :func:`d_s_reference` of the scene when already computed ("expanded" domain); ``q_fused``:
    the fused bands' Q with the PAN (second of :func:`fused_qnr_terms`) when already computed."""
    f = as_batch(fused, "fused")
    m, P = as_batch(ms_lr, "MS").to(f.dtype), as_pan_batch(pan).to(f.dtype)
    _check_blocks(f.shape, block_size)
    q_high = _block_q(f, P, block_size) if q_fused is None else q_fused
    if domain == "expanded":
        if q_low is None:
            ref = interp23tap(m, ratio) if ms_exp is None else as_batch(ms_exp).to(f.dtype)
            q_low = d_s_reference(ref, P, ratio=ratio, block_size=block_size)
    elif domain == "original":
        q_low = _block_q(m, imresize_down(P, ratio), block_size // ratio)
    else:
        raise ValueError(f"domain must be 'expanded' or 'original', got {domain!r}")
    return ((q_high - q_low).abs() ** q).mean(-1) ** (1.0 / q)


def d_s(fused, scene: Scene, *, block_size: int = 32, q: float = 1.0, domain: str = "expanded") -> float:
    """Spatial distortion D_s of QNR (Alparone et al. 2008), toolbox 1.0 default; 0 is best."""
    return float(d_s_torch(fused, scene.ms, scene.pan, ratio=scene.ratio, block_size=block_size, q=q,
                           domain=domain)[0])


def qnr(fused, scene: Scene, *, block_size: int = 32, p: float = 1.0, q: float = 1.0, alpha: float = 1.0,
        beta: float = 1.0, domain: str = "expanded") -> float:
    """QNR = (1 - D_λ)^alpha (1 - D_s)^beta (Alparone et al. 2008); 1 is best. ``domain`` applies to both."""
    dl = d_lambda(fused, scene, block_size=block_size, p=p, domain=domain)
    ds = d_s(fused, scene, block_size=block_size, q=q, domain=domain)
    return (1.0 - dl) ** alpha * (1.0 - ds) ** beta


# ----------------------------------------------------------------------------- D_lambda^(K), HQNR
def d_lambda_k_torch(fused, ms_exp, gnyq, *, ratio: int, block_size: int = 32) -> torch.Tensor:
    """Differentiable D_λ^(K) at PAN scale: 1 - Q2n(MTF-filtered fused vs EXP), no rounding. (N,)."""
    f = as_batch(fused, "fused")
    return 1.0 - q2n_torch(mtf_filter(f, gnyq, ratio), as_batch(ms_exp).to(f.dtype), block_size=block_size)


def d_lambda_k(fused, scene: Scene, *, block_size: int = 32, domain: str = "pan", ms_exp=None) -> float:
    """Khan's spectral distortion D_λ^(K); 0 is best.

    ``domain="pan"`` (default, Vivone's ``D_lambda_K.m``): 1 - Q2n(fused filtered with the MS MTFs, EXP)
    with the toolbox's Q2n (``block_size`` blocks, uint16 rounding at the data's own bit depth:
    :func:`~clippan_kit.metrics._common.dn_bits`; an 8-bit scene, ``max_value`` 255, rounds at 8-bit DN). ``domain="reprojected"``: 1 - R-Q2n (Scarpa's reprojection).
    """
    if domain == "reprojected":
        from .reprojected import reprojected_metrics

        return 1.0 - reprojected_metrics(fused, scene)["R_Q2n"]
    if domain != "pan":
        raise ValueError(f"domain must be 'pan' or 'reprojected', got {domain!r}")
    f = as_batch(fused, "fused")
    exp = interp23tap(as_batch(scene.ms).to(f.dtype), scene.ratio) if ms_exp is None else ms_exp
    filtered = mtf_filter(f, scene.sensor.gnyq_ms, scene.ratio)
    return 1.0 - q2n(filtered[0], exp[0], block_size=block_size, max_value=scene.max_value,
                     bits=dn_bits(scene))


def hqnr(fused, scene: Scene, *, block_size: int = 32, q: float = 1.0, alpha: float = 1.0, beta: float = 1.0,
         domain: str = "pan") -> float:
    """Hybrid QNR = (1 - D_λ^(K))^alpha (1 - D_s)^beta with the toolbox-1.0 D_s; 1 is best."""
    dl = d_lambda_k(fused, scene, block_size=block_size, domain=domain)
    ds = d_s(fused, scene, block_size=block_size, q=q)
    return (1.0 - dl) ** alpha * (1.0 - ds) ** beta
