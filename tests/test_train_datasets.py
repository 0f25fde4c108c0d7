"""tracking.train.datasets.build_datasets: config entries -> datasets and weights; every missing root in one
message; the synthetic data and its train / val split; errors name the entry."""

import logging
import os

import pytest

from conftest import SHARED_DATA
from tracking.data import roots
from tracking.data.annotations import AnnotationError
from tracking.data.datasets import DATASETS, SplitFileNotFoundError
from tracking.data.defaults import DEFAULT_SYNTHETIC_SPEC, default_dataset
from tracking.data.synthetic import SyntheticSpec, ensure_dataset
from tracking.train import datasets as train_datasets
from tracking.train.datasets import DatasetRootsMissingError, build_datasets, check_roots

TINY = {"sequences": 4, "frames": 30, "width": 160, "height": 90}
CONFIG = "configs/my_run.yaml"
SHARED_SPECS = os.path.join(SHARED_DATA, "specs")


@pytest.fixture(autouse=True)
def _no_roots(monkeypatch, tmp_path):
    """No dataset root from the environment; the synthetic data goes under tmp_path."""
    for key in DATASETS:
        monkeypatch.delenv(roots.env_var(key), raising=False)
    monkeypatch.setenv("TRACKING_SYNTHETIC_ROOT", str(tmp_path / "synthetic"))


def _settings(monkeypatch, tmp_path, text: str):
    path = tmp_path / "local.yaml"
    path.write_text(text)
    monkeypatch.setenv(roots.SETTINGS_ENV, str(path))
    return path


def _tiny_got10k(root, sequences=2) -> str:
    return ensure_dataset(root, "got10k", SyntheticSpec(num_sequences=sequences, num_frames=3, width=32, height=32))


def test_missing_roots_are_reported_together_before_anything_is_built(monkeypatch, tmp_path):
    monkeypatch.setattr(train_datasets, "default_dataset", lambda *a, **k: pytest.fail("built before the check"))
    monkeypatch.setenv("TRACKING_GOT10K_ROOT", str(tmp_path / "nope"))
    entries = [{"name": "synthetic"}, {"name": "lasot", "split": "train", "weight": 0.25},
               {"name": "got10k", "split": "vottrain"}, {"name": "trackingnet", "sets": [0, 1, 2, 3]},
               {"name": "coco", "version": "2017", "root": str(tmp_path / "coco")}]
    with pytest.raises(DatasetRootsMissingError) as info:
        build_datasets(entries, config_path=CONFIG)
    error = info.value
    assert isinstance(error, roots.DatasetNotFoundError) and isinstance(error, FileNotFoundError)
    assert [m.entry.index for m in error.missing] == [1, 2, 3, 4]
    msg = str(error)
    for part in ("data.datasets[1]: lasot (split train): root not set",
                 f"data.datasets[2]: got10k (split vottrain): root '{tmp_path / 'nope'}' (from "
                 "$TRACKING_GOT10K_ROOT) is not a directory",
                 "data.datasets[3]: trackingnet (sets 0, 1, 2, 3)",
                 f"data.datasets[4]: coco (version 2017): root '{tmp_path / 'coco'}' (from root: in the entry)",
                 CONFIG, roots.settings_path(), "datasets.lasot: DIR", "datasets.trackingnet: DIR",
                 "python -m tracking.settings --init", "TRACKING_LASOT_ROOT", "TRACKING_GOT10K_ROOT", "root: DIR",
                 "'data.datasets=[{name: synthetic}]'"):
        assert part in msg
    assert "data.datasets[0]" not in msg

    with pytest.raises(DatasetRootsMissingError, match=r"(?s)data\.val\.datasets\[0\]: lasot.*data\.val\.datasets="):
        build_datasets([{"name": "lasot"}], config_path=None, key="data.val.datasets")


def test_the_environment_variable_wins_over_the_settings_file_and_root_over_both(monkeypatch, tmp_path, caplog):
    from_file, from_env, own = (_tiny_got10k(tmp_path / n, s) for n, s in (("file", 1), ("env", 2), ("own", 3)))
    _settings(monkeypatch, tmp_path, f"datasets:\n  got10k: {from_file}\n")
    entry = {"name": "got10k", "split": "train", "weight": 3}
    assert len(build_datasets([entry], config_path=CONFIG)[0][0]) == 1
    monkeypatch.setenv("TRACKING_GOT10K_ROOT", from_env)
    with caplog.at_level(logging.INFO, logger="tracking.train.datasets"):
        datasets, weights = build_datasets([entry], config_path=CONFIG)
    assert datasets[0].root == from_env and len(datasets[0]) == 2 and weights == [3.0]
    assert "data.datasets[0]: got10k (split train): 2 sequences" in caplog.text
    assert build_datasets([{**entry, "root": own}], config_path=CONFIG)[0][0].root == own


