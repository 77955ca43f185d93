"""Publishing: the report site gathered into one folder for any static host.

:func:`publish` copies what a reader needs (the index and its images, every
report, the benchmarks, the sweeps) and none of the build's working files
(executed notebooks, metrics, checkpoints, history, screenshots). A notebook of
the series without a report gets a page saying why, so every link of the
navigation resolves; ``404.html`` and ``.nojekyll`` are added. The build
machine's absolute paths are replaced in every text file the site did not render
(its pages had them masked when they were rendered), then searched for in every
text (a page's through an HTML parser, embedded images left out), and every
relative link and image is resolved: a path left or a broken link stops the
publishing. The folder is assembled under a temporary name and swapped in; only
a folder that publishing made before is ever replaced.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mnist_lib import catalogue
from mnist_lib.params import ParameterError
from mnist_lib.reports import metrics_path
from mnist_lib.website.datasets_index import recorded_dataset
from mnist_lib.website.index import ASSETS
from mnist_lib.website.masking import PathMask, parameter_paths, path_mask
from mnist_lib.website.pages import not_found_page, placeholder_page

MARKER = ".mnist-site"  # names a folder made by publish, which a later publish may replace
EXTRAS = ("benchmarks.html", "benchmarks.md", "benchmarks.json")
FOLDERS = (ASSETS, "sweeps")
PAGE_SUFFIXES = {".html", ".htm"}  # rendered by the site, its paths masked already
TEXT_SUFFIXES = PAGE_SUFFIXES | {".md", ".json", ".css", ".js", ".svg", ".txt", ".csv", ".yaml", ".yml"}


class PublishError(Exception):
    """The site cannot be published as it is (a machine path left, a broken link)."""


@dataclass
class Published:
    folder: Path
    pages: list[str]
    placeholders: list[str] = field(default_factory=list)
    files: int = 0
    size: int = 0


def _check_folders(reports: Path, output: Path) -> None:
    if not reports.is_dir():
        raise ParameterError(f"--reports: folder {str(reports)!r} does not exist")
    if not (reports / "index.html").exists():
        raise ParameterError(f"--reports: {str(reports)!r} has no index.html: build the reports first "
                             "(make reports)")
    inside = reports.resolve() == output.resolve() or reports.resolve() in output.resolve().parents \
        or output.resolve() in reports.resolve().parents
    if inside:
        raise ParameterError(f"--output: {str(output)!r} must lie outside the reports folder {str(reports)!r} "
                             "and not contain it")
    if output.exists() and not output.is_dir():
        raise ParameterError(f"--output: {str(output)!r} is a file, not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).exists():
        raise ParameterError(f"--output: folder {str(output)!r} is not empty and was not made by publish; "
                             "choose a new or empty folder")
    if not output.parent.is_dir():
        raise ParameterError(f"--output: the parent folder of {str(output)!r} does not exist")


def build_paths(reports: Path) -> dict[str, str]:
    """Folders the build used (data, sources, outputs, checkpoints), from its metrics files,
    with the names a page shows for them."""
    shown = {}
    for name in catalogue.series_names():
        try:
            params = json.loads(metrics_path(reports, name).read_text()).get("params", {})
        except (OSError, ValueError):
            continue
        for path, label in parameter_paths(params).items():
            shown.setdefault(path, label)
    return shown


def site_mask(reports: Path, output: Path) -> PathMask:
    return path_mask(extra={**build_paths(reports), str(reports.resolve()): "<output_dir>",
                            str(output.resolve()): "<site>"})


class _Page(HTMLParser):
    """A page of the site read for its links and for the text a path could hide in: its text,
    comments and attribute values, embedded images (``data:`` URIs) left out."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[str] = []
        self.texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None or value.lstrip().lower().startswith("data:"):
                continue
            self.texts.append(value)
            if name in ("href", "src"):
                self.links.append(value)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.texts.append(data)

    handle_comment = handle_data


def links_in(page: str) -> list[str]:
    """Every link and image source of an HTML page, once each, in order."""
    return list(dict.fromkeys(_Page(page).links))


