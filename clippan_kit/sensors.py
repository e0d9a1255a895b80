"""Registry of sensor facts: band names, RGB indices, resolution ratio, bit depth and MTF gains.

The MTF gains at Nyquist (GNyq) are those published with the pansharpening toolbox of
Vivone et al., "A critical comparison among pansharpening algorithms", IEEE TGRS 53(5), 2015
(``MTF.m`` / ``MTF_PAN.m``); the Z-PNN and λ-PNN code of Scarpa/Ciotola uses the same tables.
Sensors without a published table (Pléiades, Landsat 8/9, generic) use the toolbox's fallback
gains (0.3 for every MS band, 0.15 for PAN), and say so in ``Sensor.notes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from .errors import UnknownNameError
from .registry import Registry

__all__ = ["Sensor", "SENSORS", "get_sensor", "generic_sensor", "list_sensors"]

_FALLBACK_MS_GNYQ = 0.3
_FALLBACK_PAN_GNYQ = 0.15


@dataclass(frozen=True)
class Sensor:
    """Facts about one multispectral + panchromatic sensor.

    Attributes:
        name: registry key, lower case (``"wv2"``).
        long_name: human-readable name (``"WorldView-2"``).
        bands: MS band names, in file order.
        rgb: 0-based indices of the red, green and blue bands in ``bands``.
        ratio: PAN/MS ground-sample-distance ratio (4 for VHR sensors, 2 for Landsat).
        bits: radiometric depth L of the raw digital numbers; the toolbox scales
            data to ``2**bits - 1`` before computing Q-type indices.
        gnyq_ms: MTF gain at Nyquist of each MS band, in 0..1, same order as ``bands``.
        gnyq_pan: MTF gain at Nyquist of the PAN band, in 0..1.
        notes: provenance of the numbers.
    """

    name: str
    long_name: str
    bands: tuple[str, ...]
    rgb: tuple[int, int, int]
    ratio: int
    bits: int
    gnyq_ms: tuple[float, ...]
    gnyq_pan: float
    notes: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.bands) != len(self.gnyq_ms):
            raise ValueError(f"sensor {self.name}: {len(self.bands)} bands but {len(self.gnyq_ms)} MTF gains")
        if self.ratio < 2 or self.ratio & (self.ratio - 1):
            raise ValueError(f"sensor {self.name}: ratio must be a power of two >= 2, got {self.ratio}")
        if any(not 0 < g < 1 for g in (*self.gnyq_ms, self.gnyq_pan)):
            raise ValueError(f"sensor {self.name}: MTF gains at Nyquist must lie strictly in (0, 1)")
        if any(not 0 <= i < len(self.bands) for i in self.rgb):
            raise ValueError(f"sensor {self.name}: rgb indices {self.rgb} out of range for {len(self.bands)} bands")

    @property
    def n_bands(self) -> int:
        return len(self.bands)

    @property
    def max_value(self) -> float:
        """Largest digital number, ``2**bits - 1`` (2047 for 11-bit sensors)."""
        return float(2**self.bits - 1)

    def band_index(self, name: str) -> int:
        lowered = [b.lower() for b in self.bands]
        try:
            return lowered.index(name.lower())
        except ValueError:
            raise UnknownNameError("band", name, self.bands, f"(sensor {self.long_name} has no band {name!r})") from None

    def subset(self, bands: Sequence[str | int]) -> "Sensor":
        """The same sensor restricted to some bands (names or 0-based indices), in the given order.

        RGB indices are remapped; where red, green or blue is not among the kept bands the first
        three kept bands stand in (a false-colour quick-look).
        """
        idx = [b if isinstance(b, int) else self.band_index(b) for b in bands]
        if not idx or len(set(idx)) != len(idx):
            raise ValueError(f"band subset must be non-empty and without repeats, got {list(bands)}")
        kept = tuple(self.bands[i] for i in idx)
        if all(c in idx for c in self.rgb):
            rgb = tuple(idx.index(c) for c in self.rgb)
        else:
            rgb = tuple(min(k, len(idx) - 1) for k in (2, 1, 0))
        return replace(
            self,
            bands=kept,
            gnyq_ms=tuple(self.gnyq_ms[i] for i in idx),
            rgb=rgb,  # type: ignore[arg-type]
        )


def _sensor(name, long_name, bands, rgb, ratio, bits, gnyq_ms, gnyq_pan, notes="", aliases=()):
    return Sensor(name, long_name, tuple(bands), tuple(rgb), ratio, bits, tuple(gnyq_ms), gnyq_pan, notes, tuple(aliases))


_VHR4 = ("blue", "green", "red", "nir")
_WV8 = ("coastal", "blue", "green", "yellow", "red", "red_edge", "nir1", "nir2")
_TOOLBOX = "GNyq from Vivone et al. 2015 toolbox (MTF.m)."
_FALLBACK = "No published MTF table: toolbox fallback gains (MS 0.3, PAN 0.15)."


def _sensor_key(name: str) -> str:
    return str(name).strip().lower().replace(" ", "")


_SENSOR_LIST = (
    _sensor("qb", "QuickBird", _VHR4, (2, 1, 0), 4, 11, (0.34, 0.32, 0.30, 0.22), 0.15, _TOOLBOX, ("quickbird",)),
    _sensor("ikonos", "IKONOS", _VHR4, (2, 1, 0), 4, 11, (0.26, 0.28, 0.29, 0.28), 0.17, _TOOLBOX, ("ik",)),
    _sensor("geoeye1", "GeoEye-1", _VHR4, (2, 1, 0), 4, 11, (0.23, 0.23, 0.23, 0.23), 0.16, _TOOLBOX, ("ge1", "geoeye")),
    _sensor("wv2", "WorldView-2", _WV8, (4, 2, 1), 4, 11, (0.35,) * 7 + (0.27,), 0.11, _TOOLBOX, ("worldview2", "worldview-2")),
    _sensor(
        "wv3", "WorldView-3", _WV8, (4, 2, 1), 4, 11,
        (0.325, 0.355, 0.360, 0.350, 0.365, 0.360, 0.335, 0.315), 0.14, _TOOLBOX, ("worldview3", "worldview-3"),
    ),
    _sensor("pleiades", "Pléiades", _VHR4, (2, 1, 0), 4, 12, (_FALLBACK_MS_GNYQ,) * 4, _FALLBACK_PAN_GNYQ, _FALLBACK, ("phr",)),
    _sensor(
        "landsat8", "Landsat 8/9 OLI",
        ("coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus"), (3, 2, 1), 2, 16,
        (_FALLBACK_MS_GNYQ,) * 8, _FALLBACK_PAN_GNYQ,
        _FALLBACK + " Bands B1-B7, B9 (30 m); PAN B8 (15 m); 16-bit scaled Level-1 DN. "
        "Use .subset(['blue','green','red']) for the visible bands the PAN covers.",
        ("landsat9", "l8", "l9", "landsat"),
    ),
)

#: The sensor registry: key or alias (case-insensitive, spaces ignored) -> :class:`Sensor`.
SENSORS: Registry[Sensor] = Registry(
    "sensor", ((s.name, s) for s in _SENSOR_LIST), aliases={a: s.name for s in _SENSOR_LIST for a in s.aliases},
    normalize=_sensor_key, hint="(or generic_sensor(n))")


def list_sensors() -> list[str]:
    return sorted(SENSORS)


def generic_sensor(n_bands: int, ratio: int = 4, bits: int = 11, name: str = "generic") -> Sensor:
    """A sensor with ``n_bands`` bands and the toolbox fallback MTF gains (MS 0.3, PAN 0.15)."""
    if n_bands < 1:
        raise ValueError(f"n_bands must be >= 1, got {n_bands}")
    bands = tuple(f"band{i + 1}" for i in range(n_bands))
    rgb = tuple(min(k, n_bands - 1) for k in (2, 1, 0))
    return _sensor(name, "Generic sensor", bands, rgb, ratio, bits, (_FALLBACK_MS_GNYQ,) * n_bands, _FALLBACK_PAN_GNYQ, _FALLBACK)


def get_sensor(name: str | Sensor) -> Sensor:
    """Look a sensor up by registry key or alias, case-insensitively (``"WV2"``, ``"worldview-2"``)."""
    if isinstance(name, Sensor):
        return name
    if _sensor_key(name) == "generic":
        raise ValueError("the generic sensor needs a band count: use generic_sensor(n_bands, ratio)")
    return SENSORS[name]
