"""Every fusion path returns values in the physical range [0, full scale] (issue 11, item 2)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clippan_kit import Scene, get_sensor
from clippan_kit.classical import METHODS, fuse
from clippan_kit.infer import fuse_scene
from clippan_kit.models.base import PansharpeningModel


def _spiky_scene(max_value: float = 2047.0) -> Scene:
    """8-band 16² MS of dark pixels with a few saturated ones: the 23-tap interpolator rings below 0 around
    them, and detail injection from a PAN with a bright stripe overshoots the full scale."""
    rng = np.random.default_rng(3)
    ms = rng.uniform(0.0, 0.05, (8, 16, 16)) * max_value
    ms[:, 5, 5] = ms[:, 10, 3] = max_value
    pan = rng.uniform(0.0, 0.1, (64, 64)) * max_value
    pan[:, 30:33] = max_value
    return Scene(pan=pan.astype(np.float32), ms=ms.astype(np.float32), sensor=get_sensor("wv2"), max_value=max_value)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_classical_fusion_stays_in_the_physical_range(method):
    scene = _spiky_scene()
    out = fuse(scene, method)
    assert out.dtype == np.float32 and out.shape == (8, 64, 64)
    assert float(out.min()) >= 0.0 and float(out.max()) <= scene.max_value
    raw = METHODS[method](scene.ms, scene.pan, scene.sensor)
    assert np.array_equal(out, np.clip(raw, 0, scene.max_value))  # a clip, nothing else


def test_the_clip_matters_for_exp_and_gram_schmidt():
    scene = _spiky_scene()
    assert float(METHODS["exp"](scene.ms, scene.pan, scene.sensor).min()) < -10.0  # interpolator ringing
    gs = METHODS["gs"](scene.ms, scene.pan, scene.sensor)
    assert float(gs.min()) < 0.0 or float(gs.max()) > scene.max_value


class _Overshoot(PansharpeningModel):
    """A 'network' whose output leaves [0, 1] on both sides: 3 * ms_up - 1."""

    def __init__(self):
        super().__init__(8, 4)
        self.w = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, ms_up, pan, ms_lr=None):
        return self.w * ms_up - 1.0


def test_backbone_inference_is_clipped_to_the_full_scale():
    scene = _spiky_scene(max_value=255.0)
    out = fuse_scene(_Overshoot(), scene, tile=32, overlap=8, progress=False)
    assert float(out.min()) == 0.0 and float(out.max()) == pytest.approx(255.0)
    inside = (out > 0) & (out < 255.0)
    assert inside.any()  # values in range pass through unchanged (3 * EXP - full scale there)
