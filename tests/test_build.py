"""The incremental build: run keys, up-to-date notebooks skipped, what reruns after an
edit, --force, dead kernels and timeouts, checkpoints that cannot be stale, build
history and ``diff`` with McNemar p-values. Stand-in notebooks (the ``stand_ins`` fixture) keep it fast."""

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

from mnist_lib import catalogue, checkpoints, params, profiles, prose, training
from mnist_lib.params import ParameterError
from mnist_lib.runner import diff as build_diff
from mnist_lib.runner import history, keys, pipeline

REPO = Path(__file__).resolve().parent.parent

def build(run_build, notebooks: Path, out: Path, data: tuple[Path, Path], *extra: str):
    return run_build(out, *data, "--notebooks", str(notebooks), *extra, timeout=600)


def ran(done: subprocess.CompletedProcess) -> set[str]:
    return {line.split("]")[0][1:] for line in done.stdout.splitlines() if "] running (" in line}


# --------------------------------------------------------------------------- the build, end to end


@pytest.mark.slow
def test_a_second_build_is_up_to_date_and_an_edit_reruns_only_what_it_touches(tmp_path, data, stand_ins, run_build):
    nbs, out = stand_ins(tmp_path / "nbs"), tmp_path / "out"
    subset = ("--only", "02_ann,06_feature_maps")  # 02, and 06 with its dependencies 03 and 04
    first = build(run_build, nbs, out, data, *subset)
    assert first.returncode == 0, first.stderr
    assert ran(first) == {"02_ann", "03_lenet", "04_cnn", "06_feature_maps"}

    t0 = time.perf_counter()
    second = build(run_build, nbs, out, data, *subset)
    wall = time.perf_counter() - t0
    assert second.returncode == 0 and ran(second) == set()
    assert "[03_lenet] up to date (built " in second.stdout and wall < 15
    assert "4 up to date" in (out / "index.html").read_text()

    nb = nbformat.read(nbs / "02_ann.ipynb", as_version=4)  # a markdown edit: only 02 reruns
    nb.cells[0].source += "\n\nOne more sentence."
    nbformat.write(nb, nbs / "02_ann.ipynb")
    (out / "04_cnn.html").unlink()  # a lost page is re-rendered, not recomputed
    third = build(run_build, nbs, out, data, *subset)
    assert ran(third) == {"02_ann"} and "[02_ann] running (changed: notebook;" in third.stdout
    assert "[04_cnn] re-rendered" in third.stdout and (out / "04_cnn.html").exists()

    metrics = out / "02_ann.metrics.json"  # a tampered result is recomputed; --force 03 reruns 03 and 06
    metrics.write_text(metrics.read_text().replace('"status"', '"status" ', 1))
    forced = build(run_build, nbs, out, data, *subset, "--force", "03_lenet")
    assert ran(forced) == {"02_ann", "03_lenet", "06_feature_maps"}
    assert "[02_ann] running (its metrics file is missing or was modified" in forced.stdout
    assert "[03_lenet] running (forced (--force)" in forced.stdout
    assert "[06_feature_maps] running (03_lenet reran" in forced.stdout
    assert len(history.list_records(out)) == 4
    assert (out / "history" / "predictions").is_dir()


