"""Wald's protocol: sensor-MTF-matched low-pass filters, the 23-tap interpolator, decimation,
and the degradation operator HRMS -> (LRMS, PAN) as a first-class object.

Conventions follow Vivone's MATLAB toolbox (Vivone et al., IEEE TGRS 2015; Vivone et al.,
"A new benchmark based on recent advances in multispectral pansharpening", IEEE GRSM 2021):

* ``genMTF.m``: a Gaussian whose frequency response equals GNyq at the Nyquist frequency
  ``1/(2*ratio)``, turned into a 41x41 FIR filter by frequency sampling and a rotationally
  symmetric Kaiser window (beta 0.5, Huang's method, as ``fwind1``). No renormalisation.
* ``MTF.m``: filtering with replicated borders (``imfilter(..., 'replicate')``).
* Decimation as ``imresize(x, 1/ratio, 'nearest')``: keeps rows/cols ``ratio//2 :: ratio``.
* ``interp23tap.m``: log2(ratio) dyadic steps of zero insertion and a symmetric 23-tap
  Lagrange-like filter with circular borders. The first step puts the samples at odd
  positions, later ones at even positions, so ``interp23tap(x)[..., r//2::r, r//2::r] == x``.

* Sub-pixel shifts (λ-PNN authors' ``fineshift``, Ciotola et al., IEEE TGRS 2023): half-sample steps by
  the odd taps of the same 23-tap filter, zero borders; :func:`reproject_ms` (MTF filter -> shift ->
  decimation) is the one MS-scale reprojection of the R-metrics and of the JESSE loss.

One core, in torch (float64 when given numpy), serves numpy and torch callers and is
differentiable: Stage II losses and JESSE reproject the network output through it.
Filtering uses an FFT on the replicate-padded image, exact to ~1e-12 and O(HW log HW),
which is what makes the full-resolution metric suite fast.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .scene import Scene, SceneError
from .sensors import Sensor, get_sensor

__all__ = [
    "mtf_kernel",
    "mtf_filter",
    "decimate",
    "interp23tap",
    "WaldProtocol",
    "reduce_scene",
    "KERNEL_SIZE",
    "half_pixel_shift",
    "shift_decimate",
    "reproject_ms",
    "phases_to_shifts",
]

KERNEL_SIZE = 41
Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Half of the symmetric 23-tap interpolation filter of interp23tap.m (already times 2).
_CDF23_HALF = 2.0 * np.array(
    [0.5, 0.305334091185, 0.0, -0.072698593239, 0.0, 0.021809577942, 0.0,
     -0.005192756653, 0.0, 0.000807762146, 0.0, -0.000060081482]
)
INTERP23_TAPS = np.concatenate([_CDF23_HALF[:0:-1], _CDF23_HALF])


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


# --------------------------------------------------------------------------- dispatch
def _as_tensor(x):
    """(tensor, back) where back(t) returns t in the caller's type; numpy computes in float64."""
    if isinstance(x, torch.Tensor):
        return x, lambda t: t
    arr = np.asarray(x)
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64)), (
        lambda t: t.detach().cpu().numpy().astype(out_dtype, copy=False)
    )


