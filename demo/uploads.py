"""Uploads of the demo page: files → :class:`~clippan_kit.scene.Scene`, with the sensor and the MS band names
inferred where the files allow it, and library messages rewritten for someone using the page (no Python
keywords, no command-line options, no long temporary upload paths).

Only the page needs this (the command line takes ``--scene`` or ``--ms/--pan`` and its own options); the
loading itself is :func:`clippan_kit.io.load_scene`'s.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from clippan_kit.errors import SceneError
from clippan_kit.scene import Scene

SCENE_SUFFIXES = (".mat", ".h5", ".hdf5")
RASTER_SUFFIXES = (".tif", ".tiff")
SENSOR_LABEL = "Sensor"
BANDS_LABEL = "MS band names"

__all__ = ["scene_from_files", "infer_sensor", "parse_bands", "page_message", "SCENE_SUFFIXES", "RASTER_SUFFIXES"]


def infer_sensor(paths: Sequence[str | Path]) -> str | None:
    """The sensor a set of file names points to (``WV3_example.mat`` → ``wv3``, ``imgWV2.mat`` → ``wv2``,
    ``LC08_..._B8.TIF`` / ``landsat_ms.tif`` → ``landsat8``), or None when no name or several names match.

    Names of three characters or more (``wv3``, ``worldview-3``, ``ikonos``, ``landsat``) may sit inside a
    word; shorter ones (``qb``, ``ik``, ``l8``) must be a whole word, else ``"mqb.tif"`` would say QuickBird.
    """
    from clippan_kit.sensors import _SENSOR_LIST

    found = set()
    for p in paths:
        stem = Path(p).name.lower()
        words = set(re.split(r"[^a-z0-9]+", stem))
        squashed = re.sub(r"[^a-z0-9]+", "", stem)
        for s in _SENSOR_LIST:
            for name in (s.name, *s.aliases):
                key = re.sub(r"[^a-z0-9]+", "", name.lower())
                if (len(key) >= 3 and key in squashed) or key in words:
                    found.add(s.name)
        if re.match(r"l[co]0[89]_", stem):  # Landsat 8/9 product identifiers (LC08_L1TP_..., LC09_...)
            found.add("landsat8")
    return found.pop() if len(found) == 1 else None


def parse_bands(text: str | None) -> list[str] | None:
    """``"blue, green red"`` → ``["blue", "green", "red"]`` (commas or spaces; lower case); None when empty."""
    names = [w for w in re.split(r"[,;\s]+", (text or "").strip().lower()) if w]
    return names or None


def scene_from_files(paths: Sequence[str | Path], sensor: str | None = None,
                     bands: Sequence[str] | None = None) -> Scene:
    """A scene from uploaded files: one ``.mat`` / ``.h5`` scene file, or two GeoTIFFs (MS + PAN, either order).

    The sensor is, in order: what the files say (a ``sensor`` key or tag), ``sensor``, the sensor the file
    names point to (:func:`infer_sensor`). ``bands``: the names of the bands the MS file holds, in file
    order (e.g. ``["blue", "green", "red"]`` for a Landsat RGB GeoTIFF); without them GeoTIFF band
    descriptions that name sensor bands are used. A georeferenced GeoTIFF pair is aligned through its
    geotransforms; plain rasters are read as arrays (the PAN is the single-band raster with more pixels).

    Raises:
        SceneError: with a message for the page (see :func:`page_message`).
    """
    from clippan_kit.io import load_scene, raster_info, read_raster, scene_from_arrays

    paths = [Path(p) for p in paths or []]
    if not paths:
        raise SceneError("no file uploaded: upload one .mat/.h5 scene file, or two GeoTIFFs (MS and PAN)")
    suffixes = [p.suffix.lower() for p in paths]
    sensor = sensor or None
    bands = list(bands) if bands else None
    options = {"bands": bands} if bands else {}
    guess = infer_sensor(paths)

    def attempt(load):
        # The file's own statement first; the name-based guess only when the file is silent (a guess
        # must never contradict the file).
        try:
            return load(sensor)
        except SceneError as err:
            if sensor is None and guess is not None and "does not say which sensor" in str(err):
                return load(guess)
            raise

    try:
        if len(paths) == 1 and suffixes[0] in SCENE_SUFFIXES:
            return attempt(lambda s: load_scene(paths[0], sensor=s, **options)).replace(name=upload_name(paths))
        if len(paths) == 2 and all(s in RASTER_SUFFIXES for s in suffixes):
            a, b = (raster_info(p) for p in paths)
            if a.georeferenced and b.georeferenced:
                return attempt(lambda s: load_scene(paths, sensor=s, **options)).replace(name=upload_name(paths))
            pixels = [i.shape[1] * i.shape[2] for i in (a, b)]
            if pixels[0] == pixels[1]:
                raise SceneError(f"{paths[0].name} and {paths[1].name} have the same size: cannot tell the PAN from the MS")
            pan, ms = (a, b) if pixels[0] > pixels[1] else (b, a)
            if pan.shape[0] != 1:
                raise SceneError(f"{pan.path.name} (the larger raster) has {pan.shape[0]} bands; the PAN must have one")
            chosen = sensor or guess
            return scene_from_arrays(read_raster(pan.path), read_raster(ms.path), chosen,
                                     n_bands=None if chosen else ms.shape[0], bands=bands if chosen else None,
                                     name=upload_name(paths), source=f"{pan.path.name} + {ms.path.name}")
    except SceneError as err:
        raise SceneError(page_message(err, paths)) from None
    names = ", ".join(p.name for p in paths)
    raise SceneError(f"cannot build a scene from {names}: upload one .mat/.h5 scene file, "
                     "or exactly two GeoTIFFs (MS and PAN)")


def upload_name(paths: Sequence[str | Path]) -> str:
    """The scene name of an upload: the file stem, or what the stems share (``landsat_ms`` + ``landsat_pan``
    → ``landsat``); ``upload`` for generic names (``ms.tif`` + ``pan.tif``; uploads sit in random folders,
    whose names say nothing)."""
    stems = [Path(p).stem for p in paths]
    if len(stems) == 1:
        return stems[0]
    common = os.path.commonprefix(stems).strip("_-. ")
    return common or "upload"


# Library phrasing (Python keywords, command-line options) → what to do on the page.
_REWRITES = (
    (r"pass sensor=\.\.\. \(e\.g\. .*?\), or --sensor on the command line",
     f"choose it in the '{SENSOR_LABEL}' list"),
    (r"pass sensor=\.\.\. \([^)]*\)", f"choose the sensor in the '{SENSOR_LABEL}' list"),
    (r"but sensor=('[^']*')", r"but \1 was chosen in the list"),
    (r"drop the argument or fix the file", f"set '{SENSOR_LABEL}' to 'from file'"),
    (r"pass the right sensor or bands=\[\.\.\.\]( naming the file's bands)?",
     f"choose the right sensor, or type the file's bands in '{BANDS_LABEL}' in file order (e.g. blue, green, red)"),
    (r"; pass crop=True to keep the top-left \d+x\d+ PAN pixels", ": upload a PAN of exactly that size"),
    (r"\(or reduce\(\.\.\., crop=True\)\)", "(lower 'Centre crop')"),
    (r"; pass ratio=", ""),
    (r"band selection \[([^\]]*)\]", r"the band names \1"),
)


def page_message(err: BaseException | str, paths: Sequence[str | Path] = ()) -> str:
    """A library error message as the page shows it: file paths shortened to their names (uploads live in
    long temporary folders), Python and command-line advice replaced by what to do on the page."""
    msg = str(err) or type(err).__name__
    for p in paths:
        p = Path(p)
        msg = msg.replace(str(p), p.name).replace(str(p.resolve()), p.name)
    # Any other absolute path into a temporary folder: keep the file name.
    msg = re.sub(r"(?:/tmp|/var/folders|/private)[^\s:,'\"]*/([^/\s:,'\"]+)", r"\1", msg)
    for pattern, repl in _REWRITES:
        msg = re.sub(pattern, repl, msg)
    return msg
