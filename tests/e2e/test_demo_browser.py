"""End-to-end test of the Gradio demo in a real headless browser (Debian's chromium driven by Playwright).

Starts ``demo/app.py`` on 127.0.0.1 at a free port, then, in the page: loads the default scene, runs a
comparison and sees the images and the metrics table; uploads a bad file and sees the error while
the app keeps serving; and checks that two concurrent sessions (two browser contexts) keep their own
results.

Needs ``pip install playwright`` (the Python package only; never ``playwright install``, which
downloads browsers) and a chromium binary (``apt-get install -y chromium``; ``CHROMIUM`` overrides the
path). Skips with a message when either is missing, and fails instead in CI (``CI`` set).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_S = 120
RUN_S = 180

pytestmark = pytest.mark.slow


def _missing(msg: str):
    if os.environ.get("CI"):
        pytest.fail(f"{msg} (CI must run the browser test)")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def sync_api():
    try:
        from playwright import sync_api
    except ImportError:
        _missing("browser test skipped: the Python package 'playwright' is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        _missing(f"browser test skipped: no chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)")
    return sync_api


class _Server(str):
    """The page's address (a str) carrying the server's process id."""

    def __new__(cls, url: str, pid: int):
        obj = super().__new__(cls, url)
        obj.pid = pid
        return obj


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(sync_api, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("demo") / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "demo" / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"demo server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"demo server not up after {STARTUP_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield _Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(sync_api):
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, url, viewport=(1400, 3000)):
    # Default: tall enough that nothing is below the fold (galleries load their images lazily); the
    # screenshot tests use a 1280x720 laptop screen.
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.goto(url)
    _wait_status(page, "Loaded", STARTUP_S)
    return context, page


def _wait_status(page, text: str, timeout_s: float) -> str:
    page.wait_for_function(
        "t => (document.querySelector('#status') || {}).innerText?.includes(t)", arg=text, timeout=timeout_s * 1000)
    return page.inner_text("#status")


def _choose(page, elem_id: str, option: str) -> None:
    """Pick an entry of a Gradio dropdown."""
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=option, exact=True).click()


def _set_methods(page, keys: set[str]) -> None:
    for box in page.query_selector_all("#methods input[type=checkbox]"):
        if box.is_checked() != (box.get_attribute("name") in keys):
            box.click()


def _wait_results(page, labels: list[str]) -> str:
    status = _wait_status(page, "Finished", RUN_S)
    # The results are filled in by the step that follows the run: wait for the table's rows.
    page.wait_for_function(
        "labels => { const rows = [...document.querySelectorAll('#metrics-full [role=row]')].filter(r => r.querySelector('[role=gridcell]'));"
        " return rows.length === labels.length && labels.every(l => rows.some(r => r.innerText.includes(l))); }",
        arg=labels, timeout=60_000)
    return status


def _run(page, labels: list[str]) -> str:
    page.click("#run")
    return _wait_results(page, labels)


def _table(page, elem_id: str = "metrics-full") -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of one metrics table, as text (Gradio's Dataframe is an ARIA grid)."""
    return page.evaluate(
        "id => [[...document.querySelectorAll(`#${id} [role=columnheader]`)].map(h => h.innerText.trim()),"
        " [...document.querySelectorAll(`#${id} [role=row]`)].map(r => [...r.querySelectorAll('[role=gridcell]')]"
        ".map(c => c.innerText.trim())).filter(r => r.length)]", elem_id)


def _loaded_images(page, selector: str, at_least: int) -> int:
    """Wait until ``at_least`` images under ``selector`` have decoded pixels; return how many have."""
    script = "sel => [...document.querySelectorAll(sel)].filter(i => i.complete && i.naturalWidth > 0).length"
    page.wait_for_function(f"([sel, n]) => ({script})(sel) >= n", arg=[selector, at_least], timeout=30_000)
    return page.evaluate(script, selector)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_comparison_shows_images_and_metrics(browser, server):
    context, page = _open(browser, server)
    try:
        assert "synthetic" in page.inner_text("#scene-info")
        _set_methods(page, {"exp", "gs"})
        status = _run(page, ["EXP (23-tap interpolation)", "Gram-Schmidt"])
        assert "failed" not in status, status
        headers, rows = _table(page)
        assert [r[0] for r in rows] == ["EXP (23-tap interpolation)", "Gram-Schmidt"]
        assert "QNR" in headers and "time (s)" in headers, headers
        qnr = [float(r[headers.index("QNR")]) for r in rows]
        assert all(0 < v <= 1 for v in qnr), qnr
        _shot(page, "00-results", full_page=True)
        ref_headers, ref_rows = _table(page, "metrics-reference")
        sam = [float(r[ref_headers.index("SAM")]) for r in ref_rows]
        assert sam[0] > 0, sam  # EXP is not the ground truth
        assert "SAM" in page.inner_text("#glossary") and "QNR" in page.inner_text("#glossary")
        # PAN + MS + 2 results + ground truth, as full views and as zoomed crops; two images in the swipe.
        assert _loaded_images(page, "#full img", 5) == 5
        assert _loaded_images(page, "#crops img", 5) == 5
        assert _loaded_images(page, "#swipe img", 2) == 2
        # The GeoTIFF download is a real 8-band raster on the PAN grid.
        hrefs = page.eval_on_selector_all("#downloads a[href]", "as => as.map(a => a.href)")
        names = [h.rsplit("/", 1)[-1] for h in hrefs]
        assert any(n.endswith("Gram-Schmidt.tif") for n in names) and any(n.endswith("metrics.csv") for n in names), names
        tif = next(h for h in hrefs if h.endswith("Gram-Schmidt.tif"))
        body = page.request.get(tif).body()
        from rasterio.io import MemoryFile

        with MemoryFile(body) as mem, mem.open() as src:
            assert (src.count, src.height, src.width) == (8, 256, 256)
            assert src.read(5).std() > 0
    finally:
        context.close()


