"""The one method resolver (clippan_kit.methods) and the one metric suite (clippan_kit.metrics.suite)."""
import numpy as np
import pytest

from clippan_kit.errors import UnknownNameError, UsageError
from clippan_kit.methods import LAMBDA_PNN, method_names, resolve_method, run_method
from clippan_kit.scene import Scene
from clippan_kit.sensors import get_sensor


def _scene(size: int = 36, seed: int = 0) -> Scene:
    rng = np.random.default_rng(seed)
    ms = rng.uniform(100, 900, (4, size // 4, size // 4)).astype(np.float32)
    pan = rng.uniform(100, 900, (size, size)).astype(np.float32)
    return Scene(pan, ms, get_sensor("qb"))


def test_names_resolve_to_one_kind_each(tmp_path):
    assert resolve_method("GS").kind == "classical" and resolve_method("mtf_glp_hpm_r").key == "mtf-glp-hpm-r"
    lam = resolve_method("λ-PNN", epochs=0)
    assert lam.kind == "lambda-pnn" and lam.key == LAMBDA_PNN and lam.options["epochs"] == 0
    ck = tmp_path / "m.pt"
    assert resolve_method("pnn", ck).kind == "checkpoint" and resolve_method("pnn", ck).checkpoint == ck
    assert resolve_method("lambda-pnn", ck).checkpoint == ck and resolve_method("lambda-pnn", ck).kind == "lambda-pnn"
    assert {"exp", "bdsd", LAMBDA_PNN, "pnn", "lambda_pnn", "checkpoint"} <= set(method_names())


def test_wrong_combinations_are_usage_errors(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown method 'magic'; choose one of: exp, bdsd"):
        resolve_method("magic")
    with pytest.raises(UsageError, match="classical"):
        resolve_method("gs", tmp_path / "m.pt")
    with pytest.raises(UsageError, match="checkpoint"):
        resolve_method("arbrpn")
    with pytest.raises(UsageError, match="lambda-pnn"):
        resolve_method("gs", epochs=3)


def test_classical_method_runs_as_the_registry_function():
    from clippan_kit.classical import fuse

    scene = _scene(32)
    np.testing.assert_array_equal(run_method(resolve_method("brovey"), scene), fuse(scene, "brovey"))


def test_lambda_pnn_is_the_target_adaptation_pipeline():
    from clippan_kit.train import lambda_pnn_pipeline

    scene = _scene(64)
    opts = dict(n_tiles=2, tile=32, use_cache=False)
    got = run_method(resolve_method(LAMBDA_PNN, epochs=2, **opts), scene)
    expected, report = lambda_pnn_pipeline(scene, epochs=2, **opts)
    assert report["epochs"] == 2 and len(report["history"]) == 2
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    # Zero epochs from fresh weights: the zeroed last layer leaves the global skip, i.e. EXP.
    from clippan_kit.classical import fuse

    exp = fuse(scene, "exp")
    np.testing.assert_allclose(run_method(resolve_method(LAMBDA_PNN, epochs=0, **opts), scene), exp, rtol=1e-4, atol=0.5)


@pytest.mark.filterwarnings("ignore:full-resolution indices computed on the top-left")
def test_suite_bundles_and_reduced_path_crops_to_whole_blocks():
    from clippan_kit.classical import fuse
    from clippan_kit.compare import compare
    from clippan_kit.metrics import full_resolution_metrics
    from clippan_kit.metrics.suite import evaluate_fused, evaluate_reduced, wald_reduced

    scene = _scene(136)  # MS 34x34: not whole ratio² blocks, so Wald's protocol crops to 128x128 PAN first
    small = wald_reduced(scene)
    assert small.shape == (32, 32) and small.reference.shape == (4, 32, 32)
    fr = evaluate_fused(fuse(scene, "exp"), scene)
    assert fr == pytest.approx({k: float(v) for k, v in full_resolution_metrics(fuse(scene, "exp"), scene).items()})
    rr = evaluate_reduced(scene, lambda s: fuse(s, "exp"))
    assert set(rr) == {"Q2n", "Q", "SAM", "ERGAS", "PSNR", "SSIM", "SCC"} and 0 < rr["Q2n"] < 1
    comp = compare(scene, [resolve_method("exp")], reduced=True)
    m = comp.metrics["EXP (23-tap interpolation)"]
    assert m["Q2n (RR)"] == pytest.approx(rr["Q2n"]) and m["ERGAS (RR)"] == pytest.approx(rr["ERGAS"])
    with_gt = evaluate_fused(fuse(scene, "exp"), scene.replace(reference=fuse(scene, "gs")))
    assert {"Q2n", "SAM", "ERGAS"} <= set(with_gt) and {"D_lambda", "QNR"} <= set(with_gt)



def test_lambda_pnn_keeps_the_adapted_network(tmp_path):
    """save_adapted writes a checkpoint of kind 'adapted' that reproduces the fused image when applied
    again with zero epochs, and carries what the adaptation did."""
    from clippan_kit.checkpoints import read_checkpoint

    scene = _scene(64)
    opts = dict(n_tiles=2, tile=32, use_cache=False)
    ckpt = tmp_path / "adapted.pt"
    fused = run_method(resolve_method(LAMBDA_PNN, epochs=3, save_adapted=ckpt, **opts), scene)
    held = read_checkpoint(ckpt)
    assert held["kind"] == "adapted" and held["step"] == 3
    meta = held["meta"]
    assert meta["n_bands"] == scene.n_bands and meta["ratio"] == scene.ratio and meta["init"] is None
    assert meta["adaptation"]["epochs"] == 3 and len(meta["adaptation"]["tiles"]) == 2
    again = run_method(resolve_method(LAMBDA_PNN, ckpt, epochs=0, **opts), scene)
    np.testing.assert_array_equal(again, fused)
    with pytest.raises(UsageError, match="for lambda-pnn"):
        resolve_method("exp", save_adapted=ckpt)  # adaptation options belong to lambda-pnn only
