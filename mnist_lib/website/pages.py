"""The site's pages that are neither a report nor the index: the page of a notebook that failed
before anything could be rendered, the placeholder of a report not built, the 404 page, and a
Markdown file (the benchmarks) as a page. All of them are ``templates/site/page.html.j2``; each
names the data set of its build (``dataset``, its title).
"""

from __future__ import annotations

from pathlib import Path

from mnist_lib import catalogue
from mnist_lib.files import atomic_write_text
from mnist_lib.website import templates
from mnist_lib.website.datasets_index import built_title
from mnist_lib.website.masking import PathMask, mask_markdown, path_mask
from mnist_lib.website.navigation import navigation


def render_failure_page(target: Path, title: str, reason: str, dataset: str | None = None) -> Path:
    """A page for a notebook that failed before it produced anything to render; ``dataset`` None:
    the data set the ``build.json`` beside ``target`` records."""
    nav = navigation(Path(target).stem, dataset or built_title(Path(target).parent))
    page = templates.render("page.html.j2", kind="failure", title=title, reason=path_mask().apply(reason), nav=nav)
    return atomic_write_text(target, page)


def placeholder_page(name: str, status: str | None, error: str | None, dataset: str) -> str:
    """The page of a report of the series that was not built: its ``status`` in the last build
    (None when it was not part of it) and the error, masked already."""
    title = f"{name}: {catalogue.get(name).title_on(dataset)}"
    return templates.render("page.html.j2", kind="placeholder", title=title, status=status, error=error,
                            nav=navigation(name, dataset))


def not_found_page(dataset: str) -> str:
    nav = navigation(None, dataset)
    return templates.render("page.html.j2", kind="not_found", title=f"Page not found · {nav.site_name}", nav=nav)


def render_markdown_page(source: Path, target: Path, title: str, mask: PathMask, dataset: str) -> Path:
    """A Markdown file (the benchmarks) as a page of the site, the machine's paths masked."""
    nav = navigation(None, dataset)
    page = templates.render("page.html.j2", kind="markdown", title=f"{title} · {nav.site_name}",
                            text=mask_markdown(source.read_text(), mask), nav=nav)
    return atomic_write_text(target, page)
