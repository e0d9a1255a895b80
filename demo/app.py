"""clippan-kit comparison demo: pansharpen one scene with several methods and compare them side by side.

Run ``python demo/app.py`` (options: ``--host``, ``--port``, ``--checkpoints DIR``) and open the printed
address. Everything runs locally on the CPU; nothing is downloaded.

The page is thin: it calls :mod:`clippan_kit.compare` (methods of :mod:`clippan_kit.methods`, comparison,
metrics table and glossary, the CLIPPan supervisor's scores), :mod:`clippan_kit.compare_worker` (the
comparison in a worker process that Stop ends), :mod:`clippan_kit.viz` (8-bit views, embedding view),
:mod:`clippan_kit.samples` (built-in and sample scenes) and :mod:`clippan_kit.io` (GeoTIFF output); uploads
live in ``demo/uploads.py``. Each browser session keeps its own scene and results in a ``gr.State``, so two
people using the page at once never see each other's results.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from the page server
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from clippan_kit import compare as cmp  # noqa: E402
from clippan_kit import viz  # noqa: E402
from clippan_kit.compare_worker import WorkerError, WorkerRun  # noqa: E402
from clippan_kit.errors import ClippanError, SceneError  # noqa: E402
from clippan_kit.scene import Scene  # noqa: E402
from clippan_kit.sensors import get_sensor, list_sensors  # noqa: E402


def _sibling(name: str):
    """``demo/<name>.py`` as a module, whether the page runs as a script or is loaded by the tests."""
    key = f"clippan_demo_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).with_name(f"{name}.py"))
        sys.modules[key] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[key]


uploads = _sibling("uploads")
scene_from_files, page_message, parse_bands = uploads.scene_from_files, uploads.page_message, uploads.parse_bands

DEFAULT_SOURCE = "Built-in synthetic scene"
UPLOAD_SOURCE = "Upload files"
AUTO_SENSOR = "from file"
PAN_VIEW = "PAN"
MS_VIEW = "MS (interpolated, EXP)"
REFERENCE_VIEW = "reference (ground truth)"
DEFAULT_MAX_SIZE = 512
DISPLAY_SIZE = 256
DEFAULT_METHODS = ("exp", "mtf-glp-hpm-r", "gs")
# λ-PNN target-adaptation epochs offered by default: the pipeline's own from-scratch default.
LAMBDA_EPOCHS = 300
# Metric tables, one per glossary section, so that none needs sideways scrolling.
TABLE_SECTIONS = (("metrics-full", "full resolution, QNR family"), ("metrics-reprojected", "full resolution, reprojected"),
                  ("metrics-reference", "with ground truth"),
                  ("metrics-reduced", "reduced resolution (Wald)"), ("metrics-supervisor", "CLIPPan supervisor"))
CSS = ("#status {padding: 4px 10px; border-left: 4px solid var(--color-accent); background: var(--block-background-fill);}"
       " #scene-info {min-height: 5em;} .tight {gap: 6px !important;}"
       " #full .grid-wrap, #crops .grid-wrap {max-height: none !important; overflow: visible !important;}")
NOTHING_RUNNING = "Nothing is running: Stop ends a comparison while it runs."

__all__ = ["Session", "build_app", "main", "load_scene", "scene_from_files", "scene_summary", "run_comparison",
           "stop_run", "render_views", "write_downloads", "download_name", "metric_tables", "glossary_markdown"]


# ----------------------------------------------------------------------------- session state
@dataclass
class Session:
    """What one browser session holds: its scene, its latest comparison, the running worker (if any)
    and a private output folder."""

    scene: Scene | None = None
    comparison: cmp.Comparison | None = None
    description: str = ""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clippan-demo-")))
    run: WorkerRun | None = field(default=None, repr=False)
    runs: int = 0

    def cleanup(self) -> None:
        stop_run(self)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _delete_session(session: Session | None) -> None:
    if isinstance(session, Session):
        session.cleanup()


# ----------------------------------------------------------------------------- scene sources
def scene_sources() -> list[tuple[str, str]]:
    """Dropdown entries (label, value): the built-in synthetic scene, every sample found in the data
    folder (labelled with its sensor), uploads."""
    from clippan_kit.samples import SAMPLES, available_samples

    samples = [(f"{n}: {get_sensor(SAMPLES[n].sensor).long_name}", n) for n in available_samples()]
    return [(DEFAULT_SOURCE, DEFAULT_SOURCE), *samples, (UPLOAD_SOURCE, UPLOAD_SOURCE)]


def source_description(source: str) -> str:
    """Markdown: what a source is and the terms its data come under (samples: from the registry)."""
    from clippan_kit.samples import SAMPLES

    if source == DEFAULT_SOURCE:
        return ("Synthetic WorldView-2-like scene made on the fly (clippan_kit.synthetic), with ground truth; "
                "no licence restrictions.")
    if source == UPLOAD_SOURCE:
        return "Your files (kept in this session only, deleted when you close the page)."
    if source in SAMPLES:
        s = SAMPLES[source]
        return f"{s.description}  \n*Values:* {s.values}.  \n*Licence:* {s.licence}.  \n*Credit:* {s.citation}."
    return ""


def load_scene(source: str, files: Sequence[str] | None = None, sensor: str | None = None,
               max_size: int = DEFAULT_MAX_SIZE, bands: str | Sequence[str] | None = None) -> Scene:
    """The scene for a source entry, centre-cropped to ``max_size`` PAN pixels when larger.
    ``bands``: the MS band names of an upload (text ``"blue, green, red"`` or a list).

    Raises:
        SceneError: with a message for the page.
    """
    from clippan_kit.samples import available_samples, default_scene, load_sample

    sensor = None if not sensor or sensor == AUTO_SENSOR else sensor
    if source == DEFAULT_SOURCE:
        scene = default_scene()
    elif source == UPLOAD_SOURCE:
        names = parse_bands(bands) if isinstance(bands, str) or bands is None else list(bands)
        scene = scene_from_files(files or [], sensor=sensor, bands=names)
    elif source in available_samples():
        scene = load_sample(source)
    else:
        raise SceneError(f"unknown scene source {source!r}")
    if max_size and max(scene.shape) > max_size:
        scene = scene.center_crop(int(max_size))
    return scene


def scene_summary(scene: Scene) -> str:
    """Markdown facts about the loaded scene."""
    H, W = scene.shape
    s = scene.sensor
    lines = [
        f"**{scene.name}**: {s.long_name}, PAN {H}×{W}, MS {scene.n_bands} bands "
        f"{H // scene.ratio}×{W // scene.ratio}, ratio {scene.ratio}, full scale {scene.max_value:g}",
        f"bands: {', '.join(s.bands)}",
        "ground truth: yes (reference-based metrics shown)" if scene.reference is not None else "ground truth: no",
        f"CRS: {scene.crs}" if scene.crs is not None else "CRS: none (not georeferenced)",
    ]
    if scene.has_nodata:
        lines.append(f"nodata: {100 * (1 - scene.valid.mean()):.1f} % of pixels (masked in metrics)")
    return "  \n".join(lines)


# ----------------------------------------------------------------------------- methods
def method_choices(checkpoint_dir: str | Path | None) -> list[cmp.MethodChoice]:
    return cmp.available_methods(checkpoint_dir)


def resolve_methods(keys: Sequence[str], known: Sequence[cmp.MethodChoice],
                    uploaded: Sequence[str] | None = None, lambda_epochs: int | None = None) -> list[cmp.MethodChoice]:
    """The selected choices (checkbox keys) plus uploaded checkpoints, labels made unique;
    λ-PNN gets ``lambda_epochs`` target-adaptation epochs when given (0: the network as is)."""
    by_key = {c.key: c for c in known}
    chosen = [by_key[k] for k in keys if k in by_key]
    if lambda_epochs is not None:
        chosen = [cmp.lambda_pnn_choice(int(lambda_epochs), checkpoint=c.checkpoint) if c.kind == "lambda-pnn" else c
                  for c in chosen]
    for path in uploaded or []:
        chosen.append(cmp.checkpoint_choice(path, label=f"{Path(path).stem} (uploaded)"))
    seen: dict[str, int] = {}
    out = []
    for c in chosen:
        n = seen[c.label] = seen.get(c.label, 0) + 1
        out.append(c if n == 1 else dataclasses.replace(c, label=f"{c.label} #{n}"))
    return out


# ----------------------------------------------------------------------------- views
def view_names(session: Session | None) -> list[str]:
    """Images the views can show: PAN, the interpolated MS, every fused result, the ground truth if any."""
    if session is None or session.scene is None:
        return []
    names = [PAN_VIEW, MS_VIEW]
    if session.comparison is not None:
        names += session.comparison.labels
    if session.scene.reference is not None:
        names.append(REFERENCE_VIEW)
    return names


def _image(session: Session, name: str) -> np.ndarray:
    scene = session.scene
    if name == PAN_VIEW:
        return scene.pan
    if name == MS_VIEW:
        from clippan_kit.wald import interp23tap

        return np.asarray(interp23tap(scene.filled().ms, scene.ratio), np.float32)
    if name == REFERENCE_VIEW and scene.reference is not None:
        return scene.reference
    if session.comparison is not None and name in session.comparison.fused:
        return session.comparison.fused[name]
    raise KeyError(name)


def render_views(session: Session | None, composite: str, row: float, col: float, size: int,
                 left: str | None, right: str | None):
    """(slider pair or None, full-view gallery, zoomed-crop gallery) for the session's results.

    Every colour image shares the stretch of the scene's MS, and every zoomed crop is the same
    PAN-pixel window (``row``, ``col`` as fractions 0..1 of the height and width, ``size`` pixels).
    """
    if session is None or session.scene is None:
        return None, [], []
    scene = session.scene
    composites = viz.band_composites(scene.sensor)
    bands = composites.get(composite, scene.sensor.rgb)
    box = viz.crop_box(scene.shape, float(row), float(col), int(size))
    full, crops = [], []
    images = {name: _image(session, name) for name in view_names(session)}
    for name, img in images.items():
        full.append((viz.render(img, bands, reference=scene.ms, outline=box), name))
        crops.append((viz.render(img, bands, reference=scene.ms, box=box, display_size=DISPLAY_SIZE), f"{name} (zoom)"))
    pair = None
    if left in images and right in images:
        pair = (viz.render(images[left], bands, reference=scene.ms), viz.render(images[right], bands, reference=scene.ms))
    return pair, full, crops


def gallery_columns(n: int) -> int:
    """Columns of a gallery of ``n`` images: every image visible in whole rows (never a clipped last item)."""
    return max(1, min(n, 5 if n > 8 else 4))


# ----------------------------------------------------------------------------- tables
def metric_tables(comparison: cmp.Comparison | None) -> dict[str, tuple[list[str], list[list]]]:
    """elem_id → (headers, rows) of each non-empty table section (``method`` first; time in the first)."""
    if comparison is None:
        return {}
    headers, rows = cmp.metrics_table(comparison)
    section = {h: (cmp.glossary_entry(h) or (TABLE_SECTIONS[0][1],))[0] for h in headers[2:]}
    out = {}
    for i, (elem, name) in enumerate(TABLE_SECTIONS):
        cols = [j for j, h in enumerate(headers) if j > 1 and section[h] == name]
        if i == 0:
            cols = [1, *cols]  # the time column with the first section
        if cols and rows:
            out[elem] = ([headers[0], *(headers[j] for j in cols)], [[r[0], *(r[j] for j in cols)] for r in rows])
    return out


def glossary_markdown(columns: Sequence[str] | None = None) -> str:
    """Markdown list explaining every table column (or only ``columns``), grouped by section."""
    keys = list(cmp.METRIC_GLOSSARY) if columns is None else [c for c in columns if c != "method"]
    lines, section = [], None
    for k in keys:
        entry = cmp.glossary_entry(k)
        if entry is None:
            continue
        sec, better, text = entry
        if sec != section and sec:
            lines.append(f"\n**{sec}**")
            section = sec
        lines.append(f"- `{k}` ({better} is better): {text}")
    return "\n".join(lines).strip()


# ----------------------------------------------------------------------------- downloads
_TRANSLIT = {"λ": "lambda", "Λ": "Lambda", "ρ": "rho", "σ": "sigma", "α": "alpha", "β": "beta", "γ": "gamma",
             "δ": "delta", "μ": "mu", "π": "pi", "²": "2", "×": "x"}


def download_name(label: str) -> str:
    """A file-name-safe ASCII form of a label that keeps its meaning (``λ-PNN (JESSE)`` → ``lambda-PNN_JESSE``)."""
    text = "".join(_TRANSLIT.get(ch, ch) for ch in label)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "result"


def write_downloads(session: Session) -> list[str]:
    """One GeoTIFF per fused result (PAN grid, scene CRS/transform, nodata where the scene has none) and a
    metrics CSV, in a fresh folder of the session (files being served are never rewritten in place)."""
    from clippan_kit.io import write_geotiff

    comp = session.comparison
    if comp is None:
        return []
    session.runs += 1
    folder = session.workdir / f"results-{session.runs}"
    for old in session.workdir.glob("results-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, fused in comp.fused.items():
        path = folder / f"{download_name(session.scene.name)}_{download_name(label)}.tif"
        write_geotiff(path, fused, session.scene)
        paths.append(str(path))
    headers, rows = cmp.metrics_table(comp, digits=6)
    table = folder / "metrics.csv"
    with open(table, "w", newline="") as f:  # the csv module quotes labels with commas ("pnn (pnn, with CLIPPan)")
        csv.writer(f).writerows([headers, *([("" if v is None else v) for v in r] for r in rows)])
    paths.append(str(table))
    return paths


# ----------------------------------------------------------------------------- event handlers
def _paths(files: Any) -> list[str]:
    if not files:
        return []
    files = files if isinstance(files, list) else [files]
    return [getattr(f, "name", f) for f in files]


def on_load(source: str, files: Any, sensor: str, max_size: float, session: Session | None, bands: str = ""):
    """Load the chosen scene into the session. On failure the session has no scene any more (Run then
    says so instead of using the previous one) and the status says why.
    Returns ``(session, status, scene facts, composite update)``."""
    session = session if isinstance(session, Session) else Session()
    stop_run(session)
    paths = _paths(files)
    try:
        scene = load_scene(source, paths, sensor, int(max_size), bands)
    except (ClippanError, ValueError, KeyError, OSError) as exc:
        session.scene, session.comparison, session.description = None, None, ""
        msg = page_message(exc, paths)
        return (session, f"**Error:** could not load the scene: {msg}",
                f"**No scene loaded.** {msg}", gr.update(choices=[], value=None))
    session.scene, session.comparison = scene, None
    session.description = source_description(source)
    composites = list(viz.band_composites(scene.sensor))
    facts = scene_summary(scene) + (f"  \n{session.description}" if session.description else "")
    return (session, f"Loaded {scene.name}: now pick methods and press Run.", facts,
            gr.update(choices=composites, value=composites[0]))


def _eta(event: dict) -> str:
    n, total, elapsed = event["n"], event.get("total"), event["elapsed"]
    unit = event.get("unit") or "it"
    unit = "epochs" if "adaptation" in (event.get("desc") or "") else "steps" if unit == "it" else f"{unit}s"
    if not n:
        return f"{event.get('desc') or 'working'}: starting"
    each = elapsed / n
    text = f"{event.get('desc') or 'working'} {n}/{total or '?'} {unit}, {each:.2f} s each"
    if total:
        text += f", about {max(0.0, (total - n) * each):.0f} s left"
    return text


def run_comparison(session: Session | None, keys: Sequence[str], ckpt_files: Any, reduced: bool,
                   known: Sequence[cmp.MethodChoice], lambda_epochs: int | None = None,
                   supervisor: str | Path | None = None, threads: int | None = None):
    """Generator: fuse the session's scene with the chosen methods in a worker process
    (:class:`~clippan_kit.compare_worker.WorkerRun`, which :func:`stop_run` ends), yielding
    ``(session, status)`` as the work goes (each method's start, its progress bars with an estimate of the
    time left, its result) and at the end.

    Raises:
        SceneError: no scene loaded, or no method chosen.
    """
    if session is None or session.scene is None:
        raise SceneError("no scene is loaded: load one (or fix the upload) before running")
    uploaded = _paths(ckpt_files)
    choices = resolve_methods(keys or [], known, uploaded, lambda_epochs)
    if not choices:
        raise SceneError("choose at least one method")
    stop_run(session)
    n = len(choices)
    comp = session.comparison = cmp.Comparison(session.scene, reduced=bool(reduced))
    run = session.run = WorkerRun(session.scene, choices, workdir=session.workdir / "worker", reduced=bool(reduced),
                                  supervisor=supervisor or None, threads=threads)
    current = "starting"

    def summary() -> str:
        done = ", ".join(f"{k} {v:.1f} s" for k, v in comp.seconds.items())
        errors = "".join(f"  \n**{k}:** {page_message(v)}" for k, v in comp.errors.items())
        return (f" Done: {done}." if done else "") + errors

    try:
        for event in run.events():
            kind = event["kind"]
            if kind == "start":
                current = f"{event['label']} ({event['i'] + 1}/{n})" if event["i"] < n else event["label"]
                yield session, f"Running {current}…{summary()}"
            elif kind == "bar":
                yield session, f"Running {current}: {_eta(event)}.{summary()}"
            elif kind == "done":
                label = event["label"]
                if event["error"] is not None:
                    comp.errors[label] = event["error"]
                if event["fused"] is not None:
                    comp.fused[label], comp.seconds[label] = event["fused"], event["seconds"]
                if event["metrics"] is not None:
                    comp.metrics[label] = event["metrics"]
            elif kind == "supervisor":
                if "error" in event:
                    comp.errors["CLIPPan supervisor"] = event["error"]
                else:
                    comp.supervisor = {k: v for k, v in event.items() if k != "kind"}
    except WorkerError as exc:
        comp.errors["worker"] = str(exc)
    elapsed = time.monotonic() - run.started
    session.run = None
    if run.stopped:
        left = [c.label for c in choices if c.label not in comp.fused and c.label not in comp.errors]
        yield session, (f"Stopped after {elapsed:.1f} s; the worker process was ended."
                        + (f" Cancelled: {', '.join(left)}." if left else "") + summary())
        return
    yield session, f"Finished in {elapsed:.1f} s.{summary()}"


def stop_run(session: Session | None) -> bool:
    """End the session's running comparison (its worker process); True when something was running."""
    run = getattr(session, "run", None)
    return bool(run is not None and run.stop())


