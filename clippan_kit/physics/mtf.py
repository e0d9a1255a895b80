"""The MS branch of the degradation: sensor-MTF-matched Gaussian low-pass filters and decimation.

Conventions of Vivone's MATLAB toolbox (Vivone et al., IEEE TGRS 2015; Vivone et al., "A new benchmark
based on recent advances in multispectral pansharpening", IEEE GRSM 2021):

* ``genMTF.m``: a Gaussian whose frequency response equals GNyq at the Nyquist frequency
  ``1/(2*ratio)``, turned into a 41x41 FIR filter by frequency sampling and a rotationally
  symmetric Kaiser window (beta 0.5, Huang's method, as ``fwind1``). No renormalisation.
* ``MTF.m``: filtering with replicated borders (``imfilter(..., 'replicate')``).
* Decimation as ``imresize(x, 1/ratio, 'nearest')``: keeps rows/cols ``ratio//2 :: ratio``.

One core, in torch (float64 when given numpy), serves numpy and torch callers and is differentiable.
Filtering uses an FFT on the replicate-padded image, exact to ~1e-12 and O(HW log HW), which is what
makes the full-resolution metric suite fast.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from ._dispatch import as_tensor
from .base import Operator

__all__ = ["mtf_kernel", "separable_factors", "mtf_filter", "mtf_filters", "decimate", "MTF", "Decimation", "KERNEL_SIZE", "MTF_CONVENTIONS"]

KERNEL_SIZE = 41
Array = TypeVar("Array", np.ndarray, torch.Tensor)


# --------------------------------------------------------------------------- kernels
def _kaiser_window_2d(size: int, beta: float = 0.5) -> np.ndarray:
    """Rotationally symmetric window from a 1-D Kaiser window (Huang's method, as MATLAB fwind1)."""
    t = np.linspace(-1.0, 1.0, size)
    r = np.hypot(*np.meshgrid(t, t))
    w = np.interp(r, t, np.kaiser(size, beta))
    w[r > 1.0] = 0.0
    return w


def _gaussian_response(gnyq: float, ratio: int, size: int, width_taps: int | None = None) -> np.ndarray:
    """Desired frequency response: a Gaussian equal to ``gnyq`` at the MS Nyquist frequency, peak 1."""
    width_taps = size - 1 if width_taps is None else width_taps
    sigma = np.sqrt((width_taps * (0.5 / ratio)) ** 2 / (-2.0 * np.log(gnyq)))
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return np.outer(g, g) / g.max() ** 2


@lru_cache(maxsize=64)
def _mtf_kernel_cached(gnyq: float, ratio: int, size: int, convention: str) -> np.ndarray:
    # The λ-PNN tools' PAN filter (``gen_mtf_pan``, used by their co-registration) puts ``size`` where the
    # MS filter has ``size - 1`` in the Gaussian's width, and keeps negative taps and the raw DC gain.
    desired = _gaussian_response(gnyq, ratio, size, width_taps=size if convention == "lambda-pnn-pan" else size - 1)
    if convention == "lambda-pnn-pan":
        desired[desired < np.finfo(float).eps * desired.max()] = 0.0
        h = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(desired))))
        return h * np.kaiser(size, 0.5)[None, :]
    if convention == "lambda-pnn":
        desired[desired < np.finfo(float).eps * desired.max()] = 0.0  # as MATLAB fspecial truncates
    # Frequency sampling (MATLAB fsamp2) of the desired response.
    h = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(desired))))
    if convention == "toolbox":
        return h * _kaiser_window_2d(size)
    # λ-PNN tools: 1-D Kaiser window along one axis, negative taps clipped, unit DC gain.
    h = np.clip(h * np.kaiser(size, 0.5)[None, :], 0.0, None)
    return h / h.sum()


MTF_CONVENTIONS = ("toolbox", "lambda-pnn", "lambda-pnn-pan")


def mtf_kernel(gnyq: float | Sequence[float], ratio: int, size: int = KERNEL_SIZE,
               convention: str = "toolbox") -> np.ndarray:
    """MTF-matched low-pass FIR filters.

    Args:
        gnyq: MTF gain(s) at Nyquist, each in (0, 1).
        ratio: scale ratio (the filter's cut-off is ``1/ratio`` of the sampling frequency).
        size: filter size in taps (odd; 41 in the toolbox).
        convention: ``"toolbox"`` (default; Vivone's ``genMTF.m``: rotationally symmetric Kaiser window,
            no renormalisation) or ``"lambda-pnn"`` (the ``gen_mtf`` of Scarpa/Ciotola's full-resolution
            tools, used by their reprojected indices: window along one axis, negative taps clipped, unit
            sum). The two differ by ~1e-4 in R-Q2n. ``"lambda-pnn-pan"``: their PAN filter ``gen_mtf_pan``
            (Gaussian width from ``size`` instead of ``size - 1``, negative taps kept, not renormalised),
            used only by the peer-convention co-registration.

    Returns:
        (size, size) float64 kernel for a scalar ``gnyq``, else (B, size, size).
    """
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd, got {size}")
    if convention not in MTF_CONVENTIONS:
        raise ValueError(f"convention must be one of {MTF_CONVENTIONS}, got {convention!r}")
    gains = np.atleast_1d(np.asarray(gnyq, dtype=float))
    if np.any((gains <= 0) | (gains >= 1)):
        raise ValueError(f"MTF gains at Nyquist must lie in (0, 1), got {gains.tolist()}")
    kernels = np.stack([_mtf_kernel_cached(float(g), int(ratio), int(size), convention) for g in gains])
    return kernels[0] if np.ndim(gnyq) == 0 else kernels



