"""The notebook series end to end on the quick profile, through the real build
(papermill + nbconvert): every report, its figures, headings and metrics; the
index; the committed notebooks; bad parameters; an interrupted build; and two
builds with the same seed giving the same numbers."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mnist_lib import catalogue

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

# Per notebook: the least number of embedded figures, and headings the report must have.
EXPECTED = {
    "01_eda": (7, ["Run settings", "The data set", "One raw record", "Class distribution", "Examples of every class",
                   "Mean image per class", "Pixel intensities", "Normalization", "Augmentation preview"]),
    "02_ann": (2, ["Run settings", "The model and its size", "Training", "Learning curves", "Test accuracy",
                   "Misclassified images", "Classification report"]),
    "03_lenet": (3, ["Run settings", "Architecture", "Training", "Learning curves", "Sample predictions",
                     "Confusion matrix", "Best and worst class", "Test accuracy"]),
    "04_cnn": (5, ["Run settings", "Architecture", "Augmentation preview", "Learning curves", "Per-epoch log",
                   "Test metrics", "Confusion matrix", "ROC curves", "Calibration", "Comparison with the reference"]),
    "05_optimizers": (5, ["Run settings", "Learning curves per optimizer", "Optimizers compared epoch by epoch",
                          "Summary table", "Comparison with the reference", "Confusion matrices",
                          "Best and worst classes", "McNemar"]),
    "06_feature_maps": (14, ["Run settings", "The chosen test image", "LeNet-5: feature maps",
                             "LeNet-5: learned conv1 kernels", "LeNet-5: the ten outputs", "CNN: feature maps",
                             "CNN: learned conv1 kernels", "CNN: the ten outputs", "Gradient saliency"]),
    "07_hyperparameters": (9, ["Run settings", "Normalization", "Depth and width", "Learning rate",
                               "Training-set size", "Batch size", "Training time", "The best configuration",
                               "Correct and wrong predictions"]),
}
TRAINING = ("02_ann", "03_lenet", "04_cnn", "05_optimizers", "07_hyperparameters")


def images_in(page: str) -> int:
    return len(re.findall(r'<img[^>]+src="data:image/png;base64,', page))


def headings_in(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).replace("¶", "").strip() for h in re.findall(r"<h[23][^>]*>(.*?)</h[23]>",
                                                                                       page, re.S)]


@pytest.mark.parametrize("name", catalogue.series_names())
def test_each_report_has_its_figures_headings_and_metrics(quick_build, name):
    page = (quick_build / f"{name}.html").read_text()
    least, headings = EXPECTED[name]
    assert images_in(page) >= least, f"{name}: {images_in(page)} figures, expected at least {least}"
    found = headings_in(page)
    for heading in headings:
        assert any(heading.lower() in h.lower() for h in found), f"{name}: no heading like {heading!r} in {found}"
    assert "Traceback" not in page
    executed = nbformat.read(quick_build / "executed" / f"{name}.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert not [o for o in outputs if o.output_type == "stream" and "it/s]" in o.text], "progress bars in the report"
    assert '<script src="http' not in page and "require.js" not in page  # self-contained, no CDN
    assert 'class="toc"' in page  # nbconvert writes attributes in alphabetical order
    metrics = json.loads((quick_build / f"{name}.metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["notebook"] == name and metrics["headline"]
    assert metrics["params"]["seed"] == 0 and metrics["params"]["train_limit"] == 6000
    env = metrics["environment"]
    assert env["versions"]["torch"] and env["device"] and "commit" in env["git"]
    if name in TRAINING:
        assert 50.0 < metrics["test_accuracy"] <= 100.0, metrics["test_accuracy"]


def test_the_reports_state_parameters_seed_versions_device_and_commit(quick_build):
    for name in catalogue.series_names():
        text = re.sub(r"<[^>]+>", " ", (quick_build / f"{name}.html").read_text())
        for item in ("parameter: seed", "version: torch", "device", "git commit", "date (UTC)"):
            assert item in text, f"{name} does not state {item}"


def test_machine_readable_results(quick_build):
    ann = json.loads((quick_build / "02_ann.metrics.json").read_text())
    assert ann["test_accuracy"] > 85
    assert ann["test_accuracy_low"] < ann["test_accuracy"] < ann["test_accuracy_high"]
    opt = json.loads((quick_build / "05_optimizers.metrics.json").read_text())
    assert set(opt["optimizers"]) == {"sgd", "momentum", "adam"}
    for values in opt["optimizers"].values():
        assert {"best_accuracy", "last_accuracy", "first_epoch_at_target"} <= set(values)
        assert 10 < values["best_accuracy"] <= 100
    cnn = json.loads((quick_build / "04_cnn.metrics.json").read_text())
    for key in ("auc_roc_ovr", "log_loss", "f1_macro", "ece"):
        assert key in cnn
    maps = json.loads((quick_build / "06_feature_maps.metrics.json").read_text())
    assert maps["reused_checkpoints"] == {"lenet5": True, "cnn": True}


def test_index_links_every_report(quick_build):
    index = (quick_build / "index.html").read_text()
    for name in catalogue.series_names():
        assert f'href="{name}.html"' in index
    assert index.count('class="ok"') == len(catalogue.series_names())
    for item in ("profile", "seed", "git commit", "device", "libraries", "built (UTC)"):
        assert item in index
    assert "quick" in index
    build = json.loads((quick_build / "build.json").read_text())
    assert build["profile"] == "quick" and all(r["status"] == "ok" for r in build["runs"].values())
    assert build["peak_rss_mb"]["largest_kernel"] > 100


def test_committed_notebooks_have_no_outputs_and_a_full_parameters_cell():
    for name in catalogue.series_names():
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"
        tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: expected one cell tagged parameters"
        # papermill's convention: the cell holds only the defaults, one annotated literal each
        for node in ast.parse(tagged[0].source).body:
            if isinstance(node, ast.ImportFrom):
                assert node.module == "typing", f"{name}: the parameters cell imports {node.module}"
                continue
            assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name), f"{name}: {ast.unparse(node)}"
            ast.literal_eval(node.value)
        assert nb.metadata["kernelspec"]["name"] == "python3"


def papermill(name: str, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "papermill", str(REPO / "notebooks" / f"{name}.ipynb"), str(out),
                           "--cwd", str(REPO / "notebooks"), "--no-progress-bar", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,fragment", [
    (("-p", "epochs", "0"), "parameter 'epochs': expected a whole number in [1, 1000], got 0"),
    (("-r", "lr", "fast"), "parameter 'lr': expected a number"),
    (("-p", "optimizer", "adagrad"), "parameter 'optimizer': expected one of sgd, momentum, nesterov, adam"),
])
def test_a_bad_parameter_fails_with_a_message_naming_it(tmp_path, mnist_data_dir, args, fragment):
    done = papermill("02_ann", tmp_path / "out.ipynb", "-p", "data_dir", str(mnist_data_dir), "-p", "output_dir",
                     str(tmp_path), *args)
    assert done.returncode != 0
    assert fragment in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "02_ann.metrics.json").exists()


def test_typed_strings_from_the_command_line_work(tmp_path, mnist_data_dir):
    done = papermill("02_ann", tmp_path / "out.ipynb", "-p", "data_dir", str(mnist_data_dir), "-p", "output_dir",
                     str(tmp_path), "-r", "epochs", "1", "-r", "train_limit", "1200", "-r", "test_limit", "500",
                     "-r", "lr", "3e-3", "-r", "misses_shown", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "02_ann.metrics.json").read_text())
    assert metrics["params"]["epochs"] == 1 and metrics["params"]["lr"] == 0.003


def comparable(metrics: dict) -> dict:
    """A metrics file without what legitimately differs between two builds (timings, paths, dates)."""
    drop = re.compile(r"seconds|environment|_dir$|path|date|timestamp|^time|images_per_s|checkpoint$|loaded_from", re.I)

    timing = re.compile(r"\b\d+(\.\d+)? ?s\b")  # "16 trained in 1.1 s"
    # "trained 1 epoch on 2026-11-30T13:02:11+00:00 by commit ...": each build trains its own weights
    stamp = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:?\d\d| UTC)?")

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()
                    if not drop.search(str(k)) and not (isinstance(v, str) and timing.search(v))}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            return stamp.sub("<date>", value)
        return value

    return clean(metrics)


def test_interrupted_build_leaves_nothing_half_written_and_a_rerun_reproduces_the_numbers(
        tmp_path, quick_build, mnist_data_dir, mnist_source, run_build):
    output = tmp_path / "reports"
    only = ("--only", "02_ann,03_lenet")  # what the kill interrupts, and the notebook built before it
    process = subprocess.Popen([sys.executable, "-m", "mnist_lib", "reports", "--profile", "quick", "--output",
                                str(output), "--data-dir", str(mnist_data_dir), "--source", str(mnist_source), *only],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill it while LeNet is training (after 02's reports are complete): the moment the
    # training loop opens its progress bar, which the build sends to executed/03_lenet.progress.log.
    progress = output / "executed" / "03_lenet.progress.log"
    deadline = time.monotonic() + 900
    try:
        while not (progress.exists() and progress.stat().st_size > 0):
            assert process.poll() is None, "the build ended before LeNet's training began"
            assert time.monotonic() < deadline, "LeNet's training did not begin within 900 s"
            time.sleep(0.05)
        assert process.poll() is None, "the build ended before it could be interrupted"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert (output / "02_ann.html").exists() and not (output / "03_lenet.html").exists()
    for path in output.rglob("*"):
        if path.name.startswith("."):
            continue  # temporary names, never read as results
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".html":
            assert path.read_text().rstrip().endswith("</html>")
        elif path.suffix == ".pt":
            import torch

            torch.load(path, weights_only=True)
    assert not (output / "03_lenet.metrics.json").exists() and not (output / "index.html").exists()

    # The rerun goes to a LocalCluster: LeNet-5 run there gives the predictions it gave in quick_build's process
    # (the sweep test below checks the other models the same way).
    done = run_build(output, mnist_data_dir, mnist_source, *only, "-j", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "[02_ann] up to date" in done.stdout and "[03_lenet] running" in done.stdout, done.stdout
    assert "executor: LocalCluster of 2" in done.stdout
    for name in ("02_ann", "03_lenet"):
        first = comparable(json.loads((quick_build / f"{name}.metrics.json").read_text()))
        second = comparable(json.loads((output / f"{name}.metrics.json").read_text()))
        assert first == second, f"{name}: metrics differ between two builds with the same seed"
    assert (output / "03_lenet.predictions.npz").read_bytes() == (quick_build / "03_lenet.predictions.npz").read_bytes()


def test_one_run_key_gives_byte_identical_predictions_in_process_on_a_local_cluster_and_in_a_sweep(
        tmp_path, quick_build, mnist_data_dir, mnist_source):
    # quick_build ran each notebook here, one after another (-j 1); a sweep of seed 0 on the same profile
    # runs two of them again at once on a -j 2 LocalCluster, whose workers once gave each kernel its share of
    # the cores: the MLP (its matrix products) and the batch-normalized CNN (its convolutions). LeNet-5 on a
    # LocalCluster: the interrupted build's rerun above.
    names = ["02_ann", "04_cnn"]
    assert all((quick_build / f"{name}.predictions.npz").exists() for name in names)
    sweep_file = tmp_path / "seed0.yaml"
    sweep_file.write_text(f"notebooks: [{', '.join(names)}]\nprofile: quick\ngrid:\n  seed: [0]\n")
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "sweep", str(sweep_file), "--output", str(tmp_path),
                           "--data-dir", str(mnist_data_dir), "--source", str(mnist_source), "-j", "2",
                           "--no-progress"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "executor: LocalCluster of 2" in done.stdout
    for name in names:
        swept = tmp_path / "sweeps" / "seed0" / "seed=0" / name
        key = json.loads((swept / "executed" / f"{name}.run.json").read_text())["key"]
        assert key == json.loads((quick_build / "executed" / f"{name}.run.json").read_text())["key"], name
        assert (swept / f"{name}.predictions.npz").read_bytes() == \
            (quick_build / f"{name}.predictions.npz").read_bytes(), f"{name}: same run key, other predictions"


def test_build_fails_fast_on_a_bad_profile(tmp_path, mnist_data_dir, mnist_source):
    profile = tmp_path / "mine.yaml"
    profile.write_text("02_ann:\n  epochs: -1\n")
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", str(profile), "--output",
                           str(tmp_path / "o"), "--data-dir", str(mnist_data_dir)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "section '02_ann': parameter 'epochs'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_reports_in_a_real_browser(quick_build):
    """Every page from disk: links, console, images, code toggles, 390 px, JavaScript off, screenshots."""
    from mnist_lib.website.browser import check_reports

    results = check_reports(quick_build)
    assert set(results) == {"index.html"} | {f"{name}.html" for name in catalogue.series_names()}
    for name, page in results.items():
        assert page.problems == [], f"{name}: {page.problems}"
        assert page.title and page.index_link
        assert {f"{n}.html" for n in catalogue.series_names()} <= {link.rsplit("/", 1)[-1] for link in page.navigation}
        assert page.results_without_js == page.results and page.narrow_overflow_open_px == 0
        if name != "index.html":
            assert page.has_toc and page.images >= EXPECTED[name[:-5]][0]
            assert page.code_cells >= 3 and page.toggle_shows_code and page.show_all_shows_code
    assert results["index.html"].images == 1 + len(catalogue.series_names())  # the summary figure and a thumbnail each
    shots = sorted(p.name for p in (quick_build / "screenshots").glob("*.png"))
    assert "index.png" in shots and "04_cnn.narrow.png" in shots and len(shots) == 16


def machine_paths_in_text(folder: Path, needles: list[str]) -> list[str]:
    return [f"{p.relative_to(folder)}: {n}" for p in folder.rglob("*") if p.is_file() and p.suffix in
            (".html", ".md", ".json", ".css", ".js") for n in needles if n in p.read_text(errors="replace")]


def test_the_published_series_over_http_and_no_machine_path_in_any_page(quick_build, tmp_path, mnist_data_dir,
                                                                       mnist_source):
    """The issue's grep: no report, and nothing published, holds the build machine's paths."""
    from mnist_lib.website.browser import check_reports

    needles = [str(quick_build), str(mnist_data_dir), str(mnist_source), str(REPO), str(Path.home()) + "/",
               sys.prefix]
    pages = [quick_build / "index.html", *[quick_build / f"{n}.html" for n in catalogue.series_names()]]
    assert [f"{p.name}: {n}" for p in pages for n in needles if n in p.read_text()] == []
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "publish", "--reports", str(quick_build), "--output",
                           str(tmp_path / "site")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert machine_paths_in_text(tmp_path / "site", needles) == []
    results = check_reports(tmp_path / "site", over_http=True, shots=tmp_path / "shots", javascript_off=False)
    for name, page in results.items():
        assert page.problems == [], f"{name}: {page.problems}"
    for name in catalogue.series_names():
        page = (tmp_path / "site" / f"{name}.html").read_text()
        summary = re.search(r'<p class="run-summary">(.*?)</p>', page).group(1)
        assert "seed 0" in summary and "quick profile" in summary and "commit <code>" in summary
