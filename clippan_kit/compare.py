"""Side-by-side comparison of pansharpening methods on one scene: the logic behind the Gradio demo
(``demo/app.py``) and the tutorial notebooks, kept free of any UI so that it can be tested and reused.

* :class:`MethodChoice` names one way of fusing a scene: a classical method, λ-PNN (JESSE loss,
  Ciotola et al., IEEE TGRS 2023) or a trained backbone checkpoint (with or without the CLIPPan
  supervisor, AAAI 2026). :func:`available_methods` lists what this installation can run.
* :func:`compare` fuses a :class:`~clippan_kit.scene.Scene` with several choices and scores each
  (full-resolution indices; reference-based indices when the scene carries ground truth; Wald's
  reduced-resolution protocol when asked), returning a :class:`Comparison`.
* :func:`render` turns any image of the scene into an 8-bit RGB view with a shared stretch, a band
  composite from :func:`band_composites` and an optional crop from :func:`crop_box` (the linked
  zoom: one crop position applied to every result).
* :func:`scene_from_files` builds a scene from uploaded files (a GeoTIFF pair MS + PAN, or one
  ``.mat`` / ``.h5`` file) and says clearly what is wrong when it cannot.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .scene import Scene, SceneError
from .sensors import Sensor

__all__ = [
    "MethodChoice",
    "Comparison",
    "classical_choices",
    "checkpoint_choices",
    "checkpoint_choice",
    "describe_checkpoint",
    "lambda_pnn_choice",
    "available_methods",
    "run_method",
    "compare",
    "iter_compare",
    "band_composites",
    "crop_box",
    "render",
    "metrics_table",
    "scene_from_files",
    "CHECKPOINT_SUFFIXES",
]

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
SCENE_SUFFIXES = (".mat", ".h5", ".hdf5")
RASTER_SUFFIXES = (".tif", ".tiff")


# ----------------------------------------------------------------------------- method choices
@dataclass(frozen=True)
class MethodChoice:
    """One way of fusing a scene.

    Attributes:
        key: unique identifier (``"bdsd"``, ``"lambda-pnn"``, ``"ckpt:/path/model.pt"``).
        label: short human-readable name shown in tables and plots (unique within a comparison).
        kind: ``"classical"``, ``"lambda-pnn"`` or ``"checkpoint"``.
        checkpoint: the checkpoint file for ``kind == "checkpoint"``.
        description: one line on what it is and where it comes from.
        options: keyword options for the runner (λ-PNN: ``iterations``, ``batch_size``, ``preset``).
    """

    key: str
    label: str
    kind: str
    checkpoint: Path | None = None
    description: str = ""
    options: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("classical", "lambda-pnn", "checkpoint"):
            raise ValueError(f"unknown method kind {self.kind!r}")
        if self.kind == "checkpoint" and self.checkpoint is None:
            raise ValueError("a checkpoint method needs its checkpoint path")


def classical_choices() -> list[MethodChoice]:
    """Every method of :data:`clippan_kit.classical.METHODS`, in registry order."""
    from .classical import METHODS

    return [MethodChoice(name, m.title, "classical", description=f"{m.family}: {m.citation}") for name, m in METHODS.items()]


_MODE_LABELS = {"clippan": "with CLIPPan", "unsup": "without CLIPPan", "jesse": "JESSE", "supervised": "supervised"}


def describe_checkpoint(path: str | Path) -> str | None:
    """``"backbone, with CLIPPan"`` (etc.) from a Stage II checkpoint's metadata; None when unreadable."""
    try:
        from .train import read_checkpoint

        meta = read_checkpoint(path)["meta"]
    except Exception:  # not ours, or the training modules are absent: the file name must do
        return None
    mode = meta.get("mode")
    return f"{meta.get('backbone', '?')}, {_MODE_LABELS.get(mode, mode or 'unknown training')}"


def checkpoint_choice(path: str | Path, label: str | None = None) -> MethodChoice:
    """A trained-backbone checkpoint as a method, labelled ``stem (backbone, training mode)`` when
    its metadata can be read (so runs with and without CLIPPan are told apart), else by file stem."""
    path = Path(path)
    if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        raise SceneError(f"{path.name}: a checkpoint must end in {', '.join(CHECKPOINT_SUFFIXES)}")
    about = describe_checkpoint(path) if path.is_file() else None
    if label is None:
        label = f"{path.stem} ({about})" if about else path.stem
    return MethodChoice(f"ckpt:{path}", label, "checkpoint", checkpoint=path,
                        description=f"trained backbone checkpoint {path.name}" + (f": {about}" if about else ""))


