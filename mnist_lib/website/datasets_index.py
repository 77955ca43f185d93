"""Which data sets a reports folder holds, and the top page that lists them.

MNIST (the default) keeps its reports at the top of the reports folder; another data set's
go to ``<reports>/<name>/`` (:mod:`mnist_lib.runner.build_dataset`). Every build records its
data set in its ``build.json``; :func:`built_datasets` reads them back, for the top page that
links every data set built, and :func:`built_title` names a folder's data set on its pages.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mnist_lib.datasets import DEFAULT_DATASET
from mnist_lib.website import templates
from mnist_lib.website.navigation import INDEX, dataset_title, navigation

BUILD_FILE = "build.json"


@dataclass(frozen=True)
class BuiltDataset:
    """A data set whose reports are in a reports folder: its name and title, its folder inside
    the reports folder ("" for the top), its index page, and its last build's profile and time."""

    name: str
    title: str
    folder: str
    index: Path
    profile: str
    built: str

    def link(self, from_folder: str | os.PathLike) -> str:
        """The index page as a relative link from a page in ``from_folder``."""
        return Path(os.path.relpath(self.index, Path(from_folder).resolve())).as_posix()


def _read_build(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def recorded_dataset(build: Mapping | None) -> Mapping:
    """The data set a ``build.json`` records (name, title, folder); a build recorded before data
    sets existed, or none, is the default data set's at the top of the reports folder."""
    return (build or {}).get("dataset") or {"name": DEFAULT_DATASET, "title": dataset_title(), "folder": ""}


def built_dataset(folder: str | os.PathLike) -> Mapping:
    """The data set whose build is in ``folder`` (name, title, folder), as its ``build.json`` records it."""
    return recorded_dataset(_read_build(Path(folder)))


def built_title(folder: str | os.PathLike) -> str:
    """The title of the data set whose build is in ``folder``."""
    return str(built_dataset(folder)["title"])


def built_datasets(root: str | os.PathLike) -> list[BuiltDataset]:
    """Every data set built into the reports folder ``root``: the top (MNIST; a build recorded
    before data sets existed counts as MNIST) and each subfolder whose ``build.json`` names it as
    that data set's folder, with an ``index.html``. The top first, then by title."""
    root = Path(root).resolve()
    found = []
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())] if root.is_dir() else []:
        build = _read_build(folder)
        if build is None or not (folder / "index.html").is_file():
            continue
        record = recorded_dataset(build)
        expected = "" if folder == root else folder.name
        if record.get("folder", "") != expected:
            continue
        found.append(BuiltDataset(name=str(record.get("name")), title=str(record.get("title")), folder=expected,
                                  index=folder / "index.html", profile=str(build.get("profile", "")),
                                  built=str(build.get("finished", ""))))
    return sorted(found, key=lambda d: (d.folder != "", d.title.lower()))


def datasets_page(root: str | os.PathLike, datasets: list[BuiltDataset]) -> str:
    """A minimal top ``index.html`` linking each built data set's index, for a reports folder
    whose top holds no MNIST build of its own (so no navigation of the series: no report lies here)."""
    entries = [{"href": d.link(root), "title": d.title, "profile": d.profile, "built": d.built} for d in datasets]
    nav = navigation(INDEX, dataset=None, series=False)
    return templates.render("datasets.html.j2", title=nav.site_name, nav=nav, datasets=entries)
