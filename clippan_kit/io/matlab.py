"""MATLAB ``.mat`` scenes: the PNN / Z-PNN layout and the reduced-resolution layout with ground truth.

* PNN-style (GRIP-UNINA, Masi et al. 2016; Ciotola et al. 2022): ``I_PAN`` (H, W) and the original
  low-resolution MS as ``I_MS_LR`` or ``I_MS`` (h, w, B); optional ``sensor`` (e.g. ``'WV2'``),
  ``L`` (bit depth), ``ratio`` and ``RGB_indexes`` (1-based). In these files ``I_MS`` is *not* an
  upsampled copy; a PAN-sized ``I_MS`` is refused rather than silently decimated.
* Reduced resolution (Deng et al., PanCollection test files such as ``WV3_test.mat``): ``pan``
  (H, W), ``lrms`` or ``ms`` (h, w, B) and ``gt`` (H, W, B), the ground truth of Wald's protocol.
  These are normalised to [0, 1] (raw DN / 2047): loaded as they are with ``max_value = 1.0``;
  the toolbox computes its indices on data × 2047, which the metrics do through ``max_value``.

MATLAB v5/v7 files are read with :func:`scipy.io.loadmat`, v7.3 (HDF5) files with h5py.
Arrays are band-last in the file and band-first in the :class:`Scene`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..scene import Scene
from ..sensors import Sensor
from ._common import band_indices, fail, resolve_sensor, with_rgb
from .arrays import scene_from_arrays

__all__ = ["load_mat", "read_mat"]

_PAN_KEYS = ("I_PAN", "pan", "PAN")
_MS_KEYS = ("I_MS_LR", "lrms", "I_MS", "ms", "MS")
_GT_KEYS = ("gt", "GT", "I_GT")


def read_mat(path: str | Path) -> dict[str, Any]:
    """All variables of a .mat file (any version) as numpy arrays, MATLAB axis order kept."""
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise fail("file not found", path)
    try:
        data = scipy.io.loadmat(path)
        return {k: v for k, v in data.items() if not k.startswith("__")}
    except NotImplementedError:  # v7.3 = HDF5; h5py sees MATLAB arrays with axes reversed
        import h5py

        with h5py.File(path, "r") as f:
            out = {}
            for k, ds in f.items():
                if isinstance(ds, h5py.Dataset):
                    arr = ds[()]
                    if ds.attrs.get("MATLAB_class", b"") == b"char":
                        out[k] = np.array(["".join(map(chr, np.ravel(arr)))])
                    else:
                        out[k] = np.asarray(arr).T
            return out
    except Exception as err:  # scipy raises several types for non-MATLAB content
        raise fail(f"not a readable MATLAB .mat file ({type(err).__name__}: {err})", path) from None


def _scalar(value) -> float | None:
    return None if value is None else float(np.asarray(value).ravel()[0])


def _text(value) -> str | None:
    if value is None:
        return None
    arr = np.asarray(value).ravel()
    return str(arr[0]).strip() if arr.size else None


def _first(data: dict, keys, what: str, path, required: bool = True):
    for k in keys:
        if k in data:
            return k, np.asarray(data[k])
    if required:
        raise fail(f"no {what} found: expected one of the keys {list(keys)}, the file has {sorted(data)}", path)
    return None, None


def load_mat(
    path: str | Path,
    sensor: str | Sensor | None = None,
    *,
    max_value: float | None = None,
    crop: bool = False,
    bands=None,
    nodata: float | None = None,
) -> Scene:
    """Load a PNN-style or reduced-resolution ``.mat`` scene (see the module docstring).

    Args:
        path: the .mat file.
        sensor: used when the file has no ``sensor`` key; must agree with it otherwise.
        max_value: full scale; default ``2**L - 1`` when the file has ``L``, 1.0 for float data
            within [0, 1] (normalised files), else the sensor's ``2**bits - 1``.
        crop: keep the largest top-left part where PAN is exactly ``ratio`` times the MS.
        bands: keep only these bands (names or indices).
        nodata: value marking missing pixels (NaN always does).

    Returns:
        Scene with ``reference`` set when the file holds ground truth (``gt``).
    """
    path = Path(path)
    data = read_mat(path)
    _, pan = _first(data, _PAN_KEYS, "PAN image", path)
    ms_key, ms = _first(data, _MS_KEYS, "low-resolution MS image", path)
    _, gt = _first(data, _GT_KEYS, "ground truth", path, required=False)
    if pan.ndim != 2:
        raise fail(f"PAN must be a 2-D (H, W) array, got shape {pan.shape}", path)
    if ms.ndim == 2:
        ms = ms[..., None]
    if ms.ndim != 3:
        raise fail(f"MS {ms_key!r} must be (h, w, bands), got shape {ms.shape}", path)
    if ms.shape[:2] == pan.shape and ms_key in ("I_MS", "ms", "MS"):
        raise fail(f"{ms_key!r} has the PAN size {pan.shape}: it is an upsampled MS, but the original "
                   f"low-resolution MS (I_MS_LR / lrms) is needed", path)
    base = resolve_sensor(_text(data.get("sensor")), sensor, path)
    file_ratio = _scalar(data.get("ratio"))
    if file_ratio is not None and int(file_ratio) != base.ratio:
        raise fail(f"the file says ratio {int(file_ratio)} but sensor {base.long_name} has ratio {base.ratio}", path)
    rgb = data.get("RGB_indexes")
    if rgb is not None and np.asarray(rgb).size == 3 and ms.shape[2] == base.n_bands:
        base = with_rgb(base, np.asarray(rgb).ravel(), path)
    if max_value is None:
        bits = _scalar(data.get("L"))
        if bits is not None:
            max_value = float(2 ** int(bits) - 1)
        elif np.issubdtype(ms.dtype, np.floating) and np.nanmax(ms) <= 1.0 and np.nanmax(pan) <= 1.0:
            max_value = 1.0
    reference = None if gt is None else np.moveaxis(gt, -1, 0)
    if bands is not None:
        if ms.shape[2] != base.n_bands:
            raise fail(f"MS has {ms.shape[2]} bands but sensor {base.long_name} has {base.n_bands}: cannot select bands", path)
        idx = band_indices(base, bands, path)
        ms = ms[..., idx]
        reference = None if reference is None else reference[idx]
    return scene_from_arrays(
        pan, np.moveaxis(ms, -1, 0), base, bands=bands, reference=reference, nodata=nodata,
        max_value=max_value, crop=crop, name=path.stem, source=str(path),
    )