def checkpoint_choices(folder: str | Path | None) -> list[MethodChoice]:
    """Checkpoints (``*.pt``, ``*.pth``, ``*.ckpt``) directly inside ``folder``, sorted by name; [] when absent."""
    if folder is None or not Path(folder).is_dir():
        return []
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)
    return [checkpoint_choice(p) for p in files]


LAMBDA_PNN_DEFAULTS = {"iterations": 20, "batch_size": 4, "preset": "quick"}


def _lambda_pnn_available() -> bool:
    try:
        from .train import train  # noqa: F401
        from .models import list_models
    except ImportError:
        return False
    return "lambda_pnn" in list_models()


def lambda_pnn_choice(iterations: int = LAMBDA_PNN_DEFAULTS["iterations"], **options) -> MethodChoice:
    """λ-PNN trained on the scene itself with the JESSE loss for ``iterations`` steps (zero-shot,
    no pretrained weights: nothing is downloaded). Slow on a CPU: a few seconds per iteration."""
    opts = {**LAMBDA_PNN_DEFAULTS, **options, "iterations": int(iterations)}
    return MethodChoice(
        "lambda-pnn", "λ-PNN (JESSE)", "lambda-pnn", options=opts,
        description=f"λ-PNN trained on this scene with the JESSE loss, {opts['iterations']} iterations "
                    "(Ciotola, Poggi, Scarpa, IEEE TGRS 61, 2023)",
    )


def available_methods(checkpoint_dir: str | Path | None = None) -> list[MethodChoice]:
    """Classical methods, λ-PNN (when the training modules are installed) and the checkpoints in ``checkpoint_dir``."""
    choices = classical_choices()
    if _lambda_pnn_available():
        choices.append(lambda_pnn_choice())
    return choices + checkpoint_choices(checkpoint_dir)


def run_method(choice: MethodChoice, scene: Scene) -> np.ndarray:
    """Fuse ``scene`` with ``choice``: (B, H, W) float32 on the PAN grid, in the scene's units."""
    if choice.kind == "classical":
        from .classical import fuse

        out = fuse(scene, choice.key)
    elif choice.kind == "lambda-pnn":
        from .infer import fuse_scene
        from .train import train

        opts = {**LAMBDA_PNN_DEFAULTS, **choice.options}
        result = train(scene, backbone="lambda_pnn", mode="jesse", preset=opts.pop("preset"), progress=False, **opts)
        out = fuse_scene(result.model, scene, progress=False)
    else:
        if not Path(choice.checkpoint).is_file():
            raise SceneError(f"checkpoint {choice.checkpoint} not found")
        from .infer import fuse_scene
        from .train import load_trained_model

        model = load_trained_model(choice.checkpoint, scene=scene)
        out = fuse_scene(model, scene, progress=False)
    out = np.asarray(out, dtype=np.float32)
    expected = (scene.n_bands, *scene.shape)
    if out.shape != expected:
        raise RuntimeError(f"{choice.label} returned shape {out.shape}, expected {expected}")
    return out


