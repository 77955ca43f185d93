"""The incremental build: run keys, up-to-date notebooks skipped, what reruns after an
edit, --force, dead kernels and timeouts, checkpoints that cannot be stale, build
history and ``diff`` with McNemar p-values. Stand-in notebooks made here keep it fast."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from mnist_lib import checkpoints, config, training
from mnist_lib.build import diff as build_diff
from mnist_lib.build import history, keys, pipeline
from mnist_lib.config import ParameterError

REPO = Path(__file__).resolve().parent.parent

# A stand-in writes a metrics file and per-image predictions whose accuracy depends on the seed.
STAND_IN_BODY = """
import json, pathlib
import numpy as np
rng = np.random.default_rng(seed)
targets = np.arange(2000) % 10
preds = targets.copy()
wrong = rng.random(2000) < 0.03
preds[wrong] = (targets[wrong] + 1) % 10
accuracy = 100 * float((preds == targets).mean())
np.savez_compressed(pathlib.Path(output_dir, NAME + '.predictions.npz'),
                    **{'test_accuracy::index': np.arange(2000, dtype=np.int32),
                       'test_accuracy::target': targets.astype(np.int16), 'test_accuracy::pred': preds.astype(np.int16)})
pathlib.Path(output_dir, NAME + '.metrics.json').write_text(json.dumps(
    {'status': 'ok', 'headline': {'test accuracy': f'{accuracy:.2f}%'}, 'params': {'seed': seed},
     'test_accuracy': accuracy, 'misses': int(wrong.sum()), 'train_seconds': 1.0}))
