"""Rendering: an executed notebook to one self-contained HTML page of the report site.

Before nbconvert sees the executed notebook, the build machine's absolute paths
are replaced by paths relative to the notebook or by names (``<output_dir>``),
and the provenance table moves to an appendix, leaving a one-line summary
(commit, seed, profile, device, date) under the title. The page gets the site's
header, sidebar and previous/next links (:mod:`mnist_lib.build.site`), code
folded per cell, and a table of contents. A notebook that failed before anything
could be rendered gets a page in the same frame saying so.
"""

from __future__ import annotations

import html
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mnist_lib.files import atomic_write_text, digest_of, sha256_file

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
SITE_MODULE = Path(__file__).resolve().parent / "site.py"

# Parameters that hold folders, shown relative to the notebook or by these names.
PATH_PARAMETERS = ("output_dir", "checkpoint_dir", "data_dir", "data_source")
APPENDIX_HEADING = "Appendix: run settings"


# --------------------------------------------------------------------------- the machine's paths


@dataclass(frozen=True)
class PathMask:
    """Absolute paths of the build machine and what a page shows instead, longest first."""

    replacements: tuple[tuple[str, str], ...]

    def for_html(self) -> "PathMask":
        """The same mask for text that is already HTML: what it shows, escaped (``&lt;tmp&gt;``)."""
        return PathMask(tuple((path, html.escape(shown)) for path, shown in self.replacements))

    def apply(self, text: str) -> str:
        for path, shown in self.replacements:
            # a whole path component only: "/tmp/out" must not eat "/tmp/output"
            text = re.sub(re.escape(path) + r"(?![\w.\-])", lambda _: shown, text)
        return text


def machine_roots() -> dict[str, str]:
    """Folders every build machine has, and their names on a page: the project, its Python
    environment, the home and the temporary folder."""
    from mnist_lib.environment import REPO

    return {str(REPO): "<repo>", sys.prefix: "<venv>", str(Path.home()): "~", tempfile.gettempdir(): "<tmp>"}