@pytest.mark.slow
def test_a_dead_kernel_or_a_timeout_fails_that_notebook_not_the_build(tmp_path, data, stand_ins):
    nbs = stand_ins(tmp_path / "nbs", extra={"03_lenet": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
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

    leftovers = [p for p in psutil.process_iter(["cmdline"]) if "mnist_lib.runner.job" in
                 " ".join(p.info["cmdline"] or []) and str(out) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


@pytest.mark.slow
def test_diff_between_two_seeds_gives_every_change_and_exact_mcnemar_p_values(tmp_path, data, stand_ins):
    from scipy.stats import binomtest

    nbs = stand_ins(tmp_path / "nbs")
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
    # every number that changed (the stand-in's interval moves with its accuracy); train_seconds left out:
    # timings always change
    assert set(rows) == {"test_accuracy", "test_accuracy_low", "test_accuracy_high", "misses"}
    row = rows["test_accuracy"]
    b, c = row["discordant"]
    assert row["p_value"] == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)
    assert row["new"] - row["old"] == pytest.approx(100 * (c - b) / 2000)
    table = subprocess.run([sys.executable, "-m", "mnist_lib", "diff", str(outs[0]), str(outs[1])],
                           capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    assert "| 02_ann | test_accuracy |" in table and f"p = {row['p_value']:.2f}" in table


# --------------------------------------------------------------------------- run keys


def test_run_key_ignores_outputs_and_counts_but_not_source_or_tags(tmp_path, stand_ins):
    nb = nbformat.read(stand_ins(tmp_path / "nbs") / "02_ann.ipynb", as_version=4)
    nbformat.write(nb, tmp_path / "a.ipynb")
    code = nb.cells[-1]
    code.outputs = [nbformat.v4.new_output("stream", text="hello")]
    code.execution_count = 7
    code.metadata["collapsed"] = True
    nbformat.write(nb, tmp_path / "b.ipynb")
    assert keys.notebook_source_digest(tmp_path / "a.ipynb") == keys.notebook_source_digest(tmp_path / "b.ipynb")
    next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).metadata["tags"] = []
    nbformat.write(nb, tmp_path / "c.ipynb")
    assert keys.notebook_source_digest(tmp_path / "c.ipynb") != keys.notebook_source_digest(tmp_path / "a.ipynb")


def test_resolved_parameters_include_the_notebooks_defaults_and_leave_paths_out():
    path = REPO / "notebooks" / "02_ann.ipynb"
    resolved = keys.resolved_parameters("02_ann", path, {"epochs": "3", "output_dir": "/tmp/x"})
    assert resolved["epochs"] == 3  # coerced, so "3" and 3 give one key
    assert "optimizer" in resolved and "lr" in resolved  # defaults included
    assert not set(params.PATH_PARAMETERS) & set(resolved)


def test_every_input_of_the_key_changes_it(tmp_path, stand_ins):
    stand_ins(tmp_path)
    base = dict(data={"f": "1"}, device_type="cpu", dependencies={}, library={"models.py": "a"})
    key = keys.run_key("02_ann", tmp_path / "02_ann.ipynb", {"seed": 0}, **base)
    variants = [({"seed": 1}, {}), ({"seed": 0}, {"data": {"f": "2"}}), ({"seed": 0}, {"device_type": "cuda"}),
                ({"seed": 0}, {"dependencies": {"03_lenet": "x"}}), ({"seed": 0}, {"library": {"models.py": "b"}})]
    for values, change in variants:
        other = keys.run_key("02_ann", tmp_path / "02_ann.ipynb", values, **{**base, **change})
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
                          if t.startswith("mnist_lib.build") or t in ("mnist_lib.cli", "mnist_lib.website.browser")]
    assert offending == []


def test_force_and_profile_timeout_are_validated(tmp_path):
    assert pipeline.forced_notebooks(None) == set()
    assert pipeline.forced_notebooks("all") == set(catalogue.series_names())
    assert pipeline.forced_notebooks("03_lenet,04_cnn") == {"03_lenet", "04_cnn"}
    with pytest.raises(ParameterError, match="--force: unknown notebook '03_lenét'; valid: 01_eda"):
        pipeline.forced_notebooks("03_lenét")
    profile = tmp_path / "p.yaml"
    profile.write_text("common: {timeout: 600}\n04_cnn: {timeout: 1200}\n")
    loaded = profiles.load_profile(profile)
    assert loaded.timeout_for("04_cnn") == 1200 and loaded.timeout_for("02_ann") == 600
    assert "timeout" not in loaded.params_for("04_cnn")
    assert profiles.load_profile("quick").timeout_for("02_ann") == profiles.DEFAULT_TIMEOUT
    profile.write_text("04_cnn: {timeout: soon}\n")
    with pytest.raises(ParameterError, match="section '04_cnn': parameter 'timeout': expected a whole number"):
        profiles.load_profile(profile)


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


def _links(tmp_path: Path) -> dict[str, str]:
    """A file, a link to nowhere, two links that point at each other, a folder inside a file."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    return {"file": str(tmp_path / "afile"), "dangling": str(tmp_path / "dangling"), "loop": str(tmp_path / "loop1"),
            "inside-file": str(tmp_path / "afile" / "sub"), "empty": ""}


@pytest.mark.parametrize("command", [["data", "--offline", "--data-dir"], ["reports", "--output"],
                                     ["sweep", "notebooks/sweeps/seeds-quick.yaml", "--output"],
                                     ["publish", "--output"], ["reports", "--data-dir"]])
def test_cli_folders_that_are_files_links_in_a_circle_or_empty_are_one_line(tmp_path, command, capsys):
    from mnist_lib import cli

    expected = {"file": "is a file, not a folder", "loop": "is a symbolic link that leads back to itself",
                "inside-file": "which is a file", "empty": "the path is empty; give a folder"}
    for case, path in _links(tmp_path).items():
        if case == "dangling":  # followed to where it points, a folder to create: the next test
            continue
        code = cli.main([*command, path])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and expected[case] in err, (case, err)


def test_data_into_a_link_to_a_folder_yet_to_be_made_follows_the_link(tmp_path, capsys, mnist_source):
    from mnist_lib import cli

    assert cli.main(["data", "--data-dir", _links(tmp_path)["dangling"], "--source", str(mnist_source)]) == 0
    assert (tmp_path / "nowhere" / "MNIST" / "raw").is_dir() and " verified " in capsys.readouterr().out


def test_a_notebooks_folder_without_the_notebooks_is_one_line(tmp_path, capsys, mnist_data_dir):
    from mnist_lib import cli

    for command in (["reports", "--profile", "quick"], ["sweep", "notebooks/sweeps/seeds-quick.yaml"]):
        code = cli.main([*command, "--notebooks", str(tmp_path), "--output", str(tmp_path / "out"), "--data-dir",
                         str(mnist_data_dir)])
        err = capsys.readouterr().err
        assert code == 2 and err.endswith(f"has no {'01_eda' if command[0] == 'reports' else '02_ann'}.ipynb\n")
        assert err.count("\n") == 1 and err.startswith(f"error: --notebooks: {str(tmp_path)!r}")


def test_a_system_error_is_one_line_without_a_traceback(capsys, monkeypatch, tmp_path):
    from mnist_lib import cli

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(cli, "_cmd_data", full)
    assert cli.main(["data", "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"error: No space left on device: {str(tmp_path / 'x')!r}\n"


def test_an_install_without_the_checkout_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    """``pip install .`` (not editable) installs the library only: the CLI must say a checkout is needed."""
    from mnist_lib import cli

    monkeypatch.setattr(cli, "NOTEBOOK_DIR", tmp_path / "site-packages" / "notebooks")
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
        checkpoints.load_checkpoint(first.path, again, "ann", first.key_params, 0)
    redo = checkpoints.fit_or_load(again, "ann", small_splits, cfg, tmp_path, {"limit": 3000}, progress=False)
    assert not redo.loaded and "does not fit model ann" in redo.refused and "not reused" in prose.training.weights_text(redo)
    reused = checkpoints.fit_or_load(training.seeded_model("ann", 0), "ann", small_splits, cfg, tmp_path,
                                     {"limit": 3000}, progress=False)
    assert reused.loaded and reused.this_run_seconds is None
    assert reused.train_seconds == pytest.approx(redo.train_seconds)
    sentence = prose.training.weights_text(reused)
    assert "**reused**" in sentence and f"in {redo.train_seconds:.1f} s" in sentence and "trained on 20" in sentence


def test_a_change_to_the_code_that_shapes_weights_changes_the_checkpoint_key(tmp_path, monkeypatch):
    copy = tmp_path / "lib"
    shutil.copytree(checkpoints.LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = checkpoints.weights_code_hash(copy)
    assert before == checkpoints.weights_code_hash()
    models = copy / "models.py"
    models.write_text(models.read_text().replace("class CNN", "class CNN  # edited", 1))
    assert checkpoints.weights_code_hash(copy) != before
    key = checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cpu")
    monkeypatch.setattr(checkpoints, "LIBRARY", copy)
    assert checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cpu") != key
    plots = copy / "plots.py"  # code that does not shape weights keeps the key
    monkeypatch.setattr(checkpoints, "LIBRARY", checkpoints.LIBRARY)
    shutil.copy(REPO / "mnist_lib" / "models.py", models)
    plots.write_text(plots.read_text() + "\n# edited\n")
    assert checkpoints.weights_code_hash(copy) == before


def test_what_decides_the_arithmetic_is_in_the_checkpoint_key_and_the_run_key(tmp_path, monkeypatch, stand_ins):
    import torch

    from mnist_lib import environment

    key = checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cpu")
    nb = stand_ins(tmp_path) / "02_ann.ipynb"
    run = keys.run_key("02_ann", nb, {}, data={}, device_type="cpu", library={})
    assert checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cuda") != key
    assert run.components["cpu_capability"] == environment.cpu_capability()
    monkeypatch.setattr(environment, "cpu_capability", lambda: "SOME_OTHER_ISA")
    assert checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cpu") != key
    assert keys.run_key("02_ann", nb, {}, data={}, device_type="cpu", library={}).digest != run.digest
    monkeypatch.undo()
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert checkpoints.checkpoint_key("cnn", {"a": 1}, 0, "cpu") != key


def test_predictions_files_depend_on_the_predictions_alone(tmp_path, monkeypatch):
    from mnist_lib import files

    arrays = {"test_accuracy::index": np.arange(5, dtype=np.int32), "test_accuracy::pred": np.array([1, 2, 3, 4, 5],
                                                                                                    dtype=np.int16)}
    first = files.npz_bytes(arrays)
    monkeypatch.setattr(time, "time", lambda: 2e9)  # what np.savez stamps into each member
    assert files.npz_bytes(arrays) == first
    (tmp_path / "p.npz").write_bytes(first)
    with np.load(tmp_path / "p.npz") as loaded:
        assert sorted(loaded.files) == sorted(arrays)
        assert all(np.array_equal(loaded[k], v) and loaded[k].dtype == v.dtype for k, v in arrays.items())
    assert files.npz_bytes({**arrays, "test_accuracy::pred": arrays["test_accuracy::pred"][::-1]}) != first


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


def test_a_notebook_process_does_not_inherit_what_a_dask_nanny_set_for_its_worker():
    from mnist_lib.runner import job

    inherited = {"PATH": "/bin", "MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "4"}
    env = job.notebook_environment(inherited, {"OMP_NUM_THREADS": 1, "MNIST_REPORTS_BATCH": "1"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "1", "MNIST_REPORTS_BATCH": "1"}
    assert inherited["MALLOC_TRIM_THRESHOLD_"] == "65536"  # the worker's own setting is left alone
