"""The tutorial's stored run (notebooks 3, 5 and 6): one Stage I supervisor, one SHIP teacher, λ-PNN trained with
L_unsup and λ-PNN-C trained with CLIPPan (L_unsup + L_ship + L_d), built once into the cache and reused.

The recipe is data (:class:`TutorialConfig`); :func:`stored_run` loads the four checkpoints from
``CLIPPAN_CACHE/tutorial/<key>/`` when they are there and otherwise trains them with the one training
engine (:func:`clippan_kit.supervisor.train_supervisor`, :func:`clippan_kit.train.train_teacher`,
:func:`clippan_kit.train.train`) and saves them in the one checkpoint format, with a ``manifest.json``
(config, per-stage seconds, headline metrics). The key (:func:`run_key`) hashes the config, the scene's
pixels and the source of the training code, so a changed recipe, scene or trainer is never silently reused.
Command line: ``clippan tutorial-checkpoints [--sample wv2] [--retrain]``.

The same function trains the notebooks' short "quick" runs (:data:`QUICK`, ``cache=False``) next to it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch.nn as nn

from .scene import Scene

__all__ = ["TutorialConfig", "STORED", "SYNTHETIC", "QUICK", "stored_config", "StoredRun", "tutorial_scenes", "run_key", "code_version", "scene_identity",
           "run_rows", "fused_images", "ablation", "ABLATION",
           "stored_run", "build_run", "NETWORKS", "FR_KEYS"]

#: labels of the two Stage II networks of a run -> checkpoint file name
NETWORKS = {"λ-PNN": "lambda_pnn.pt", "λ-PNN-C": "lambda_pnn_c.pt"}
#: full-resolution indices in the manifest (clippan_kit.metrics.full_resolution_metrics keys)
FR_KEYS = ("D_lambda", "D_s", "QNR", "HQNR", "D_rho", "R_Q2n")
# Source that decides what a run trains: any edit here changes the key (code_version).
# (and the source of build_run, _headline and _scores below: how this module trains and scores a run)
_CODE = ("engine", "train", "supervisor", "losses", "models", "physics", "classical", "metrics", "checkpoints.py",
         "repro.py", "infer.py")


@dataclass(frozen=True)
class TutorialConfig:
    """The stored run's recipe (every field enters the cache key).

    Scene: ``crop`` × ``crop`` PAN pixels at the centre of ``sample`` (``"synthetic"``: the built-in scene of
    that size) for the supervisor and the two networks; the teacher trains at reduced resolution (Wald's
    protocol) on the central ``teacher_crop`` (a 512² crop gives it 128² reduced PAN, two 64² tiles a side).
    Stage I: ``supervisor_steps`` of ``supervisor_batch`` tiles of ``supervisor_tile`` px, tower input
    ``supervisor_input`` (the scale-matched ``quick`` preset, :data:`clippan_kit.supervisor.presets.STAGE1_PRESETS`),
    base ``base``, BDSD-PC pseudo-labels. Stage II: ``preset`` (64² tiles, batch 8, Adam 1e-3, small
    backbones) with the iteration counts below. One ``seed`` for every stage.
    """

    sample: str = "wv2"
    crop: int = 256
    teacher_crop: int = 512
    base: str = "offline"
    pseudo_label: str = "bdsd"
    supervisor_steps: int = 60
    supervisor_batch: int = 8
    supervisor_tile: int = 64
    supervisor_input: int = 128
    preset: str = "quick"
    backbone: str = "lambda_pnn"
    teacher_iterations: int = 150
    teacher_tile: int = 64
    unsup_iterations: int = 150
    clippan_iterations: int = 100
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: the stored run of the notebooks
STORED = TutorialConfig()
#: the notebooks' "quick" run next to it (what a few dozen iterations give)
#: the stored run on the built-in synthetic scene (no real data: CI's second pass), shorter
SYNTHETIC = dataclasses.replace(STORED, sample="synthetic", supervisor_steps=40, teacher_iterations=150,
                                unsup_iterations=120, clippan_iterations=60)
QUICK = dataclasses.replace(STORED, supervisor_steps=30, teacher_iterations=25, teacher_tile=32,
                            unsup_iterations=40, clippan_iterations=40)


@dataclass
class StoredRun:
    """A built or loaded run.

    Attributes:
        config: its recipe; key: the cache key (folder name); folder: where its files are.
        scene: the scene the networks trained on (and fuse); supervisor: the Stage I CLIPSupervisor;
        teacher: the SHIP teacher (eval mode); models: label (:data:`NETWORKS`) -> backbone (eval mode).
        paths: "supervisor", "teacher" and each label -> checkpoint path.
        manifest: config, key, scene identity, code version, per-stage ``seconds``, headline ``metrics``.
        trained: True when this call trained it, False when it was loaded.
    """

    config: TutorialConfig
    key: str
    folder: Path
    scene: Scene
    supervisor: nn.Module
    teacher: nn.Module
    models: dict[str, nn.Module]
    paths: dict[str, Path]
    manifest: dict[str, Any]
    trained: bool = False
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)


def stored_config(sample: str) -> TutorialConfig:
    """The stored recipe for ``sample``: :data:`SYNTHETIC` for ``"synthetic"``, else :data:`STORED` on it."""
    return SYNTHETIC if sample == "synthetic" else dataclasses.replace(STORED, sample=sample)


def tutorial_scenes(config: TutorialConfig = STORED) -> tuple[Scene, Scene]:
    """(scene, teacher scene) of ``config``: central crops of its sample, or the synthetic scene (no reference)
    when ``config.sample`` is ``"synthetic"``. Raises SceneError when the sample's files are missing."""
    if config.sample == "synthetic":
        from .samples import default_scene

        return (default_scene(config.crop).replace(reference=None),
                default_scene(config.teacher_crop).replace(reference=None))
    from .samples import load_sample

    full = load_sample(config.sample)
    return full.center_crop(min(config.crop, *full.shape)), full.center_crop(min(config.teacher_crop, *full.shape))