@lru_cache(maxsize=64)
def separable_factors(gnyq: float, ratio: int, size: int = KERNEL_SIZE,
                      convention: str = "lambda-pnn") -> tuple[np.ndarray, np.ndarray] | None:
    """(column taps, row taps) with ``mtf_kernel(...) == outer(column, row)`` to rounding, or None.

    The λ-PNN tools' kernels are a separable Gaussian response windowed along one axis, so they are rank one
    (second singular value ~1e-16 of the first); the toolbox's rotationally symmetric window is not (~7e-6),
    and a kernel whose clipped negative taps broke the product would not be either: None when the rank-one
    part differs from the kernel by more than 1e-13 of its largest tap. The column taps weigh rows (dim -2).
    """
    kernel = mtf_kernel(float(gnyq), int(ratio), int(size), convention)
    u, sv, vt = np.linalg.svd(kernel)
    column, row = u[:, 0] * sv[0], vt[0]
    if row.sum() < 0:
        column, row = -column, -row
    if np.abs(np.outer(column, row) - kernel).max() > 1e-13 * np.abs(kernel).max():
        return None
    return column, row


# --------------------------------------------------------------------------- filtering
@lru_cache(maxsize=16)
def _kernel_spectrum(gnyq: float, ratio: int, size: int, convention: str, shape: tuple[int, int],
                     dtype: torch.dtype, device: str) -> torch.Tensor:
    """rfft2 of one (flipped) MTF kernel zero-padded to ``shape``; cached, as training and tiled inference
    filter many images of one size (a 1320x1320 spectrum costs as much as filtering the image)."""
    kernel = torch.as_tensor(mtf_kernel(gnyq, ratio, size, convention)[::-1, ::-1].copy(), dtype=dtype, device=device)
    return torch.fft.rfft2(kernel, s=shape)


# Outside autograd on the CPU, :func:`_fft_filter` takes the bands a few at a time: about this many padded
# pixels (32 MB in float64, below glibc's largest mmap threshold, so the next group reuses the memory).
_GROUP_PIXELS = 1 << 22


def _plain_cpu(t: torch.Tensor) -> bool:
    """A CPU tensor outside autograd (evaluation: the metric suite, classical methods, inference)."""
    return t.device.type == "cpu" and not (torch.is_grad_enabled() and t.requires_grad)


