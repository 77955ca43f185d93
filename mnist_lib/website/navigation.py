"""The series' navigation, shared by every page: the site's name on the data set a build used,
the reading order, the sections, each report's previous and next, and the digest that re-renders
the reports when any of it changes.

Every link is relative and every page sits in one folder, so the site works from ``file://`` and
from any web server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from mnist_lib import catalogue
from mnist_lib.datasets import dataset_title
from mnist_lib.files import digest_of

SITE_NAME = "Reports on {dataset}"  # the site's name, on the data set's title
SEVERAL_DATASETS = "Reports by data set"  # the name of a top page over several data sets' builds
INDEX = "index"  # the index page's name: index.html


DEFAULT_TITLE = dataset_title()


def site_name(dataset: str | None) -> str:
    """The site's name on the data set titled ``dataset``; None for a page over several data sets."""
    return SITE_NAME.format(dataset=dataset) if dataset else SEVERAL_DATASETS


def page_file(name: str) -> str:
    """The file of the page called ``name`` (a report's name, or ``index``)."""
    return f"{name}.html"


def series_sections(names: Iterable[str] | None = None) -> list[tuple[str, list[str]]]:
    """The notebooks of the series (or those of ``names``) grouped by their catalogue section, in
    series order, empty sections left out."""
    names = catalogue.series_names() if names is None else list(names)
    grouped = [(title, [n.name for n in members if n.name in names]) for title, members in catalogue.sections()]
    return [(title, members) for title, members in grouped if members]


def series_order() -> list[str]:
    """The reading order: section by section."""
    return [n for _, members in series_sections() for n in members]


def neighbours(name: str | None) -> tuple[str | None, str | None]:
    """The previous and next report of ``name`` in reading order (None at either end)."""
    order = series_order()
    if name not in order:
        return None, None
    at = order.index(name)
    return (order[at - 1] if at > 0 else None), (order[at + 1] if at + 1 < len(order) else None)


@dataclass(frozen=True)
class Entry:
    """A report as the navigation shows it, on the data set titled ``dataset``."""

    name: str
    dataset: str

    @property
    def number(self) -> str:
        return catalogue.get(self.name).number

    @property
    def title(self) -> str:
        return catalogue.get(self.name).title_on(self.dataset)

    @property
    def href(self) -> str:
        return page_file(self.name)


@dataclass(frozen=True)
class Navigation:
    """What the header, the sidebar and the pager of one page show; ``current`` is the page's name
    (a report's, ``index``, or None for a page outside the series)."""

    current: str | None
    sections: tuple[tuple[str, tuple[Entry, ...]], ...]
    previous: Entry | None
    next: Entry | None
    site_name: str
    home: str = page_file(INDEX)

    @property
    def at_home(self) -> bool:
        return self.current == INDEX


def navigation(current: str | None, dataset: str | None = DEFAULT_TITLE, series: bool = True) -> Navigation:
    """The navigation of the page ``current`` of the build on the data set titled ``dataset``;
    ``series=False`` and ``dataset=None`` for the top page of several data sets' builds, where
    no report lies."""
    before, after = neighbours(current) if series else (None, None)
    sections = tuple((title, tuple(Entry(n, dataset) for n in members)) for title, members in series_sections()) \
        if series else ()
    return Navigation(current, sections, Entry(before, dataset) if before else None,
                      Entry(after, dataset) if after else None, site_name(dataset))


def series_digest() -> str:
    """What the navigation of every page depends on (a change re-renders the reports)."""
    return digest_of({"sections": series_sections(), "titles": {n.name: n.title for n in catalogue.series()},
                      "site": [SITE_NAME, SEVERAL_DATASETS]})