def scene_identity(scene: Scene) -> str:
    """SHA-256 (16 hex digits) of a scene's sensor, ratio, full scale and PAN/MS pixels."""
    h = hashlib.sha256(f"{scene.sensor.name}|{scene.ratio}|{float(scene.max_value)}|{scene.ms.shape}".encode())
    for a in (scene.pan, scene.ms):
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def code_version() -> str:
    """clippan-kit and torch versions plus a SHA-256 (16 hex digits) of the training code's source."""
    import torch

    from . import __version__

    root = Path(__file__).parent
    h = hashlib.sha256()
    for name in _CODE:
        files = sorted((root / name).rglob("*.py")) if (root / name).is_dir() else [root / name]
        for f in files:
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    h.update(inspect.getsource(build_run).encode() + inspect.getsource(_headline).encode()
             + inspect.getsource(_scores).encode())
    return f"{__version__}+torch{torch.__version__}+{h.hexdigest()[:16]}"


def run_key(config: TutorialConfig, scene: Scene, teacher_scene: Scene) -> str:
    """The cache key: SHA-256 (20 hex digits) of the config, both scenes' identities and :func:`code_version`."""
    text = json.dumps({"config": config.to_dict(), "scene": scene_identity(scene),
                       "teacher_scene": scene_identity(teacher_scene), "code": code_version()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _say(progress: bool | Callable[[str], None]) -> Callable[[str], None]:
    if callable(progress):
        return progress
    return print if progress else (lambda message: None)


def _scores(scene: Scene, run: Callable[[Scene], np.ndarray], small: Scene | None = None,
            full_resolution: bool = True) -> dict[str, float]:
    """One table row of a method ``run(scene) -> fused``: the Wald-protocol Q2n (``"Q2n (RR)"``; ``small``: the
    reduced scene when already made) and, unless ``full_resolution`` is False, :data:`FR_KEYS` on ``scene``."""
    from .metrics.suite import evaluate_reduced, full_resolution_metrics

    row = {"Q2n (RR)": float(evaluate_reduced(scene, run, small)["Q2n"])}
    if full_resolution:
        fr = full_resolution_metrics(run(scene), scene)
        row.update({k: float(fr[k]) for k in FR_KEYS})
    return row


def _headline(scene: Scene, teacher: nn.Module, models: dict[str, nn.Module]) -> dict[str, dict[str, float]]:
    """Full-resolution indices (:data:`FR_KEYS`) of EXP and each network on ``scene``, and the Wald-protocol
    Q2n (``"Q2n (RR)"``) of EXP, the teacher and each network."""
    from .classical import fuse
    from .infer import fuse_scene
    from .metrics.suite import wald_reduced

    small = wald_reduced(scene)
    nets = {"EXP": None, "SHIP teacher": teacher, **models}
    out: dict[str, dict[str, float]] = {}
    for name, net in nets.items():
        run = (lambda s: fuse(s, "exp")) if net is None else (lambda s, n=net: fuse_scene(n, s, progress=False))
        out[name] = _scores(scene, run, small, full_resolution=name != "SHIP teacher")
    return out


def build_run(config: TutorialConfig, folder: str | Path, scenes: tuple[Scene, Scene] | None = None, *,
              progress: bool | Callable[[str], None] = True, device: str | None = None) -> StoredRun:
    """Train the four checkpoints of ``config`` into ``folder`` (one training engine, one checkpoint format)
    and write ``manifest.json`` last; ``scenes``: (scene, teacher scene), default :func:`tutorial_scenes`."""
    from .supervisor import load_base, train_supervisor
    from .supervisor.presets import stage1_config
    from .train import train, train_teacher

    say, folder = _say(progress), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scene, teacher_scene = scenes or tutorial_scenes(config)
    c, seconds, history = config, {}, {}
    common = dict(backbone=c.backbone, preset=c.preset, seed=c.seed, device=device, progress=False)
    paths = {"supervisor": folder / "supervisor.pt", "teacher": folder / "teacher.pt",
             **{label: folder / name for label, name in NETWORKS.items()}}
    stages = [
        ("supervisor", f"Stage I supervisor ({c.supervisor_steps} steps, base {c.base})", lambda: train_supervisor(
            [scene], paths["supervisor"], stage1_config("quick", steps=c.supervisor_steps, batch_size=c.supervisor_batch,
                                                        tile_size=c.supervisor_tile, input_size=c.supervisor_input,
                                                        seed=c.seed),
            base=load_base(c.base), pseudo_label=c.pseudo_label, device=device, progress=False)),
        ("teacher", f"SHIP teacher ({c.teacher_iterations} iterations, reduced {teacher_scene.shape[0]}² crop)",
         lambda: train_teacher(teacher_scene, preset=c.preset, iterations=c.teacher_iterations, tile=c.teacher_tile,
                               val_every=0, checkpoint=paths["teacher"], seed=c.seed, device=device, progress=False)),
        ("λ-PNN", f"λ-PNN, L_unsup ({c.unsup_iterations} iterations)", lambda: train(
            scene, mode="unsup", iterations=c.unsup_iterations, checkpoint=paths["λ-PNN"], **common)),
        ("λ-PNN-C", f"λ-PNN-C, CLIPPan ({c.clippan_iterations} iterations)", lambda: train(
            scene, mode="clippan", iterations=c.clippan_iterations, teacher=paths["teacher"],
            supervisor=paths["supervisor"], checkpoint=paths["λ-PNN-C"], **common)),
    ]
    trained = {}
    for i, (name, title, job) in enumerate(stages, 1):
        say(f"[{i}/4] {title} ...")
        t = time.perf_counter()
        trained[name] = job()
        seconds[name] = round(time.perf_counter() - t, 1)
        history[name] = trained[name].history
        say(f"[{i}/4] {title}: {seconds[name]:.0f} s")
    models = {label: trained[label].model for label in NETWORKS}
    t = time.perf_counter()
    metrics = _headline(scene, trained["teacher"].model, models)
    seconds["metrics"] = round(time.perf_counter() - t, 1)
    manifest = {"config": c.to_dict(), "key": run_key(c, scene, teacher_scene), "scene": scene.name,
                "scene_shape": list(scene.shape), "scene_identity": scene_identity(scene),
                "teacher_scene_identity": scene_identity(teacher_scene), "code_version": code_version(),
                "files": {k: p.name for k, p in paths.items()}, "seconds": seconds,
                "total_seconds": round(sum(seconds.values()), 1), "metrics": metrics,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _write_json(folder / "manifest.json", manifest)
    say(f"built in {manifest['total_seconds']:.0f} s: {folder}")
    return StoredRun(c, manifest["key"], folder, scene, trained["supervisor"].model, trained["teacher"].model, models,
                     paths, manifest, trained=True, history=history)


def _write_json(path: Path, data: dict) -> None:
    from .io._common import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, ensure_ascii=False))


def _load(config: TutorialConfig, folder: Path, scene: Scene, device: str | None) -> StoredRun:
    from .checkpoints import load_supervisor, load_trained_model
    from .engine.loop import CsvLog

    manifest = json.loads((folder / "manifest.json").read_text())
    paths = {k: folder / name for k, name in manifest["files"].items()}
    models = {label: load_trained_model(paths[label], scene=scene, device=device) for label in NETWORKS}
    logs = {"supervisor": folder / "supervisor.loss.csv", "teacher": folder / "teacher.train_log.csv",
            **{label: folder / f"{Path(name).stem}.train_log.csv" for label, name in NETWORKS.items()}}
    history = {k: CsvLog(p).read() for k, p in logs.items() if p.is_file()}
    return StoredRun(config, manifest["key"], folder, scene, load_supervisor(paths["supervisor"], device=device),
                     load_trained_model(paths["teacher"], scene=scene, device=device), models, paths, manifest,
                     trained=False, history=history)


def _complete(folder: Path, key: str) -> bool:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        data = json.loads(manifest.read_text())
    except ValueError:
        return False
    return data.get("key") == key and all((folder / n).is_file() for n in data.get("files", {}).values())


def stored_run(scene_or_sample: str | Scene | None = None, retrain: bool = False,
               progress: bool | Callable[[str], None] = True, *, config: TutorialConfig | None = None,
               cache: str | Path | None = None, device: str | None = None) -> StoredRun:
    """The tutorial's stored run: loaded from the cache when there, else trained and saved there.

    Args:
        scene_or_sample: a sample name (``"wv2"``, ``"ikonos"``, ``"synthetic"`` ...; None: ``config.sample``),
            or a :class:`Scene` (then the supervisor, teacher and networks all train on it as is).
        retrain: train again even when the cache holds the run (the folder is replaced).
        progress: print one line per stage (True), nothing (False), or ``callback(message)``.
        config: the recipe (default :func:`stored_config` of the sample). cache: folder holding ``tutorial/``; default
            :func:`clippan_kit.config.cache_dir` (``CLIPPAN_CACHE``).

    Returns:
        :class:`StoredRun` (``trained`` says whether this call trained it).
    """
    from .config import cache_dir

    if isinstance(scene_or_sample, Scene):
        config = config or STORED
        scenes = (scene_or_sample, scene_or_sample)
    else:
        sample = scene_or_sample or (config.sample if config is not None else STORED.sample)
        config = dataclasses.replace(config, sample=sample) if config is not None else stored_config(sample)
        scenes = tutorial_scenes(config)
    key = run_key(config, *scenes)
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / "tutorial" / f"{scenes[0].name}-{key}"
    say = _say(progress)
    if not retrain and _complete(folder, key):
        say(f"stored run loaded from {folder} (built {json.loads((folder / 'manifest.json').read_text())['created']})")
        return _load(config, folder, scenes[0], device)
    say(f"{'retraining' if retrain else 'no stored run for this recipe yet: training'} the tutorial run into {folder}")
    if folder.exists():
        shutil.rmtree(folder)
    return build_run(config, folder, scenes, progress=progress, device=device)


def run_rows(runs: dict[str, StoredRun], classical: tuple[str, ...] = ("mtf-glp-hpm-r",)) -> dict[str, dict[str, float]]:
    """One table row per method of several runs on the same scene, from their manifests (nothing recomputed
    for the networks): ``EXP``, each ``classical`` method (scored now), and ``"<run> <network>"`` for the SHIP
    teacher and :data:`NETWORKS`. Every row has :data:`FR_KEYS` and ``"Q2n (RR)"`` (NaN where not measured:
    the teacher is scored at reduced resolution only)."""
    from .classical import METHODS, fuse

    keys = (*FR_KEYS, "Q2n (RR)")
    first = next(iter(runs.values()))
    rows = {"EXP": first.manifest["metrics"]["EXP"]}
    for name in classical:
        rows[METHODS[name].title] = _scores(first.scene, lambda s, n=name: fuse(s, n))
    for run_name, run in runs.items():
        rows.update({f"{run_name} {k}": v for k, v in run.manifest["metrics"].items() if k != "EXP"})
    return {name: {k: float(row.get(k, float("nan"))) for k in keys} for name, row in rows.items()}


def fused_images(runs: dict[str, StoredRun], device: str | None = None) -> dict[str, np.ndarray]:
    """``"<run> <network>"`` -> the network's fusion (B, H, W) of its run's scene (tiled inference)."""
    from .infer import fuse_scene

    return {f"{run_name} {label}": fuse_scene(model, run.scene, device=device, progress=False)
            for run_name, run in runs.items() for label, model in run.models.items()}


#: the rows of CLIPPan's Table 2 that notebook 6 ablates: label -> loss configuration (clippan_kit.losses.LOSS_CONFIGS)
ABLATION = {"L_spec + L_spat": "spec+spat", "L_unsup": "unsup", "L_unsup + L_ship": "unsup+ship",
            "L_unsup + L_d": "unsup+d", "L_unsup + L_ship + L_d": "clippan"}


def ablation(run: StoredRun, folder: str | Path, iterations: int, rows: dict[str, str] = ABLATION, *,
             device: str | None = None) -> dict[str, Path]:
    """Train ``run``'s backbone once per loss configuration of ``rows`` (same seed, tiles and schedule;
    ``iterations`` each) on ``run.scene``, with the run's stored teacher and supervisor for L_ship / L_d.

    Returns label -> checkpoint path (``folder/ablation_<config>.pt``)."""
    from .train import train

    c, folder = run.config, Path(folder)
    out = {}
    for label, loss in rows.items():
        out[label] = folder / f"ablation_{loss.replace('+', '_')}.pt"
        train(run.scene, backbone=c.backbone, mode="unsup", loss=loss, preset=c.preset, iterations=iterations,
              seed=c.seed, teacher=run.paths["teacher"], supervisor=run.paths["supervisor"], checkpoint=out[label],
              device=device, progress=False)
    return out
