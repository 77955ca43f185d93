"""What the site's pages say, read as text: the index tells this build's measurements from the
published numbers beside them (and names their metric), its headline column claims nothing a row
does not hold, and every page of a build on another data set names that data set (issue 23)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat

from mnist_lib import catalogue, datasets, references
from mnist_lib.datasets import get_dataset
from mnist_lib.website import datasets_index, index, navigation, pages, publish, render

BARE_MNIST = re.compile(r"(?<![\w-])MNIST")  # MNIST itself, not Fashion-MNIST


def text_of(page: str, start: str, end: str) -> str:
    """The text a reader sees from the tag holding ``start`` to the next ``end`` of a page (tags removed)."""
    part = page[page.rindex("<", 0, page.index(start) + 1):]
    part = part[:part.index(end)]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", part))).strip()


def caption(page: str) -> str:
    return text_of(page, "<figcaption>", "</figcaption>")


def lead(page: str) -> str:
    return text_of(page, 'class="index-lead"', "</p>")


def on_dataset(runs: dict, dataset: str) -> dict:
    for run in runs.values():
        if run.metrics:
            run.metrics["params"]["dataset"] = dataset
    return runs


def record_build(folder: Path, dataset: str, **build) -> str:
    """A ``build.json`` in ``folder`` recording a build on ``dataset``; its title."""
    title = get_dataset(dataset).title
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "build.json").write_text(json.dumps({**build, "dataset": {"name": dataset, "title": title,
                                                                        "folder": dataset}}))
    return title


# --------------------------------------------------------------------------- 1. measured or published


def test_the_index_says_which_marks_are_published_and_which_metric_they_are(tmp_path, fake_runs):
    """Was: "Every number below was measured by the notebook it links to" and "diamonds: the original
    reports' numbers", though 05's diamonds are the reference's maximum per-epoch test accuracy."""
    page = index.write_index(tmp_path, fake_runs(tmp_path), "quick", 1.0, "2026-01-02").read_text()
    assert "Every number below was measured" not in page and "original reports' numbers" not in page
    assert "the summary figure sets published numbers beside this build's measurements" in lead(page)
    text = caption(page)
    assert "diamonds: published numbers, not measured in this build:" in text
    ann, sgd = (references.for_dataset("mnist").result(key) for key in ("ann", "mlp/sgd"))
    assert sgd.metric == references.MAX_EPOCH_METRIC  # the case the issue found
    assert f"the {ann.metric} from {ann.source} for 02_ann;" in text  # the same metric: no warning
    assert (f"the {sgd.metric} from {sgd.source} for 05_optimizers · sgd, 05_optimizers · adam, beside dots of "
            f"this build's {index.VALIDATION_SELECTED}: not the same measure.") in text


def test_the_caption_is_worded_from_the_reference_results(tmp_path, monkeypatch, fake_runs):
    made_up = references.ReferenceResult(90.0, None, 60000, metric="median test accuracy of 3 seeds",
                                         model="someone's CNN", source="a made-up benchmark")
    table = dict(references.REFERENCES)
    table["mnist"] = references.DatasetReferences("mnist", "MNIST", {"ann": made_up}, {})
    monkeypatch.setattr(references, "REFERENCES", table)
    page = index.write_index(tmp_path, fake_runs(tmp_path), "quick", 1.0, "2026-01-02").read_text()
    assert ("the median test accuracy of 3 seeds from a made-up benchmark (the closest published models, not this "
            "series' own) for 02_ann, beside dots of this build's test accuracy: not the same measure.") \
        in caption(page)
    assert "05_optimizers" not in caption(page).split("diamonds")[1]  # no reference of 05 is known here


def test_without_published_numbers_the_index_claims_none(tmp_path, fake_runs):
    page = index.write_index(tmp_path, on_dataset(fake_runs(tmp_path), "idx"), "quick", 1.0, "2026-01-02").read_text()
    assert "no published number is drawn beside them" in caption(page) and "diamonds" not in caption(page)
    assert "published" not in lead(page)


# --------------------------------------------------------------------------- 2. the headline column


def test_the_headline_column_claims_no_test_set_and_07_s_best_says_by_validation(tmp_path, fake_runs):
    """Was: "headline results (test set)" above 01_eda's data statistics; 07's best lost "by validation"."""
    runs = fake_runs(tmp_path)
    page = index.write_index(tmp_path, runs, "quick", 1.0, "2026-01-02").read_text()
    table = page[page.index('id="results"'):]
    assert text_of(table, "<thead>", "</thead>") == "report headline results seconds status"
    assert "train / validation / test: 5,500 / 500 / 2,000" in text_of(page, 'href="01_eda.html">01_eda', "</tr>")
    assert [r.label for r in index.headline_results(runs) if r.notebook == "07_hyperparameters"] == \
        ["07_hyperparameters · best configuration by validation"]


# --------------------------------------------------------------------------- 3. the data set's name


