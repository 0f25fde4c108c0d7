"""The report CLI: generated results in tmp_path, and the real OTB-100 results (skipped when absent)."""

import json
import os

import numpy as np
import pytest
from conftest import SHARED_DATA

from tracking.eval.report import load_ground_truth, main, read_result
from tracking.data.annotations import write_boxes, write_times

OTB = os.path.join(SHARED_DATA, "otb100")
CURVES = os.path.join(OTB, "matlab_otb_curves.json")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _make_set(root, rng):
    anno = root / "anno"
    anno.mkdir()
    gts = {}
    for name, n in [("SeqA", 30), ("SeqB", 20)]:
        gt = np.column_stack([rng.uniform(20, 200, n), rng.uniform(20, 200, n), rng.uniform(20, 60, (n, 2))])
        np.savetxt(anno / f"{name}.txt", gt, fmt="%.2f", delimiter=",")
        gts[name] = gt
    for tracker, noise in [("Good", 1.0), ("Poor", 15.0)]:
        d = root / "res" / tracker
        for name, gt in gts.items():
            write_boxes(d / f"{name}.txt", gt + rng.normal(0, noise, gt.shape) * [1, 1, 0.2, 0.2])
            write_times(d / f"{name}_time.txt", [0.01] * len(gt))
    return anno, root / "res"


