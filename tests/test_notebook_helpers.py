"""Helpers added for the tutorial notebooks 3-6: training loss curves (clippan_kit.viz) and the prompt
editor of the embedding-space notebook (clippan_kit.supervisor.viz)."""
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
from clippan_kit.supervisor.viz import PromptEditor, prompt_shift, protocol_text_features  # noqa: E402
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
    box, button, out = editor.widget.children
    assert box.value == sup.prompts.hrms
    box.value = "a fused product of the MS and PAN images"
    button.click()  # the callback runs update() and must not raise outside a notebook either
    with pytest.raises(ValueError):
        editor.update("   ")