def _to_4d(t: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    if t.ndim < 2:
        raise ValueError(f"expected an image (..., H, W), got shape {tuple(t.shape)}")
    lead = tuple(t.shape[:-2])
    return t.reshape(-1, 1, *t.shape[-2:]), lead


# --------------------------------------------------------------------------- filtering
@lru_cache(maxsize=16)
def _kernel_spectrum(gnyq: float, ratio: int, size: int, convention: str, shape: tuple[int, int],
                     dtype: torch.dtype, device: str) -> torch.Tensor:
    """rfft2 of one (flipped) MTF kernel zero-padded to ``shape``; cached, as training and tiled inference
    filter many images of one size (a 1320x1320 spectrum costs as much as filtering the image)."""
    kernel = torch.as_tensor(mtf_kernel(gnyq, ratio, size, convention)[::-1, ::-1].copy(), dtype=dtype, device=device)
    return torch.fft.rfft2(kernel, s=shape)


def _fft_filter(x: torch.Tensor, gains: Sequence[float], ratio: int, size: int, convention: str) -> torch.Tensor:
    """Filter x (N, C, H, W), channel c with the MTF kernel of ``gains[c]``, replicate borders, same size."""
    p = size // 2
    H, W = x.shape[-2:]
    xp = F.pad(x, (p, p, p, p), mode="replicate")
    shape = tuple(xp.shape[-2:])
    unique = list(dict.fromkeys(gains))  # bands sharing a gain share one spectrum (WV2: 2 for 8 bands)
    spectra = torch.stack([_kernel_spectrum(g, ratio, size, convention, shape, x.dtype, str(x.device)) for g in unique])
    if len(unique) < len(gains):
        spectra = spectra[[unique.index(g) for g in gains]]
    # Circular convolution at the padded size; outputs from index size-1 on never wrap.
    y = torch.fft.irfft2(torch.fft.rfft2(xp) * spectra, s=shape)
    return y[..., size - 1:size - 1 + H, size - 1:size - 1 + W]


def _upsample2_1d(x: torch.Tensor, dim: int, offset: int) -> torch.Tensor:
    """One dyadic step of interp23tap along ``dim`` (-1 or -2): zero insertion at ``offset`` + 23-tap filter.

    Polyphase form of MATLAB ``imfilter(upsampled, taps, 'circular')``: the centre tap is 1 and the other
    even taps are 0, so the input samples pass unchanged, and the new samples are a 12-tap circular
    correlation of the input, done with an FFT at the input length (exact wrap for any length, and
    ~3x less work than filtering the zero-filled signal).
    """
    n = x.shape[dim]
    p = len(INTERP23_TAPS) // 2
    shifts = np.arange(-((p - 1) // 2), (p + 1) // 2 + 1)  # new sample after x[k] weighs x[k+s], s = -5..6
    kernel = np.zeros(n)
    np.add.at(kernel, (-shifts) % n, INTERP23_TAPS[p + 2 * shifts - 1])
    spectrum = torch.fft.rfft(torch.as_tensor(kernel, dtype=x.dtype, device=x.device))
    shape = [1] * x.ndim
    shape[dim] = spectrum.shape[0]
    new = torch.fft.irfft(torch.fft.rfft(x, dim=dim) * spectrum.view(shape), n=n, dim=dim)
    if offset == 1:  # originals at odd positions: the sample after x[k] is the even one of x[k+1]
        new = torch.roll(new, 1, dims=dim)
    out = torch.stack((x, new) if offset == 0 else (new, x), dim=dim)
    return out.reshape(*x.shape[:-2], 2 * n, x.shape[-1]) if dim == -2 else out.reshape(*x.shape[:-1], 2 * n)


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
    t, back = _as_tensor(x)
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
    mtf_kernel(gains, ratio, size, convention)  # validates gains, size and convention
    y = _fft_filter(t4, gains, ratio, size, convention)
    return back(y.reshape(*lead, *y.shape[-2:]) if lead else y[0, 0])


def decimate(x: Array, ratio: int) -> Array:
    """Keep one sample in ``ratio`` per axis, phase ``ratio//2`` (MATLAB ``imresize(.., 1/r, 'nearest')``)."""
    s = ratio // 2
    return x[..., s::ratio, s::ratio]


# --------------------------------------------------------------------------- sub-pixel shifts
# Half-sample interpolator: the odd-offset taps of the 23-tap filter (offsets -11, -9, ..., 11 half
# samples); the value half a sample before position j is sum_l HALF_SHIFT_TAPS[l] * x[j + l - 6].
HALF_SHIFT_TAPS = INTERP23_TAPS[::2]


def half_pixel_shift(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift (..., H, W) by +1/2 sample along ``dim`` (-2 rows / -1 columns): ``out[j] = x(j - 1/2)``.

    12-tap half-sample interpolator of ``interp23tap`` with zero borders, as the λ-PNN authors'
    ``fineshift``/``half_pixel_shift`` (their 'S' / 'E' directions). Differentiable; same shape out.
    """
    if dim not in (-1, -2):
        raise ValueError(f"dim must be -1 or -2, got {dim}")
    n = len(HALF_SHIFT_TAPS)
    size = x.shape[dim]
    # Twelve shifted multiply-adds on the zero-padded axis: ~8x faster than a 1-D conv2d on CPU, same sums.
    xp = F.pad(x, (n // 2, n // 2 - 1) if dim == -1 else (0, 0, n // 2, n // 2 - 1))
    out = xp.narrow(dim, 0, size) * float(HALF_SHIFT_TAPS[0])
    for tap in range(1, n):
        out = out.add_(xp.narrow(dim, tap, size), alpha=float(HALF_SHIFT_TAPS[tap]))
    return out


def _as_shifts(shifts, N: int, B: int, device) -> torch.Tensor:
    s = torch.as_tensor(np.asarray(shifts) if not isinstance(shifts, torch.Tensor) else shifts, device=device).long()
    if s.ndim == 2:
        s = s[None]
    if s.shape[-2:] != (B, 2):
        raise ValueError(f"shifts must be (B, 2) or (N, B, 2) with B = {B}, got {tuple(s.shape)}")
    return s.expand(N, -1, -1)


def shift_decimate(x: torch.Tensor, shifts, ratio: int) -> torch.Tensor:
    """Shift each band by (r/2, c/2) PAN pixels, then keep phase ``ratio//2``: (N, B, H, W) -> (N, B, H/r, W/r).

    ``shifts``: (B, 2) or (N, B, 2) integers (r, c) in half-PAN-pixel units (the λ-PNN authors'
    co-registration convention): ``out[k, l] = x(ratio*k + ratio//2 - r/2, ratio*l + ratio//2 - c/2)``,
    an odd value going through :func:`half_pixel_shift`, zero outside the image (as their
    ``fineshift`` followed by ``[2::4, 2::4]``). The toolbox's integer decimation phase p of a band is
    the even shift ``r = 2 (ratio//2 - p)`` (:func:`phases_to_shifts`). Differentiable in ``x``.
    """
    N, B, H, W = x.shape
    s = _as_shifts(shifts, N, B, x.device).cpu()
    # Only the kept samples are interpolated (the half-pixel filter is 1-D per axis): rows first, giving an
    # (H/r, W) strip, then columns; ~10x less work than shifting the whole image and decimating after.
    same = bool((s == s[:1]).all())  # one shift per band for the whole batch (the usual case): no copies
    out = []
    for b in range(B):
        images = [x[:, b]] if same else [x[n:n + 1, b] for n in range(N)]
        per_n = [_shift_sample(_shift_sample(t, int(s[n, b, 0]), ratio, -2), int(s[n, b, 1]), ratio, -1)
                 for n, t in enumerate(images)]
        out.append(per_n[0] if same else torch.cat(per_n))
    return torch.stack(out, 1)


def _shift_sample(x: torch.Tensor, s: int, ratio: int, dim: int) -> torch.Tensor:
    """x (..., H, W) sampled along ``dim`` (-2 or -1) at ``ratio*k + ratio//2 - s/2``, k < n // ratio; s in half samples.

    An odd s interpolates with the 12-tap half-sample filter exactly as :func:`half_pixel_shift` (zero
    borders): value(i - 1/2) = sum_l HALF_SHIFT_TAPS[l] x[i + l - 6]; an even s picks x[i]; a sample
    whose position i is outside the axis is 0. Same numbers as shifting the whole axis and decimating.
    """
    n = x.shape[dim]
    m = n // ratio
    first = ratio // 2 - s // 2  # position i of sample k = 0
    L = len(HALF_SHIFT_TAPS) if s % 2 else 1
    lo = first - L // 2  # first position read
    pad_lo, pad_hi = max(0, -lo), max(0, lo + ratio * (m - 1) + L - n)
    if pad_lo or pad_hi:
        x = F.pad(x, (pad_lo, pad_hi) if dim == -1 else (0, 0, pad_lo, pad_hi))  # zero borders
    index = [slice(None)] * x.ndim

    def read(start):  # positions start, start + ratio, ... (m of them) of the padded axis
        index[dim] = slice(start + pad_lo, start + pad_lo + ratio * (m - 1) + 1, ratio)
        return x[tuple(index)]

    if L == 1:
        out = read(lo)
    else:
        out = read(lo) * float(HALF_SHIFT_TAPS[0])
        for tap in range(1, L):
            out = out + read(lo + tap) * float(HALF_SHIFT_TAPS[tap])
    k_lo = min(m, max(0, (-first + ratio - 1) // ratio))  # first k with position >= 0
    k_hi = max(k_lo, min(m, (n - 1 - first) // ratio + 1))  # past the last k with position < n
    if k_lo > 0 or k_hi < m:
        keep = torch.zeros(m, dtype=x.dtype, device=x.device)
        keep[k_lo:k_hi] = 1.0
        shape = [1] * out.ndim
        shape[dim] = m
        out = out * keep.view(shape)
    return out


def phases_to_shifts(phases, ratio: int) -> np.ndarray:
    """Integer decimation phases (B, 2) in {0..ratio-1} -> equivalent shifts (r, c) = 2 (ratio//2 - p)."""
    return 2 * (ratio // 2 - np.asarray(phases, dtype=np.int64))


def reproject_ms(x: torch.Tensor, gnyq: Sequence[float], ratio: int, shifts=None,
                 convention: str = "lambda-pnn") -> torch.Tensor:
    """Scarpa's reprojection of a fused image to the MS grid: MTF filter -> sub-pixel shift -> decimation.

    The one MS-scale reprojection of the project: the R-metrics (:mod:`clippan_kit.metrics.reprojected`)
    and the JESSE loss use it. x (N, B, H, W) -> (N, B, H/r, W/r); ``shifts`` (B, 2) / (N, B, 2) in
    half-PAN-pixel units (see :func:`shift_decimate`), None = no shift (plain toolbox decimation).
    Filter ``convention`` as :func:`mtf_kernel` (the λ-PNN tools' kernels by default). Differentiable.
    """
    low = mtf_filter(x, gnyq, ratio, convention=convention)
    if shifts is None:
        return decimate(low, ratio)
    return shift_decimate(low, shifts, ratio)


def interp23tap(x: Array, ratio: int) -> Array:
    """Upsample by ``ratio`` (a power of two) with the toolbox's 23-tap interpolator.

    Args:
        x: (..., h, w) image(s), numpy or torch (differentiable).

    Returns:
        (..., h*ratio, w*ratio), same type; ``result[..., r//2::r, r//2::r]`` equals ``x``.
    """
    if ratio < 1 or ratio & (ratio - 1):
        raise ValueError(f"interp23tap needs a power-of-two ratio, got {ratio}")
    t, back = _as_tensor(x)
    t4, lead = _to_4d(t)
    for level in range(int(np.log2(ratio))):
        offset = 1 if level == 0 else 0
        t4 = _upsample2_1d(_upsample2_1d(t4, -1, offset), -2, offset)
    return back(t4.reshape(*lead, *t4.shape[-2:]))


# --------------------------------------------------------------------------- operator
class WaldProtocol:
    """Wald's-protocol degradation for one sensor: the forward operator of pansharpening.

    ``A(hrms) = decimate(mtf_filter(hrms, sensor MS gains))`` maps an HRMS on the PAN grid to the
    LRMS it should have produced; ``degrade_pan`` does the same for the PAN with the PAN gain.
    ``reduce(scene)`` builds the reduced-resolution triplet (LRMS, PAN, reference = original MS).
    Accepts numpy arrays or torch tensors (differentiable) of shape (..., B, H, W).

    Example:
        >>> op = WaldProtocol("wv2")
        >>> lrms = op(hrms)                   # (..., 8, H/4, W/4)
        >>> reduced = op.reduce(scene)        # Scene with reference = scene.ms
    """

    def __init__(self, sensor: Sensor | str, kernel_size: int = KERNEL_SIZE):
        self.sensor = get_sensor(sensor)
        self.ratio = self.sensor.ratio
        self.kernel_size = kernel_size

    def lowpass_ms(self, x: Array) -> Array:
        return mtf_filter(x, self.sensor.gnyq_ms, self.ratio, self.kernel_size)

    def lowpass_pan(self, pan: Array) -> Array:
        return mtf_filter(pan, self.sensor.gnyq_pan, self.ratio, self.kernel_size)

    def degrade_ms(self, hrms: Array) -> Array:
        """(..., B, H, W) -> (..., B, H/r, W/r)."""
        return decimate(self.lowpass_ms(hrms), self.ratio)

    __call__ = degrade_ms
    A = degrade_ms

    def degrade_pan(self, pan: Array) -> Array:
        """(..., H, W) -> (..., H/r, W/r)."""
        return decimate(self.lowpass_pan(pan), self.ratio)

    def upsample(self, ms: Array) -> Array:
        """(..., B, h, w) -> (..., B, h*r, w*r) with the 23-tap interpolator (the EXP method)."""
        return interp23tap(ms, self.ratio)

    def reduce(self, scene: Scene, crop: bool = False) -> Scene:
        """Reduced-resolution scene: MS and PAN degraded by ``ratio``, reference = original MS.

        The MS must be a multiple of the ratio in size: with ``crop=True`` the scene is first cropped
        (top-left kept) to the largest such size, otherwise that is an error.
        Nodata: the reduced PAN pixel is valid where the original MS pixel was.
        """
        r = self.ratio
        if scene.ratio != r or scene.sensor.gnyq_ms != self.sensor.gnyq_ms:
            raise SceneError(f"scene sensor {scene.sensor.long_name} differs from the protocol's {self.sensor.long_name}")
        h, w = scene.ms.shape[1:]
        if (h % r or w % r) and crop:
            scene = scene.crop(0, 0, (h - h % r) * r, (w - w % r) * r)
            h, w = scene.ms.shape[1:]
        if h % r or w % r:
            raise SceneError(
                f"MS size {h}x{w} of {scene.name!r} is not a multiple of the ratio {r}: "
                f"crop the scene to {h - h % r}x{w - w % r} MS pixels first (or reduce(..., crop=True))"
            )
        filled = scene.filled()
        transform = None if scene.transform is None else scene.transform @ scene.transform.scale(r, r)
        return Scene(
            pan=self.degrade_pan(filled.pan.astype(np.float64)).astype(np.float32),
            ms=self.degrade_ms(filled.ms.astype(np.float64)).astype(np.float32),
            sensor=scene.sensor,
            reference=scene.ms,
            valid=scene.ms_valid,
            max_value=scene.max_value,
            crs=scene.crs,
            transform=transform,
            name=f"{scene.name} (reduced x{r})",
            source=scene.source,
        )

    def __repr__(self) -> str:
        return f"WaldProtocol({self.sensor.long_name}, ratio={self.ratio}, kernel={self.kernel_size})"


def reduce_scene(scene: Scene, crop: bool = False) -> Scene:
    """Wald's protocol on ``scene`` with its own sensor: see :meth:`WaldProtocol.reduce`."""
    return WaldProtocol(scene.sensor).reduce(scene, crop=crop)