"""


def stand_in(name: str, extra: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("output_dir = '.'\nseed = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n\n## Results"), params,
                nbformat.v4.new_code_cell(f"NAME = {name!r}\n{extra}\n{STAND_IN_BODY}")]
    return nb


def write_stand_ins(folder: Path, extras: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in config.NOTEBOOKS:
        nbformat.write(stand_in(name, (extras or {}).get(name, "")), folder / f"{name}.ipynb")
    return folder


def build(notebooks: Path, out: Path, data: tuple[Path, Path], *extra: str) -> subprocess.CompletedProcess:
    data_dir, source = data
    return subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", "quick", "--output", str(out),
                           "--data-dir", str(data_dir), "--source", str(source), "--notebooks", str(notebooks),
                           *extra], capture_output=True, text=True, cwd=REPO, timeout=600)


def ran(done: subprocess.CompletedProcess) -> set[str]:
    return {line.split("]")[0][1:] for line in done.stdout.splitlines() if "] running (" in line}


@pytest.fixture
def data(mnist_data_dir, mnist_source):
    return mnist_data_dir, mnist_source


# --------------------------------------------------------------------------- the build, end to end


@pytest.mark.slow
def test_a_second_build_is_up_to_date_and_an_edit_reruns_only_what_it_touches(tmp_path, data):
    nbs, out = write_stand_ins(tmp_path / "nbs"), tmp_path / "out"
    subset = ("--only", "02_ann,06_feature_maps")  # 02, and 06 with its dependencies 03 and 04
    first = build(nbs, out, data, *subset)
    assert first.returncode == 0, first.stderr
    assert ran(first) == {"02_ann", "03_lenet", "04_cnn", "06_feature_maps"}

    t0 = time.perf_counter()
    second = build(nbs, out, data, *subset)
    wall = time.perf_counter() - t0
    assert second.returncode == 0 and ran(second) == set()
    assert "[03_lenet] up to date (built " in second.stdout and wall < 15
    assert "4 up to date" in (out / "index.html").read_text()

    nb = nbformat.read(nbs / "02_ann.ipynb", as_version=4)  # a markdown edit: only 02 reruns
    nb.cells[0].source += "\n\nOne more sentence."
    nbformat.write(nb, nbs / "02_ann.ipynb")
    (out / "04_cnn.html").unlink()  # a lost page is re-rendered, not recomputed
    third = build(nbs, out, data, *subset)
    assert ran(third) == {"02_ann"} and "[02_ann] running (changed: notebook;" in third.stdout
    assert "[04_cnn] re-rendered" in third.stdout and (out / "04_cnn.html").exists()

    metrics = out / "02_ann.metrics.json"  # a tampered result is recomputed; --force 03 reruns 03 and 06
    metrics.write_text(metrics.read_text().replace('"status"', '"status" ', 1))
    forced = build(nbs, out, data, *subset, "--force", "03_lenet")
    assert ran(forced) == {"02_ann", "03_lenet", "06_feature_maps"}
    assert "[02_ann] running (its metrics file is missing or was modified" in forced.stdout
    assert "[03_lenet] running (forced (--force)" in forced.stdout
    assert "[06_feature_maps] running (03_lenet reran" in forced.stdout
    assert len(history.list_records(out)) == 4
    assert (out / "history" / "predictions").is_dir()


@pytest.mark.slow
def test_a_dead_kernel_or_a_timeout_fails_that_notebook_not_the_build(tmp_path, data):
    nbs = write_stand_ins(tmp_path / "nbs", {"03_lenet": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
                                             "02_ann": "import time\ntime.sleep(300)"})
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {train_limit: 1000, test_limit: 500}\n02_ann: {timeout: 8}\n")
    out = tmp_path / "out"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", str(profile), "--output",
                           str(out), "--data-dir", str(data[0]), "--source", str(data[1]), "--notebooks", str(nbs)],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert time.perf_counter() - t0 < 240
    assert done.returncode == 1
    assert "02_ann: timed out after 8 s" in done.stderr and "03_lenet: the kernel died" in done.stderr
    build_record = json.loads((out / "build.json").read_text())
    status = {name: run["status"] for name, run in build_record["runs"].items()}
    assert status == {"01_eda": "ok", "02_ann": "failed", "03_lenet": "failed", "04_cnn": "ok",
                      "05_optimizers": "ok", "06_feature_maps": "skipped", "07_hyperparameters": "ok"}
    for name in ("02_ann", "03_lenet"):
        page = (out / f"{name}.html").read_text()
        assert "This notebook failed in the build" in page and build_record["runs"][name]["error"][:20] in page
    index = (out / "index.html").read_text()
    assert "timed out after 8 s" in index and "the kernel died" in index
    assert all((out / f"{n}.html").exists() for n in ("01_eda", "04_cnn", "05_optimizers", "07_hyperparameters"))
    import psutil  # the killed notebook's kernel and runner are gone

    leftovers = [p for p in psutil.process_iter(["cmdline"]) if "mnist_lib.build.execute" in
                 " ".join(p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


@pytest.mark.slow
def test_diff_between_two_seeds_gives_every_change_and_exact_mcnemar_p_values(tmp_path, data):
    from scipy.stats import binomtest

    nbs = write_stand_ins(tmp_path / "nbs")
    outs = []
    for seed in (0, 1):
        profile = tmp_path / f"seed{seed}.yaml"
        profile.write_text(f"common: {{seed: {seed}, train_limit: 1000, test_limit: 500}}\n")
        out = tmp_path / f"seed{seed}"
        done = subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", str(profile), "--only",
                               "02_ann", "--output", str(out), "--data-dir", str(data[0]), "--source", str(data[1]),
                               "--notebooks", str(nbs)], capture_output=True, text=True, cwd=REPO, timeout=600)
        assert done.returncode == 0, done.stderr
        outs.append(out)
    done = subprocess.run([sys.executable, "-m", "mnist_lib", "diff", str(outs[0]), str(outs[1]), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {row["metric"]: row for row in json.loads(done.stdout)["rows"]}
    assert set(rows) == {"test_accuracy", "misses"}  # train_seconds left out: timings always change
    row = rows["test_accuracy"]
    b, c = row["discordant"]
    assert row["p_value"] == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)
    assert row["new"] - row["old"] == pytest.approx(100 * (c - b) / 2000)
    table = subprocess.run([sys.executable, "-m", "mnist_lib", "diff", str(outs[0]), str(outs[1])],
                           capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    assert "| 02_ann | test_accuracy |" in table and f"p = {row['p_value']:.2f}" in table


# --------------------------------------------------------------------------- run keys


def test_run_key_ignores_outputs_and_counts_but_not_source_or_tags(tmp_path):
    nb = stand_in("02_ann")
    nbformat.write(nb, tmp_path / "a.ipynb")
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.cells[2].execution_count = 7
    nb.cells[2].metadata["collapsed"] = True
    nbformat.write(nb, tmp_path / "b.ipynb")
    assert keys.notebook_source_digest(tmp_path / "a.ipynb") == keys.notebook_source_digest(tmp_path / "b.ipynb")
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, tmp_path / "c.ipynb")
    assert keys.notebook_source_digest(tmp_path / "c.ipynb") != keys.notebook_source_digest(tmp_path / "a.ipynb")


def test_resolved_parameters_include_the_notebooks_defaults_and_leave_paths_out():
    path = REPO / "notebooks" / "02_ann.ipynb"
    resolved = keys.resolved_parameters("02_ann", path, {"epochs": "3", "output_dir": "/tmp/x"})
    assert resolved["epochs"] == 3  # coerced, so "3" and 3 give one key
    assert "optimizer" in resolved and "lr" in resolved  # defaults included
    assert not set(keys.PATH_PARAMETERS) & set(resolved)


def test_every_input_of_the_key_changes_it(tmp_path):
    nbformat.write(stand_in("02_ann"), tmp_path / "02_ann.ipynb")
    base = dict(data={"f": "1"}, device_type="cpu", dependencies={}, library={"models.py": "a"})
    key = keys.run_key("02_ann", tmp_path / "02_ann.ipynb", {"seed": 0}, **base)
    variants = [({"seed": 1}, {}), ({"seed": 0}, {"data": {"f": "2"}}), ({"seed": 0}, {"device_type": "cuda"}),
                ({"seed": 0}, {"dependencies": {"03_lenet": "x"}}), ({"seed": 0}, {"library": {"models.py": "b"}})]
    for params, change in variants:
        other = keys.run_key("02_ann", tmp_path / "02_ann.ipynb", params, **{**base, **change})
        assert other.digest != key.digest
    changed = keys.run_key("02_ann", tmp_path / "02_ann.ipynb", {"seed": 0}, **{**base, "library": {"models.py": "b"}})
    assert changed.describe_change(key.components) == "changed: library (models.py)"


def test_the_library_hash_covers_every_notebook_side_module_and_no_notebook_side_module_imports_the_build():
    files = keys.library_files()
    assert {"models.py", "training.py", "data.py", "reports.py", "checkpoints.py"} <= set(files)
    assert not any(f.startswith("build/") or f in ("cli.py", "browsercheck.py") for f in files)
    # Every import statement of every notebook-side module, including those inside functions (which an
    # import-and-look test would miss): none reaches the build or the CLI.
    offending = []
    for name in files:
        tree = ast.parse((REPO / "mnist_lib" / name).read_text())
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            offending += [f"{name}: {t}" for t in targets
                          if t.startswith("mnist_lib.build") or t in ("mnist_lib.cli", "mnist_lib.browsercheck")]
    assert offending == []


def test_force_and_profile_timeout_are_validated(tmp_path):
    assert pipeline.forced_notebooks(None) == set()
    assert pipeline.forced_notebooks("all") == set(config.NOTEBOOKS)
    assert pipeline.forced_notebooks("03_lenet,04_cnn") == {"03_lenet", "04_cnn"}
    with pytest.raises(ParameterError, match="--force: unknown notebook '03_lenét'; valid: 01_eda"):
        pipeline.forced_notebooks("03_lenét")
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {timeout: 600}\n04_cnn: {timeout: 1200}\n")
    loaded = config.load_profile(profile)
    assert loaded.timeout_for("04_cnn") == 1200 and loaded.timeout_for("02_ann") == 600
    assert "timeout" not in loaded.params_for("04_cnn")
    assert config.load_profile("quick").timeout_for("02_ann") == config.DEFAULT_TIMEOUT
    profile.write_text("04_cnn: {timeout: soon}\n")
    with pytest.raises(ParameterError, match="section '04_cnn': parameter 'timeout': expected a whole number"):
        config.load_profile(profile)


@pytest.mark.parametrize("case", ["file", "inside-file", "missing-parent"])
def test_cli_path_arguments_fail_in_one_line(tmp_path, case, capsys):
    from mnist_lib import cli

    afile = tmp_path / "afile"
    afile.write_text("x")
    output = {"file": afile, "inside-file": afile / "sub", "missing-parent": tmp_path / "no" / "such"}[case]
    assert cli.main(["reports", "--output", str(output), "--profile", "quick", "--source", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --output: ")
    for option in ("--source", "--data-dir", "--notebooks"):
        assert cli.main(["reports", option, str(afile)]) == 2
        assert capsys.readouterr().err == f"error: {option}: {str(afile)!r} is a file, not a folder\n"


def test_an_install_without_the_checkout_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """``pip install .`` (not editable) installs the library only: the CLI must say a checkout is needed."""
    from mnist_lib import cli, reports

    monkeypatch.setattr(reports, "NOTEBOOK_DIR", tmp_path / "site-packages" / "notebooks")
    for command in (["reports", "--profile", "quick"], ["sweep", str(tmp_path / "s.yaml")]):
        assert cli.main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "needs a checkout of the project" in err and "Traceback" not in err


# --------------------------------------------------------------------------- checkpoints


def test_a_checkpoint_that_does_not_fit_the_model_is_refused_and_the_model_retrained(tmp_path, small_splits):
    cfg = training.TrainConfig(epochs=1, batch_size=256, optimizer="adam", lr=1e-3, seed=0)
    model = training.seeded_model("ann", 0)
    first = checkpoints.fit_or_load(model, "ann", small_splits, cfg, tmp_path, {"limit": 3000}, progress=False)
    assert not first.loaded and first.this_run_seconds == first.train_seconds > 0
    # Same key, other architecture: as if models.py changed without the key noticing.
    payload = torch.load(first.path, weights_only=True)
    payload["state_dict"]["fc1.weight"] = torch.zeros(7, 784)
    torch.save(payload, first.path)
    again = training.seeded_model("ann", 0)
    with pytest.raises(checkpoints.CheckpointError, match=r"does not fit model ann: fc1.weight has shape \(7, 784\)"):
        checkpoints.load_checkpoint(first.path, again, "ann", {"train": cfg.to_dict(), "data": {"limit": 3000}}, 0)
    redo = checkpoints.fit_or_load(again, "ann", small_splits, cfg, tmp_path, {"limit": 3000}, progress=False)
    assert not redo.loaded and "does not fit model ann" in redo.refused and "not reused" in redo.sentence()
    reused = checkpoints.fit_or_load(training.seeded_model("ann", 0), "ann", small_splits, cfg, tmp_path,
                                     {"limit": 3000}, progress=False)
    assert reused.loaded and reused.this_run_seconds is None
    assert reused.train_seconds == pytest.approx(redo.train_seconds)
    sentence = reused.sentence()
    assert "**reused**" in sentence and f"in {redo.train_seconds:.1f} s" in sentence and "trained on 20" in sentence


def test_a_change_to_the_code_that_shapes_weights_changes_the_checkpoint_key(tmp_path, monkeypatch):
    copy = tmp_path / "lib"
    shutil.copytree(checkpoints.LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = checkpoints.weights_code_hash(copy)
    assert before == checkpoints.weights_code_hash()
    models = copy / "models.py"
    models.write_text(models.read_text().replace("class CNN", "class CNN  # edited", 1))
    assert checkpoints.weights_code_hash(copy) != before
    key = checkpoints.checkpoint_key("cnn", {"a": 1}, 0)
    monkeypatch.setattr(checkpoints, "LIBRARY", copy)
    assert checkpoints.checkpoint_key("cnn", {"a": 1}, 0) != key
    plots = copy / "plots.py"  # code that does not shape weights keeps the key
    monkeypatch.setattr(checkpoints, "LIBRARY", checkpoints.LIBRARY)
    shutil.copy(REPO / "mnist_lib" / "models.py", models)
    plots.write_text(plots.read_text() + "\n# edited\n")
    assert checkpoints.weights_code_hash(copy) == before


# --------------------------------------------------------------------------- history and diff


def _record(folder: Path, name: str, accuracy_preds: np.ndarray, targets: np.ndarray, results: dict) -> Path:
    hist = history.history_dir(folder)
    (hist / "predictions").mkdir(parents=True, exist_ok=True)
    np.savez(hist / "predictions" / f"{name}.npz", **{"test_accuracy::index": np.arange(len(targets)),
                                                      "test_accuracy::target": targets,
                                                      "test_accuracy::pred": accuracy_preds})
    path = hist / f"{name}.json"
    path.write_text(json.dumps({"built": name, "commit": "abc", "profile": "quick", "seconds": 1, "runs": {
        "02_ann": {"status": "ok", "cached": False, "key": "k", "results": results,
                   "predictions": f"predictions/{name}.npz"}}}))
    return path


def test_diff_reports_changed_numbers_with_the_exact_mcnemar_p_value(tmp_path):
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    targets = rng.integers(0, 10, 1000)
    a, b = targets.copy(), targets.copy()
    a[:30] = (a[:30] + 1) % 10  # old: 30 wrong
    b[20:45] = (b[20:45] + 1) % 10  # new: 25 wrong; 20 right only in new, 15 right only in old
    old = _record(tmp_path, "20260101T000000Z", a, targets, {"test_accuracy": 97.0, "misses": 30, "parameters": 5,
                                                            "train_seconds": 3.0})
    new = _record(tmp_path, "20260102T000000Z", b, targets, {"test_accuracy": 97.5, "misses": 25, "parameters": 5,
                                                            "train_seconds": 4.0})
    result = build_diff.diff_records(old, new)
    rows = {r.metric: r for r in result.rows}
    assert set(rows) == {"test_accuracy", "misses"}
    assert rows["test_accuracy"].discordant == (15, 20)
    assert rows["test_accuracy"].p_value == pytest.approx(binomtest(15, 35, 0.5).pvalue, rel=1e-12)
    assert "not a real change" in rows["test_accuracy"].verdict()
    assert "| 02_ann | test_accuracy | 97 | 97.5 | +0.5 | p = 0.50" in result.to_markdown()
    assert "train_seconds" in {r.metric for r in build_diff.diff_records(old, new, timings=True).rows}
    assert build_diff.resolve_record(None, tmp_path, -2) == old
    assert build_diff.resolve_record("20260102", tmp_path, -1) == new
    assert build_diff.resolve_record(str(tmp_path), tmp_path, -1) == new
    with pytest.raises(ParameterError, match="names no build record"):
        build_diff.resolve_record("1999", tmp_path, -1)


def test_numeric_results_flatten_the_metrics_file_and_leave_settings_out():
    metrics = {"test_accuracy": 98.1, "best_class": {"digit": 1, "recall": 0.99}, "params": {"lr": 0.1},
               "history": [{"epoch": 1}], "loaded_from_checkpoint": False, "environment": {"torch_threads": 2}}
    assert history.numeric_results(metrics) == {"test_accuracy": 98.1, "best_class.digit": 1,
                                                "best_class.recall": 0.99}


def test_critical_paths_start_the_longest_chain_first():
    def planned(name, depends=(), seconds=None):
        target = pipeline.Target(id=name, notebook=name, source=Path(name), output=Path("."), overrides={}, paths={},
                                 data={}, timeout=1, title=name, depends=depends)
        stamp = {"seconds": seconds} if seconds is not None else None
        return pipeline.Planned(target, None, None, "", "stale", stamp, "cpu")

    # No run seen before: a chain counts runs, so what 06 waits for starts first.
    fresh = [planned("03"), planned("04"), planned("05"), planned("06", ("03", "04"))]
    assert pipeline.critical_paths(fresh) == {"03": 2.0, "04": 2.0, "05": 1.0, "06": 1.0}
    # Seconds of the last runs; one unknown takes the median of the known ones (175 s).
    seen = [planned("03", seconds=100), planned("04", seconds=250), planned("05", seconds=400),
            planned("07"), planned("06", ("03", "04"), seconds=20)]
    assert pipeline.critical_paths(seen) == {"03": 120.0, "04": 270.0, "05": 400.0, "07": 175.0, "06": 20.0}