def path_mask(parameters: Mapping[str, object] | None = None, notebook_dir: str | os.PathLike | None = None,
              extra: Mapping[str, str] | None = None) -> PathMask:
    """A mask for a report: each folder parameter (``output_dir``, ``data_dir``, ...) is shown
    relative to the notebook's folder when both lie in the project (``../reports``, as in the
    notebook's defaults), else by its name (``<output_dir>``); then the machine's roots.
    ``extra`` maps further paths to what to show."""
    from mnist_lib.environment import REPO

    shown: dict[str, str] = {}
    repo = Path(REPO).resolve()
    base = Path(notebook_dir).resolve() if notebook_dir else None
    values = {name: (parameters or {}).get(name) for name in PATH_PARAMETERS}
    folders = {name: Path(v) for name, v in values.items() if isinstance(v, str) and os.path.isabs(v)}
    for name, path in folders.items():
        if any(other != name and _within(path.resolve(), folder.resolve()) and path.resolve() != folder.resolve()
               for other, folder in folders.items()):
            continue  # shown through the folder it lies in: <output_dir>/checkpoints
        inside = base is not None and _within(path.resolve(), repo) and _within(base, repo)
        shown[str(path)] = os.path.relpath(path.resolve(), base) if inside else f"<{name}>"
        shown.setdefault(str(path.resolve()), shown[str(path)])
    for path, label in {**(extra or {}), **machine_roots()}.items():
        if path and path != os.sep:
            shown.setdefault(path, label)
            shown.setdefault(str(Path(path).resolve()), label)
    return PathMask(tuple(sorted(shown.items(), key=lambda item: -len(item[0]))))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def mask_markdown(text: str, mask: PathMask) -> str:
    """``mask`` applied to Markdown: as is inside code spans and fences, escaped outside them
    (where a bare ``<output_dir>`` would be read as an HTML tag and vanish)."""
    escaped, parts, last = mask.for_html(), [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [escaped.apply(text[last:span.start()]), mask.apply(span.group(0))]
        last = span.end()
    return "".join(parts) + escaped.apply(text[last:])


def mask_notebook(nb, mask: PathMask) -> None:
    """Apply ``mask`` to every cell's source and text outputs, escaped where the text is HTML or
    Markdown (images are left alone)."""
    for cell in nb.cells:
        cell.source = mask_markdown(cell.source, mask) if cell.cell_type == "markdown" else mask.apply(cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = mask.apply(output.text)
            elif output.output_type == "error":
                output.evalue = mask.apply(output.evalue)
                output.traceback = [mask.apply(line) for line in output.traceback]
            data = output.get("data", {})
            for kind, apply in (("text/plain", mask.apply), ("text/latex", mask.apply),
                                ("text/html", mask.for_html().apply), ("text/markdown",
                                                                       lambda t: mask_markdown(t, mask))):
                if kind in data:
                    value = data[kind]
                    data[kind] = apply("".join(value) if isinstance(value, list) else value)


# --------------------------------------------------------------------------- run settings


@dataclass(frozen=True)
class RunSummary:
    """What the line under a report's title states, read from its provenance table."""

    commit: str | None
    seed: str | None
    device: str | None
    date: str | None

    def html(self, profile: str | None, anchor: str | None) -> str:
        parts = []
        if self.commit:
            parts.append(f"commit <code>{html.escape(self.commit)}</code>")
        if self.seed is not None:
            parts.append(f"seed {html.escape(self.seed)}")
        if profile:
            parts.append(f"{html.escape(profile)} profile")
        if self.device:
            parts.append(html.escape(self.device))
        if self.date:
            parts.append(html.escape(self.date))
        if anchor:
            parts.append(f'<a href="#{html.escape(anchor)}">all run settings</a>')
        return f'<p class="run-summary">{" · ".join(parts)}</p>'


_ROW = re.compile(r"<tr>\s*<th>([^<]*)</th>\s*<td>(.*?)</td>\s*</tr>", re.S)
_PROVENANCE_ROWS = {"notebook", "date (UTC)", "git commit", "device"}


def provenance_rows(output) -> dict[str, str] | None:
    """The rows of a provenance table (``reports.Run.provenance_frame()``) shown by ``output``,
    or None when the output is something else."""
    table = output.get("data", {}).get("text/html") if output.output_type in ("display_data",
                                                                               "execute_result") else None
    if not table:
        return None
    rows = {html.unescape(re.sub(r"<[^>]+>", "", k)).strip(): html.unescape(re.sub(r"<[^>]+>", "", v)).strip()
            for k, v in _ROW.findall("".join(table) if isinstance(table, list) else table)}
    return rows if _PROVENANCE_ROWS <= set(rows) else None


def _summary(rows: Mapping[str, str]) -> RunSummary:
    date = rows.get("date (UTC)")
    match = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)", date or "")
    return RunSummary(commit=rows.get("git commit"), seed=rows.get("parameter: seed"),
                      device=(rows.get("device") or "").split(" (")[0] or None,
                      date=f"{match.group(1)} {match.group(2)} UTC" if match else date)


def move_run_settings(nb) -> RunSummary | None:
    """Move the provenance table to an appendix at the end of the notebook.

    The table is the output of a code cell (the setup cell stays where it is, its
    code intact); the markdown cell before it, when it is the "Run settings"
    section, moves along under the heading ``Appendix: run settings``. Returns
    what the table says, or None when the notebook shows no provenance table.
    """
    import nbformat

    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        found = [(o, provenance_rows(o)) for o in cell.get("outputs", [])]
        found = [(o, rows) for o, rows in found if rows]
        if not found:
            continue
        output, rows = found[0]
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
        return _summary(rows)
    return None


def _previous_markdown_index(cells, index: int) -> int | None:
    """The position of the last markdown cell before cell ``index`` (the one that opens its section)."""
    for position in range(index - 1, -1, -1):
        if cells[position].cell_type == "markdown":
            return position
    return None


# --------------------------------------------------------------------------- the page


def render_digest(no_input: bool, title: str, profile: str | None = None) -> str:
    """Hash of what shapes the HTML beyond the executed notebook: this module, the site's
    module (header, series), the template, the options and the series' titles."""
    from mnist_lib.build.site import series_digest

    files = sorted(p for p in TEMPLATE_DIR.rglob("*") if p.is_file())
    return digest_of({"render": sha256_file(__file__), "site": sha256_file(SITE_MODULE), "series": series_digest(),
                      "no_input": no_input, "title": title, "profile": profile,
                      "template": {p.relative_to(TEMPLATE_DIR).as_posix(): sha256_file(p) for p in files}})


def _dark_theme_css() -> str:
    """JupyterLab's dark theme variables, applied when the reader's system prefers dark."""
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("nbconvert", "templates"):
        theme = Path(folder) / "lab" / "static" / "theme-dark.css"
        if theme.exists():
            return "@media (prefers-color-scheme: dark) {\n" + theme.read_text() + "\n}"
    return ""


def _html_exporter(no_input: bool):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.exclude_input = no_input
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    return exporter


_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


def add_table_of_contents(page: str) -> str:
    """Fill the ``<!--TOC-->`` slot with links to the page's h2/h3 headings."""
    items = []
    for level, anchor, text in _HEADING.findall(page):
        label = re.sub(r"<[^>]+>", "", text).strip()
        items.append(f'<li class="toc-h{level}"><a href="#{anchor}">{label}</a></li>')
    nav = ('<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>' + "".join(items) + "</ol></nav>"
           if items else "")
    return page.replace("<!--TOC-->", nav, 1)


def appendix_anchor(page: str) -> str | None:
    for _, anchor, text in _HEADING.findall(page):
        if re.sub(r"<[^>]+>", "", text).strip() == APPENDIX_HEADING:
            return anchor
    return None


def add_title_block(page: str, summary: RunSummary | None, profile: str | None) -> str:
    """Put the run's one-line summary and the table of contents right under the page's title
    (the first h1), or at the top of the column when there is none."""
    block = (summary.html(profile, appendix_anchor(page)) if summary else "") + "<!--TOC-->"
    title_end = page.find("</h1>")
    if title_end >= 0:
        page = page[:title_end + 5] + block + page[title_end + 5:]
    else:
        page = page.replace('<main class="site-main">', '<main class="site-main">' + block, 1)
    return add_table_of_contents(page)


def failure_banner(reason: str) -> str:
    return (f'<div class="build-failure" role="alert"><strong>This notebook failed in the build:</strong> '
            f"{html.escape(reason)}</div>")


def site_resources(name: str, code: bool) -> dict:
    """What the template places around a report: header, sidebar, previous/next, styles, script."""
    from mnist_lib.build import site

    return {"header": site.header_html(name, code_button=code), "sidebar": site.sidebar_html(name),
            "pager": site.pager_html(name), "css": site.site_css(), "js": site.site_js() if code else "",
            "dark_css": _dark_theme_css()}


def render_html(executed: Path, target: Path, no_input: bool = False, title: str | None = None,
                failure: str | None = None, profile: str | None = None) -> Path:
    """Render an executed notebook to one self-contained HTML page of the site (images embedded).

    ``failure``: the reason the run failed, shown in a banner at the top.
    ``profile``: the build profile, named in the line under the title.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    name = Path(target).stem
    papermill = nb.metadata.pop("papermill", {}) or {}
    input_path = papermill.get("input_path")
    mask = path_mask(papermill.get("parameters"), Path(input_path).parent if input_path else None,
                     {str(Path(target).resolve().parent): "<output_dir>"})
    mask_notebook(nb, mask)
    summary = move_run_settings(nb)
    if title:
        nb.metadata["title"] = title
    nb.metadata.pop("widgets", None)  # widget state needs a CDN script; reports have none
    resources = {"metadata": {"name": name}, "site": site_resources(name, code=not no_input)}
    body, _ = _html_exporter(no_input).from_notebook_node(nb, resources=resources)
    body = add_title_block(body, summary, profile)
    if failure:
        body = body.replace('<main class="site-main">',
                            '<main class="site-main">' + failure_banner(mask.apply(failure)), 1)
    return atomic_write_text(target, body)


def render_failure_page(target: Path, title: str, reason: str) -> Path:
    """A page for a notebook that failed before it produced anything to render."""
    from mnist_lib.build import site

    name = Path(target).stem
    body = (f"<h1>{html.escape(title)}</h1>{failure_banner(path_mask().apply(reason))}"
            '<p>No executed notebook was left to render. <a href="index.html">Back to the index</a>.</p>')
    return atomic_write_text(target, site.page(title, body, current=name))
