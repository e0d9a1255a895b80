"""Shared fixtures. Real-data tests use ``data_dir``: they skip with a message for a user without
the data, and fail in CI (``CI`` set), where a skipped real-data test would hide a regression."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from clippan_kit import config
from clippan_kit.repro import reproducible


@pytest.fixture(autouse=True)
def _reproducible():
    """Every test starts from the same seeds and thread count, whatever ran before it (or with -k)."""
    reproducible(seed=0)


def _missing(msg: str):
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI must run the real-data tests)")
    pytest.skip(msg)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = config.data_dir()
    if path is None:
        _missing(config.DATA_HELP)
    return path


@pytest.fixture(scope="session")
def real_file(data_dir):
    """real_file("pnn_grip_unina/imgWV2.mat") -> Path, skipping/failing when the file is absent."""

    def get(relative: str) -> Path:
        path = data_dir / relative
        if not path.exists():
            _missing(f"{path} not found in CLIPPAN_DATA={data_dir}")
        return path

    return get
