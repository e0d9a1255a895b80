"""Helpers shared by the loaders and writers: error wording, sensor resolution, atomic writes."""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator, Sequence

from ..scene import SceneError
from ..sensors import Sensor, get_sensor

__all__ = ["resolve_sensor", "atomic_path", "fail"]


def fail(problem: str, path: str | os.PathLike | None = None) -> SceneError:
    """A :class:`SceneError` whose message names the problem and the file (returned, to be raised)."""
    return SceneError(f"{path}: {problem}" if path is not None else problem)


def resolve_sensor(
    from_file: str | None,
    argument: str | Sensor | None,
    path,
    *,
    bands: Sequence[str | int] | None = None,
) -> Sensor:
    """The scene's sensor: the file's own statement, else the ``sensor=`` argument, else an error.

    When both exist they must agree (a WorldView-2 file read as WorldView-3 would get the wrong
    MTF filters, silently). ``bands`` restricts the sensor to some of its bands (``Sensor.subset``).
    """
    sensor: Sensor | None = None
    if from_file:
        try:
            sensor = get_sensor(from_file)
        except KeyError as err:
            if argument is None:
                raise fail(f"the file names sensor {from_file!r}, which is not in the registry: {err.args[0]}; "
                           f"pass sensor=... (a registry name or a Sensor)", path) from None
    if argument is not None:
        try:
            chosen = get_sensor(argument)
        except (KeyError, ValueError) as err:
            raise fail(str(err.args[0]), path) from None
        if sensor is not None and sensor.name != chosen.name:
            raise fail(f"the file says sensor {from_file!r} ({sensor.long_name}) but sensor={argument!r} "
                       f"({chosen.long_name}) was passed; drop the argument or fix the file", path)
        sensor = chosen
    if sensor is None:
        raise fail("the file does not say which sensor took it: pass sensor=... (e.g. 'wv3', 'qb', 'landsat8'; "
                   "see clippan_kit.list_sensors()), or --sensor on the command line", path)
    if bands is not None:
        try:
            sensor = sensor.subset(list(bands))
        except (KeyError, ValueError) as err:
            raise fail(f"band selection {list(bands)}: {err.args[0]}", path) from None
    return sensor


def with_rgb(sensor: Sensor, rgb_one_based: Sequence[int] | None, path) -> Sensor:
    """The sensor with the file's RGB band indices (1-based, MATLAB ``RGB_indexes``) when given."""
    if rgb_one_based is None:
        return sensor
    rgb = tuple(int(i) - 1 for i in rgb_one_based)
    if len(rgb) != 3 or any(not 0 <= i < sensor.n_bands for i in rgb):
        raise fail(f"RGB_indexes {list(rgb_one_based)} do not fit the {sensor.n_bands} bands of {sensor.long_name}", path)
    return sensor if rgb == sensor.rgb else replace(sensor, rgb=rgb)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary file lives in the same folder so the final ``os.replace`` is atomic: a reader
    (or a crashed run) never sees a half-written output, and a failed write leaves nothing behind.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: output folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def band_indices(sensor: Sensor, bands: Sequence[str | int], path) -> list[int]:
    """0-based indices in ``sensor.bands`` of ``bands`` (names or indices), with a file-naming error."""
    try:
        idx = [b if isinstance(b, int) else sensor.band_index(b) for b in bands]
    except KeyError as err:
        raise fail(str(err.args[0]), path) from None
    if not idx or any(not 0 <= i < sensor.n_bands for i in idx) or len(set(idx)) != len(idx):
        raise fail(f"band selection {list(bands)} is empty, repeats or falls outside the {sensor.n_bands} bands "
                   f"of {sensor.long_name}", path)
    return idx
