"""The site's one Jinja environment: every page's HTML is written in the templates of ``templates/``.

``templates/site/`` holds the site's own templates: ``base.html.j2`` (the page skeleton and the
macros for the header, the sidebar, the pager and a report's title block), the pages that extend
it (``index``, ``page``, ``datasets``), and the one stylesheet and script. ``templates/report/`` is
the nbconvert template of a report, which imports the same macros. The site's templates sit one
folder down because nbconvert's environment finds its own ``base.html.j2`` and ``index.html.j2`` by
those bare names; ``site/base.html.j2`` collides with nothing.

Python hands the templates data (navigation entries, cards, rows, strings), never HTML.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
from markupsafe import Markup

from mnist_lib.files import sha256_file

TEMPLATES = Path(__file__).resolve().parent / "templates"
SITE = "site/"


def escaped(name: str | None) -> bool:
    """Whether a template's output is HTML-escaped: the site's are; nbconvert's are not (its filters
    return HTML as plain strings), and the report's environment holds both."""
    return bool(name) and name.startswith(SITE)


def _markdown(text: str) -> Markup:
    # nbconvert is heavy and only the Markdown page needs it; its converter is the reports' own
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return Markup(markdown2html_mistune(text))


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=escaped,
                             undefined=jinja2.StrictUndefined)
    env.filters["markdown"] = _markdown
    return env


def render(template: str, **data) -> str:
    """The site template ``template`` (``index.html.j2``, ...) filled with ``data``."""
    return environment().get_template(SITE + template).render(**data)


def fingerprint() -> dict[str, str]:
    """Every template file by its path under ``templates/``, with its hash."""
    return {p.relative_to(TEMPLATES).as_posix(): sha256_file(p) for p in sorted(TEMPLATES.rglob("*")) if p.is_file()}
