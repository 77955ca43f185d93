"""The report build's failure handling, on stand-in notebooks made here: a failing
notebook still gets its HTML with the error, its dependents are skipped, the
others run, the index marks it, and the CLI exits non-zero naming it."""

from __future__ import annotations

import json

import nbformat
import pytest

from mnist_lib import config, reports
from mnist_lib.build import pipeline, render, site


def stand_in(name: str, fail: bool) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("output_dir = '.'\nseed = 0")
    params.metadata["tags"] = ["parameters"]
    body = (
        "import json, pathlib\n"
        + ("raise RuntimeError('stand-in failure in " + name + "')\n" if fail else "")
        + f"pathlib.Path(output_dir, '{name}.metrics.json').write_text(json.dumps("
        + "{'status': 'ok', 'headline': {'answer': '42'}, 'params': {'seed': seed}}))"
    )
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}\n\n## Section one"), params, nbformat.v4.new_code_cell(body)]
    return nb


@pytest.fixture
def fake_notebooks(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in config.NOTEBOOKS:
        nbformat.write(stand_in(name, fail=name == "03_lenet"), folder / f"{name}.ipynb")
    return folder


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
    site.refresh_index(out)
    refreshed = (out / "index.html").read_text()
    assert '<a href="benchmarks.md">' in refreshed and "not built: 03_lenet, 06_feature_maps" in refreshed
    assert refreshed.count('class="ok"') == 5


def test_only_runs_dependencies_too():
    assert pipeline.with_dependencies(["06_feature_maps"]) == ["03_lenet", "04_cnn", "06_feature_maps"]
    assert pipeline.with_dependencies(["02_ann"]) == ["02_ann"]
    assert pipeline.with_dependencies(None) == list(config.NOTEBOOKS)


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
    page = ('<main><!--TOC--><h2 id="Data">Data<a class="anchor-link" href="#Data">¶</a></h2>'
            '<h3 id="The-misses">The misses<a class="anchor-link" href="#The-misses">¶</a></h3></main>')
    out = render.add_table_of_contents(page)
    assert '<a href="#Data">Data</a>' in out and '<li class="toc-h3"><a href="#The-misses">' in out
    assert "<!--TOC-->" not in out


def test_targets_are_checked_only_in_the_full_setting():
    full = reports.check_target("ann", 98.36, {"train_limit": None, "test_limit": None, "epochs": 10})
    assert full.met is True and "**Met**: 98.36%" in full.text() and full.short() == ">= 98.00%: met"
    missed = reports.check_target("cnn", 99.41, {"train_limit": None, "test_limit": None, "epochs": 20})
    assert missed.met is False and "0.09 points short" in missed.text()
    subset = reports.check_target("lenet5", 99.9, {"train_limit": 6000, "test_limit": None, "epochs": 3})
    assert subset.met is None and "subset" in subset.text()
    longer = reports.check_target("ann", 99.0, {"train_limit": None, "test_limit": None, "epochs": 30})
    assert longer.met is None and "more than 10" in longer.text()


def test_reference_comparison_names_how_the_setting_differs():
    from mnist_lib.metrics import accuracy_with_interval
    import numpy as np

    y = np.zeros(1000, dtype=int)
    pred = y.copy()
    pred[:20] = 1  # 98.0% correct
    acc = accuracy_with_interval(y, pred)
    full = reports.compare_with_reference("ann", acc, {"epochs": 10, "train_limit": None, "test_limit": None}, 10)
    assert abs(full.difference - (98.0 - 97.21)) < 1e-9 and full.differences == ()
    assert "+0.79 percentage points" in full.text() and "**inside**" in full.text()
    quick = reports.compare_with_reference("cnn", acc, {"epochs": 3, "train_limit": 6000, "test_limit": 2000}, 3)
    assert quick.differences == ("3 epochs instead of 100", "6,000 of the 60,000 training images",
                                 "a 2,000-image test subset")
    assert "**outside**" in quick.text() and list(quick.table().index) == ["this run", "the reference report"]
