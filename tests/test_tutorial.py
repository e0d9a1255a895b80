"""The tutorial's stored run (clippan_kit.tutorial): cache hits reuse the files, the key follows the recipe,
retrain rebuilds, and the loaded checkpoints fuse exactly as the freshly trained networks."""
import dataclasses
import json

import numpy as np
import pytest

from clippan_kit import tutorial
from clippan_kit.infer import fuse_scene
from clippan_kit.samples import default_scene
from clippan_kit.tutorial import NETWORKS, TutorialConfig, run_key, stored_run, tutorial_scenes

# Every stage trains two steps on the synthetic scene (tiny base): seconds, not minutes.
TINY = TutorialConfig(sample="synthetic", crop=128, teacher_crop=128, base="tiny", supervisor_steps=2,
                      supervisor_batch=2, supervisor_tile=32, supervisor_input=32, preset="tiny",
                      teacher_iterations=2, teacher_tile=32, unsup_iterations=2, clippan_iterations=2)


@pytest.fixture()
def built(tmp_path, monkeypatch):
    calls = []
    real = tutorial.build_run

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(tutorial, "build_run", counting)
    first = stored_run(None, config=TINY, cache=tmp_path, progress=False, device="cpu")
    return first, calls, tmp_path


def _mtimes(run):
    return {p.name: p.stat().st_mtime_ns for p in run.folder.iterdir()}


def test_a_cache_hit_reuses_the_files_without_training(built):
    first, calls, cache = built
    assert first.trained and len(calls) == 1
    names = {p.name for p in first.folder.iterdir()}
    assert {"supervisor.pt", "teacher.pt", *NETWORKS.values(), "manifest.json"} <= names
    before = _mtimes(first)
    again = stored_run(None, config=TINY, cache=cache, progress=False, device="cpu")
    assert not again.trained and len(calls) == 1 and _mtimes(again) == before
    assert again.key == first.key and again.folder == first.folder
    manifest = json.loads((first.folder / "manifest.json").read_text())
    assert manifest["config"] == TINY.to_dict() and set(manifest["seconds"]) >= {"supervisor", "teacher", *NETWORKS}
    assert set(manifest["metrics"]) == {"EXP", "SHIP teacher", *NETWORKS}
    assert 0.0 <= manifest["metrics"]["EXP"]["D_rho"] <= 1.0
    # the stored checkpoints are of the one format, one kind each
    from clippan_kit.checkpoints import read_checkpoint

    assert read_checkpoint(first.paths["supervisor"])["kind"] == "supervisor"
    assert read_checkpoint(first.paths["teacher"])["kind"] == "teacher"
    assert {read_checkpoint(first.paths[k])["meta"]["mode"] for k in NETWORKS} == {"unsup", "clippan"}


def test_loaded_checkpoints_fuse_like_the_fresh_networks(built):
    first, _, cache = built
    again = stored_run(None, config=TINY, cache=cache, progress=False, device="cpu")
    for label in NETWORKS:
        fresh = fuse_scene(first.models[label], first.scene, device="cpu", progress=False)
        loaded = fuse_scene(again.models[label], again.scene, device="cpu", progress=False)
        np.testing.assert_array_equal(fresh, loaded)
    for a, b in zip(first.teacher.state_dict().values(), again.teacher.state_dict().values()):
        assert (a == b).all()
    assert again.supervisor.trainable_state_dict().keys() == first.supervisor.trainable_state_dict().keys()


def test_retrain_rebuilds(built):
    first, calls, cache = built
    before = _mtimes(first)
    rebuilt = stored_run(None, retrain=True, config=TINY, cache=cache, progress=False, device="cpu")
    assert rebuilt.trained and len(calls) == 2 and rebuilt.folder == first.folder
    after = _mtimes(rebuilt)
    assert all(after[n] > before[n] for n in ("supervisor.pt", "teacher.pt", "manifest.json"))
    # same seeds, same recipe: the same networks again
    for label in NETWORKS:
        np.testing.assert_array_equal(fuse_scene(first.models[label], first.scene, device="cpu", progress=False),
                                      fuse_scene(rebuilt.models[label], rebuilt.scene, device="cpu", progress=False))


def test_the_key_follows_config_scene_and_code(monkeypatch):
    scenes = tutorial_scenes(TINY)
    key = run_key(TINY, *scenes)
    assert run_key(TINY, *scenes) == key
    assert run_key(dataclasses.replace(TINY, clippan_iterations=3), *scenes) != key
    assert run_key(dataclasses.replace(TINY, seed=1), *scenes) != key
    other = default_scene(128, seed=1).replace(reference=None)
    assert run_key(TINY, other, scenes[1]) != key
    monkeypatch.setattr(tutorial, "code_version", lambda: "another trainer")
    assert run_key(TINY, *scenes) != key


def test_a_changed_recipe_trains_into_its_own_folder(built):
    first, calls, cache = built
    other = stored_run(None, config=dataclasses.replace(TINY, unsup_iterations=3), cache=cache, progress=False,
                       device="cpu")
    assert other.trained and len(calls) == 2 and other.folder != first.folder and first.folder.is_dir()


def test_the_command_reports_bad_options_in_one_line(capsys, monkeypatch, tmp_path):
    from clippan_kit.cli import main

    assert main(["tutorial-checkpoints", "--sample", "synthetic", "--scene", "x.mat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["clippan tutorial-checkpoints: error: give either --sample or a scene (--scene, or --ms/--pan), not both"]
    monkeypatch.setenv("CLIPPAN_DATA", str(tmp_path / "absent"))
    assert main(["tutorial-checkpoints", "--sample", "wv2", "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs the real-data folder" in err[0]


def test_run_rows_give_the_manifest_rows_and_score_classical_methods_now(tmp_path):
    """The notebooks' table: EXP and the networks straight from the manifest, a classical method scored on
    the run's scene with the same indices (its full-resolution values equal full_resolution_metrics)."""
    from clippan_kit.classical import fuse
    from clippan_kit.metrics import full_resolution_metrics

    run = stored_run(None, config=TINY, cache=tmp_path, progress=False, device="cpu")
    rows = tutorial.run_rows({"stored": run}, classical=("bdsd",))
    assert list(rows) == ["EXP", "BDSD-PC", "stored SHIP teacher", *(f"stored {k}" for k in NETWORKS)]
    assert rows["EXP"]["D_rho"] == pytest.approx(run.manifest["metrics"]["EXP"]["D_rho"], abs=0)
    assert np.isnan(rows["stored SHIP teacher"]["D_rho"]) and 0 < rows["stored SHIP teacher"]["Q2n (RR)"] <= 1
    expected = full_resolution_metrics(fuse(run.scene, "bdsd"), run.scene)
    assert rows["BDSD-PC"]["D_rho"] == pytest.approx(float(expected["D_rho"]), abs=1e-12)
    assert 0 < rows["BDSD-PC"]["Q2n (RR)"] <= 1
