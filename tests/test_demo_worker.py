"""The demo's uploads (sensor and band names), its worker process (progress, Stop that frees the CPU), its
downloads and tables, and the CLIPPan supervisor's column, without a browser."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from clippan_kit import compare as cmp
from clippan_kit.compare_worker import WorkerRun
from clippan_kit.errors import SceneError
from clippan_kit.samples import default_scene

from test_demo import _assert_page_message, _load_app


@pytest.fixture(scope="module")
def app():
    return _load_app()


def _write_tif(path, data, transform, descriptions=None, nodata=None):
    import rasterio

    data = data[None] if data.ndim == 2 else data
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype.name, crs="EPSG:32635", transform=transform, nodata=nodata) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)


def _landsat_like_pair(folder, descriptions=None):
    """A 3-band (blue, green, red) 30 m MS and a 15 m PAN, georeferenced like landsat_istanbul (PAN nodata 0)."""
    from affine import Affine

    rng = np.random.default_rng(3)
    pan = rng.integers(5000, 20000, (64, 64)).astype(np.uint16)
    pan[:4, :4] = 0  # nodata corner
    ms = rng.uniform(5000, 20000, (3, 32, 32)).astype(np.float32)
    _write_tif(folder / "ms.tif", ms, Affine(30.0, 0, 667635.0, 0, -30.0, 4554225.0), descriptions)
    _write_tif(folder / "pan.tif", pan, Affine(15.0, 0, 667635.0, 0, -15.0, 4554225.0), nodata=0)
    return [folder / "ms.tif", folder / "pan.tif"]


# ----------------------------------------------------------------------------- uploads
@pytest.mark.parametrize("names, expected", [
    (["WV3_example.mat"], "wv3"), (["imgWV2.mat"], "wv2"), (["worldview-3_ms.tif", "pan.tif"], "wv3"),
    (["LC08_L1TP_180031_B4.TIF"], "landsat8"), (["landsat_ms.tif", "landsat_pan.tif"], "landsat8"),
    (["qb_scene.mat"], "qb"), (["mqb.tif"], None), (["scene.mat"], None), (["wv2_ms.tif", "wv3_pan.tif"], None),
])
def test_infer_sensor_from_file_names(app, names, expected):
    assert app.uploads.infer_sensor(names) == expected


def test_parse_bands(app):
    assert app.parse_bands(" Blue, green;red ") == ["blue", "green", "red"]
    assert app.parse_bands("blue green") == ["blue", "green"]
    assert app.parse_bands("  ") is None and app.parse_bands(None) is None


def test_landsat_rgb_geotiff_pair_uploads_with_band_names(app, tmp_path):
    paths = _landsat_like_pair(tmp_path)
    with pytest.raises(SceneError) as err:  # 3 bands, Landsat has 8: the page says what to type, and where
        app.load_scene(app.UPLOAD_SOURCE, paths, "landsat8", 512)
    assert "MS band names" in str(err.value) and "ms.tif" in str(err.value)
    _assert_page_message(str(err.value))
    scene = app.load_scene(app.UPLOAD_SOURCE, paths, "landsat8", 512, bands="blue, green, red")
    assert scene.sensor.bands == ("blue", "green", "red") and scene.ratio == 2
    assert scene.shape == (64, 64) and scene.crs is not None
    assert scene.has_nodata and not scene.valid[:4, :4].any() and scene.valid[4:, 4:].all()
    # Band descriptions in the file name the bands: no typing needed.
    described = tmp_path / "described"
    described.mkdir()
    scene = app.load_scene(app.UPLOAD_SOURCE, _landsat_like_pair(described, ["blue", "green", "red"]), "landsat8")
    assert scene.sensor.bands == ("blue", "green", "red")
    # A file named after its sensor needs no sensor choice.
    named = tmp_path / "named"
    named.mkdir()
    ms, pan = _landsat_like_pair(named)
    ms, pan = ms.rename(named / "landsat_ms.tif"), pan.rename(named / "landsat_pan.tif")
    assert app.load_scene(app.UPLOAD_SOURCE, [ms, pan], app.AUTO_SENSOR, bands="blue green red").sensor.name == "landsat8"


def test_real_landsat_istanbul_pair_uploads_with_band_names(app, scene_file):
    ms, pan = scene_file("landsat_istanbul/ms.tif"), scene_file("landsat_istanbul/pan.tif")
    scene = app.load_scene(app.UPLOAD_SOURCE, [str(ms), str(pan)], "landsat8", 2048, bands="blue,green,red")
    assert scene.shape == (372, 556) and scene.n_bands == 3


def test_mat_named_after_its_sensor_needs_no_sensor(app, scene_file, tmp_path):
    scene = app.load_scene(app.UPLOAD_SOURCE, [str(scene_file("zpnn_wv3/WV3_example.mat"))], app.AUTO_SENSOR)
    assert scene.sensor.name == "wv3"


@pytest.mark.parametrize("raw, page", [
    ("/tmp/gradio/0a1b2c/scene.mat: the file does not say which sensor took it: pass sensor=... (e.g. 'wv3', "
     "'qb', 'landsat8'; see clippan_kit.list_sensors()), or --sensor on the command line",
     "scene.mat: the file does not say which sensor took it: choose it in the 'Sensor' list"),
    ("/tmp/x/ms.tif: the MS file has 3 bands but sensor Landsat 8/9 OLI has 8 (coastal, blue); pass the right "
     "sensor or bands=[...] naming the file's bands",
     "ms.tif: the MS file has 3 bands but sensor Landsat 8/9 OLI has 8 (coastal, blue); choose the right sensor, "
     "or type the file's bands in 'MS band names' in file order (e.g. blue, green, red)"),
    ("a: PAN 100x100 and MS 20x20 do not fit ratio 4 (PAN must be exactly 4x the MS: 80x80 for this MS); pass "
     "crop=True to keep the top-left 80x80 PAN pixels",
     "a: PAN 100x100 and MS 20x20 do not fit ratio 4 (PAN must be exactly 4x the MS: 80x80 for this MS): upload "
     "a PAN of exactly that size"),
])
def test_page_messages_say_what_to_do_on_the_page(app, raw, page):
    assert app.page_message(raw) == page


# ----------------------------------------------------------------------------- downloads, tables
def test_download_names_keep_meaning(app):
    assert app.download_name("λ-PNN (JESSE)") == "lambda-PNN_JESSE"
    assert app.download_name("Pléiades D_ρ") == "Pleiades_D_rho"
    assert app.download_name("???") == "result"


def test_downloads_keep_the_pan_nodata(app, tmp_path):
    import rasterio

    session = app.Session()
    session.scene = app.load_scene(app.UPLOAD_SOURCE, _landsat_like_pair(tmp_path), "landsat8", bands="blue,green,red")
    fused = np.full((3, 64, 64), 1000.0, np.float32)
    session.comparison = cmp.Comparison(session.scene, fused={"λ-PNN (JESSE)": fused}, seconds={"λ-PNN (JESSE)": 1.0})
    first = app.write_downloads(session)
    tif = first[0]
    assert tif.endswith("ms_lambda-PNN_JESSE.tif") or tif.endswith("lambda-PNN_JESSE.tif")
    with rasterio.open(tif) as src:
        data = src.read(masked=True)
        assert src.nodata is not None and np.isnan(src.nodata)
        assert data.mask[:, :4, :4].all() and not data.mask[:, 4:, 4:].any()
    # A second run writes a new folder: files the browser may still be fetching are never rewritten.
    second = app.write_downloads(session)
    assert second[0] != tif
    session.cleanup()


def test_every_table_column_is_explained_and_tables_are_narrow(app):
    scene = default_scene(128)  # (at 64² Wald's protocol leaves too few pixels for the RR indices)
    comp = cmp.compare(scene, cmp.classical_choices()[:2], reduced=True)
    assert not comp.errors, comp.errors
    tables = app.metric_tables(comp)
    assert list(tables) == ["metrics-full", "metrics-reprojected", "metrics-reference", "metrics-reduced"]
    for headers, rows in tables.values():
        assert headers[0] == "method" and len(headers) <= 9 and len(rows) == 2
        for h in headers[1:]:
            assert cmp.glossary_entry(h) is not None, h
            assert f"`{h}`" in app.glossary_markdown(headers)
    assert "time (s)" in tables["metrics-full"][0] and "QNR" in tables["metrics-full"][0]
    assert "SAM" in tables["metrics-reference"][0] and "SAM (RR)" in tables["metrics-reduced"][0]


def test_galleries_fit_any_number_of_images(app):
    for n in range(1, 20):
        cols = app.gallery_columns(n)
        assert 1 <= cols <= 5 and cols <= n


# ----------------------------------------------------------------------------- the worker, Stop
def _lambda_choice(epochs: int):
    return cmp.lambda_pnn_choice(epochs, n_tiles=1, tile=64, use_cache=False)


def test_worker_reports_progress_per_epoch_and_honest_time(tmp_path):
    scene = default_scene(128)  # (the full-resolution indices need at least 128² PAN pixels at ratio 4)
    run = WorkerRun(scene, [cmp.classical_choices()[0], _lambda_choice(6)], workdir=tmp_path, threads=1)
    events = list(run.events())
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("done") == 2
    bars = [e for e in events if e["kind"] == "bar" and "adaptation" in e["desc"]]
    assert bars and bars[-1]["n"] == bars[-1]["total"] == 6 and bars[-1]["elapsed"] > 0
    done = {e["label"]: e for e in events if e["kind"] == "done"}
    lam = done["λ-PNN (JESSE)"]
    assert lam["error"] is None and lam["fused"].shape == (8, 128, 128) and "QNR" in lam["metrics"]
    # The method's time includes its adaptation epochs.
    assert lam["seconds"] >= bars[-1]["elapsed"]
    assert not run.running()


def _tree(pid):
    import psutil

    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def test_stop_ends_the_worker_and_frees_the_cpu(tmp_path):
    import psutil

    run = WorkerRun(default_scene(64), [_lambda_choice(100_000)], workdir=tmp_path, threads=1)
    events = run.events()
    for event in events:  # wait until the training runs
        if event["kind"] == "bar" and event["n"] >= 2:
            break
    procs = _tree(run.pid)
    busy = procs[0].cpu_times()
    time.sleep(0.5)
    assert sum(procs[0].cpu_times()[:2]) > sum(busy[:2])  # it was computing
    t0 = time.monotonic()
    assert run.stop() is True
    took = time.monotonic() - t0
    assert took < 3.0, took
    # The event stream ends quietly after a Stop (no WorkerError, no result): at most progress events the
    # worker had already written into the pipe before it was killed are still read.
    rest = list(events)
    assert all(e["kind"] == "bar" for e in rest), rest
    for p in procs:  # the worker and anything it started are gone (not even a zombie is left busy)
        assert not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
    assert run.stop() is False  # nothing left to stop


def test_app_stop_during_a_training_and_with_nothing_running(app):
    session, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 64, None)
    assert app.stop_run(session) is False  # nothing running: the page says so
    known = [*cmp.classical_choices(), cmp.lambda_pnn_choice()]
    messages = []

    def consume():
        for _, msg in app.run_comparison(session, ["exp", "lambda-pnn"], None, False, known, lambda_epochs=100_000,
                                         threads=1):
            messages.append(msg)

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = time.monotonic() + 120
    while not any("target adaptation" in m and "epochs" in m for m in messages):
        assert time.monotonic() < deadline and worker.is_alive(), messages
        time.sleep(0.2)
    assert "s left" in messages[-1]
    pid = session.run.pid
    assert app.stop_run(session) is True
    worker.join(10)
    assert not worker.is_alive()
    import psutil

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert messages[-1].startswith("Stopped after") and "Cancelled: λ-PNN (JESSE)" in messages[-1], messages[-1]
    assert session.comparison.labels == ["EXP (23-tap interpolation)"]  # what finished is kept
    assert session.run is None and app.stop_run(session) is False
    session.cleanup()


# ----------------------------------------------------------------------------- the CLIPPan supervisor
@pytest.fixture(scope="module")
def supervisor_ckpt(tmp_path_factory):
    """A random-weight supervisor on the tiny base (no network, no real weights), saved as a checkpoint."""
    from clippan_kit.sensors import get_sensor
    from clippan_kit.supervisor import CLIPSupervisor, save_checkpoint, tiny_base

    sup = CLIPSupervisor(tiny_base(), get_sensor("wv2"))
    return save_checkpoint(tmp_path_factory.mktemp("sup") / "supervisor.pt", sup, step=0)


def test_supervisor_report_scores_each_fused_image(supervisor_ckpt):
    import torch

    from clippan_kit.supervisor.direction import direction_loss_images
    from clippan_kit.supervisor import load_supervisor

    scene = default_scene(64)
    exp = cmp.compare(scene, cmp.classical_choices()[:1], metrics=False).fused
    rep = cmp.supervisor_report(supervisor_ckpt, scene, exp, tile=32, max_tiles=4)
    (label,) = exp
    s = rep["scores"][label]
    assert 0 <= s["P(HRMS) (supervisor)"] <= 1 and 0 <= s["L_d (supervisor)"] <= 2
    # L_d is the library's image-level L_d on the same tiles.
    sup = load_supervisor(supervisor_ckpt)
    ms, pan, tiles = cmp._scene_tiles(scene, exp, 32, 4)
    assert ms.shape == (4, 8, 8, 8) and pan.shape == (4, 1, 32, 32)
    with torch.no_grad():
        ld = float(direction_loss_images(sup, tiles[label], ms, pan))
    assert s["L_d (supervisor)"] == pytest.approx(ld, rel=1e-5)
    # The anchors lie in the projection plane: their 2-D distances are their true distances.
    with torch.no_grad():
        text = sup.text_features()
    p = {k: np.array(rep["points"][k]) for k in ("MS prompt", "PAN prompt", "HRMS prompt")}
    assert np.linalg.norm(p["MS prompt"] - p["HRMS prompt"]) == pytest.approx(float((text[0] - text[2]).norm()), rel=1e-4)
    assert np.linalg.norm(p["PAN prompt"] - p["HRMS prompt"]) == pytest.approx(float((text[1] - text[2]).norm()), rel=1e-4)
    assert {rep["kinds"][k] for k in rep["points"]} == {"text", "input", "method"}
    assert "reference (ground truth)" in rep["points"]
    from clippan_kit.viz import embedding_figure

    fig = embedding_figure(rep["points"], rep["kinds"])
    assert len(fig.axes[0].collections) == len(rep["points"])


def test_supervisor_column_through_the_page(app, supervisor_ckpt):
    session, *_ = app.on_load(app.DEFAULT_SOURCE, None, app.AUTO_SENSOR, 64, None)
    steps = [m for _, m in app.run_comparison(session, ["exp", "gs"], None, False, cmp.classical_choices(),
                                              supervisor=supervisor_ckpt)]
    assert steps[-1].startswith("Finished") and "supervisor" not in "".join(session.comparison.errors)
    tables = app.metric_tables(session.comparison)
    headers, rows = tables["metrics-supervisor"]
    assert headers == ["method", *cmp.SUPERVISOR_COLUMNS] and len(rows) == 2
    assert all(0 <= r[2] <= 1 for r in rows)
    session.cleanup()
