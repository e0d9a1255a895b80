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
        yield url
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


def _open(browser, url):
    # Tall enough that nothing is below the fold: galleries load their images lazily.
    context = browser.new_context(viewport={"width": 1400, "height": 3000})
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
        "labels => { const rows = [...document.querySelectorAll('#metrics [role=row]')].filter(r => r.querySelector('[role=gridcell]'));"
        " return rows.length === labels.length && labels.every(l => rows.some(r => r.innerText.includes(l))); }",
        arg=labels, timeout=60_000)
    return status


def _run(page, labels: list[str]) -> str:
    page.click("#run")
    return _wait_results(page, labels)


def _table(page) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of the metrics table, as text (Gradio's Dataframe is an ARIA grid)."""
    return page.evaluate(
        "() => [[...document.querySelectorAll('#metrics [role=columnheader]')].map(h => h.innerText.trim()),"
        " [...document.querySelectorAll('#metrics [role=row]')].map(r => [...r.querySelectorAll('[role=gridcell]')]"
        ".map(c => c.innerText.trim())).filter(r => r.length)]")


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
        assert "QNR" in headers and "SAM" in headers, headers
        qnr = [float(r[headers.index("QNR")]) for r in rows]
        assert all(0 < v <= 1 for v in qnr), qnr
        sam = [float(r[headers.index("SAM")]) for r in rows]
        assert sam[0] > 0, sam  # EXP is not the ground truth
        # PAN + 2 results + ground truth, as full views and as zoomed crops; two images in the swipe.
        assert _loaded_images(page, "#full img", 4) == 4
        assert _loaded_images(page, "#crops img", 4) == 4
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


def test_bad_upload_shows_a_readable_error_and_the_app_keeps_serving(browser, server, tmp_path):
    bad = tmp_path / "not_a_scene.mat"
    bad.write_bytes(b"definitely not MATLAB")
    context, page = _open(browser, server)
    try:
        page.set_input_files("#uploads input[type=file]", str(bad))
        page.wait_for_function("document.querySelector('#uploads').innerText.includes('not_a_scene.mat')", timeout=30_000)
        _choose(page, "source", "Upload files")
        page.click("#load")
        status = _wait_status(page, "Error", 60)
        assert "not_a_scene.mat" in status, status
        assert "Traceback" not in status
        # The previous scene is kept and the page still works.
        assert "synthetic" in page.inner_text("#scene-info")
        _set_methods(page, {"exp"})
        _run(page, ["EXP (23-tap interpolation)"])
        assert [r[0] for r in _table(page)[1]] == ["EXP (23-tap interpolation)"]
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