def test_cli_on_generated_results(tmp_path, capsys):
    anno, res = _make_set(tmp_path, np.random.default_rng(0))
    out = tmp_path / "out"
    assert main(["--results", str(res / "Poor"), str(res / "Good"), "--anno-dir", str(anno),
                 "--out-dir", str(out), "--plot"]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| ") and "Tracker" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["Good", "Poor"]      # sorted by AUC
    assert "FPS" in text and "100.0" in text
    report = json.loads((out / "report.json").read_text())
    assert report["sequences"] == ["SeqA", "SeqB"] and report["protocol"] == "otb"
    good = report["trackers"]["Good"]
    assert good["auc"] == pytest.approx(np.mean([good["per_sequence"][s]["auc"] for s in ("SeqA", "SeqB")]))
    assert good["precision"] > 0.9 and good["fps"] == pytest.approx(100.0)
    assert (out / "report.md").read_text().count("| Good |") == 1
    for png in ("success_plot.png", "precision_plot.png"):
        assert (out / png).read_bytes()[:8] == PNG_MAGIC


def test_cli_counts_invalid_result_frames_and_scores_them_by_the_protocol(tmp_path, capsys):
    anno, res = _make_set(tmp_path, np.random.default_rng(4))
    gt = np.loadtxt(anno / "SeqA.txt", delimiter=",")
    pred = gt + 1.0
    bad = {3: [np.nan] * 4, 7: [50.0, 60.0, -4.0, 20.0], 8: [50.0, 60.0, 20.0, 0.0], 12: [np.nan] * 4}
    carried = pred.copy()                    # OTB rule 7 by hand: each bad row takes the row before it
    for i, row in sorted(bad.items()):
        pred[i] = row
        carried[i] = carried[i - 1]
    write_boxes(res / "Good" / "SeqA.txt", pred)
    write_boxes(res / "Carried" / "SeqA.txt", carried)
    write_boxes(res / "Carried" / "SeqB.txt", np.loadtxt(anno / "SeqB.txt", delimiter=","))
    out = tmp_path / "out"
    assert main(["--results", str(res / "Good"), str(res / "Carried"), "--anno-dir", str(anno),
                 "--out-dir", str(out)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| Tracker"))
    assert header.rstrip(" |").endswith("Invalid")
    report = json.loads((out / "report.json").read_text())["trackers"]
    assert report["Good"]["invalid_frames"] == 4 and report["Carried"]["invalid_frames"] == 0
    assert report["Good"]["per_sequence"]["SeqA"]["invalid_frames"] == 4
    assert report["Good"]["per_sequence"]["SeqB"]["invalid_frames"] == 0
    # the count only reports them: the scores are the protocol's (previous box carried forward)
    good, carried = report["Good"]["per_sequence"]["SeqA"], report["Carried"]["per_sequence"]["SeqA"]
    assert good["auc"] == carried["auc"] and good["precision"] == carried["precision"]


def test_cli_missing_result_names_tracker_and_sequence(tmp_path, capsys):
    anno, res = _make_set(tmp_path, np.random.default_rng(1))
    os.remove(res / "Good" / "SeqB.txt")
    assert main(["--results", str(res / "Good"), "--anno-dir", str(anno)]) == 2
    err = capsys.readouterr().err
    assert "tracker Good" in err and "sequence SeqB" in err
    with pytest.warns(UserWarning, match="SeqB"):
        assert main(["--results", str(res / "Good"), "--anno-dir", str(anno), "--allow-missing"]) == 0


def test_cli_bad_files_are_clear_errors(tmp_path, capsys):
    anno, res = _make_set(tmp_path, np.random.default_rng(2))
    (res / "Good" / "SeqA.txt").write_text("")
    assert main(["--results", str(res / "Good"), "--anno-dir", str(anno)]) == 2
    assert "tracker Good, sequence SeqA" in capsys.readouterr().err
    write_boxes(res / "Good" / "SeqA.txt", np.ones((5, 4)))              # shorter than the GT
    assert main(["--results", str(res / "Good"), "--anno-dir", str(anno)]) == 2
    assert "5 frames, ground truth 30" in capsys.readouterr().err


def test_single_file_scorer_and_formats(tmp_path, capsys):
    gt = np.array([[10, 10, 20, 20], [12, 10, 20, 20], [14, 10, 20, 20]], float)
    np.savetxt(tmp_path / "gt.txt", gt, fmt="%g", delimiter="\t")
    np.savetxt(tmp_path / "r.txt", gt, fmt="%g", delimiter=" ")            # space separated
    assert main(["--score", str(tmp_path / "r.txt"), "--gt", str(tmp_path / "gt.txt")]) == 0
    out = capsys.readouterr().out
    assert "AUC: 0.9524" in out and "Prec@20: 1.0000" in out             # 20/21 thresholds (IoU=1 not > 1)
    x0, y0, x1, y1 = gt[:, 0], gt[:, 1], gt[:, 0] + gt[:, 2], gt[:, 1] + gt[:, 3]
    poly = np.column_stack([x0, y0, x1, y0, x1, y1, x0, y1])             # 8-value polygon lines
    np.savetxt(tmp_path / "poly.txt", poly, fmt="%g", delimiter=",")
    np.testing.assert_allclose(read_result(tmp_path / "poly.txt"), gt)
    assert main(["--score", str(tmp_path / "poly.txt"), "--gt", str(tmp_path / "gt.txt"),
                 "--protocol", "got10k"]) == 0
    assert "AO: 1.0000" in capsys.readouterr().out


def test_dataset_without_its_files_is_a_clear_error(tmp_path):
    class Args:
        anno_dir = None
        dataset = "otb"
        data_root = str(tmp_path)

    with pytest.raises(FileNotFoundError, match=r"OTB: sequence annotation\(s\) not found.*Basketball"):
        load_ground_truth(Args())


@pytest.mark.skipif(not os.path.isfile(CURVES), reason=f"{CURVES} not present")
def test_cli_on_real_otb100_matches_matlab(tmp_path, capsys):
    with open(CURVES) as f:
        matlab = json.load(f)
    trackers = ["MDNet", "CNN-SVM", "KCF"]                                # CNN-SVM/MDNet have short files
    assert main(["--results", *[os.path.join(OTB, "results", t) for t in trackers],
                 "--anno-dir", os.path.join(OTB, "anno"), "--out-dir", str(tmp_path), "--plot"]) == 0
    printed = {line.split("|")[1].strip(): float(line.split("|")[2])
               for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "AUC" not in line}
    report = json.loads((tmp_path / "report.json").read_text())
    for t in trackers:
        matlab_auc = np.mean([np.mean(matlab["success_curve"][t][s]) for s in matlab["sequences"]])
        matlab_prec = np.mean([matlab["precision_curve"][t][s][20] for s in matlab["sequences"]])
        assert printed[t] == round(matlab_auc, 4)
        assert report["trackers"][t]["auc"] == pytest.approx(matlab_auc, abs=1e-12)
        assert report["trackers"][t]["precision"] == pytest.approx(matlab_prec, abs=1e-12)
    assert list(report["trackers"]) == ["MDNet", "CNN-SVM", "KCF"]
    png = (tmp_path / "success_plot.png").read_bytes()
    assert png[:8] == PNG_MAGIC and len(png) > 10_000


def test_cli_reads_bom_and_utf16_files_and_rejects_undecodable_ones(tmp_path, capsys):
    gt = "10,10,20,20\n12,10,20,20\n"
    (tmp_path / "gt.txt").write_bytes(b"\xef\xbb\xbf" + gt.encode())               # UTF-8 with a BOM
    (tmp_path / "u16.txt").write_bytes(gt.encode("utf-16"))                       # UTF-16 with a BOM
    assert main(["--score", str(tmp_path / "u16.txt"), "--gt", str(tmp_path / "gt.txt")]) == 0
    assert "AUC: 0.9524" in capsys.readouterr().out
    (tmp_path / "latin1.txt").write_bytes("10,10,20,20\n\u00e9\n".encode("latin-1"))
    assert main(["--score", str(tmp_path / "latin1.txt"), "--gt", str(tmp_path / "gt.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "latin1.txt, line 2: not valid UTF-8 text" in err


def _otb_layout(root, names, rng):
    for name in names:
        gt = np.column_stack([rng.integers(20, 200, (10, 2)), rng.integers(20, 60, (10, 2))]).astype(float)
        (root / "data" / name).mkdir(parents=True)
        np.savetxt(root / "data" / name / "groundtruth_rect.txt", gt, fmt="%d", delimiter=",")
        write_boxes(root / "res" / "T" / f"{name}.txt", gt + 1)


def test_cli_dataset_with_missing_sequences_and_sequences_option(tmp_path, capsys):
    _otb_layout(tmp_path, ["Crossing", "Basketball"], np.random.default_rng(3))
    args = ["--results", str(tmp_path / "res" / "T"), "--dataset", "otb", "--data-root", str(tmp_path / "data")]
    assert main(args) == 2                                                  # the other 98 are not there
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: OTB: sequence annotation(s) not found")
    assert main(args + ["--sequences", "Crossing", "Basketball"]) == 0
    out = capsys.readouterr().out
    assert "| T |" in out
    assert main(args + ["--sequences", "Crossing", "Nope"]) == 2
    assert "Nope" in capsys.readouterr().err
    assert main(args[:2] + ["--dataset", "vot", "--data-root", str(tmp_path / "nonexistent")]) == 2
    assert capsys.readouterr().err.startswith("error: VOT")


def test_cli_refuses_first_frame_only_ground_truth(tmp_path, capsys):
    d = tmp_path / "test" / "GOT-10k_Test_000001"
    for i in range(1, 4):
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{i:08d}.jpg").write_bytes(b"")
    (d / "groundtruth.txt").write_text("1,2,3,4\n")
    write_boxes(tmp_path / "res" / "GOT-10k_Test_000001.txt", np.ones((3, 4)))
    assert main(["--results", str(tmp_path / "res"), "--dataset", "got10k-test", "--data-root", str(tmp_path)]) == 2
    assert "first-frame ground truth only" in capsys.readouterr().err