# ----------------------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """Results of several methods on one scene.

    Attributes:
        scene: the scene that was fused.
        fused: label -> (B, H, W) float32 fused image, scene units, in run order.
        metrics: label -> metric name -> value. Full-resolution indices (D_lambda, D_s, QNR, ...),
            reference-based ones when the scene has ground truth, and Wald-protocol reduced-
            resolution ones suffixed `` (RR)`` when ``reduced`` was asked.
        seconds: label -> wall-clock seconds of the fusion alone.
        errors: label -> message for methods that failed (the others still ran).
        reduced: whether reduced-resolution metrics were computed.
    """

    scene: Scene
    fused: dict[str, np.ndarray] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    reduced: bool = False

    @property
    def labels(self) -> list[str]:
        return list(self.fused)


def _score(choice: MethodChoice, scene: Scene, fused: np.ndarray, reduced: bool) -> dict[str, float]:
    from .cli import evaluate_scene

    # Full-resolution indices, plus reference-based ones when the scene has ground truth.
    metrics = {k: float(v) for k, v in evaluate_scene(scene, fused=fused).items()}
    if reduced:
        from .metrics import reduced_resolution_metrics
        from .wald import reduce_scene

        small = reduce_scene(scene)
        out = run_method(choice, small)
        rr = reduced_resolution_metrics(out, small.reference, ratio=scene.ratio, max_value=scene.max_value)
        metrics.update({f"{k} (RR)": float(v) for k, v in rr.items()})
    return metrics


def iter_compare(scene: Scene, choices: Sequence[MethodChoice], *, reduced: bool = False,
                 metrics: bool = True) -> Iterator[tuple[int, MethodChoice, Comparison]]:
    """Generator form of :func:`compare`: yields ``(i, choice, comparison)`` after each method, so
    that a UI can show progress and stop between methods. A method that raises is recorded in
    ``comparison.errors`` and the others go on."""
    if not choices:
        raise ValueError("choose at least one method")
    labels = [c.label for c in choices]
    if len(set(labels)) != len(labels):
        raise ValueError(f"method labels must be unique, got {labels}")
    result = Comparison(scene=scene, reduced=reduced)
    for i, choice in enumerate(choices):
        # One bad method (e.g. a checkpoint for another sensor) must not sink the rest; a result
        # whose scoring fails is still shown.
        try:
            t0 = time.perf_counter()
            fused = run_method(choice, scene)
            result.seconds[choice.label] = time.perf_counter() - t0
            result.fused[choice.label] = fused
        except Exception as exc:
            result.errors[choice.label] = _message(exc)
            yield i, choice, result
            continue
        if metrics:
            try:
                result.metrics[choice.label] = _score(choice, scene, fused, reduced)
            except Exception as exc:
                result.errors[choice.label] = f"metrics failed: {_message(exc)}"
        yield i, choice, result


def _message(exc: Exception) -> str:
    """User errors (bad data, bad checkpoint) as their message; anything else with its type."""
    return str(exc) if isinstance(exc, (SceneError, ValueError)) and str(exc) else f"{type(exc).__name__}: {exc}"


def compare(scene: Scene, choices: Sequence[MethodChoice], *, reduced: bool = False, metrics: bool = True,
            progress: Callable[[float, str], None] | None = None) -> Comparison:
    """Fuse ``scene`` with every choice and score each; ``progress(fraction, message)`` is called
    before each method and at the end."""
    result = None
    for _, _, result in _with_progress(iter_compare(scene, choices, reduced=reduced, metrics=metrics), choices, progress):
        pass
    if progress is not None:
        progress(1.0, "done")
    return result


def _with_progress(steps: Iterator, choices: Sequence[MethodChoice], progress) -> Iterable:
    n = len(choices)
    if progress is not None and n:
        progress(0.0, f"{choices[0].label} (1/{n})")
    for i, choice, result in steps:
        if progress is not None and i + 1 < n:
            progress((i + 1) / n, f"{choices[i + 1].label} ({i + 2}/{n})")
        yield i, choice, result


def metrics_table(comparison: Comparison, digits: int = 4) -> tuple[list[str], list[list]]:
    """(headers, rows) for a table: one row per method, ``method``, ``time (s)`` then every metric
    in first-seen order; missing values are None; values rounded to ``digits`` decimals."""
    keys: list[str] = []
    for m in comparison.metrics.values():
        keys.extend(k for k in m if k not in keys)
    headers = ["method", "time (s)", *keys]
    rows = []
    for label in comparison.fused:
        m = comparison.metrics.get(label, {})
        row = [label, round(comparison.seconds.get(label, float("nan")), 2)]
        row += [None if k not in m else round(float(m[k]), digits) for k in keys]
        rows.append(row)
    return headers, rows


# ----------------------------------------------------------------------------- views
def band_composites(sensor: Sensor) -> dict[str, tuple[int, int, int]]:
    """Named 3-band composites for ``sensor`` (0-based band indices, shown as R, G, B).

    Always the sensor's true colour; a colour-infrared composite (NIR, red, green) when the sensor
    has a NIR band; a SWIR composite (SWIR2, NIR, red) for sensors with SWIR; otherwise, for
    sensors without those names, bands in file order.
    """
    bands = [b.lower() for b in sensor.bands]
    r, g, b = sensor.rgb
    out = {f"true colour ({sensor.bands[r]}, {sensor.bands[g]}, {sensor.bands[b]})": (r, g, b)}

    def find(*names: str) -> int | None:
        for n in names:
            if n in bands:
                return bands.index(n)
        return None

    nir, red, green = find("nir", "nir1"), find("red"), find("green")
    if nir is not None and red is not None and green is not None:
        out[f"false colour ({sensor.bands[nir]}, {sensor.bands[red]}, {sensor.bands[green]})"] = (nir, red, green)
    swir2 = find("swir2")
    if swir2 is not None and nir is not None and red is not None:
        out[f"SWIR ({sensor.bands[swir2]}, {sensor.bands[nir]}, {sensor.bands[red]})"] = (swir2, nir, red)
    if len(out) == 1 and sensor.n_bands >= 3:
        n = sensor.n_bands
        alt = (n - 1, n // 2, 0)
        if len(set(alt)) == 3 and alt != (r, g, b):
            out[f"bands ({sensor.bands[alt[0]]}, {sensor.bands[alt[1]]}, {sensor.bands[alt[2]]})"] = alt
    return out


def crop_box(shape: tuple[int, int], row_frac: float, col_frac: float, size: int) -> tuple[int, int, int]:
    """The square crop (row, col, size) in pixels of an image of ``shape`` (H, W) centred at the
    fractional position (``row_frac``, ``col_frac``) in 0..1, clamped to stay inside the image."""
    H, W = shape
    size = int(max(1, min(size, H, W)))
    row = int(round(np.clip(row_frac, 0, 1) * H - size / 2))
    col = int(round(np.clip(col_frac, 0, 1) * W - size / 2))
    return int(np.clip(row, 0, H - size)), int(np.clip(col, 0, W - size)), size


def render(image: np.ndarray, bands: Sequence[int] | None = None, *, reference: np.ndarray | None = None,
           box: tuple[int, int, int] | None = None, outline: tuple[int, int, int] | None = None,
           display_size: int | None = None, percentiles: tuple[float, float] = (2, 98)) -> np.ndarray:
    """An 8-bit view of a scene image for display.

    Args:
        image: (B, H, W) multispectral or (H, W) single-band image, any units.
        bands: the three band indices shown as R, G, B (ignored for a single band).
        reference: stretch with this image's percentiles (e.g. the scene's MS) so that every
            result of one scene shares a colour scale and differences are real.
        box: optional crop (row, col, size) in pixels of ``image`` (see :func:`crop_box`).
        outline: optional square (row, col, size) drawn as a one-pixel yellow frame (where the
            zoomed crop lies, on an uncropped view).
        display_size: upscale the (cropped) view with nearest neighbour so its long side is at
            least this many pixels (crops stay pixel-sharp instead of being smoothed by the browser).

    Returns:
        (h, w, 3) uint8.
    """
    from .viz import rgb_quicklook

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 3:
        idx = list(bands if bands is not None else range(min(3, img.shape[0])))
        if len(idx) != 3 or max(idx) >= img.shape[0] or min(idx) < 0:
            raise ValueError(f"band composite {idx} does not fit an image with {img.shape[0]} bands")
    # Crops keep the stretch of the whole image (or of ``reference``), so zoomed views match full
    # ones; a single-band image (the PAN) ignores a multispectral reference.
    ref = img if reference is None or np.ndim(reference) != img.ndim else np.asarray(reference)
    if box is not None:
        r, c, s = box
        img = img[..., r:r + s, c:c + s]
    view = rgb_quicklook(img, idx if img.ndim == 3 else None, percentiles=percentiles, reference=ref)
    if view.ndim == 2:
        view = np.repeat(view[..., None], 3, axis=-1)
    out = (np.clip(np.nan_to_num(view), 0, 1) * 255 + 0.5).astype(np.uint8)
    if outline is not None:
        r, c, s = outline
        r1, c1 = min(r + s, out.shape[0]) - 1, min(c + s, out.shape[1]) - 1
        yellow = np.array([255, 255, 0], np.uint8)
        out[[r, r1], c:c1 + 1] = yellow
        out[r:r1 + 1, [c, c1]] = yellow
    if display_size:
        k = int(np.ceil(display_size / max(out.shape[:2])))
        if k > 1:
            out = out.repeat(k, axis=0).repeat(k, axis=1)
    return out


# ----------------------------------------------------------------------------- uploads
def scene_from_files(paths: Sequence[str | Path], sensor: str | None = None) -> Scene:
    """A scene from uploaded files: one ``.mat`` / ``.h5`` scene file, or two GeoTIFFs (MS + PAN).

    A georeferenced GeoTIFF pair goes to :func:`clippan_kit.io.load_scene`, which tells PAN from MS
    by pixel size and aligns them through their geotransforms. Rasters without georeferencing are
    read as plain arrays (:func:`clippan_kit.io.scene_from_arrays`): the PAN is the single-band
    raster with more pixels, and the sizes must match the ratio exactly.

    Raises:
        SceneError: with a readable message for anything else (wrong count or types, unreadable
            files, MS and PAN that do not fit together, a sensor that is needed but not given).
    """
    from .io import load_scene, raster_info, read_raster, scene_from_arrays

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