def test_check_roots_resolves_without_building(monkeypatch, tmp_path):
    monkeypatch.setattr(train_datasets, "default_dataset", lambda *a, **k: pytest.fail("built"))
    monkeypatch.setattr(train_datasets, "build_dataset", lambda *a, **k: pytest.fail("built"))
    root = tmp_path / "lasot"
    root.mkdir()
    monkeypatch.setenv("TRACKING_LASOT_ROOT", str(root))
    entries = [{"name": "synthetic"}, {"name": "lasot", "split": "train"}]
    assert check_roots(entries, config_path=CONFIG, key="data.val.datasets") == [None, str(root)]
    with pytest.raises(DatasetRootsMissingError, match=r"data\.val\.datasets\[2\]: got10k"):
        check_roots([*entries, {"name": "got10k"}], config_path=CONFIG, key="data.val.datasets")


def test_synthetic_train_and_val_are_disjoint(tmp_path):
    tiny = {"name": "synthetic", "kwargs": TINY}
    (train, val, every), weights = build_datasets(
        [{**tiny, "split": "train"}, {**tiny, "split": "val", "weight": 0.5}, tiny], config_path=CONFIG)
    assert weights == [1.0, 0.5, 1.0]
    assert len(train) == 2 and len(val) == 2 and not set(train.names) & set(val.names)
    assert train.names + val.names == every.names and len(every) == 4
    assert len(every.sequences[0]) == 30 and every.root == train.root == val.root
    assert every.root.startswith(str(tmp_path / "synthetic") + "-")  # beside the default data, never over it
    (train,), _ = build_datasets([{**tiny, "split": "train", "kwargs": {**TINY, "val_sequences": 1}}],
                                 config_path=CONFIG)
    assert train.names == every.names[:3]
    (own,), _ = build_datasets([{**tiny, "root": str(tmp_path / "own")}], config_path=CONFIG)
    assert own.root == str(tmp_path / "own") and own.names == every.names


def test_synthetic_defaults_to_the_embedded_dataset_holding_out_two(monkeypatch, tmp_path):
    calls = []

    def fake_default_dataset(root=None, spec=DEFAULT_SYNTHETIC_SPEC):  # 16 sequences, but tiny frames
        calls.append((root, spec))
        return default_dataset(str(tmp_path / "fake"), SyntheticSpec(num_sequences=16, num_frames=2, width=16,
                                                                     height=16))

    monkeypatch.setattr(train_datasets, "default_dataset", fake_default_dataset)
    # every key present, unset ones None: the entries as the structured config gives them
    entry = {"name": "synthetic", "weight": 1.0, "split": "train", "root": None, "sets": None, "version": None,
             "kwargs": {}}
    (train, val), _ = build_datasets([entry, {**entry, "split": "val"}], config_path=CONFIG)
    assert calls == [(None, DEFAULT_SYNTHETIC_SPEC)] * 2
    assert len(train) == 14 and len(val) == 2 and val.names == [f"GOT-10k_Train_{i:06d}" for i in (15, 16)]


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED_SPECS, "got10k_vot_train_split.txt")),
                    reason=f"pytracking's split lists not found at {SHARED_SPECS}")
