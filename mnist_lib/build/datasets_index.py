"""Which data set a build is on, where its reports go, and which data sets a reports folder holds.

MNIST (the default) keeps its reports at the top of the reports folder, so existing
links keep working; another registered data set goes to ``<reports>/<name>/``
(``reports/fashion-mnist/``), an idx folder to ``<reports>/idx-<folder name>/``.
Every build records its data set in its ``build.json``; :func:`built_datasets`
reads them back, so the top index can link every data set that has been built.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mnist_lib.config import ParameterError
from mnist_lib.datasets import DATASET_NAMES, DEFAULT_DATASET, get_dataset, idx_title
from mnist_lib.files import atomic_write_text

BUILD_FILE = "build.json"


@dataclass(frozen=True)
class BuildDataset:
    """The data set of one build: its name, its title in prose, the folder its files come from
    (for ``idx`` the data set itself; for a registered one the ``--source`` folder or its
    environment variable, if any) and the folder of its reports inside the reports folder."""

    name: str
    title: str
    source: str | None
    folder: str

    def output(self, root: str | os.PathLike) -> Path:
        """Where this data set's reports go under the reports folder ``root``."""
        return Path(root) / self.folder if self.folder else Path(root)

    def record(self) -> dict:
        return {"name": self.name, "title": self.title, "source": self.source, "folder": self.folder}


def choose_dataset(profile_value: str | None, cli_value: str | None, source: str | os.PathLike | None,
                   log=print) -> BuildDataset:
    """The data set of a build: ``--dataset`` (``cli_value``) when given, else the profile's
    ``common.dataset``, else MNIST. When both are given and differ the command line wins and
    ``log`` says so. ``source`` is the ``--source`` folder; an ``idx`` data set needs one."""
    if cli_value is not None and cli_value not in DATASET_NAMES:
        raise ParameterError(f"--dataset: unknown dataset {cli_value!r} (valid: {', '.join(DATASET_NAMES)})")
    name = cli_value or profile_value or DEFAULT_DATASET
    if cli_value is not None and profile_value is not None and cli_value != profile_value:
        log(f"--dataset {cli_value} overrides the profile's common.dataset ({profile_value}): building {cli_value}")
    dataset = get_dataset(name)
    folder_source = str(Path(source).expanduser().resolve()) if source else None
    if folder_source is None and dataset.source_env:
        folder_source = os.environ.get(dataset.source_env) or None
    if not dataset.pinned:
        if folder_source is None:
            raise ParameterError(f"--source: dataset {name!r} reads the folder given as --source DIR (the four IDX "
                                 "files, plain or .gz)")
        title = idx_title(folder_source)
    else:
        title = dataset.title
    return BuildDataset(name=name, title=title, source=folder_source, folder=dataset.report_folder(folder_source))


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
        record = build.get("dataset") or {"name": DEFAULT_DATASET, "title": get_dataset(DEFAULT_DATASET).title,
                                          "folder": ""}
        expected = "" if folder == root else folder.name
        if record.get("folder", "") != expected:
            continue
        found.append(BuiltDataset(name=str(record.get("name")), title=str(record.get("title")), folder=expected,
                                  index=folder / "index.html", profile=str(build.get("profile", "")),
                                  built=str(build.get("finished", ""))))
    return sorted(found, key=lambda d: (d.folder != "", d.title.lower()))


def datasets_page(root: str | os.PathLike, datasets: list[BuiltDataset]) -> str:
    """A minimal top ``index.html`` linking each built data set's index, for a reports folder
    whose top holds no MNIST build of its own."""
    items = "".join(f'<li><a href="{html.escape(d.link(root))}">{html.escape(d.title)}</a> '
                    f"<small>({html.escape(d.profile)} profile, built {html.escape(d.built)})</small></li>"
                    for d in datasets)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\"><title>Reports by data set</title></head>\n"
            "<body><main><h1>Reports by data set</h1>\n<p>The same series of reports, built on each data set "
            f"below.</p>\n<ul class=\"datasets\">{items}</ul>\n</main></body></html>\n")


def link_datasets(root: str | os.PathLike, output: str | os.PathLike, log=print) -> list[BuiltDataset]:
    """After a build into ``output`` (a data set's folder under the reports folder ``root``), make
    the top index reach it: when the top holds an MNIST build its index is re-rendered from its
    ``build.json`` (``site.refresh_index``, which lists :func:`built_datasets`), otherwise a
    minimal top page lists the built data sets. Returns them."""
    root, output = Path(root).resolve(), Path(output).resolve()
    datasets = built_datasets(root)
    if output != root:
        if (root / BUILD_FILE).is_file() and (root / "index.html").is_file():
            from mnist_lib.build.site import refresh_index

            refresh_index(root)
        else:
            atomic_write_text(root / "index.html", datasets_page(root, datasets))
    if len(datasets) > 1 or output != root:
        log("Data sets built here: " + ", ".join(f"{d.title} ({d.index})" for d in datasets))
    return datasets
