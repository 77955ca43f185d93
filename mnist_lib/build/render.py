"""Rendering: an executed notebook to one self-contained HTML report (nbconvert,
the project's template, a table of contents), and the page shown for a notebook
that failed before anything could be rendered."""

from __future__ import annotations

import html
import re
from pathlib import Path

from mnist_lib.files import atomic_write_text, digest_of, sha256_file

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def render_digest(no_input: bool, title: str) -> str:
    """Hash of what shapes the HTML beyond the executed notebook: this module, the template, the options."""
    files = sorted(p for p in TEMPLATE_DIR.rglob("*") if p.is_file())
    return digest_of({"render": sha256_file(__file__), "no_input": no_input, "title": title,
                      "template": {p.relative_to(TEMPLATE_DIR).as_posix(): sha256_file(p) for p in files}})


def _html_exporter(no_input: bool):
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="report", extra_template_basedirs=[str(TEMPLATE_DIR)])
    exporter.exclude_input = no_input
    exporter.exclude_input_prompt = no_input
    exporter.exclude_output_prompt = True
    return exporter


_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


def add_table_of_contents(page: str) -> str:
    """Fill the template's ``<!--TOC-->`` slot with links to the page's h2/h3 headings."""
    items = []
    for level, anchor, text in _HEADING.findall(page):
        label = re.sub(r"<[^>]+>", "", text).strip()
        items.append(f'<li class="toc-h{level}"><a href="#{anchor}">{label}</a></li>')
    nav = ('<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>' + "".join(items) + "</ol></nav>"
           if items else "")
    return page.replace("<!--TOC-->", nav, 1)


def failure_banner(reason: str) -> str:
    return (f'<div class="build-failure" role="alert" style="border:2px solid #b3261e;padding:.6rem 1rem;'
            f'margin:1rem 0;background:#fdecea"><strong>This notebook failed in the build:</strong> '
            f"{html.escape(reason)}</div>")


def render_html(executed: Path, target: Path, no_input: bool = False, title: str | None = None,
                failure: str | None = None) -> Path:
    """Render an executed notebook to one self-contained HTML file (images embedded).

    ``failure``: the reason the run failed, shown in a banner at the top.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if title:
        nb.metadata["title"] = title
    nb.metadata.pop("widgets", None)  # widget state needs a CDN script; reports have none
    body, _ = _html_exporter(no_input).from_notebook_node(nb, resources={"metadata": {"name": target.stem}})
    body = add_table_of_contents(body)
    if failure:
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + failure_banner(failure), body, count=1)
    return atomic_write_text(target, body)


def render_failure_page(target: Path, title: str, reason: str) -> Path:
    """A page for a notebook that failed before it produced anything to render."""
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title></head>'
            f'<body style="font-family:system-ui,sans-serif;max-width:900px;margin:0 auto;padding:1rem">'
            f"<h1>{html.escape(title)}</h1>{failure_banner(reason)}"
            f'<p>No executed notebook was left to render. <a href="index.html">Back to the index</a>.</p>'
            "</body></html>\n")
    return atomic_write_text(target, page)