def test_a_fashion_mnist_index_names_fashion_mnist_in_its_title_navigation_and_cards(tmp_path, fake_runs):
    """Was: "MNIST reports" and "Exploring MNIST" on the index of a Fashion-MNIST build."""
    title = record_build(tmp_path, "fashion-mnist")
    page = index.write_index(tmp_path, on_dataset(fake_runs(tmp_path), "fashion-mnist"), "quick", 1.0,
                             "2026-01-02").read_text()
    assert BARE_MNIST.findall(page) == [] and "MNIST reports" not in page
    name = navigation.site_name(title)
    assert title in name and f"<title>{name} (quick profile)</title>" in page and f"<h1>{name}</h1>" in page
    assert text_of(page, 'class="site-brand"', "</a>") == name
    eda = catalogue.get("01_eda").title_on(title)
    assert title in eda and f'<span class="card-title">01 · {eda}</span>' in page
    assert f'<span class="nb">01</span>{eda}</a>' in page  # the navigation


def test_a_report_and_the_other_pages_name_the_data_set_of_their_build(tmp_path, executed_notebook):
    title = record_build(tmp_path / "out", "fashion-mnist")
    nb = executed_notebook("02_ann", tmp_path / "out", tmp_path / "data", tmp_path / "nbs")
    nb.metadata["papermill"]["parameters"]["dataset"] = "fashion-mnist"
    nbformat.write(nb, tmp_path / "02_ann.ipynb")
    report = render.render_html(tmp_path / "02_ann.ipynb", tmp_path / "02_ann.html", title="02_ann: A").read_text()
    failure = pages.render_failure_page(tmp_path / "out" / "03_lenet.html", "03_lenet: LeNet-5", "no notebook")
    for page in (report, failure.read_text(), pages.placeholder_page("01_eda", None, None, title),
                 pages.not_found_page(title)):
        assert text_of(page, 'class="site-brand"', "</a>") == navigation.site_name(title)
        assert catalogue.get("01_eda").title_on(title) in text_of(page, 'class="site-sidebar"', "</nav>")
        assert BARE_MNIST.findall(text_of(page, "<header", "</header>")) == []
    assert "Page not found · " + navigation.site_name(title) in pages.not_found_page(title)


def test_publishing_a_fashion_mnist_build_names_it_on_the_pages_publish_writes(tmp_path, small_reports):
    reports_dir = small_reports(tmp_path)
    title = record_build(reports_dir, "fashion-mnist", **json.loads((reports_dir / "build.json").read_text()))
    publish.publish(reports_dir, tmp_path / "site")
    not_found, placeholder = ((tmp_path / "site" / name).read_text() for name in ("404.html", "01_eda.html"))
    assert text_of(not_found, "<title>", "</title>") == f"Page not found · {navigation.site_name(title)}"
    assert text_of(placeholder, "<title>", "</title>") == f"01_eda: {catalogue.get('01_eda').title_on(title)}"
    for page in (not_found, placeholder):
        assert text_of(page, 'class="site-brand"', "</a>") == navigation.site_name(title)
        assert BARE_MNIST.findall(text_of(page, "<header", "</header>")) == []


def test_an_idx_folder_and_a_page_over_several_data_sets_are_named_too(tmp_path):
    assert datasets.dataset_title("idx", "/srv/scans") == "the IDX folder scans"
    assert navigation.site_name("the IDX folder scans") == "Reports on the IDX folder scans"
    assert datasets.dataset_title() == get_dataset("mnist").title == datasets_index.built_title(tmp_path)
    top = datasets_index.datasets_page(tmp_path, [])
    assert text_of(top, "<h1>", "</h1>") == navigation.SEVERAL_DATASETS == text_of(top, "<title>", "</title>")
    assert BARE_MNIST.findall(top) == []


def test_the_index_links_each_sweep_and_shows_a_seeds_sweep_beside_the_single_runs(tmp_path, fake_runs):
    """The index looked for sweeps/*.html, where no sweep writes: summaries live in sweeps/NAME/."""
    for name, profile, seeds_only in (("seeds", "quick", True), ("lr", "quick", False), ("seeds-full", "full", True),
                                      ("seeds-fashion", "quick", True)):
        folder = tmp_path / "sweeps" / name
        folder.mkdir(parents=True)
        (folder / "summary.html").write_text("<html></html>")
        (folder / "sweep.json").write_text(json.dumps({
            "name": name, "profile": profile, "grid": {"seed": [0, 1, 2]}, "seeds_only": seeds_only,
            "dataset": {"name": "fashion-mnist" if name.endswith("fashion") else "mnist"},
            "runs": [{"status": "ok"}, {"status": "ok"}, {"status": "failed"}]}))
        (folder / "summary.metrics.json").write_text(json.dumps({"groups": [
            {"notebook": "02_ann", "model": "ann", "setting": "", "text": f"98.{len(name)} ± 0.1% over 2 seeds"}]}))
    page = index.write_index(tmp_path, fake_runs(tmp_path), "quick", 1.0, "2026-01-02").read_text()
    for name in ("seeds", "lr", "seeds-full"):
        assert f'href="sweeps/{name}/summary.html"' in page and f"{name} (3 runs, 1 failed)" in page
    row = text_of(page, 'href="02_ann.html">02_ann', "</tr>")
    assert "ann over seeds (sweep seeds): 98.5 ± 0.1% over 2 seeds" in row
    assert "sweep lr" not in row and "seeds-full" not in row  # not seeds only; another profile
    assert "seeds-fashion" not in row  # another data set's spread is not set beside MNIST's runs