def _shot(page, name: str, full_page: bool = False) -> Path:
    """A screenshot of the visible page (1280x720 contexts) into $DEMO_SCREENSHOTS (default: a temp folder)."""
    folder = Path(os.environ.get("DEMO_SCREENSHOTS") or "/tmp/clippan-demo-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    if full_page:
        page.screenshot(path=str(folder / f"{name}-full.png"), full_page=True)
    else:  # the top of the page too: the status line and the scene's facts
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(folder / f"{name}-top.png"))
    return path


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def _wait_uploaded(page, name: str) -> None:
    """Wait until the upload box lists ``name`` (Gradio prints the stem and the suffix on separate lines)."""
    page.wait_for_function("n => document.querySelector('#uploads').innerText.replace(/\\s+/g, '').includes(n)",
                           arg=name, timeout=30_000)


def _open_uploads(page) -> None:
    if not page.locator("#sensor").first.is_visible():
        page.get_by_text("Your files: upload, sensor, band names").click()
        page.locator("#sensor").first.wait_for(state="visible", timeout=10_000)


def _landsat_like_pair(folder: Path) -> list[Path]:
    """A georeferenced 3-band (blue, green, red) 30 m MS + 15 m PAN GeoTIFF pair, like landsat_istanbul."""
    import numpy as np
    import rasterio
    from affine import Affine

    rng = np.random.default_rng(5)
    pan = (8000 + 4000 * np.sin(np.arange(256)[:, None] / 9) * np.cos(np.arange(256) / 13)).astype(np.uint16)
    ms = np.stack([pan[::2, ::2] * f for f in (0.8, 0.9, 1.0)]).astype(np.float32) + rng.normal(0, 50, (3, 128, 128)).astype(np.float32)
    for name, data, res in (("ms.tif", ms, 30.0), ("pan.tif", pan[None], 15.0)):
        with rasterio.open(folder / name, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                           count=data.shape[0], dtype=data.dtype.name, crs="EPSG:32635",
                           transform=Affine(res, 0, 667635.0, 0, -res, 4554225.0), nodata=0 if name == "pan.tif" else None) as dst:
            dst.write(data)
    return [folder / "ms.tif", folder / "pan.tif"]


def test_arrival_layout_at_1280x720(browser, server):
    context, page = _open(browser, server, (1280, 720))
    try:
        assert _in_view(page, "#run"), "the Run button must be visible without scrolling"
        assert _in_view(page, "#status")
        # The right column is not empty: the scene's facts and the PAN vs ground-truth swipe.
        assert "synthetic" in page.inner_text("#scene-info")
        assert _loaded_images(page, "#swipe img", 2) == 2
        _shot(page, "01-arrival")
        page.click("#stop")
        assert "Nothing is running" in _wait_status(page, "Nothing is running", 20)
    finally:
        context.close()


