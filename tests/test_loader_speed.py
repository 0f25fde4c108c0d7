"""Smoke test of benchmarks/loader_speed.py: a tiny --quick run (textured frames) writes every section with
positive rates and the measured bits per pixel; --textures order and the smooth frames' bits per pixel;
--dataset got10k / lasot on a tiny synthetic dataset; its CLI errors (missing / empty dataset roots, --dali-device
gpu without a GPU); the harness package (benchmarks/harness) it shares with benchmarks/kernels.py."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("cv2")

BENCHMARKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks")
SCRIPT = os.path.join(BENCHMARKS, "loader_speed.py")
DALI_SECTIONS = ("dali",)


def load_benchmark():
    spec = importlib.util.spec_from_file_location("loader_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def check_row(row: dict, may_skip: bool) -> None:
    if row["status"] == "skipped" and may_skip:
        assert row["reason"], row
        return
    assert row["status"] == "ok", row
    assert row["samples_per_s"] > 0 and row["frames_per_s"] > 0 and row["runs"], row
    assert row["frames_per_s"] == pytest.approx(row["samples_per_s"] * 6, rel=1e-3, abs=0.1)
    assert row["peak_rss_mib"] > 0


# Measured with these settings (3 sequences x 30 frames, seed 0, quality 90, the 24 timed frames): textured
# 640x360 2.29-2.49 bits per pixel (mean 2.42), smooth 0.68-0.92 (mean 0.84). Smaller frames have more bits
# per pixel (the ~600-byte JPEG header weighs more): smooth 320x180 is already ~1.4, so these tests use 640x360.
BPP_SPLIT = 1.5
SMALL = ["--sequences", "3", "--frames", "30", "--batch-size", "2", "--workers", "2"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One synthetic data root for the tests of this module (each (texture, size) is generated once)."""
    return tmp_path_factory.mktemp("loader_speed_data")


def check_bpp(entry: dict, texture: str) -> None:
    data = entry["data"]
    assert entry["texture"] == data["texture"] == texture and entry["source"] == "synthetic"
    assert entry["name"] == f"{texture} {entry['size']}"
    assert data["bits_per_pixel_min"] <= data["bits_per_pixel"] <= data["bits_per_pixel_max"]
    if texture == "textured":
        assert data["bits_per_pixel_min"] > BPP_SPLIT, data
    else:
        assert data["bits_per_pixel_max"] < BPP_SPLIT, data
    assert (data["mean_width"], data["mean_height"]) == (640, 360)
    assert data["frame_sizes"] == {"640x360": data["timed_frames"]}
    assert os.path.basename(data["root"]).startswith(f"bench-got10k-{texture}-640x360")