def _supervisor_path(files: Any, text: str | None) -> str | None:
    paths = _paths(files)
    if paths:
        return paths[0]
    text = (text or "").strip().strip("'\"")
    if text and not Path(text).expanduser().is_file():
        raise SceneError(f"no supervisor checkpoint at {text}")
    return str(Path(text).expanduser()) if text else None


def build_app(checkpoint_dir: str | Path | None = None) -> gr.Blocks:
    """The Gradio page. ``checkpoint_dir``: folder of trained checkpoints offered as methods."""
    known = method_choices(checkpoint_dir)
    method_options = [(c.label, c.key) for c in known]
    default_methods = [k for k in DEFAULT_METHODS if any(c.key == k for c in known)]
    sensors = [AUTO_SENSOR, *list_sensors()]
    with gr.Blocks(title="clippan-kit: pansharpening comparison") as app:
        session = gr.State(None, delete_callback=_delete_session)
        gr.Markdown("## clippan-kit: pansharpening comparison\n"
                    "Load a scene, pick methods, press **Run**: swipe between two results, compare the same zoomed "
                    "crop of every result, read the quality indices (explained below the tables), download the "
                    "fused GeoTIFFs.")
        status = gr.Markdown("Loading the built-in scene…", elem_id="status")
        with gr.Row():
            with gr.Column(scale=1, min_width=330, elem_classes="tight"):
                source = gr.Dropdown(scene_sources(), value=DEFAULT_SOURCE, label="Scene", elem_id="source")
                with gr.Accordion("Your files: upload, sensor, band names", open=False, elem_id="upload-box") as upload_box:
                    files = gr.File(label="One .mat/.h5 scene, or two GeoTIFFs (MS + PAN)", file_count="multiple",
                                    file_types=[".mat", ".h5", ".hdf5", ".tif", ".tiff"], elem_id="uploads", height=150)
                    sensor = gr.Dropdown(sensors, value=AUTO_SENSOR, elem_id="sensor", label=uploads.SENSOR_LABEL,
                                         info="'from file': what the file says, else its name (WV3_…, landsat…)")
                    bands = gr.Textbox(label=uploads.BANDS_LABEL, elem_id="bands", placeholder="e.g. blue, green, red",
                                       info="the MS file's bands in file order, when the file does not name them")
                    max_size = gr.Slider(128, 2048, value=DEFAULT_MAX_SIZE, step=64, label="Centre crop to at most (PAN pixels)")
                load_btn = gr.Button("Load scene", elem_id="load", size="md")
                load_status = gr.Markdown(elem_id="load-status")
                methods = gr.CheckboxGroup(method_options, value=default_methods, label="Methods", elem_id="methods")
                with gr.Row():
                    run_btn = gr.Button("Run comparison", variant="primary", elem_id="run", scale=3, min_width=120)
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop", scale=1, min_width=70)
                run_status = gr.Markdown(elem_id="run-status")
                with gr.Accordion("Method options", open=False):
                    lambda_epochs = gr.Slider(0, 500, value=LAMBDA_EPOCHS, step=1, elem_id="lambda-epochs",
                                              label="λ-PNN: target-adaptation epochs on this scene",
                                              info="0 applies the network as is; the status shows the measured time "
                                                   "per epoch and the time left while it trains")
                    reduced = gr.Checkbox(False, label="Also reduced-resolution metrics (Wald's protocol: each method "
                                                       "fuses the degraded scene again)")
                    ckpts = gr.File(label="Trained checkpoints (optional)", file_count="multiple", height=90,
                                    file_types=list(cmp.CHECKPOINT_SUFFIXES), elem_id="checkpoints")
                with gr.Accordion("CLIPPan supervisor (optional)", open=False):
                    gr.Markdown("A Stage I supervisor checkpoint (`clippan supervisor train`) scores every fused image: "
                                "its direction loss L_d and its probability of being HRMS, plus an embedding view.")
                    sup_file = gr.File(label="Supervisor checkpoint (.pt)", file_types=[".pt", ".pth"],
                                       elem_id="supervisor-file", height=90)
                    sup_path = gr.Textbox(label="…or its path on this machine", elem_id="supervisor-path")
            with gr.Column(scale=3):
                info = gr.Markdown(elem_id="scene-info")
                with gr.Row():
                    composite = gr.Dropdown([], label="Bands shown", elem_id="composite")
                    left = gr.Dropdown([], label="Swipe: left", elem_id="left")
                    right = gr.Dropdown([], label="Swipe: right", elem_id="right")
                slider = gr.ImageSlider(label="Swipe comparison", elem_id="swipe", type="numpy", height=420)
                with gr.Row():
                    row = gr.Slider(0, 1, value=0.5, step=0.01, label="Zoom centre: row (fraction)", elem_id="zoom-row")
                    col = gr.Slider(0, 1, value=0.5, step=0.01, label="Zoom centre: column (fraction)", elem_id="zoom-col")
                    size = gr.Slider(16, 256, value=64, step=8, label="Zoom size (PAN pixels)", elem_id="zoom-size")
                crops = gr.Gallery(label="Zoomed crops (same window in every result)", columns=4, height="auto",
                                   object_fit="contain", elem_id="crops")
                full = gr.Gallery(label="Full views (the box marks the zoom window)", columns=4, height="auto",
                                  object_fit="contain", elem_id="full")
                tables = {elem: gr.Dataframe(label=f"Quality indices: {sec}", elem_id=elem, interactive=False,
                                             visible=False, wrap=True)
                          for elem, sec in TABLE_SECTIONS}
                with gr.Accordion("What the columns mean", open=True, elem_id="glossary-box"):
                    glossary = gr.Markdown(glossary_markdown(), elem_id="glossary")
                embedding = gr.Plot(label="CLIPPan supervisor: embeddings of the fused images", visible=False,
                                    elem_id="embedding")
                downloads = gr.File(label="Fused GeoTIFFs and metrics.csv", file_count="multiple", elem_id="downloads")

        view_inputs = [session, composite, row, col, size, left, right]
        table_outputs = list(tables.values())
        result_outputs = [left, right, slider, full, crops, *table_outputs, glossary, embedding, downloads]

        def refresh(sess, comp_name, r, c, s, lft, rgt):
            pair, full_imgs, crop_imgs = render_views(sess, comp_name, r, c, s, lft, rgt)
            return (pair, gr.update(value=full_imgs, columns=gallery_columns(len(full_imgs))),
                    gr.update(value=crop_imgs, columns=gallery_columns(len(crop_imgs))))

        def results(sess, comp_name, r, c, s, lft=None, rgt=None):
            """Every result output from the session: views, tables, glossary, embedding view, downloads."""
            import pandas as pd

            names = view_names(sess)
            comp = sess.comparison if isinstance(sess, Session) else None
            labels = comp.labels if comp is not None else []
            if lft not in names:
                lft = labels[0] if labels else (PAN_VIEW if names else None)
            if rgt not in names:
                rgt = labels[1] if len(labels) > 1 else (REFERENCE_VIEW if REFERENCE_VIEW in names else MS_VIEW if names else None)
            pair, full_imgs, crop_imgs = refresh(sess, comp_name, r, c, s, lft, rgt)
            shown = metric_tables(comp)
            updates = [gr.update(visible=elem in shown,
                                 value=pd.DataFrame(shown[elem][1], columns=shown[elem][0]) if elem in shown else None)
                       for elem in tables]
            columns = [h for hs, _ in shown.values() for h in hs]
            sup = comp.supervisor if comp is not None else None
            plot = (gr.update(visible=True, value=viz.embedding_figure(sup["points"], sup["kinds"])) if sup
                    else gr.update(visible=False, value=None))
            return (gr.update(choices=names, value=lft), gr.update(choices=names, value=rgt), pair, full_imgs, crop_imgs,
                    *updates, glossary_markdown(columns or None), plot,
                    write_downloads(sess) if comp is not None and comp.fused else None)

        def load(src, fls, sens, mx, sess, bnd):
            sess, msg, facts, comp_update = on_load(src, fls, sens, mx, sess, bnd)
            return sess, msg, msg, facts, comp_update, ""

        load_inputs = [source, files, sensor, max_size, session, bands]
        load_outputs = [session, status, load_status, info, composite, run_status]
        load_btn.click(load, load_inputs, load_outputs).then(results, [session, composite, row, col, size], result_outputs)

        def run(sess, keys, fls, red, iters, sfile, spath):
            try:
                sup = _supervisor_path(sfile, spath)
                for sess, msg in run_comparison(sess, keys, fls, red, known, iters, sup):
                    yield sess, msg, msg
            except (ClippanError, ValueError) as exc:
                msg = f"**Error:** {page_message(exc)}"
                yield sess, msg, msg

        run_event = run_btn.click(run, [session, methods, ckpts, reduced, lambda_epochs, sup_file, sup_path],
                                  [session, status, run_status])
        run_event.then(results, [session, composite, row, col, size], result_outputs)

        def stop(sess):
            if stop_run(sess):  # the run's own handler now reports what finished and what was cancelled
                return gr.update(), gr.update()
            return NOTHING_RUNNING, NOTHING_RUNNING

        # Stop ends the worker process; the run's own handler then reports what finished and shows it.
        stop_btn.click(stop, [session], [status, run_status], queue=False)

        for control in (composite, left, right):
            control.input(refresh, view_inputs, [slider, full, crops])
        for control in (row, col, size):  # dragging, or typing a value and pressing Enter
            control.change(refresh, view_inputs, [slider, full, crops], trigger_mode="always_last")
        source.input(lambda s: (gr.update(open=True) if s == UPLOAD_SOURCE else gr.update(), source_description(s)),
                     [source], [upload_box, load_status])
        files.upload(lambda: (UPLOAD_SOURCE, "Files received: press **Load scene**."), None, [source, load_status])
        app.load(load, load_inputs, load_outputs).then(results, [session, composite, row, col, size], result_outputs)
    app.queue(default_concurrency_limit=4)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="clippan-kit pansharpening comparison demo (Gradio)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--checkpoints", default=os.environ.get("CLIPPAN_CHECKPOINTS"),
                        help="folder of trained checkpoints (*.pt) offered as methods (default $CLIPPAN_CHECKPOINTS)")
    args = parser.parse_args(argv)
    app = build_app(args.checkpoints)
    app.launch(server_name=args.host, server_port=args.port, show_error=True, footer_links=[], css=CSS)


if __name__ == "__main__":
    main()
