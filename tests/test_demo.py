"""The comparison logic (clippan_kit.compare, clippan_kit.methods, the views of clippan_kit.viz) and the demo
page's functions (demo/app.py: uploads, downloads, events), without a browser."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from clippan_kit import compare as cmp
from clippan_kit import viz
from clippan_kit.scene import Scene, SceneError
from clippan_kit.sensors import generic_sensor, get_sensor

ROOT = Path(__file__).resolve().parents[1]
WV3 = "zpnn_wv3/WV3_example.mat"


@pytest.fixture(scope="module")
def wv3_scene(scene_file):
    from clippan_kit.io import load_scene

    return load_scene(scene_file(WV3), sensor="wv3")


def _load_app():
    name = "clippan_demo_app"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "demo" / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def tiny_scene(n_bands: int = 4, size: int = 32, seed: int = 0) -> Scene:
    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 900, (n_bands, size // 4, size // 4)).astype(np.float32)
    pan = rng.uniform(100, 900, (size, size)).astype(np.float32)
    return Scene(pan, ms, get_sensor("qb") if n_bands == 4 else generic_sensor(n_bands))


# ----------------------------------------------------------------------------- method choices
def test_classical_choices_follow_the_registry():
    from clippan_kit.classical import METHODS

    choices = cmp.classical_choices()
    assert [c.key for c in choices] == list(METHODS)
    assert all(c.kind == "classical" for c in choices)
    assert len({c.label for c in choices}) == len(choices)


def test_checkpoint_choices_list_only_checkpoint_files(tmp_path):
    for name in ("b.pt", "a.pth", "c.ckpt", "notes.txt", "weights.npz"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.pt").mkdir()
    choices = cmp.checkpoint_choices(tmp_path)
    assert [c.label for c in choices] == ["a", "b", "c"]
    assert all(c.kind == "checkpoint" and c.checkpoint.parent == tmp_path for c in choices)
    assert cmp.checkpoint_choices(tmp_path / "missing") == []
    assert cmp.checkpoint_choices(None) == []
    with pytest.raises(SceneError, match=r"\.pt"):
        cmp.checkpoint_choice(tmp_path / "notes.txt")


def test_method_choice_rejects_bad_kinds():
    with pytest.raises(ValueError, match="kind"):
        cmp.MethodChoice("x", "x", "magic")
    with pytest.raises(ValueError, match="checkpoint"):
        cmp.MethodChoice("x", "x", "checkpoint")


def test_missing_checkpoint_is_reported_per_method_and_others_still_run():
    scene = tiny_scene()
    choices = [cmp.checkpoint_choice("/nonexistent/model.pt"), *cmp.classical_choices()[:1]]
    result = cmp.compare(scene, choices, metrics=False)
    assert "not found" in result.errors["model"]
    assert result.labels == [choices[1].label]
    assert result.fused[choices[1].label].shape == (4, 32, 32)


# ----------------------------------------------------------------------------- comparison
def test_iter_compare_yields_after_each_method(wv3_scene):
    choices = cmp.classical_choices()
    steps = []
    for i, choice, result in cmp.iter_compare(wv3_scene, choices, metrics=False):
        steps.append((i, choice.label, list(result.fused)))
    assert [s[0] for s in steps] == list(range(len(choices)))
    assert steps[-1][2] == [c.label for c in choices]
    for label, fused in result.fused.items():
        assert fused.shape == (8, 128, 128) and fused.dtype == np.float32 and np.isfinite(fused).all()
        assert result.seconds[label] > 0
    # EXP is the 23-tap interpolation: decimating it at phase r//2 gives the MS back exactly.
    exp = result.fused[choices[0].label]
    np.testing.assert_allclose(exp[:, 2::4, 2::4], wv3_scene.ms, rtol=0, atol=1e-3)
    # Detail-injecting methods differ from EXP, and from one another.
    assert not np.allclose(result.fused["Gram-Schmidt"], exp)
    assert not np.allclose(result.fused["Brovey transform"], result.fused["Gram-Schmidt"])


def test_compare_reports_progress_and_rejects_duplicates():
    scene = tiny_scene()
    calls = []
    choices = cmp.classical_choices()[:3]
    result = cmp.compare(scene, choices, metrics=False, progress=lambda f, msg: calls.append((f, msg)))
    assert [round(f, 3) for f, _ in calls] == [0.0, 0.333, 0.667, 1.0]
    assert calls[0][1].startswith(choices[0].label) and calls[-1][1] == "done"
    assert result.labels == [c.label for c in choices]
    with pytest.raises(ValueError, match="unique"):
        cmp.compare(scene, [choices[0], choices[0]], metrics=False)
    with pytest.raises(ValueError, match="at least one"):
        cmp.compare(scene, [], metrics=False)


def test_metrics_table_aligns_columns_across_methods():
    comp = cmp.Comparison(scene=tiny_scene())
    comp.fused = {"a": None, "b": None}
    comp.seconds = {"a": 1.234, "b": 0.5}
    comp.metrics = {"a": {"QNR": 0.912345678, "SAM": 3.0}, "b": {"QNR": 0.8, "ERGAS (RR)": 2.5}}
    headers, rows = cmp.metrics_table(comp)
    assert headers == ["method", "time (s)", "QNR", "SAM", "ERGAS (RR)"]
    assert rows == [["a", 1.23, 0.9123, 3.0, None], ["b", 0.5, 0.8, None, 2.5]]


# ----------------------------------------------------------------------------- views
def test_band_composites_per_sensor():
    wv3 = viz.band_composites(get_sensor("wv3"))
    assert list(wv3.values()) == [(4, 2, 1), (6, 4, 2)]  # true colour; NIR1-red-green
    assert list(viz.band_composites(get_sensor("qb")).values()) == [(2, 1, 0), (3, 2, 1)]
    landsat = viz.band_composites(get_sensor("landsat8"))
    assert list(landsat.values()) == [(3, 2, 1), (4, 3, 2), (6, 4, 3)]
    generic = viz.band_composites(generic_sensor(5))
    assert list(generic.values()) == [(2, 1, 0), (4, 2, 0)]
    assert list(viz.band_composites(generic_sensor(1)).values()) == [(0, 0, 0)]


@pytest.mark.parametrize(
    "frac, size, expected",
    [((0.5, 0.5), 64, (32, 96, 64)), ((0.0, 0.0), 64, (0, 0, 64)), ((1.0, 1.0), 64, (64, 192, 64)),
     ((0.5, 0.5), 1000, (0, 64, 128)), ((0.25, 0.9), 10, (27, 225, 10))],
)
def test_crop_box_is_centred_and_clamped(frac, size, expected):
    assert viz.crop_box((128, 256), *frac, size) == expected


def test_render_shares_stretch_between_full_and_cropped_views(wv3_scene):
    rgb = wv3_scene.sensor.rgb
    from clippan_kit.wald import interp23tap

    exp = interp23tap(wv3_scene.ms, 4)
    full = viz.render(exp, rgb, reference=wv3_scene.ms)
    assert full.shape == (128, 128, 3) and full.dtype == np.uint8
    assert full.min() == 0 and full.max() == 255  # 2-98 % stretch saturates both ends
    box = viz.crop_box(wv3_scene.shape, 0.3, 0.6, 32)
    crop = viz.render(exp, rgb, reference=wv3_scene.ms, box=box)
    r, c, s = box
    np.testing.assert_array_equal(crop, full[r:r + s, c:c + s])
    big = viz.render(exp, rgb, reference=wv3_scene.ms, box=box, display_size=256)
    assert big.shape == (256, 256, 3)
    np.testing.assert_array_equal(big[::8, ::8], crop)  # nearest-neighbour, pixel-sharp
    pan = viz.render(wv3_scene.pan, rgb, reference=wv3_scene.ms, box=box)
    assert pan.shape == (32, 32, 3) and (pan[..., 0] == pan[..., 2]).all()
    np.testing.assert_array_equal(pan, viz.render(wv3_scene.pan)[r:r + s, c:c + s])
    with pytest.raises(ValueError, match="composite"):
        viz.render(exp, (0, 1, 9))


def test_render_outline_frames_the_crop_only():
    img = np.zeros((3, 40, 50))
    img[:, ::2] = 1.0  # stripes: stretch maps them to 0 and 255
    plain = viz.render(img)
    framed = viz.render(img, outline=(5, 10, 8))
    yellow = (framed == [255, 255, 0]).all(-1)
    frame = np.zeros((40, 50), bool)
    frame[[5, 12], 10:18] = True
    frame[5:13, [10, 17]] = True
    assert (yellow == frame).all()
    np.testing.assert_array_equal(framed[~frame], plain[~frame])


# ----------------------------------------------------------------------------- uploads
def _write_tif(path: Path, data: np.ndarray, transform=None) -> None:
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    warnings.simplefilter("ignore", NotGeoreferencedWarning)  # plain TIFFs are the point of some tests
    data = data[None] if data.ndim == 2 else data
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0], dtype=data.dtype.name)
    if transform is not None:
        profile.update(crs="EPSG:32616", transform=transform)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def test_scene_from_a_georeferenced_geotiff_pair_in_either_order(tmp_path, wv3_scene):
    from affine import Affine

    ms = np.round(wv3_scene.ms).astype(np.uint16)
    pan = np.round(wv3_scene.pan).astype(np.uint16)
    _write_tif(tmp_path / "ms.tif", ms, Affine(2.0, 0, 500000.0, 0, -2.0, 4000000.0))
    _write_tif(tmp_path / "pan.tif", pan, Affine(0.5, 0, 500000.0, 0, -0.5, 4000000.0))
    for order in ([tmp_path / "ms.tif", tmp_path / "pan.tif"], [tmp_path / "pan.tif", tmp_path / "ms.tif"]):
        scene = _load_app().scene_from_files(order, sensor="wv3")
        assert scene.shape == (128, 128) and scene.n_bands == 8
        np.testing.assert_array_equal(scene.pan, pan.astype(np.float32))
        np.testing.assert_array_equal(scene.ms, ms.astype(np.float32))
        assert scene.crs is not None


def test_scene_from_a_plain_tiff_pair_tells_pan_by_size(tmp_path, wv3_scene):
    _write_tif(tmp_path / "a.tif", np.round(wv3_scene.pan).astype(np.uint16))
    _write_tif(tmp_path / "b.tif", np.round(wv3_scene.ms).astype(np.uint16))
    scene = _load_app().scene_from_files([tmp_path / "b.tif", tmp_path / "a.tif"], sensor="wv3")
    assert scene.shape == (128, 128) and scene.n_bands == 8


def test_scene_from_a_mat_file(scene_file):
    scene = _load_app().scene_from_files([scene_file(WV3)], sensor="wv3")
    assert scene.shape == (128, 128) and scene.sensor.name == "wv3"


@pytest.mark.parametrize("case", ["none", "one_tif", "three", "txt", "garbage_tif", "same_size", "no_sensor"])
def test_bad_uploads_raise_readable_scene_errors(tmp_path, case, scene_file):
    garbage = tmp_path / "broken.tif"
    garbage.write_bytes(b"this is not a tiff")
    good = tmp_path / "x.tif"
    _write_tif(good, np.ones((8, 8), np.uint16))
    other = tmp_path / "y.tif"
    _write_tif(other, np.ones((8, 8), np.uint16))
    files, pattern = {
        "none": ([], "no file uploaded"),
        "one_tif": ([good], "two GeoTIFFs"),
        "three": ([good, other, garbage], "two GeoTIFFs"),
        "txt": ([tmp_path / "notes.txt"], "cannot build a scene"),
        "garbage_tif": ([garbage, good], "broken.tif"),
        "same_size": ([good, other], "same size"),
        "no_sensor": ([_copy(scene_file(WV3), tmp_path / "scene.mat")], "choose it in the 'Sensor' list"),
    }[case]
    with pytest.raises(SceneError, match=pattern) as err:
        _load_app().scene_from_files(files)
    _assert_page_message(str(err.value))


def _copy(src, dst):
    import shutil

    shutil.copy(src, dst)
    return dst


def _assert_page_message(msg: str) -> None:
    """Nothing a page user cannot act on: no Python keywords, no command-line options, no temp paths."""
    for bad in ("sensor=", "--sensor", "bands=[", "crop=True", "list_sensors", "/tmp/", "Traceback"):
        assert bad not in msg, msg


# ----------------------------------------------------------------------------- trained models
@pytest.mark.slow
def test_checkpoints_and_lambda_pnn_run_through_compare(tmp_path, wv3_scene):
    from clippan_kit.train import train

    train(wv3_scene, backbone="pnn", mode="unsup", preset="tiny", checkpoint=tmp_path / "pnn_unsup.pt", progress=False)
    (tmp_path / "foreign.pt").write_bytes(b"not a checkpoint")
    choices = cmp.checkpoint_choices(tmp_path)
    assert [c.label for c in choices] == ["foreign", "pnn_unsup (pnn, without CLIPPan)"]
    lam = cmp.lambda_pnn_choice(1, n_tiles=1, tile=64, use_cache=False)  # the λ-PNN pipeline, 1 adaptation epoch
    result = cmp.compare(wv3_scene, [*choices, lam], metrics=False)
    assert "not a readable checkpoint" in result.errors["foreign"]
    assert result.labels == ["pnn_unsup (pnn, without CLIPPan)", "λ-PNN (JESSE)"]
    for fused in result.fused.values():
        assert fused.shape == (8, 128, 128) and np.isfinite(fused).all()
    # A checkpoint for another band count is refused with a clear message, not a crash.
    qb = tiny_scene(4, 32)
    other = cmp.compare(qb, [choices[1]], metrics=False)
    assert "8 bands" in other.errors[choices[1].label]


# ----------------------------------------------------------------------------- demo page functions
@pytest.fixture(scope="module")
def app():
    return _load_app()


def test_app_loads_the_default_scene_and_a_failed_load_clears_it(app, tmp_path):
    session, status, info, composite = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 512, None)
    assert status.startswith("Loaded") and "WorldView-2" in info and "ground truth: yes" in info
    assert session.scene.shape == (256, 256) and session.scene.reference is not None
    assert composite["value"] == next(iter(viz.band_composites(session.scene.sensor)))
    bad = tmp_path / "scene.mat"
    bad.write_bytes(b"garbage")
    session2, status, info, composite = app.on_load(app.UPLOAD_SOURCE, [str(bad)], app.AUTO_SENSOR, 512, session)
    assert status.startswith("**Error:**") and "scene.mat" in status and str(tmp_path) not in status
    assert "No scene loaded" in info and composite["choices"] == []
    assert session2 is session and session.scene is None  # Run must not use the previous scene
    with pytest.raises(SceneError, match="no scene is loaded"):
        list(app.run_comparison(session, ["exp"], None, False, cmp.classical_choices()))
    _, status, *_ = app.on_load("no-such-sample", None, app.AUTO_SENSOR, 512, session)
    assert "unknown scene source" in status


def test_app_crops_large_scenes(app, scene_file):
    scene = app.load_scene(app.UPLOAD_SOURCE, [str(scene_file(WV3))], "wv3", max_size=64)
    assert scene.shape == (64, 64) and scene.ms.shape == (8, 16, 16)


def test_app_run_views_and_downloads(app):
    session, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 128, None)
    assert session.scene.shape == (128, 128)
    known = cmp.classical_choices()
    steps = [msg for _, msg in app.run_comparison(session, ["exp", "brovey"], None, False, known)]
    assert steps[0].startswith("Running EXP") and any(m.startswith("Running Brovey") for m in steps)
    assert steps[-1].startswith("Finished")
    comp = session.comparison
    assert comp.labels == ["EXP (23-tap interpolation)", "Brovey transform"] and not comp.errors
    assert {"QNR", "D_lambda", "D_s", "SAM", "ERGAS", "Q2n"} <= set(comp.metrics["Brovey transform"])
    # Reference-based indices on the synthetic scene: EXP is blurred, so not perfect.
    assert 0 < comp.metrics["EXP (23-tap interpolation)"]["Q2n"] < 1
    assert app.view_names(session) == ["PAN", app.MS_VIEW, *comp.labels, app.REFERENCE_VIEW]
    # The time column is the method's own time in the worker: positive, and the table shows it.
    assert all(0 < t < 60 for t in comp.seconds.values()), comp.seconds
    composite = next(iter(viz.band_composites(session.scene.sensor)))
    pair, full, crops = app.render_views(session, composite, 0.5, 0.5, 32, "PAN", "Brovey transform")
    assert pair[0].shape == pair[1].shape == (128, 128, 3)
    assert [c for _, c in full] == app.view_names(session)
    assert all(img.shape == (256, 256, 3) for img, _ in crops)  # 32 px crop shown at 8x
    paths = app.write_downloads(session)
    assert [Path(p).suffix for p in paths] == [".tif", ".tif", ".csv"]
    from clippan_kit.io import read_raster

    np.testing.assert_allclose(read_raster(paths[1]), comp.fused["Brovey transform"], rtol=1e-6)
    csv = Path(paths[2]).read_text().splitlines()
    assert csv[0].startswith("method,time (s),") and csv[2].startswith("Brovey transform,")
    with pytest.raises(SceneError, match="at least one"):
        list(app.run_comparison(session, [], None, False, known))
    with pytest.raises(SceneError, match="no scene is loaded"):
        list(app.run_comparison(app.Session(), ["exp"], None, False, known))


def test_app_sessions_are_independent(app):
    a, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 64, None)
    b, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 64, None)
    list(app.run_comparison(a, ["exp"], None, False, cmp.classical_choices()))
    assert a.workdir != b.workdir and b.comparison is None
    a.cleanup()
    assert not a.workdir.exists() and b.workdir.exists()
    b.cleanup()


def test_resolve_methods_adds_uploads_and_lambda_epochs(app, tmp_path):
    known = [*cmp.classical_choices(), cmp.lambda_pnn_choice()]
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"x")
    chosen = app.resolve_methods(["gs", "lambda-pnn", "unknown"], known, [str(ckpt), str(ckpt)], lambda_epochs=7)
    assert [c.label for c in chosen] == ["Gram-Schmidt", "λ-PNN (JESSE)", "m (uploaded)", "m (uploaded) #2"]
    assert chosen[1].kind == "lambda-pnn" and chosen[1].options["epochs"] == 7


def test_metrics_csv_keeps_labels_with_commas_in_one_field(app):
    import csv

    session, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 64, None)
    label = "pnn_unsup (pnn, without CLIPPan)"  # what checkpoint_choice makes of a Stage II checkpoint
    fused = session.scene.ms.repeat(4, axis=1).repeat(4, axis=2)
    session.comparison = cmp.Comparison(session.scene, fused={label: fused}, metrics={label: {"QNR": 0.5, "D_s": 0.25}},
                                        seconds={label: 1.0})
    rows = list(csv.reader(open(app.write_downloads(session)[-1], newline="")))
    assert rows == [["method", "time (s)", "QNR", "D_s"], [label, "1.0", "0.5", "0.25"]]
    session.cleanup()