def _fft_filter(x: torch.Tensor, gains: Sequence[float], ratio: int, size: int,
                conventions: Sequence[str]) -> list[torch.Tensor]:
    """Filter x (N, C, H, W), channel c with the MTF kernel of ``gains[c]``, replicate borders, same size,
    once per convention: each padded band's spectrum is computed once and shared by every convention.

    Outside autograd on the CPU the bands go a few at a time (:data:`_GROUP_PIXELS`), each group's result
    written into its place in one (N, C, H, W) output per convention: the transforms' buffers are a few tens
    of MB that the next group reuses, instead of whole-image spectra and padded copies (~550 MB for 8 x 1280²
    float64) mapped afresh and zeroed by the system at each call (a page fault per 4 KiB): 0.65 -> 0.34 s on
    2 cores (8 x 1280², two conventions). The same values either way, to rounding (~1e-16 relative).
    """
    p = size // 2
    N, C, H, W = x.shape
    shape = (H + 2 * p, W + 2 * p)
    step = max(1, _GROUP_PIXELS // (N * shape[0] * shape[1])) if _plain_cpu(x) else C
    out: list = [None] * len(conventions)
    for c0 in range(0, C, step):
        c1 = min(C, c0 + step)
        X = torch.fft.rfft2(F.pad(x[:, c0:c1], (p, p, p, p), mode="replicate"))
        for i, convention in enumerate(conventions):
            spectra = torch.stack([_kernel_spectrum(float(g), ratio, size, convention, shape, x.dtype, str(x.device))
                                   for g in gains[c0:c1]])
            # Circular convolution at the padded size; outputs from index size-1 on never wrap.
            y = torch.fft.irfft2(X * spectra, s=shape)[..., size - 1:size - 1 + H, size - 1:size - 1 + W]
            if c1 - c0 == C:
                out[i] = y
            else:
                if out[i] is None:
                    out[i] = x.new_empty(N, C, H, W)
                out[i][:, c0:c1] = y
    return out


def mtf_filter(x: Array, gnyq: float | Sequence[float], ratio: int, size: int = KERNEL_SIZE,
               convention: str = "toolbox") -> Array:
    """Low-pass each band with its sensor-MTF-matched filter (toolbox ``MTF.m``), replicate borders.

    Args:
        x: (..., B, H, W) or (H, W) image(s), numpy or torch (differentiable).
        gnyq: one gain for every band or one per band (length B).
        ratio: scale ratio of the protocol.
        convention: kernel design, see :func:`mtf_kernel`.

    Returns:
        Same shape and type as ``x``.
    """
    return mtf_filters(x, gnyq, ratio, (convention,), size)[0]


def mtf_filters(x: Array, gnyq: float | Sequence[float], ratio: int, conventions: Sequence[str],
                size: int = KERNEL_SIZE) -> list[Array]:
    """:func:`mtf_filter` of one image with several kernel conventions, in that order, sharing the
    image's Fourier transform (for callers that need a whole filtered image of each; the metric suite's
    reprojection needs only the kept samples of the λ-PNN one: :func:`~clippan_kit.physics.reproject_ms`)."""
    t, back = as_tensor(x)
    gains = np.atleast_1d(np.asarray(gnyq, dtype=float))
    if t.ndim == 2:
        t4 = t[None, None]
        lead: tuple[int, ...] = ()
    else:
        B = t.shape[-3]
        if gains.size not in (1, B):
            raise ValueError(f"{gains.size} MTF gains for {B} bands")
        lead = tuple(t.shape[:-2])
        t4 = t.reshape(-1, B, *t.shape[-2:])
    gains = [float(g) for g in np.broadcast_to(gains, (t4.shape[1],))]
    for convention in conventions:
        mtf_kernel(gains, ratio, size, convention)  # validates gains, size and convention
    return [back(y.reshape(*lead, *y.shape[-2:]) if lead else y[0, 0])
            for y in _fft_filter(t4, gains, ratio, size, conventions)]


def decimate(x: Array, ratio: int) -> Array:
    """Keep one sample in ``ratio`` per axis, phase ``ratio//2`` (MATLAB ``imresize(.., 1/r, 'nearest')``)."""
    s = ratio // 2
    return x[..., s::ratio, s::ratio]


# --------------------------------------------------------------------------- operators
class MTF(Operator):
    """Sensor-MTF-matched Gaussian low-pass, band by band (toolbox ``MTF.m``): :func:`mtf_filter` as an operator.

    Shape contract: ``x: (..., B, H, W)`` float (B = number of gains, or any B for one gain) or ``(H, W)``
    -> same shape, same units; replicate borders. Linear and shift-invariant away from the border; a
    constant image stays constant, times the kernel's DC gain (1 for the ``lambda-pnn`` convention,
    ~0.999 for the toolbox's unrenormalised one).
    """

    def __init__(self, gnyq: float | Sequence[float], ratio: int, size: int = KERNEL_SIZE,
                 convention: str = "toolbox"):
        self.gnyq = tuple(float(g) for g in np.atleast_1d(np.asarray(gnyq, dtype=float)))
        self.ratio, self.size, self.convention = int(ratio), int(size), convention
        self.kernels = mtf_kernel(list(self.gnyq), self.ratio, self.size, convention)  # validates; (B, size, size)

    def forward(self, x: Array) -> Array:
        return mtf_filter(x, self.gnyq if len(self.gnyq) > 1 else self.gnyq[0], self.ratio, self.size, self.convention)

    def __repr__(self) -> str:
        return f"MTF(gnyq={list(self.gnyq)}, ratio={self.ratio}, size={self.size}, {self.convention})"


class Decimation(Operator):
    """Keep one sample in ``ratio`` per axis at phase ``ratio//2`` (MATLAB ``imresize(.., 1/r, 'nearest')``).

    Shape contract: ``x: (..., H, W)`` -> ``(..., ceil((H - r//2) / r), ...)``, i.e. ``(..., H/r, W/r)`` for
    multiples of the ratio; numpy input gives a view. Linear (a selection).
    """

    def __init__(self, ratio: int):
        self.ratio = int(ratio)

    def forward(self, x: Array) -> Array:
        return decimate(x, self.ratio)

    def output_shape(self, shape):
        s, r = self.ratio // 2, self.ratio
        return (*shape[:-2], len(range(s, shape[-2], r)), len(range(s, shape[-1], r)))

    def __repr__(self) -> str:
        return f"Decimation(ratio={self.ratio})"
