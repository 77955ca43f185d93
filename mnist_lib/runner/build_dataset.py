"""Which data set a build is on and where its reports go.

MNIST (the default) keeps its reports at the top of the reports folder, so existing links keep
working; another registered data set goes to ``<reports>/<name>/`` (``reports/fashion-mnist/``),
an idx folder to ``<reports>/idx-<folder name>/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mnist_lib.datasets import DATASET_NAMES, DEFAULT_DATASET, dataset_title, get_dataset
from mnist_lib.params import ParameterError


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
    return BuildDataset(name=name, title=dataset_title(name, folder_source), source=folder_source, folder=dataset.report_folder(folder_source))
