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


def _file_getter(root: Path, where: str):
    """get(relative) -> root / relative, skipping (failing in CI) when the file is absent."""

    def get(relative: str) -> Path:
        path = root / relative
        if not path.exists():
            _missing(f"{path} not found in {where}")
        return path

    return get


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = config.data_dir()
    if path is None:
        _missing(config.DATA_HELP)
    return path


@pytest.fixture(scope="session")
def real_file(data_dir):
    """real_file("pnn_grip_unina/imgWV2.mat") -> Path, skipping/failing when the file is absent."""

    return _file_getter(data_dir, f"CLIPPAN_DATA={data_dir}")


# --------------------------------------------------------------------------- data for everyone
# Tests of behaviour (shapes, invariants, one method beating another, CLI plumbing) run for every user:
# on the real file when CLIPPAN_DATA has it, else on a generated stand-in with the same layout
# (tests/data/make_fixtures.py: make_data_tree). Tests of exact reference values keep ``real_file``.
@pytest.fixture(scope="session")
def standin_dir(tmp_path_factory) -> Path:
    """The generated stand-in data folder (same layout as CLIPPAN_DATA, tiny synthetic scenes)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "data"))
    from make_fixtures import make_data_tree

    return make_data_tree(tmp_path_factory.mktemp("standin_data"))


@pytest.fixture(scope="session")
def scene_dir(standin_dir) -> Path:
    """CLIPPAN_DATA when it is set and present, else the generated stand-in folder."""
    return config.data_dir() or standin_dir


@pytest.fixture(scope="session")
def scene_file(scene_dir):
    """scene_file("zpnn_wv3/WV3_example.mat") -> the real file, or its generated stand-in without the data."""

    return _file_getter(scene_dir, str(scene_dir))


@pytest.fixture
def sample_data(scene_dir, monkeypatch) -> Path:
    """Point CLIPPAN_DATA (the sample registry, the CLI's --sample) at ``scene_dir`` for one test."""
    monkeypatch.setenv("CLIPPAN_DATA", str(scene_dir))
    return scene_dir
