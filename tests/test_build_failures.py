"""The report build's failure handling, on stand-in notebooks (the ``stand_ins`` fixture): a failing
notebook still gets its HTML with the error, its dependents are skipped, the
others run, the index marks it, and the CLI exits non-zero naming it."""

from __future__ import annotations

import json

import nbformat
import pytest

from mnist_lib import catalogue, prose, references
from mnist_lib.runner import pipeline
from mnist_lib.website import render


@pytest.fixture
def fake_notebooks(tmp_path, stand_ins):
    return stand_ins(tmp_path / "notebooks", fail=["03_lenet"])


@pytest.mark.slow  # runs the stand-ins through papermill: a kernel per notebook
def test_a_failing_notebook_is_reported_and_its_dependents_skipped(tmp_path, fake_notebooks, mnist_source,
                                                                   mnist_data_dir):
    out = tmp_path / "out"
    result = pipeline.build_reports(profile="quick", output=out, data_dir=mnist_data_dir, source=str(mnist_source),
                                   notebook_dir=fake_notebooks, log=lambda *a: None)
    status = {name: run.status for name, run in result.runs.items()}
    assert status == {"01_eda": "ok", "02_ann": "ok", "03_lenet": "failed", "04_cnn": "ok", "05_optimizers": "ok",
                      "06_feature_maps": "skipped", "07_hyperparameters": "ok"}
    failed_html = (out / "03_lenet.html").read_text()
    assert "stand-in failure in 03_lenet" in failed_html
    assert not (out / "03_lenet.metrics.json").exists()
    assert not (out / "06_feature_maps.html").exists()
    index = (out / "index.html").read_text()
    assert 'class="failed"' in index and 'class="skipped"' in index and "depends on 03_lenet" in index
    assert "not built: 03_lenet, 06_feature_maps" in index
    build = json.loads((out / "build.json").read_text())
    assert build["runs"]["03_lenet"]["status"] == "failed"
    assert list(out.glob(".*.tmp")) == [] and list((out / "executed").glob(".*")) == []
    # make bench adds its results later; the refreshed index links them and keeps every status.
    (out / "benchmarks.md").write_text("# Benchmarks\n")
    pipeline.refresh_index(out)
    refreshed = (out / "index.html").read_text()
    assert '<a href="benchmarks.md">' in refreshed and "not built: 03_lenet, 06_feature_maps" in refreshed
    assert refreshed.count('class="ok"') == 5


def test_only_runs_dependencies_too():
    assert pipeline.with_dependencies(["06_feature_maps"]) == ["03_lenet", "04_cnn", "06_feature_maps"]
    assert pipeline.with_dependencies(["02_ann"]) == ["02_ann"]
    assert pipeline.with_dependencies(None) == list(catalogue.series_names())


@pytest.mark.slow  # runs a stand-in through papermill
def test_cli_exits_non_zero_naming_the_failed_notebook(tmp_path, fake_notebooks, mnist_source, mnist_data_dir,
                                                       monkeypatch, capsys):
    from mnist_lib import cli

    code = cli.main(["reports", "--profile", "quick", "--only", "03_lenet", "--output", str(tmp_path / "o"),
                     "--data-dir", str(mnist_data_dir), "--source", str(mnist_source),
                     "--notebooks", str(fake_notebooks)])
    assert code == 1
    assert "notebooks failed: 03_lenet" in capsys.readouterr().err


def test_table_of_contents_links_every_section():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\n## Data\n\nText."), nbformat.v4.new_code_cell("x"),
                nbformat.v4.new_markdown_cell("### The misses\n#### Too deep")]
    contents = render.table_of_contents(nb)
    assert [(h.level, h.anchor, h.text) for h in contents] == [(2, "Data", "Data"), (3, "The-misses", "The misses")]


def test_targets_are_checked_only_in_the_full_setting():
    full = references.check_target("ann", 98.36, {"train_limit": None, "test_limit": None, "epochs": 10})
    assert full.met is True and "**Met**: 98.36%" in prose.references.target_text(full) and prose.references.target_short_text(full) == ">= 98.00%: met"
    missed = references.check_target("cnn", 99.41, {"train_limit": None, "test_limit": None, "epochs": 20})
    assert missed.met is False and "0.09 points short" in prose.references.target_text(missed)
    subset = references.check_target("lenet5", 99.9, {"train_limit": 6000, "test_limit": None, "epochs": 3})
    assert subset.met is None and "subset" in prose.references.target_text(subset)
    longer = references.check_target("ann", 99.0, {"train_limit": None, "test_limit": None, "epochs": 30})
    assert longer.met is None and "more than 10" in prose.references.target_text(longer)


def _run_child(tmp_path, monkeypatch, execute) -> str | None:
    """The notebook runner's child side with ``execute`` in place of papermill's; the error it reports."""
    import papermill

    from mnist_lib.files import write_json
    from mnist_lib.runner import job

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    spec = tmp_path / "spec.json"
    write_json(spec, {"source": "nb.ipynb", "executed": str(tmp_path / "out.ipynb"), "parameters": {},
                      "cwd": str(tmp_path), "result": str(tmp_path / "result.json")})
    job._execute_in_child(str(spec))
    return json.loads((tmp_path / "result.json").read_text())["error"]


@pytest.mark.parametrize("failures, error", [
    (2, None),  # two kernels died at start: the third ran the notebook
    (3, "RuntimeError: Kernel died before replying to kernel_info"),  # every try failed: reported as such
])
def test_a_kernel_that_dies_before_its_first_reply_is_started_again(tmp_path, monkeypatch, failures, error):
    from mnist_lib.runner import job

    calls = []

    def execute(source, executed, **kwargs):
        calls.append(kwargs["kernel_name"])
        if len(calls) <= failures:
            raise RuntimeError("Kernel died before replying to kernel_info")
        nbformat.write(nbformat.v4.new_notebook(), executed)

    assert _run_child(tmp_path, monkeypatch, execute) == error
    assert len(calls) == min(failures + 1, job.KERNEL_START_TRIES)


def test_any_other_runtime_error_is_not_retried(tmp_path, monkeypatch):
    calls = []

    def execute(source, executed, **kwargs):
        calls.append(1)
        raise RuntimeError("No such kernel named python3")

    assert _run_child(tmp_path, monkeypatch, execute) == "RuntimeError: No such kernel named python3"
    assert calls == [1]