def test_geotiff_pair_upload_with_band_names(browser, server, tmp_path):
    context, page = _open(browser, server, (1280, 720))
    try:
        _open_uploads(page)
        page.set_input_files("#uploads input[type=file]", [str(p) for p in _landsat_like_pair(tmp_path)])
        _wait_uploaded(page, "pan.tif")
        _choose(page, "source", "Upload files")
        _choose(page, "sensor", "landsat8")
        page.click("#load")
        status = _wait_status(page, "the MS file has 3 bands", RUN_S)
        assert "MS band names" in status and "bands=[" not in status and "/tmp/" not in status, status
        assert "No scene loaded" in page.inner_text("#scene-info")
        _shot(page, "02-upload-needs-band-names")
        page.fill("#bands textarea, #bands input", "blue, green, red")
        page.click("#load")
        _wait_status(page, "Loaded upload", RUN_S)
        _loaded_images(page, "#swipe img", 2)
        info = page.inner_text("#scene-info")
        assert "Landsat 8/9 OLI" in info and "blue, green, red" in info and "PAN 256×256" in info, info
        _shot(page, "03-upload-loaded")
        _set_methods(page, {"exp"})
        _run(page, ["EXP (23-tap interpolation)"])
        assert _loaded_images(page, "#swipe img", 2) == 2
        # Typing a zoom size and pressing Enter redraws the crops.
        before = page.eval_on_selector("#crops img", "i => i.src")
        page.fill("#zoom-size input[type=number]", "32")
        page.press("#zoom-size input[type=number]", "Enter")
        page.wait_for_function("s => { const i = document.querySelector('#crops img'); return i && i.src !== s; }",
                               arg=before, timeout=30_000)
        _shot(page, "04-upload-run")
    finally:
        context.close()


def test_bad_upload_then_run_says_there_is_no_scene(browser, server, tmp_path):
    bad = tmp_path / "not_a_scene.mat"
    bad.write_bytes(b"definitely not MATLAB")
    context, page = _open(browser, server, (1280, 720))
    try:
        _open_uploads(page)
        page.set_input_files("#uploads input[type=file]", str(bad))
        _wait_uploaded(page, "not_a_scene.mat")
        _choose(page, "source", "Upload files")  # (the upload selects it too; do not race that event)
        page.click("#load")
        status = _wait_status(page, "Error", RUN_S)
        assert "not_a_scene.mat" in status and "/tmp/" not in status, status
        assert "Traceback" not in status
        assert "No scene loaded" in page.inner_text("#scene-info")
        assert "not_a_scene.mat" in page.inner_text("#load-status")  # next to the action too
        _shot(page, "05-bad-upload")
        # Run does not silently use the previous scene.
        page.click("#run")
        status = _wait_status(page, "no scene is loaded", 30)
        assert "no scene is loaded" in page.inner_text("#run-status")
        _shot(page, "06-run-without-scene")
        # The page still works: the built-in scene loads and runs.
        _choose(page, "source", "Built-in synthetic scene")
        page.click("#load")
        _wait_status(page, "Loaded", RUN_S)
        _set_methods(page, {"exp"})
        _run(page, ["EXP (23-tap interpolation)"])
        assert [r[0] for r in _table(page)[1]] == ["EXP (23-tap interpolation)"]
    finally:
        context.close()


def _busy_children(pid: int) -> list:
    """Child processes of the server that are alive and not zombies (the comparison workers)."""
    import psutil

    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_stop_during_a_training_frees_the_cpu(browser, server):
    context, page = _open(browser, server, (1280, 720))
    try:
        _set_methods(page, {"exp", "lambda-pnn"})
        page.click("#run")
        status = _wait_status(page, "s left", RUN_S)
        assert "target adaptation" in status and "epochs" in status, status
        workers = _busy_children(server.pid)
        assert workers, "the comparison runs in a worker process"
        _shot(page, "07-training-progress")
        page.click("#stop")
        t0 = time.monotonic()
        status = _wait_status(page, "Stopped after", 30)
        assert "Cancelled: λ-PNN (JESSE)" in status, status
        while any(p.is_running() for p in _busy_children(server.pid)):
            assert time.monotonic() - t0 < 5, "the worker still runs 5 s after Stop"
            time.sleep(0.2)
        # What finished before Stop is shown.
        page.wait_for_function("document.querySelector('#metrics-full')?.innerText.includes('EXP')", timeout=30_000)
        _shot(page, "08-after-stop")
    finally:
        context.close()


def test_two_sessions_keep_their_own_results(browser, server):
    (ctx_a, a), (ctx_b, b) = _open(browser, server), _open(browser, server)
    try:
        _set_methods(a, {"exp"})
        _set_methods(b, {"brovey", "gs"})
        a.click("#run")
        b.click("#run")
        _wait_results(a, ["EXP (23-tap interpolation)"])
        _wait_results(b, ["Gram-Schmidt", "Brovey transform"])
        assert [r[0] for r in _table(a)[1]] == ["EXP (23-tap interpolation)"]
        assert [r[0] for r in _table(b)[1]] == ["Gram-Schmidt", "Brovey transform"]
        assert "Brovey" not in a.inner_text("#downloads") and "EXP" not in b.inner_text("#downloads")
        # A new session in one tab leaves the other untouched.
        a.reload()
        _wait_status(a, "Loaded", STARTUP_S)
        assert [r[0] for r in _table(b)[1]] == ["Gram-Schmidt", "Brovey transform"]
    finally:
        ctx_a.close()
        ctx_b.close()
