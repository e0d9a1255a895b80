"""clippan-kit comparison demo: pansharpen one scene with several methods and compare them side by side.

Run ``python demo/app.py`` (options: ``--host``, ``--port``, ``--checkpoints DIR``) and open the printed
address. Everything runs locally on the CPU; nothing is downloaded.

The page is thin: it calls :mod:`clippan_kit.compare` (methods of :mod:`clippan_kit.methods`, comparison,
metrics table), :mod:`clippan_kit.viz` (8-bit views), :mod:`clippan_kit.samples` (built-in and sample
scenes) and :mod:`clippan_kit.io` (GeoTIFF output); only uploads (:func:`scene_from_files`) live here. Each browser session keeps its own scene and results in a ``gr.State``, so two
people using the page at once never see each other's results.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import re
import shutil
import tempfile
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
from clippan_kit.errors import ClippanError, SceneError  # noqa: E402
from clippan_kit.scene import Scene  # noqa: E402
from clippan_kit.sensors import list_sensors  # noqa: E402

DEFAULT_SOURCE = "Built-in synthetic scene"
UPLOAD_SOURCE = "Upload files"
AUTO_SENSOR = "from file"
PAN_VIEW = "PAN"
REFERENCE_VIEW = "reference (ground truth)"
DEFAULT_MAX_SIZE = 512
DISPLAY_SIZE = 256
DEFAULT_METHODS = ("exp", "mtf-glp-hpm-r", "gs")
SCENE_SUFFIXES = (".mat", ".h5", ".hdf5")
RASTER_SUFFIXES = (".tif", ".tiff")
# λ-PNN target-adaptation epochs offered by default: the pipeline's own from-scratch default.
LAMBDA_EPOCHS = 300

__all__ = ["Session", "build_app", "main", "load_scene", "scene_from_files", "scene_summary", "run_comparison",
           "render_views", "write_downloads"]


# ----------------------------------------------------------------------------- session state
@dataclass
class Session:
    """What one browser session holds: its scene, its latest comparison and a private output folder."""

    scene: Scene | None = None
    comparison: cmp.Comparison | None = None
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="clippan-demo-")))

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _delete_session(session: Session | None) -> None:
    if isinstance(session, Session):
        session.cleanup()


# ----------------------------------------------------------------------------- scene sources
def scene_sources() -> list[str]:
    """Dropdown entries: the built-in synthetic scene, every sample found in the data folder, uploads."""
    from clippan_kit.samples import available_samples

    return [DEFAULT_SOURCE, *available_samples(), UPLOAD_SOURCE]


def load_scene(source: str, files: Sequence[str] | None = None, sensor: str | None = None,
               max_size: int = DEFAULT_MAX_SIZE) -> Scene:
    """The scene for a source entry, centre-cropped to ``max_size`` PAN pixels when larger.

    Raises:
        SceneError: readable message for an unknown source or a bad upload.
    """
    from clippan_kit.samples import available_samples, default_scene, load_sample

    sensor = None if not sensor or sensor == AUTO_SENSOR else sensor
    if source == DEFAULT_SOURCE:
        scene = default_scene()
    elif source == UPLOAD_SOURCE:
        scene = scene_from_files(files or [], sensor=sensor)
    elif source in available_samples():
        scene = load_sample(source)
    else:
        raise SceneError(f"unknown scene source {source!r}")
    if max_size and max(scene.shape) > max_size:
        scene = scene.center_crop(int(max_size))
    return scene


def scene_from_files(paths: Sequence[str | Path], sensor: str | None = None) -> Scene:
    """A scene from uploaded files: one ``.mat`` / ``.h5`` scene file, or two GeoTIFFs (MS + PAN).

    Demo-only (the command line takes ``--scene`` or ``--ms/--pan``). A georeferenced GeoTIFF pair goes to :func:`clippan_kit.io.load_scene`, which tells PAN from MS
    by pixel size and aligns them through their geotransforms. Rasters without georeferencing are
    read as plain arrays (:func:`clippan_kit.io.scene_from_arrays`): the PAN is the single-band
    raster with more pixels, and the sizes must match the ratio exactly.

    Raises:
        SceneError: with a readable message for anything else (wrong count or types, unreadable
            files, MS and PAN that do not fit together, a sensor that is needed but not given).
    """
    from clippan_kit.io import load_scene, raster_info, read_raster, scene_from_arrays

    paths = [Path(p) for p in paths or []]
    if not paths:
        raise SceneError("no file uploaded: give one .mat/.h5 scene file, or two GeoTIFFs (MS and PAN)")
    suffixes = [p.suffix.lower() for p in paths]
    sensor = sensor or None
    if len(paths) == 1 and suffixes[0] in SCENE_SUFFIXES:
        return load_scene(paths[0], sensor=sensor)
    if len(paths) == 2 and all(s in RASTER_SUFFIXES for s in suffixes):
        a, b = (raster_info(p) for p in paths)
        if a.georeferenced and b.georeferenced:
            return load_scene(paths, sensor=sensor)
        pixels = [i.shape[1] * i.shape[2] for i in (a, b)]
        if pixels[0] == pixels[1]:
            raise SceneError(f"{paths[0].name} and {paths[1].name} have the same size: cannot tell the PAN from the MS")
        pan, ms = (a, b) if pixels[0] > pixels[1] else (b, a)
        if pan.shape[0] != 1:
            raise SceneError(f"{pan.path.name} (the larger raster) has {pan.shape[0]} bands; the PAN must have one")
        return scene_from_arrays(read_raster(pan.path), read_raster(ms.path), sensor, n_bands=None if sensor else ms.shape[0],
                                 name=ms.path.stem, source=f"{pan.path.name} + {ms.path.name}")
    names = ", ".join(p.name for p in paths)
    raise SceneError(
        f"cannot build a scene from {names}: upload one .mat/.h5 scene file, or exactly two GeoTIFFs (MS and PAN)"
    )


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
    """Images the swipe comparison can show: PAN, every fused result, the ground truth if any."""
    if session is None or session.scene is None:
        return []
    names = [PAN_VIEW]
    if session.comparison is not None:
        names += session.comparison.labels
    if session.scene.reference is not None:
        names.append(REFERENCE_VIEW)
    return names


def _image(session: Session, name: str) -> np.ndarray:
    scene = session.scene
    if name == PAN_VIEW:
        return scene.pan
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
    box = viz.crop_box(scene.shape, row, col, int(size))
    full, crops = [], []
    for name in view_names(session):
        img = _image(session, name)
        full.append((viz.render(img, bands, reference=scene.ms, outline=box), name))
        crops.append((viz.render(img, bands, reference=scene.ms, box=box, display_size=DISPLAY_SIZE), f"{name} (zoom)"))
    pair = None
    available = view_names(session)
    if left in available and right in available:
        pair = (viz.render(_image(session, left), bands, reference=scene.ms),
                viz.render(_image(session, right), bands, reference=scene.ms))
    return pair, full, crops


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "result"


def write_downloads(session: Session) -> list[str]:
    """One GeoTIFF per fused result (PAN grid, scene CRS/transform) and a metrics CSV, in the session folder."""
    from clippan_kit.io import write_geotiff

    comp = session.comparison
    if comp is None:
        return []
    folder = session.workdir / "results"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for label, fused in comp.fused.items():
        path = folder / f"{_slug(session.scene.name)}_{_slug(label)}.tif"
        write_geotiff(path, fused, session.scene)
        paths.append(str(path))
    headers, rows = cmp.metrics_table(comp, digits=6)
    table = folder / "metrics.csv"
    with open(table, "w", newline="") as f:  # the csv module quotes labels with commas ("pnn (pnn, with CLIPPan)")
        csv.writer(f).writerows([headers, *([("" if v is None else v) for v in r] for r in rows)])
    paths.append(str(table))
    return paths


# ----------------------------------------------------------------------------- event handlers
def on_load(source: str, files: Any, sensor: str, max_size: float, session: Session | None):
    """Load the chosen scene into the session; on failure the old scene stays and the status says why."""
    session = session if isinstance(session, Session) else Session()
    paths = [getattr(f, "name", f) for f in (files or [])] if isinstance(files, list) else ([files] if files else [])
    try:
        scene = load_scene(source, paths, sensor, int(max_size))
    except (ClippanError, ValueError, KeyError, OSError) as exc:
        msg = str(exc) or type(exc).__name__
        return session, f"**Error:** {msg}", gr.update(), gr.update()
    session.scene, session.comparison = scene, None
    composites = list(viz.band_composites(scene.sensor))
    return (session, f"Loaded {scene.name}.", scene_summary(scene),
            gr.update(choices=composites, value=composites[0]))


def run_comparison(session: Session | None, keys: Sequence[str], ckpt_files: Any, reduced: bool,
                   known: Sequence[cmp.MethodChoice], progress=None, lambda_epochs: int | None = None):
    """Generator: fuse the session's scene with the chosen methods, yielding ``(session, status)``
    after each method (so that the page shows progress and Stop takes effect between methods)."""
    if session is None or session.scene is None:
        raise SceneError("load a scene first")
    uploaded = [getattr(f, "name", f) for f in (ckpt_files or [])]
    choices = resolve_methods(keys or [], known, uploaded, lambda_epochs)
    if not choices:
        raise SceneError("choose at least one method")
    n = len(choices)
    session.comparison = None
    # With a Gradio progress tracker, tqdm bars inside a method (λ-PNN's adaptation epochs) show on the page.
    for i, choice, comp in cmp.iter_compare(session.scene, choices, reduced=bool(reduced), bars=progress is not None):
        if progress is not None:
            progress((i + 1) / n, desc=f"{choice.label} done ({i + 1}/{n})")
        session.comparison = comp
        done = ", ".join(f"{k} {v:.1f} s" for k, v in comp.seconds.items())
        errors = "".join(f"  \n**{k}:** {v}" for k, v in comp.errors.items())
        state = "Finished" if i + 1 == n else f"Running ({i + 1}/{n} done)"
        yield session, f"{state}: {done}{errors}"


def build_app(checkpoint_dir: str | Path | None = None) -> gr.Blocks:
    """The Gradio page. ``checkpoint_dir``: folder of trained checkpoints offered as methods."""
    known = method_choices(checkpoint_dir)
    method_options = [(c.label, c.key) for c in known]
    default_methods = [k for k in DEFAULT_METHODS if any(c.key == k for c in known)]
    sensors = [AUTO_SENSOR, *list_sensors()]

    with gr.Blocks(title="clippan-kit: pansharpening comparison") as app:
        session = gr.State(None, delete_callback=_delete_session)
        gr.Markdown(
            "# clippan-kit: pansharpening comparison\n"
            "Load a scene, pick methods, compare them: swipe between two results, look at the same "
            "zoomed crop of every result, read the quality indices, download the fused GeoTIFFs."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                source = gr.Dropdown(scene_sources(), value=DEFAULT_SOURCE, label="Scene", elem_id="source")
                uploads = gr.File(label="Upload: one .mat/.h5 scene, or two GeoTIFFs (MS + PAN)", file_count="multiple",
                                  file_types=[".mat", ".h5", ".hdf5", ".tif", ".tiff"], elem_id="uploads")
                sensor = gr.Dropdown(sensors, value=AUTO_SENSOR, label="Sensor (for files that do not say)", elem_id="sensor")
                max_size = gr.Slider(64, 2048, value=DEFAULT_MAX_SIZE, step=64, label="Centre crop to at most (PAN pixels)")
                load_btn = gr.Button("Load scene", elem_id="load")
                info = gr.Markdown(elem_id="scene-info")
                methods = gr.CheckboxGroup(method_options, value=default_methods, label="Methods", elem_id="methods")
                ckpts = gr.File(label="Trained checkpoints (optional)", file_count="multiple",
                                file_types=list(cmp.CHECKPOINT_SUFFIXES), elem_id="checkpoints")
                lambda_epochs = gr.Slider(0, 500, value=LAMBDA_EPOCHS, step=1,
                                          label="λ-PNN: target-adaptation epochs on this scene (0.3-0.5 s each on a CPU; "
                                                "0 applies the pretrained network as is)")
                reduced = gr.Checkbox(False, label="Also reduced-resolution metrics (Wald's protocol: each method fuses the degraded scene again)")
                with gr.Row():
                    run_btn = gr.Button("Run comparison", variant="primary", elem_id="run")
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
                status = gr.Markdown("Load a scene to start.", elem_id="status")
            with gr.Column(scale=2):
                with gr.Row():
                    composite = gr.Dropdown([], label="Bands shown", elem_id="composite")
                    left = gr.Dropdown([], label="Swipe: left", elem_id="left")
                    right = gr.Dropdown([], label="Swipe: right", elem_id="right")
                slider = gr.ImageSlider(label="Swipe comparison", elem_id="swipe", type="numpy")
                with gr.Row():
                    row = gr.Slider(0, 1, value=0.5, step=0.01, label="Zoom centre: row (fraction)")
                    col = gr.Slider(0, 1, value=0.5, step=0.01, label="Zoom centre: column (fraction)")
                    size = gr.Slider(16, 256, value=64, step=8, label="Zoom size (PAN pixels)")
                crops = gr.Gallery(label="Zoomed crops (same window in every result)", columns=4, elem_id="crops")
                full = gr.Gallery(label="Full views", columns=4, elem_id="full")
                table = gr.Dataframe(label="Quality indices (↓ better: D_lambda, D_s, SAM, ERGAS; ↑ better: QNR, Q, Q2n)",
                                     elem_id="metrics", interactive=False)
                downloads = gr.File(label="Fused GeoTIFFs and metrics.csv", file_count="multiple", elem_id="downloads")

        view_inputs = [session, composite, row, col, size, left, right]

        def refresh(sess, comp_name, r, c, s, lft, rgt):
            pair, full_imgs, crop_imgs = render_views(sess, comp_name, r, c, s, lft, rgt)
            return pair, full_imgs, crop_imgs

        def after_load(sess):
            names = view_names(sess)
            return (gr.update(choices=names, value=names[0] if names else None),
                    gr.update(choices=names, value=names[-1] if names else None),
                    None, [], [], None, None)

        load_event = load_btn.click(on_load, [source, uploads, sensor, max_size, session], [session, status, info, composite])
        load_event.then(after_load, [session], [left, right, slider, full, crops, table, downloads]).then(
            refresh, view_inputs, [slider, full, crops])

        def run(sess, keys, files, red, iters, progress=gr.Progress(track_tqdm=True)):
            try:
                for sess, msg in run_comparison(sess, keys, files, red, known, progress, iters):
                    yield sess, msg
            except (ClippanError, ValueError) as exc:
                yield sess, f"**Error:** {exc}"

        def finish(sess, comp_name, r, c, s):
            if sess is None or sess.comparison is None:
                return gr.update(), gr.update(), None, [], [], None, None
            names = view_names(sess)
            labels = sess.comparison.labels
            lft = labels[0] if labels else PAN_VIEW
            rgt = labels[1] if len(labels) > 1 else PAN_VIEW
            pair, full_imgs, crop_imgs = render_views(sess, comp_name, r, c, s, lft, rgt)
            headers, rows = cmp.metrics_table(sess.comparison)
            import pandas as pd

            return (gr.update(choices=names, value=lft), gr.update(choices=names, value=rgt), pair, full_imgs,
                    crop_imgs, pd.DataFrame(rows, columns=headers), write_downloads(sess))

        run_event = run_btn.click(run, [session, methods, ckpts, reduced, lambda_epochs], [session, status])
        run_event.then(finish, [session, composite, row, col, size], [left, right, slider, full, crops, table, downloads])
        # Stop ends the run between methods; what finished so far is still shown.
        stop_btn.click(lambda: "Stopped: the remaining methods were cancelled.", None, [status], cancels=[run_event]).then(
            finish, [session, composite, row, col, size], [left, right, slider, full, crops, table, downloads])

        for control in (composite, left, right):
            control.input(refresh, view_inputs, [slider, full, crops])
        uploads.upload(lambda: UPLOAD_SOURCE, None, [source])  # an upload selects the upload source
        for control in (row, col, size):
            control.release(refresh, view_inputs, [slider, full, crops])
        app.load(on_load, [source, uploads, sensor, max_size, session], [session, status, info, composite]).then(
            after_load, [session], [left, right, slider, full, crops, table, downloads])
    app.queue(default_concurrency_limit=2)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="clippan-kit pansharpening comparison demo (Gradio)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--checkpoints", default=os.environ.get("CLIPPAN_CHECKPOINTS"),
                        help="folder of trained checkpoints (*.pt) offered as methods (default $CLIPPAN_CHECKPOINTS)")
    args = parser.parse_args(argv)
    app = build_app(args.checkpoints)
    app.launch(server_name=args.host, server_port=args.port, show_error=True, footer_links=[])


if __name__ == "__main__":
    main()
