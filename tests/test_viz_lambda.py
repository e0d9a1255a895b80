"""The λ-PNN/JESSE figures of clippan_kit.viz (notebook 7) on small generated scenes: what each panel
draws is the data, and the numbers the figures return are the library's."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from clippan_kit.physics import coregister  # noqa: E402
from clippan_kit.synthetic import synthetic_scene  # noqa: E402
from clippan_kit.viz import (coregistration_figure, detail_figure, rgb_quicklook, sam_map, textured_window,  # noqa: E402
                             textured_windows, tile_choice_figure, tile_positions)


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene("wv3", size=64, seed=3)


@pytest.fixture(scope="module")
def scene128():
    return synthetic_scene("wv3", size=128, seed=0)


def _images(ax):
    return [im.get_array() for im in ax.get_images()]


def test_coregistration_figure_returns_the_search_shifts_and_finds_a_known_shift(scene128):
    s = scene128
    fig, shifts = coregistration_figure(s.ms, s.pan, s.sensor)
    assert shifts.shape == (8, 2) and shifts.dtype == np.int64
    np.testing.assert_array_equal(shifts, coregister(s.ms, s.pan, s.sensor, exact=True))
    np.testing.assert_array_equal(shifts, 0)  # the synthetic PAN is made on the MS grid: no misalignment
    plt.close(fig)
    # The PAN moved down by one PAN pixel (two half-pixel steps): every band's r becomes -2, c stays 0;
    # moved right by one pixel: c becomes -2.
    for axis, expected in ((0, (-2, 0)), (1, (0, -2))):
        fig, moved = coregistration_figure(s.ms, np.roll(s.pan, 1, axis=axis), s.sensor)
        np.testing.assert_array_equal(moved, np.tile(expected, (8, 1)))
        heat = [ax for ax in fig.axes if ax.get_images()]
        assert len(heat) == 8  # one score surface per band (the colour bar's axes hold no image)
        for b, ax in enumerate(heat):
            drop = np.asarray(ax.get_images()[0].get_array())
            assert drop.shape == (9, 9) and drop.max() == 0.0  # 9 x 9 candidates, 0 at the best one
            i, j = np.unravel_index(np.argmax(drop), drop.shape)
            assert (i - 4, j - 4) == tuple(moved[b])
            assert ax.get_title() == f"{s.sensor.bands[b]}: r={moved[b, 0]}, c={moved[b, 1]}"
            assert ax.get_ylabel() and ax.get_xlabel()
        assert fig.axes[8].get_title() == "chosen shifts" and len(fig.axes[8].collections) == 8
        plt.close(fig)


def test_tile_choice_figure_frames_the_chosen_tiles(scene):
    chosen = [5, 0, 15]
    assert tile_positions((64, 64), 16, chosen) == [(16, 16), (0, 0), (48, 48)]
    fig = tile_choice_figure(scene.pan, 16, chosen)
    (ax,) = fig.axes
    np.testing.assert_allclose(_images(ax)[0], rgb_quicklook(scene.pan))
    frames = [p for p in ax.patches if isinstance(p, Rectangle)]
    centres = [(p.get_y() + p.get_height() / 2 + 0.5, p.get_x() + p.get_width() / 2 + 0.5) for p in frames]
    assert centres == [(24, 24), (8, 8), (56, 56)]  # each frame centred on its tile (pixel centres at integers)
    assert all(14 <= p.get_width() < 16 and p.get_height() == p.get_width() for p in frames)  # just inside it
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3"]
    assert ax.get_title() == "3 of 16 tiles (16×16) chosen" and ax.get_ylabel() == "row (PAN px)"
    assert fig.get_layout_engine() is not None and fig.dpi >= 100
    plt.close(fig)


def test_textured_windows_do_not_overlap_and_start_with_the_best():
    rng = np.random.default_rng(0)
    pan = np.zeros((96, 96))
    pan[10:26, 60:76] = rng.normal(size=(16, 16)) * 3  # strongest texture, one window's size
    pan[60:76, 10:26] = rng.normal(size=(16, 16)) * 2  # weaker texture
    wins = textured_windows(pan, 16, 3)
    assert wins[0] == textured_window(pan, 16)
    assert wins[0][:2] == (10, 60) and wins[1][:2] == (60, 10)
    for a in range(3):
        for b in range(a):
            (r1, c1, s), (r2, c2, _) = wins[a], wins[b]
            assert abs(r1 - r2) >= s or abs(c1 - c2) >= s
    assert len(textured_windows(pan, 48, 10)) <= 4  # no more windows than fit without overlap


def test_detail_figure_crops_and_error_row(scene):
    exp = np.repeat(np.repeat(scene.ms, 4, axis=1), 4, axis=2)  # a crude "before"
    images = {"EXP": exp, "reference": scene.reference, "PAN": scene.pan}
    windows = [(8, 8, 16), (32, 40, 16)]
    fig = detail_figure(images, scene.sensor.rgb, windows, reference=scene.reference, stretch_key="reference")
    axes = np.array([ax for ax in fig.axes if ax.get_label() != "<colorbar>"]).reshape(4, 3)
    for j, (name, img) in enumerate(images.items()):
        view = rgb_quicklook(img, scene.sensor.rgb, reference=scene.reference if img.ndim == 3 else None)
        np.testing.assert_allclose(_images(axes[0, j])[0], view)
        assert axes[0, j].get_title() == name
        for i, (r, c, s) in enumerate(windows):
            np.testing.assert_allclose(_images(axes[1 + i, j])[0], view[r:r + s, c:c + s])
            assert axes[1 + i, j].get_title() == f"{name}, window {i + 1} ({s}×{s})"
    # error row: the SAM map of EXP, nothing for the reference itself or the PAN
    np.testing.assert_allclose(_images(axes[3, 0])[0], sam_map(exp, scene.reference))
    assert not _images(axes[3, 1]) and not _images(axes[3, 2])
    vmax = axes[3, 0].get_images()[0].get_clim()[1]
    assert vmax == pytest.approx(np.percentile(sam_map(exp, scene.reference), 95))
    plt.close(fig)
    fig = detail_figure({"EXP": exp, "PAN": scene.pan}, scene.sensor.rgb, windows[:1])  # no reference: no error row
    assert sum(1 for ax in fig.axes if ax.get_images()) == 4
    plt.close(fig)


def test_sam_map_values():
    ref = np.stack([np.ones((2, 2)), np.zeros((2, 2))])
    x = np.stack([np.ones((2, 2)), np.ones((2, 2))])
    np.testing.assert_allclose(sam_map(x, ref), 45.0)
    np.testing.assert_allclose(sam_map(3 * ref, ref), 0.0, atol=1e-6)
    np.testing.assert_array_equal(sam_map(x, np.zeros_like(x)), 0.0)  # a zero spectrum has no angle: 0, as SAM