def test_got10k_vottrain_from_pytracking_split_lists(monkeypatch, tmp_path):
    with open(os.path.join(SHARED_SPECS, "got10k_vot_train_split.txt")) as f:
        vottrain = [int(line) for line in f if line.strip()]
    with open(os.path.join(SHARED_SPECS, "got10k_vot_val_split.txt")) as f:
        votval = int(f.readline())
    # A GOT-10k train/list.txt as long as the real one, with only the sequences used here on disk.
    names = [f"GOT-10k_Train_{i + 1:06d}" for i in range(max(vottrain) + 1)]
    root = tmp_path / "GOT-10k"
    (root / "train").mkdir(parents=True)
    (root / "train" / "list.txt").write_text("\n".join(names) + "\n")
    wanted = [names[i] for i in vottrain[:3]]
    for name in wanted:
        (root / "train" / name).mkdir()
        (root / "train" / name / "groundtruth.txt").write_text("1,2,30,40\n2,3,30,40\n")
    _settings(monkeypatch, tmp_path, f"datasets:\n  got10k: {root}\nspecs_dir: {SHARED_SPECS}\n")

    entry = {"name": "got10k", "split": "vottrain", "kwargs": {"sequences": wanted}}
    (dataset,), _ = build_datasets([entry], config_path=CONFIG)
    assert dataset.names == wanted and dataset.split == "vottrain"
    with pytest.raises(roots.DatasetNotFoundError, match=rf"^data\.datasets\[1\] in {CONFIG}: GOT-10k: .*"
                                                         rf"{names[votval]}"):
        build_datasets([{"name": "synthetic", "kwargs": TINY}, {**entry, "kwargs": {"sequences": [names[votval]]}}],
                       config_path=CONFIG)


def test_construction_errors_keep_their_type_and_name_the_entry(monkeypatch, tmp_path):
    monkeypatch.setattr(roots, "SPECS_DIR", str(tmp_path / "no_specs"))
    root = _tiny_got10k(tmp_path / "got10k")
    monkeypatch.setenv("TRACKING_GOT10K_ROOT", root)
    with pytest.raises(SplitFileNotFoundError, match=rf"^data\.datasets\[0\] in {CONFIG}: GOT-10k split 'votval' "
                                                     r"needs the official split file got10k_votval\.txt"):
        build_datasets([{"name": "got10k-votval"}], config_path=CONFIG)

    gt = os.path.join(root, "train", "GOT-10k_Train_000002", "groundtruth.txt")
    with open(gt, "w") as f:
        f.write("not,a,box\n")
    with pytest.raises(AnnotationError, match=r"^data\.datasets\[0\]: .*groundtruth\.txt") as info:
        build_datasets([{"name": "got10k", "split": "train"}], config_path=None)
    assert info.value.path == gt  # the attributes survive


@pytest.mark.parametrize("entry, message", [
    ({"name": "got10k", "wieght": 1}, r"unknown key 'wieght' \(known: name, weight"),
    ({"weight": 1}, "name must be a dataset name"),
    ({"name": "imagenet"}, "unknown dataset 'imagenet'.*or synthetic"),
    ({"name": "got10k", "weight": "1"}, "weight must be a positive number, got str '1'"),
    ({"name": "got10k", "weight": 0}, "weight must be a positive number"),
    ({"name": "got10k", "split": 1}, "split must be a string"),
    ({"name": "got10k", "sets": [0]}, r"got10k \(Got10k\) takes no 'sets'; its arguments: split, split_file"),
    ({"name": "lasot", "kwargs": {"clases": ["cat"]}}, "takes no 'clases'.*classes"),
    ({"name": "lasot", "kwargs": {"root": "/x"}}, r"kwargs\.root: give it as the entry's own key"),
    ({"name": "got10k-test", "split": "train"}, "names split 'test' but split is 'train'"),
    ({"name": "synthetic", "split": "test"}, "split must be 'train', 'val'"),
    ({"name": "synthetic", "kwargs": {"frame": 3}}, r"unknown kwargs\.frame"),
    ({"name": "synthetic", "kwargs": {"sequences": 2.5}}, r"kwargs\.sequences must be an int"),
    ({"name": "synthetic", "split": "train", "kwargs": {**TINY, "val_sequences": 4}},
     r"val_sequences must be in \[1, 3\]"),
    ("got10k", "the entry must be a mapping"),
])
def test_invalid_entries_name_the_entry_and_the_key(entry, message):
    with pytest.raises(ValueError, match=rf"^data\.datasets\[1\] in {CONFIG}: .*{message}"):
        build_datasets([{"name": "synthetic", "kwargs": TINY}, entry], config_path=CONFIG)


def test_the_entries_must_be_a_list():
    with pytest.raises(ValueError, match=rf"^data\.datasets in {CONFIG}: must be a list"):
        build_datasets({"name": "got10k"}, config_path=CONFIG)
    assert build_datasets([], config_path=CONFIG) == ([], [])
