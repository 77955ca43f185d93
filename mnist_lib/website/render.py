"""Rendering: an executed notebook to one self-contained HTML page of the report site.

Before nbconvert sees the executed notebook, the build machine's paths are masked
(:mod:`mnist_lib.website.masking`) and the provenance table (the output of
``reports.Run.show_provenance``, found by its metadata) moves to an appendix; its summary
(commit, seed, profile, device, date) and the table of contents, made from the notebook's
Markdown headings, go to the template, which places them after the first markdown cell. The
page gets the site's header, sidebar and previous/next links, named for the data set the run's
parameters give, and code folded per cell (``templates/report/index.html.j2``).
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mnist_lib import datasets, reports
from mnist_lib.files import atomic_write_text, digest_of, sha256_file
from mnist_lib.website import masking, navigation, templates

APPENDIX_HEADING = "Appendix: run settings"
CONTENTS_LEVELS = (2, 3)  # the headings the table of contents lists: h2 and h3
# What a page's HTML depends on beyond the executed notebook and the templates.
SHAPING_MODULES = (Path(__file__), *(Path(m.__file__) for m in (masking, navigation, templates)))


# --------------------------------------------------------------------------- run settings


@dataclass(frozen=True)
class RunSummary:
    """The line under a report's title: what its provenance says, its profile, and the anchor of
    its appendix."""

    commit: str | None
    seed: object
    device: str | None
    date: str | None
    profile: str | None
    anchor: str | None


def _date(text: str | None) -> str | None:
    """``2026-01-02T03:04:05+00:00`` as ``2026-01-02 03:04 UTC``."""
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return text


def move_run_settings(nb) -> dict | None:
    """Move the provenance table to an appendix at the end of the notebook.

    The table is the output of a code cell (the setup cell stays where it is, its
    code intact); the markdown cell before it, when it is the "Run settings"
    section, moves along under the heading ``Appendix: run settings``. Returns
    the summary the table's output carries, or None when the notebook shows no
    provenance table.
    """
    import nbformat  # heavy (JSON schemas); rendering is the only user here

    for index, cell in enumerate(nb.cells):
        found = [(o, reports.shown_provenance(o)) for o in cell.get("outputs", [])]
        found = [(o, summary) for o, summary in found if summary is not None]
        if not found:
            continue
        output, summary = found[0]
        cell.outputs = [o for o in cell.outputs if o is not output]
        intro = ""
        position = _previous_markdown_index(nb.cells, index)
        if position is not None:
            heading = re.match(r"\s*#{1,3}\s*Run settings[^\n]*\n?", nb.cells[position].source, re.I)
            if heading:
                intro = nb.cells[position].source[heading.end():].strip()
                del nb.cells[position]
        appendix = nbformat.v4.new_markdown_cell(f"## {APPENDIX_HEADING}\n\n{intro}".rstrip())
        table = nbformat.v4.new_code_cell("")
        table.outputs = [output]
        table.metadata["transient"] = {"remove_source": True}
        nb.cells.extend([appendix, table])
        return summary
    return None


def _previous_markdown_index(cells, index: int) -> int | None:
    """The position of the last markdown cell before cell ``index`` (the one that opens its section)."""
    for position in range(index - 1, -1, -1):
        if cells[position].cell_type == "markdown":
            return position
    return None


# --------------------------------------------------------------------------- the table of contents


@dataclass(frozen=True)
class Heading:
    """A heading of the page: its level, its text and the id nbconvert gives it."""

    level: int
    text: str
    anchor: str


def heading_anchor(text: str) -> str:
    """The id nbconvert gives a Markdown heading whose text is ``text``."""
    # nbconvert's own rule (private, no public equivalent), so the contents' links match its ids
    from nbconvert.filters.strings import _convert_header_id

    return _convert_header_id(text)


def _plain_text(tokens: list[dict]) -> str:
    """What a heading's inline tokens read as on the page (its HTML's text, as nbconvert takes it)."""
    text = ""
    for token in tokens:
        if token["type"] == "image":
            continue  # an image has no text
        if "children" in token:
            text += _plain_text(token["children"])
        elif token["type"] == "text":
            text += html.unescape(token["raw"])  # an entity reads as its character
        elif token["type"] == "codespan":
            text += token["raw"]
        elif token["type"] == "inline_math":
            text += f"${token['raw']}$"
        elif token["type"] in ("softbreak", "linebreak"):
            text += "\n"
    return text


def markdown_headings(markdown: str) -> list[Heading]:
    """The headings of a Markdown text, parsed as nbconvert parses a markdown cell."""
    # nbconvert's parser (mistune with its math rules) is heavy; parsing is for rendering only
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    tokens = MarkdownWithMath(renderer=None)(markdown)
    found = []
    for token in tokens:
        if token["type"] == "heading":
            text = _plain_text(token["children"])
            found.append(Heading(token["attrs"]["level"], text.strip(), heading_anchor(text)))
    return found


def table_of_contents(nb) -> list[Heading]:
    """The h2 and h3 headings of the page: of its markdown cells and of the Markdown its code shows."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += markdown_headings(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/markdown" in data and "text/html" not in data:  # HTML is shown in its place
                value = data["text/markdown"]
                found += markdown_headings("".join(value) if isinstance(value, list) else value)
    return [h for h in found if h.level in CONTENTS_LEVELS]