def test_quick_run_reports_every_section(tmp_path, data_root, capsys):
    bench = load_benchmark()
    out = tmp_path / "l.json"
    assert bench.main(["--quick", "--out", str(out), "--data-root", str(data_root), *SMALL, "--batches", "2",
                       "--profile-samples", "2", "--consumer-ms", "5", "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["benchmark"] == "loader_speed"
    for key in ("cpu", "logical_cpus", "torch_threads", "torch", "opencv", "python"):
        assert key in report["machine"]
    assert "--quick" in report["command"] and report["date"]
    assert report["settings"]["textures"] == ["textured"] and report["settings"]["dali_device"] == "cpu"
    assert [entry["size"] for entry in report["sizes"]] == ["640x360"]
    entry = report["sizes"][0]
    assert entry["data"]["sequences"] == 3 and entry["data"]["timed_frames"] == 2 * 2 * 6
    check_bpp(entry, "textured")

    decode = {(r["decoder"], r["threads"]): r for r in entry["decode"]}
    assert set(decode) == {("cv2", 1), ("cv2", 2), ("dali", 1), ("dali", 2)}
    for (decoder, _), row in decode.items():
        check_row(row, may_skip=decoder == "dali")
        if decoder == "dali":
            assert row["device"] == "cpu" and row["name"].startswith("dali cpu ")

    for section, workers_key, counts in (("baseline", "workers", {0, 2}), ("opencv", "workers", {0, 2}),
                                         ("dali", "threads", {1, 2})):
        rows = entry[section]
        assert {r[workers_key] for r in rows} == counts, section
        for row in rows:
            check_row(row, may_skip=section in DALI_SECTIONS)
            if row["status"] == "ok":
                assert row["ratio_to_decode"] > 0 and row["ratio_to_baseline"] > 0, row
    assert all(r["ratio_to_baseline"] == 1.0 for r in entry["baseline"])
    assert all(r["device"] == "cpu" and r["name"].startswith("dali cpu, ") for r in entry["dali"])

    e2e = entry["end_to_end"]
    assert e2e["backend"] in ("opencv", "dali")
    consumers = {r["consumer"]: r for r in e2e["rows"]}
    assert set(consumers) == {"none", "sleep"}
    for row in e2e["rows"]:
        check_row(row, may_skip=False)
    assert consumers["sleep"]["consumer_ms"] == 5 and consumers["sleep"]["expected_samples_per_s"] > 0

    for name in ("opencv", "pytracking_style"):
        profile = entry["profile"][name]
        assert profile["total_ms"] > 0 and profile["stages_ms"]["decode"] > 0 and profile["stages_ms"]["collate"] > 0
    assert {"record", "read", "decode", "warpAffine", "normalise", "proposals", "labels", "collate"} <= set(
        entry["profile"]["opencv"]["stages_ms"])

    startup = {r["persistent_workers"]: r for r in entry["startup"]["rows"]}
    assert set(startup) == {False, True}
    for row in startup.values():
        assert row["status"] == "ok" and row["first_batch_ms"] > 0 and row["epoch_s"] > 0
        assert len(row["runs_first_batch_ms"]) == 2
    assert entry["startup"]["saved_per_epoch"]["first_batch_ratio"] > 0

    table = capsys.readouterr().out
    assert "opencv, 2 workers" in table and "pytracking-style, 0 workers" in table
    assert "persistent workers save" in table
    assert f"textured 640x360 {entry['data']['bits_per_pixel']:.2f}bpp " in table  # bits per pixel next to the size


def test_textures_in_order_with_their_bits_per_pixel(tmp_path, data_root, capsys):
    bench = load_benchmark()
    out = tmp_path / "t.json"
    assert bench.main(["--quick", "--out", str(out), "--data-root", str(data_root), *SMALL, "--batches", "1",
                       "--textures", "smooth", "textured", "--backends", "opencv", "--profile-samples", "0",
                       "--startup-epochs", "0", "--consumer-ms", "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert [e["name"] for e in report["sizes"]] == ["smooth 640x360", "textured 640x360"]
    smooth, textured = report["sizes"]
    check_bpp(smooth, "smooth")
    check_bpp(textured, "textured")
    assert textured["data"]["mean_jpeg_kb"] > 2 * smooth["data"]["mean_jpeg_kb"]
    table = capsys.readouterr().out
    assert f"smooth 640x360 {smooth['data']['bits_per_pixel']:.2f}bpp " in table


@pytest.mark.parametrize("layout", ["got10k", "lasot"])
def test_real_dataset_layout(layout, tmp_path, capsys):
    from tracking.data.synthetic import SyntheticSpec, ensure_dataset

    root = tmp_path / layout
    ensure_dataset(root, layout, SyntheticSpec(num_sequences=2, num_frames=25, width=320, height=176, seed=1,
                                               texture="textured"))
    bench = load_benchmark()
    out = tmp_path / "d.json"
    assert bench.main(["--quick", "--out", str(out), "--dataset", layout, "--data-root", str(root), "--batches", "1",
                       "--batch-size", "2", "--workers", "1", "--backends", "opencv", "--profile-samples", "0",
                       "--startup-epochs", "0", "--consumer-ms", "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["settings"]["dataset"] == layout and report["settings"]["data_root"] == str(root)
    [entry] = report["sizes"]
    assert entry["name"] == entry["source"] == layout and entry["texture"] is None and entry["size"] == "320x176"
    data = entry["data"]
    assert data["root"] == str(root) and data["sequences"] == 2 and data["frames"] == 50
    assert data["timed_frames"] == 2 * 6 and data["frame_sizes"] == {"320x176": 12}
    assert data["bits_per_pixel"] > BPP_SPLIT  # textured; small frames: ~2.4-2.8
    opencv = {r["workers"]: r for r in entry["opencv"]}
    assert set(opencv) == {0, 1} and all(r["status"] == "ok" for r in opencv.values())
    assert f"{layout} ~320x176 " in capsys.readouterr().out


def test_dataset_without_sequences_is_one_line_error(tmp_path, capsys):
    bench = load_benchmark()
    (tmp_path / "root" / "unrelated").mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--quiet", "--out", str(tmp_path / "ok.json"), "--dataset", "got10k",
                    "--data-root", str(tmp_path / "root")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dataset got10k") and "train" in err and err.count("\n") == 1, err
    assert not (tmp_path / "ok.json").exists()


def test_dali_gpu_without_a_gpu_is_one_line_error(tmp_path, capsys):
    bench = load_benchmark()
    if bench.dali_gpu_error() is None:
        pytest.skip("DALI sees a CUDA device here")
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--quiet", "--out", str(tmp_path / "ok.json"), "--dali-device", "gpu"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dali-device gpu: ") and err.count("\n") == 1, err
    assert not (tmp_path / "ok.json").exists()


@pytest.mark.parametrize("args", [["--sizes", "640x"], ["--sizes", "0x360"], ["--backends", "opencl"],
                                  ["--workers", "0"], ["--out", "FILE/x.json"], ["--out", "."],
                                  ["--textures", "rough"], ["--dataset", "otb"],
                                  ["--dataset", "got10k", "--data-root", "MISSING"],
                                  ["--dataset", "lasot", "--data-root", "EMPTY"],
                                  ["--dataset", "got10k", "--data-root", "EMPTY", "--sizes", "640x360"],
                                  ["--data-root", "FILE"]])
def test_cli_errors_are_one_line_and_exit_2(args, tmp_path, capsys):
    bench = load_benchmark()
    (tmp_path / "FILE").write_text("")
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / a) if a.startswith(("FILE", "MISSING", "EMPTY")) or a == "." else a for a in args]
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--quick", "--quiet", "--out", str(tmp_path / "ok.json")] + args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert not (tmp_path / "ok.json").exists()  # checking --out leaves nothing behind


def test_monitor_skips_processes_that_exited(monkeypatch):
    bench = load_benchmark()
    psutil = pytest.importorskip("psutil")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    gone = psutil.Process(child.pid)
    child.wait()
    monitor = bench.monitor
    monkeypatch.setattr(monitor, "process_tree", lambda: [psutil.Process(), gone])
    start = monitor.Clock()
    stats = monitor.Clock().stats(start, 1)
    assert stats["cores_used"] >= 0
    with monitor.MemoryMonitor(interval=0.01, pss_every=2) as mem:
        sum(range(10**6))
    assert mem.result()["peak_rss_mib"] > 0


def test_harness_import_starts_nothing():
    code = ("import sys, threading; sys.path.insert(0, sys.argv[1]); "
            "import harness.machine, harness.cli, harness.monitor, harness.timing, harness.decode, "
            "harness.baseline, harness.profile, harness.report; "
            "assert threading.active_count() == 1, threading.enumerate(); "
            "loaded = {'cv2', 'nvidia.dali', 'torch', 'loaders', 'tracking'} & set(sys.modules); "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code, BENCHMARKS], check=True)


def test_machine_description_is_shared():
    bench = load_benchmark()
    info = bench.machine.describe()
    for key in ("cpu", "logical_cpus", "physical_cpus", "memory_total_gib", "os", "python", "torch",
                "torch_threads", "opencv", "dali", "loadavg_start"):
        assert key in info
    assert info["logical_cpus"] >= 1 and info["memory_total_gib"] > 0


def test_render_threads_smoke(tmp_path):
    """benchmarks/render_threads.py: inline, threads and processes render the same kind of batches; a tiny run
    writes its three rows."""
    out = tmp_path / "rt.json"
    result = subprocess.run([sys.executable, os.path.join(BENCHMARKS, "render_threads.py"), "--size", "320x176",
                             "--sequences", "2", "--frames", "20", "--batches", "1", "--repeats", "1",
                             "--data-root", str(tmp_path / "data"), "--out", str(out)],
                            capture_output=True, text=True, timeout=300, cwd=os.path.dirname(BENCHMARKS))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert set(rows) == {"inline", "threads", "processes"}
    assert all(r["samples_per_s"] > 0 for r in rows.values())
