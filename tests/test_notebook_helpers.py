"""Helpers of the tutorial notebooks: show/table (clippan_kit.notebook), training loss curves
(clippan_kit.viz), the exact direction-vector plane and the prompt editor of the embedding-space notebook
(clippan_kit.supervisor.viz)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from clippan_kit.sensors import get_sensor  # noqa: E402
from clippan_kit.supervisor import CLIPSupervisor, Tiles, load_base  # noqa: E402
from clippan_kit.supervisor.evaluate import embed_tiles  # noqa: E402
from clippan_kit.supervisor.prompts import HRMS_PROMPTS  # noqa: E402
from clippan_kit.notebook import format_table, show, table  # noqa: E402
from clippan_kit.supervisor.viz import (PromptEditor, direction_cosines, direction_plane, direction_planes,  # noqa: E402
                                        direction_vectors, plane_coords, plot_direction_candidates,
                                        plot_direction_histograms, plot_directions, prompt_shift,
                                        protocol_text_features)
from clippan_kit.viz import loss_curves_figure, moving_average  # noqa: E402


def test_moving_average_by_hand():
    assert np.allclose(moving_average([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    assert np.allclose(moving_average([1, 2, 3, 4], 3), [1, 1.5, 2, 3])
    assert np.allclose(moving_average([5, 7], 1), [5, 7])


def test_loss_curves_figure_panels_and_lines():
    a = [{"iteration": i + 1, "spec": 1.0 / (i + 1), "total": 2.0 / (i + 1), "lr": 1e-3, "seconds": 0.1} for i in range(6)]
    b = [{"iteration": i + 1, "spec": 0.5, "direction": 0.9, "total": 1.4, "jesse.spat": 1.0} for i in range(6)]
    fig = loss_curves_figure({"run a": a, "run b": b}, smooth=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["total", "spec", "direction"]  # total first, bookkeeping and sub-parts skipped
    lines = {ax.get_title(): len(ax.get_lines()) for ax in fig.axes}
    assert lines == {"total": 4, "spec": 4, "direction": 2}  # raw + smoothed per run that logs the term
    smoothed = fig.axes[0].get_lines()[1].get_ydata()
    assert np.allclose(smoothed, moving_average([2.0 / (i + 1) for i in range(6)], 3))
    plt.close(fig)
    with pytest.raises(ValueError):
        loss_curves_figure({"empty": []})


@pytest.fixture(scope="module")
def tiny_setup():
    torch.manual_seed(0)
    sup = CLIPSupervisor(load_base("tiny"), get_sensor("wv2")).eval()
    g = torch.Generator().manual_seed(1)
    tiles = Tiles(torch.rand(5, 8, 8, 8, generator=g), torch.rand(5, 1, 32, 32, generator=g))
    hrms = torch.rand(5, 8, 32, 32, generator=g)
    return sup, embed_tiles(sup, tiles, hrms)


def test_protocol_text_features_replace_only_the_protocol_row(tiny_setup):
    sup, _ = tiny_setup
    before = sup.prompts
    same = protocol_text_features(sup, sup.prompts.hrms)
    assert torch.allclose(same, sup.text_features(), atol=1e-6)
    other = protocol_text_features(sup, "an image independent of the inputs")
    assert sup.prompts is before  # the supervisor keeps its own prompts
    assert torch.allclose(other[:2], same[:2], atol=1e-6) and not torch.allclose(other[2], same[2], atol=1e-3)
    assert torch.allclose(other.norm(dim=1), torch.ones(3), atol=1e-5)


def test_prompt_shift_is_identity_for_the_trained_prompt(tiny_setup):
    sup, feats = tiny_setup
    same = prompt_shift(sup, feats, sup.prompts.hrms)
    assert same["text_cos"] == pytest.approx(1, abs=1e-5)
    assert same["dT_cos_ms"] == pytest.approx(1, abs=1e-5) and same["dT_cos_pan"] == pytest.approx(1, abs=1e-5)
    assert same["ld"] == pytest.approx(same["ld_trained"], abs=1e-6)
    # L_d = 1 - mean of the two agreements (Eq. 6)
    assert same["ld"] == pytest.approx(1 - 0.5 * (same["agree_ms"] + same["agree_pan"]), abs=1e-5)
    other = prompt_shift(sup, feats, "noise")  # a named protocol: HRMS_PROMPTS["noise"]
    assert other["text_cos"] < 0.999 and other["ld"] != pytest.approx(other["ld_trained"], abs=1e-6)
    assert other["ld_trained"] == pytest.approx(same["ld_trained"], abs=1e-6)


def test_prompt_editor_update_and_widget(tiny_setup):
    sup, feats = tiny_setup
    editor = PromptEditor(sup, feats)
    numbers, fig = editor.update(HRMS_PROMPTS["khan"])
    assert set(numbers) == {"text_cos", "dT_cos_ms", "dT_cos_pan", "agree_ms", "agree_pan", "ld", "ld_trained"}
    assert len(fig.axes) == 2 and "edited prompt" in fig.axes[0].get_title()
    assert editor.summary(numbers).count("\n") == len(numbers) - 1
    plt.close(fig)
    choice, box, button, out = editor.widget.children
    assert box.value == sup.prompts.hrms
    assert list(choice.options)[1:] == list(HRMS_PROMPTS)  # the paper's Table-5 descriptors
    choice.value = "II"  # picking a descriptor puts its sentence in the box (and redraws)
    assert box.value == HRMS_PROMPTS["II"]
    box.value = "a fused product of the MS and PAN images"
    button.click()  # the callback runs update() and must not raise outside a notebook either
    with pytest.raises(ValueError):
        editor.update("   ")


def test_format_table_fixed_width_and_comparison_rows(capsys):
    rows = {"exp": {"Q2n": 0.638331, "SAM": 6.19756}, "bdsd": {"Q2n": 0.9, "SAM": 4.0}}
    text = format_table(rows, ["Q2n", "SAM"])
    assert text.splitlines() == ["method" + " " * 10 + "        Q2n        SAM",
                                 "exp" + " " * 13 + "     0.6383     6.1976",
                                 "bdsd" + " " * 12 + "     0.9000     4.0000"]

    class Comparison:  # like clippan_kit.compare.Comparison: rows in .metrics
        metrics = rows

    table(Comparison(), ["SAM"], digits=2, name_width=6, col_width=6)
    assert capsys.readouterr().out == "method   SAM\nexp     6.20\nbdsd    4.00\n"


def test_show_closes_the_figure():
    fig = plt.figure()
    show(fig)
    assert not plt.fignum_exists(fig.number)


def test_direction_plane_keeps_the_true_angle():
    rng = np.random.default_rng(3)
    dT, dI = rng.normal(size=384), rng.normal(size=(20, 384)) + 0.3
    plane = direction_plane(dT, dI.mean(0))
    assert np.allclose(plane @ plane.T, np.eye(2), atol=1e-12)  # orthonormal
    true = np.degrees(np.arccos(dT @ dI.mean(0) / np.linalg.norm(dT) / np.linalg.norm(dI.mean(0))))
    pt, pm = plane_coords(dT, plane), plane_coords(dI.mean(0), plane)
    drawn = np.degrees(np.arccos(pt @ pm / np.linalg.norm(pt) / np.linalg.norm(pm)))
    assert 10 < true < 170 and drawn == pytest.approx(true, abs=1e-9)
    assert np.allclose(pt, [np.linalg.norm(dT), 0]) and pm[1] > 0  # ΔV^T along x, the mean above it
    assert np.linalg.norm(pm) == pytest.approx(np.linalg.norm(dI.mean(0)))  # in-plane vectors keep their length
    e = direction_plane(dT, 2.5 * dT)  # parallel: still an orthonormal plane containing dT
    assert np.allclose(e @ e.T, np.eye(2), atol=1e-9) and np.allclose(plane_coords(dT, e), [np.linalg.norm(dT), 0])


def test_direction_figures_and_fixed_editor_planes(tiny_setup):
    sup, feats = tiny_setup
    planes = direction_planes(feats)
    d = direction_vectors(feats, "hrms")
    for src in ("ms", "pan"):
        cos_true = d[f"dT_{src}"] @ d[f"dI_{src}"].mean(0) / np.linalg.norm(d[f"dT_{src}"]) / np.linalg.norm(d[f"dI_{src}"].mean(0))
        pt, pm = plane_coords(d[f"dT_{src}"], planes[src]), plane_coords(d[f"dI_{src}"].mean(0), planes[src])
        assert pt @ pm / np.linalg.norm(pt) / np.linalg.norm(pm) == pytest.approx(cos_true, abs=1e-6)
    fig = plot_directions(feats)
    assert "(exact)" in fig.axes[0].get_title() and fig.get_dpi() >= 100
    plt.close(fig)
    editor = PromptEditor(sup, feats)
    _, fig = editor.update(HRMS_PROMPTS["noise"])
    assert all(np.array_equal(editor.planes[s], planes[s]) for s in planes)  # the plane does not follow the prompt
    assert "edited prompt" in fig.axes[0].get_title()
    plt.close(fig)
    fig = plot_direction_candidates(feats)
    assert len(fig.axes) == 6
    plt.close(fig)
    cos = direction_cosines(feats, "hrms")
    assert cos["ms"].shape == (5,) and np.all(np.abs(cos["ms"]) <= 1 + 1e-6)
    fig = plot_direction_histograms({"before": feats, "after": feats})
    assert len(fig.axes) == 4 and "mean" in fig.axes[0].get_legend().get_texts()[0].get_text()
    plt.close(fig)


def test_textured_window_finds_the_texture():
    from clippan_kit.viz import textured_window

    pan = np.zeros((96, 128))
    yy, xx = np.mgrid[:20, :20]
    pan[50:70, 80:100] = (yy + xx) % 2  # a checkerboard patch in a flat image
    r, c, s = textured_window(pan, 16)
    assert s == 16 and 50 - 1 <= r <= 70 - 16 + 1 and 80 - 1 <= c <= 100 - 16 + 1
    r, c, _ = textured_window(np.ones((64, 64)), 32)  # flat: any window inside the margin
    assert 8 <= r <= 64 - 32 - 8 and 8 <= c <= 64 - 32 - 8


def test_error_map_colour_scale_capped_at_the_percentile():
    from clippan_kit.viz import error_map_figure

    rng = np.random.default_rng(0)
    ref = rng.uniform(1, 2, size=(3, 32, 32))
    fused = ref + rng.normal(scale=0.05, size=ref.shape)
    fig = error_map_figure({"a": fused}, ref, percentile=90)
    vmax = fig.axes[0].get_images()[0].get_clim()[1]
    dot = (fused * ref).sum(0) / (np.linalg.norm(fused, axis=0) * np.linalg.norm(ref, axis=0))
    assert vmax == pytest.approx(np.percentile(np.degrees(np.arccos(np.clip(dot, -1, 1))), 90))
    plt.close(fig)
