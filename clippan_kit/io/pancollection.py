"""PanCollection ``.h5`` files (Deng et al., "Machine learning in pansharpening: a benchmark, from
shallow to deep networks", IEEE GRSM 2022).

Each file holds N samples as N x C x H x W arrays: ``pan`` (N, 1, H, W), ``ms`` (N, B, H/r, W/r)
the low-resolution MS, ``lms`` the same upsampled (ignored: the toolkit upsamples itself), and in
reduced-resolution files ``gt`` (N, B, H, W), the ground truth of Wald's protocol. The files keep
raw digital numbers; PanCollection's data loaders divide by 2047 (1023 for GF-2) on the fly, which
is the same ``2**L - 1`` scale the metrics apply through ``Scene.max_value``. Values are loaded as
stored: ``max_value`` defaults to 1.0 if the sample is already within [0, 1], else the sensor's
``2**bits - 1``. Only the requested sample is read from disk.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scene import Scene
from ..sensors import Sensor
from ._common import band_indices, fail, resolve_sensor
from .arrays import scene_from_arrays

__all__ = ["load_h5", "h5_length"]


def _open(path: Path):
    import h5py

    if not path.is_file():
        raise fail("file not found", path)
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise fail(f"not a readable HDF5 file ({err})", path) from None


def h5_length(path: str | Path) -> int:
    """Number of samples N in a PanCollection file."""
    path = Path(path)
    with _open(path) as f:
        if "pan" not in f:
            raise fail(f"no 'pan' dataset; the file has {sorted(f)}", path)
        return int(f["pan"].shape[0])


def load_h5(
    path: str | Path,
    sensor: str | Sensor | None = None,
    *,
    index: int = 0,
    max_value: float | None = None,
    bands=None,
    crop: bool = False,
    nodata: float | None = None,
) -> Scene:
    """Sample ``index`` of a PanCollection file as a Scene (``reference`` = ``gt`` when present).

    The sensor comes from a ``sensor`` attribute of the file if it has one, else from ``sensor=``.
    """
    path = Path(path)
    with _open(path) as f:
        missing = [k for k in ("pan", "ms") if k not in f]
        if missing:
            raise fail(f"missing dataset(s) {missing}: a PanCollection file needs 'pan' and 'ms' "
                       f"(and 'gt' for reduced resolution); the file has {sorted(f)}", path)
        n = f["pan"].shape[0]
        if not -n <= index < n:
            raise fail(f"sample index {index} out of range: the file holds {n} samples", path)
        if f["ms"].shape[0] != n or ("gt" in f and f["gt"].shape[0] != n):
            raise fail("'pan', 'ms' and 'gt' hold different numbers of samples", path)
        if f["pan"].ndim not in (3, 4) or f["ms"].ndim != 4:
            raise fail(f"expected pan N x 1 x H x W and ms N x C x h x w, got {f['pan'].shape} and {f['ms'].shape}", path)
        pan = np.asarray(f["pan"][index])
        ms = np.asarray(f["ms"][index])
        gt = np.asarray(f["gt"][index]) if "gt" in f else None
        file_sensor = f.attrs.get("sensor")
    if isinstance(file_sensor, bytes):
        file_sensor = file_sensor.decode()
    base = resolve_sensor(file_sensor, sensor, path)
    if bands is not None:
        if ms.shape[0] != base.n_bands:
            raise fail(f"MS has {ms.shape[0]} bands but sensor {base.long_name} has {base.n_bands}: cannot select bands", path)
        idx = band_indices(base, bands, path)
        ms = ms[idx]
        gt = None if gt is None else gt[idx]
    if max_value is None and max(np.nanmax(pan), np.nanmax(ms)) <= 1.0:
        max_value = 1.0
    return scene_from_arrays(
        pan, ms, base, bands=bands, reference=gt, max_value=max_value, crop=crop, nodata=nodata,
        name=f"{path.stem}[{index}]", source=f"{path} (sample {index})",
    )
