"""The series on other data sets, build side: which data set a build is on (the command line
over the profile), where its reports go, which data sets a reports folder holds, the top page,
profiles and the CLI; and the notebook-side helpers that name the data in a report. The
build tests use stand-in notebooks (fast); the real series is in test_other_datasets.py."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_lib import catalogue, datasets, profiles, reports
from mnist_lib.params import ParameterError
from mnist_lib.runner.build_dataset import BuildDataset, choose_dataset
from mnist_lib.runner.pipeline import link_datasets
from mnist_lib.website import datasets_index
from mnist_lib.website.datasets_index import built_datasets

REPO = Path(__file__).resolve().parent.parent


def tiny_raw(**kwargs) -> datasets.RawDataset:
    images = torch.zeros(20, 28, 28, dtype=torch.uint8)
    labels = torch.arange(20) % 10
    return datasets.RawDataset(images, labels, images[:10], labels[:10], **kwargs)


# --------------------------------------------------------------------------- naming the data


def test_raw_dataset_names_its_data(tmp_path):
    mnist = tiny_raw()
    assert (mnist.title, mnist.identity(), mnist.report_folder()) == ("MNIST", {"dataset": "mnist"}, "")
    fashion = tiny_raw(dataset=datasets.FASHION_MNIST, classes=datasets.FASHION_MNIST.classes)
    assert (fashion.title, fashion.identity(), fashion.report_folder()) == (
        "Fashion-MNIST", {"dataset": "fashion-mnist"}, "fashion-mnist")
    folder = tmp_path / "scans"
    one = tiny_raw(dataset=datasets.IDX, classes=tuple("abcdefghij"), sha256={"a": "1" * 64}, directory=folder)
    other = replace(one, sha256={"a": "2" * 64})
    assert one.title == "the IDX folder scans" and one.report_folder() == "idx-scans"
    assert one.identity()["dataset"] == "idx" and one.identity() != other.identity()  # other files, other key


def test_report_titles_and_the_data_record():
    eda, cnn = catalogue.get("01_eda"), catalogue.get("04_cnn")
    assert eda.title_on() == "Exploring MNIST" and eda.title_on("Fashion-MNIST") == "Exploring Fashion-MNIST"
    assert cnn.title_on("Fashion-MNIST") == cnn.title_on() == "A batch-normalized CNN"
    record = reports.dataset_record(tiny_raw(dataset=datasets.FASHION_MNIST, classes=datasets.FASHION_MNIST.classes,
                                             sha256={"x": "ab"}))
    assert record == {"name": "fashion-mnist", "title": "Fashion-MNIST", "classes": list(datasets.FASHION_MNIST.classes),
                      "pinned": True, "directory": None, "sha256": {"x": "ab"}}


# --------------------------------------------------------------------------- choosing the data set of a build


def test_the_command_line_wins_over_the_profile_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_SOURCE", raising=False)
    monkeypatch.delenv("MNIST_SOURCE", raising=False)
    logged = []
    chosen = choose_dataset("mnist", "fashion-mnist", None, logged.append)
    assert chosen == BuildDataset("fashion-mnist", "Fashion-MNIST", None, "fashion-mnist")
    assert logged == ["--dataset fashion-mnist overrides the profile's common.dataset (mnist): building fashion-mnist"]
    assert choose_dataset("fashion-mnist", None, None, logged.append).name == "fashion-mnist"  # the profile's
    assert choose_dataset(None, None, None, logged.append) == BuildDataset("mnist", "MNIST", None, "")
    assert len(logged) == 1  # no conflict, nothing said
    monkeypatch.setenv("FASHION_MNIST_SOURCE", str(tmp_path))
    assert choose_dataset(None, "fashion-mnist", None).source == str(tmp_path)  # its own environment variable
    folder = tmp_path / "my scans"
    folder.mkdir()
    scans = choose_dataset(None, "idx", folder)
    assert scans == BuildDataset("idx", "the IDX folder my scans", str(folder.resolve()), "idx-my scans")
    assert scans.output(tmp_path / "reports") == tmp_path / "reports" / "idx-my scans"
    assert choose_dataset(None, None, None).output(tmp_path) == tmp_path


@pytest.mark.parametrize("profile,cli,message", [
    (None, "cifar", "--dataset: unknown dataset 'cifar' (valid: mnist, fashion-mnist, idx)"),
    (None, "idx", "--source: dataset 'idx' reads the folder given as --source DIR (the four IDX files, plain or .gz)"),
    ("idx", None, "--source: dataset 'idx' reads the folder given as --source DIR"),
])
def test_a_data_set_that_cannot_be_built_is_one_line(profile, cli, message):
    with pytest.raises(ParameterError) as err:
        choose_dataset(profile, cli, None)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_profile_sets_the_data_set_in_common_only(tmp_path):
    good = tmp_path / "fashion.yaml"
    good.write_text("common:\n  dataset: fashion-mnist\n  train_limit: 1000\n02_ann:\n  epochs: 1\n")
    profile = profiles.load_profile(good)
    assert all(profile.params_for(name)["dataset"] == "fashion-mnist" for name in catalogue.series_names())
    bad = tmp_path / "mixed.yaml"
    bad.write_text("common:\n  seed: 0\n02_ann:\n  dataset: fashion-mnist\n")
    with pytest.raises(ParameterError, match="section '02_ann' sets 'dataset'; the whole series runs on one data set, "
                                             "so set it in section 'common'"):
        profiles.load_profile(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("common:\n  dataset: cifar\n")
    with pytest.raises(ParameterError, match="parameter 'dataset': expected one of mnist, fashion-mnist, idx"):
        profiles.load_profile(unknown)
    flips = tmp_path / "flips.yaml"
    flips.write_text("common:\n  dataset: mnist\n04_cnn:\n  hflip: true\n")
    with pytest.raises(ParameterError, match="mirrored images are not allowed for mnist"):
        profiles.load_profile(flips)


@pytest.mark.parametrize("args,fragment", [
    (["--dataset", "cifar"], "error: --dataset: unknown dataset 'cifar' (valid: mnist, fashion-mnist, idx)"),
    (["--dataset", "idx"], "error: --source: dataset 'idx' reads the folder given as --source DIR"),
])
def test_cli_reports_dataset_errors_are_one_line(run_cli, tmp_path, args, fragment):
    code, out, err = run_cli("reports", "--profile", "quick", "--output", tmp_path / "out", *args)
    assert code == 2 and err.strip().startswith(fragment), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- the data sets of a reports folder


def _fake_build(folder: Path, dataset: dict | None, profile: str = "quick") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {"profile": profile, "finished": "2026-01-01T00:00:00+00:00", "runs": {}}
    if dataset is not None:
        record["dataset"] = dataset
    (folder / "build.json").write_text(json.dumps(record))
    (folder / "index.html").write_text("<html></html>")


def test_built_datasets_lists_the_top_and_each_data_set_folder(tmp_path):
    root = tmp_path / "reports"
    assert built_datasets(root) == []
    _fake_build(root, None)  # a build recorded before data sets existed is MNIST
    _fake_build(root / "fashion-mnist", {"name": "fashion-mnist", "title": "Fashion-MNIST", "folder": "fashion-mnist"})
    _fake_build(root / "idx-scans", {"name": "idx", "title": "scans", "folder": "idx-scans"}, profile="full")
    _fake_build(root / "copied", {"name": "fashion-mnist", "title": "Fashion-MNIST", "folder": "fashion-mnist"})
    (root / "history").mkdir()
    found = built_datasets(root)
    assert [(d.name, d.title, d.folder) for d in found] == [
        ("mnist", "MNIST", ""), ("fashion-mnist", "Fashion-MNIST", "fashion-mnist"), ("idx", "scans", "idx-scans")]
    assert [d.link(root) for d in found] == ["index.html", "fashion-mnist/index.html", "idx-scans/index.html"]
    assert found[1].link(root / "idx-scans") == "../fashion-mnist/index.html" and found[2].profile == "full"


def test_the_top_page_reaches_every_built_data_set(tmp_path, monkeypatch):
    root = tmp_path / "reports"
    fashion = {"name": "fashion-mnist", "title": "Fashion-MNIST", "folder": "fashion-mnist"}
    _fake_build(root / "fashion-mnist", fashion)
    logged = []
    found = link_datasets(root, root / "fashion-mnist", logged.append)
    page = (root / "index.html").read_text()  # no MNIST build at the top: a page that lists the data sets
    assert [d.name for d in found] == ["fashion-mnist"] and '<a href="fashion-mnist/index.html">Fashion-MNIST</a>' in page
    assert logged and logged[0].startswith("Data sets built here: Fashion-MNIST (")
    # With an MNIST build at the top, its own index is re-rendered (pipeline.refresh_index).
    _fake_build(root, {"name": "mnist", "title": "MNIST", "folder": ""})
    refreshed = []
    monkeypatch.setattr("mnist_lib.runner.pipeline.refresh_index", lambda folder: refreshed.append(Path(folder)))
    assert [d.name for d in link_datasets(root, root / "fashion-mnist", logged.append)] == ["mnist", "fashion-mnist"]
    assert refreshed == [root.resolve()] and (root / "index.html").read_text() == "<html></html>"
    assert datasets_index.datasets_page(root, []).count("<li>") == 0


# --------------------------------------------------------------------------- builds with stand-in notebooks


@pytest.mark.slow
def test_stand_in_builds_go_to_each_data_set_s_folder_keyed_by_its_files(tmp_path, data, fashion_source, stand_ins,
                                                                          write_idx_folder):
    data_dir, mnist_source = data
    notebooks = stand_ins(tmp_path / "nb")
    out = tmp_path / "reports"
    profile = tmp_path / "mnist-profile.yaml"
    profile.write_text("common:\n  dataset: mnist\n  train_limit: 6000\n")

    def build(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", str(profile), "--output",
                               str(out), "--data-dir", str(data_dir), "--notebooks", str(notebooks),
                               "--only", "01_eda,02_ann", *extra],
                              capture_output=True, text=True, cwd=REPO, timeout=600)

    done = build("--dataset", "fashion-mnist", "--source", str(fashion_source))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--dataset fashion-mnist overrides the profile's common.dataset (mnist)" in done.stdout
    folder = out / "fashion-mnist"
    record = json.loads((folder / "build.json").read_text())
    assert record["dataset"]["name"] == "fashion-mnist" and not (out / "build.json").exists()
    stamp = json.loads((folder / "executed" / "02_ann.run.json").read_text())
    assert stamp["components"]["data"] == {n: s.sha256 for n, s in datasets.FASHION_MNIST.manifest.items()}
    assert stamp["components"]["parameters"]["dataset"] == "fashion-mnist"
    assert '<a href="fashion-mnist/index.html">' in (out / "index.html").read_text()
    assert "01_eda: Exploring Fashion-MNIST" in (folder / "01_eda.html").read_text()
    # MNIST (the profile's) stays at the top; the reports folder now holds both.
    done = build("--source", str(mnist_source))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [d.name for d in built_datasets(out)] == ["mnist", "fashion-mnist"]
    assert json.loads((out / "executed" / "02_ann.run.json").read_text())["components"]["data"] == {
        n: s.sha256 for n, s in datasets.MNIST.manifest.items()}
    assert "[02_ann] up to date" in build("--dataset", "fashion-mnist", "--source", str(fashion_source)).stdout
    # An idx folder: its own folder, keyed by the hashes computed from its files.
    rng = np.random.default_rng(0)
    scans = write_idx_folder(tmp_path / "scans", rng.integers(0, 256, (200, 28, 28)), np.arange(200) % 10,
                             rng.integers(0, 256, (100, 28, 28)), np.arange(100) % 10)
    done = build("--dataset", "idx", "--source", str(scans))
    assert done.returncode == 0, done.stdout + done.stderr
    stamp = json.loads((out / "idx-scans" / "executed" / "02_ann.run.json").read_text())
    assert stamp["components"]["data"] == datasets.ensure_dataset("idx", source=scans).sha256
    assert [d.folder for d in built_datasets(out)] == ["", "fashion-mnist", "idx-scans"]