# --------------------------------------------------------------------------- the page


def render_digest(no_input: bool, title: str, profile: str | None = None) -> str:
    """Hash of what shapes the HTML beyond the executed notebook: the modules that make it, the
    templates, the options and the series' navigation."""
    return digest_of({"modules": {p.name: sha256_file(p) for p in SHAPING_MODULES},
                      "series": navigation.series_digest(), "templates": templates.fingerprint(),
                      "no_input": no_input, "title": title, "profile": profile})


@functools.lru_cache(maxsize=2)
def _html_exporter(no_input: bool):
    """One exporter per option and process, reused for every page as nbconvert's own command line
    reuses it: building one compiles its Jinja templates again (about a quarter of a page's rendering
    time). Pages are rendered one at a time per process (the in-process executor and each
    single-threaded Dask worker)."""
    from nbconvert import HTMLExporter  # heavy; only rendering needs it

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(templates.TEMPLATES)],
                            extra_template_paths=[str(templates.TEMPLATES)], exclude_input=no_input,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    # The site's macros escape what they show; nbconvert's templates, whose filters return HTML, must not.
    exporter.environment.autoescape = templates.escaped
    return exporter


def _dataset(parameters: dict) -> str:
    """The title of the data set a run's parameters (as papermill recorded them) name."""
    return datasets.dataset_title(parameters.get("dataset"), parameters.get("data_source"))


def render_html(executed: Path, target: Path, no_input: bool = False, title: str | None = None,
                failure: str | None = None, profile: str | None = None) -> Path:
    """Render an executed notebook to one self-contained HTML page of the site (images embedded).

    ``failure``: the reason the run failed, shown in a banner at the top.
    ``profile``: the build profile, named in the line under the title.
    """
    import nbformat  # heavy (JSON schemas); rendering is the only user here

    nb = nbformat.read(executed, as_version=4)
    name = Path(target).stem
    papermill = nb.metadata.pop("papermill", {}) or {}
    input_path = papermill.get("input_path")
    mask = masking.path_mask(papermill.get("parameters"), Path(input_path).parent if input_path else None,
                     {str(Path(target).resolve().parent): "<output_dir>"})
    masking.mask_notebook(nb, mask)
    provenance = move_run_settings(nb)
    summary = None if provenance is None else RunSummary(
        commit=provenance.get("commit"), seed=provenance.get("seed"), device=provenance.get("device"),
        date=_date(provenance.get("date")), profile=profile, anchor=heading_anchor(APPENDIX_HEADING))
    if title:
        nb.metadata["title"] = title
    nb.metadata.pop("widgets", None)  # widget state needs a CDN script; reports have none
    site = {"nav": navigation.navigation(name, _dataset(papermill.get("parameters") or {})), "code": not no_input,
            "summary": summary, "contents": table_of_contents(nb), "failure": mask.apply(failure) if failure else None}
    body, _ = _html_exporter(no_input).from_notebook_node(nb, resources={"metadata": {"name": name}, "site": site})
    return atomic_write_text(target, body)