def machine_paths_in(folder: Path, mask: PathMask) -> list[str]:
    """"file: path" for every absolute path of the mask found in a text file of ``folder``."""
    found = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
        text = file.read_text(errors="replace")
        if file.suffix.lower() in PAGE_SUFFIXES:
            text = "\n".join(_Page(text).texts)
        found += [f"{file.relative_to(folder)}: {path}" for path in mask.found_in(text)]
    return found


def broken_links(folder: Path) -> list[str]:
    """"page: link" for every relative link or image of an HTML page that leads nowhere in ``folder``."""
    broken = []
    for page in sorted(folder.rglob("*.html")):
        for link in links_in(page.read_text(errors="replace")):
            url = urlsplit(link)
            if url.scheme or url.netloc or not url.path:
                continue  # another site or scheme, or this page
            target = page.parent / unquote(url.path)
            if url.path.startswith("/") or not target.resolve().is_relative_to(folder.resolve()) or not target.exists():
                broken.append(f"{page.relative_to(folder)}: {link}")
    return broken


def _placeholder(name: str, build: dict, mask: PathMask) -> str:
    info = (build.get("runs") or {}).get(name)
    status = None if info is None else info.get("status", "unknown")
    error = mask.apply(info["error"]) if info and info.get("error") else None
    return placeholder_page(name, status, error, recorded_dataset(build)["title"])


def _copy(source: Path, target: Path, mask: PathMask) -> None:
    """Copy a file of the site; a text file the site did not render gets its machine paths replaced
    (escaped in markup)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = source.suffix.lower()
    if suffix in TEXT_SUFFIXES and suffix not in PAGE_SUFFIXES:
        target.write_text((mask.for_html() if suffix == ".svg" else mask).apply(source.read_text(errors="replace")))
    else:
        shutil.copyfile(source, target)


def publish(reports: str | os.PathLike = "reports", output: str | os.PathLike = "site") -> Published:
    """Gather the site of ``reports`` into ``output`` (replaced whole if publish made it)."""
    reports, output = Path(reports), Path(output)
    _check_folders(reports, output)
    mask = site_mask(reports, output)
    try:
        build = json.loads((reports / "build.json").read_text())
    except (OSError, ValueError):
        build = {}
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.absolute().parent))
    try:
        staging.chmod(0o755)
        result = Published(folder=output, pages=["index.html"])
        _copy(reports / "index.html", staging / "index.html", mask)
        for name in catalogue.series_names():
            page = f"{name}.html"
            if (reports / page).exists():
                _copy(reports / page, staging / page, mask)
            else:
                (staging / page).write_text(_placeholder(name, build, mask))
                result.placeholders.append(name)
            result.pages.append(page)
        for extra in EXTRAS:
            if (reports / extra).exists():
                _copy(reports / extra, staging / extra, mask)
                result.pages += [extra] if extra.endswith(".html") else []
        for folder in FOLDERS:
            for file in sorted((reports / folder).rglob("*")) if (reports / folder).is_dir() else []:
                if file.is_file() and not file.name.startswith("."):
                    _copy(file, staging / file.relative_to(reports), mask)
        (staging / "404.html").write_text(not_found_page(recorded_dataset(build)["title"]))
        (staging / ".nojekyll").write_text("")
        (staging / MARKER).write_text("made by python -m mnist_lib publish; a later publish replaces this folder\n")
        left = machine_paths_in(staging, mask)
        if left:
            raise PublishError(f"absolute paths of this machine in the site: {'; '.join(left[:5])}")
        broken = broken_links(staging)
        if broken:
            raise PublishError(f"links that lead nowhere: {'; '.join(broken[:5])}"
                               + (f" and {len(broken) - 5} more" if len(broken) > 5 else ""))
        files = [p for p in staging.rglob("*") if p.is_file()]
        result.files, result.size = len(files), sum(p.stat().st_size for p in files)
        if output.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.absolute().parent))
            output.rename(retired / output.name)
            staging.rename(output)
            shutil.rmtree(retired)
        else:
            staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result
