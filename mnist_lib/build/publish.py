"""Publishing: the report site gathered into one folder for any static host.

:func:`publish` copies what a reader needs (the index and its images, every
report, the benchmarks, the sweeps) and none of the build's working files
(executed notebooks, metrics, checkpoints, history, screenshots). A notebook of
the series without a report gets a page saying why, so every link of the
navigation resolves; ``404.html`` and ``.nojekyll`` are added. The build
machine's absolute paths are replaced in every text (never inside embedded
images), then searched for, and every relative link and image is resolved: a
path left or a broken link stops the publishing. The folder is assembled under
a temporary name and swapped in; only a folder that publishing made before is
ever replaced.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mnist_lib.build import site
from mnist_lib.build.render import PATH_PARAMETERS, PathMask, path_mask
from mnist_lib.config import NOTEBOOKS, ParameterError
from mnist_lib.reports import TITLES, metrics_path

MARKER = ".mnist-site"  # names a folder made by publish, which a later publish may replace
EXTRAS = ("benchmarks.html", "benchmarks.md", "benchmarks.json")
FOLDERS = (site.ASSETS, "sweeps")
TEXT_SUFFIXES = {".html", ".htm", ".md", ".json", ".css", ".js", ".svg", ".txt", ".csv", ".yaml", ".yml"}
_DATA_URI = re.compile(r"(data:[\w/+.\-]+;base64,[A-Za-z0-9+/=\s]*)")
_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)


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
    for name in NOTEBOOKS:
        try:
            params = json.loads(metrics_path(reports, name).read_text()).get("params", {})
        except (OSError, ValueError):
            continue
        for key in PATH_PARAMETERS:
            value = params.get(key)
            if isinstance(value, str) and os.path.isabs(value):
                shown.setdefault(value, f"<{key}>")
    return shown


def site_mask(reports: Path, output: Path) -> PathMask:
    return path_mask(extra={**build_paths(reports), str(reports.resolve()): "<output_dir>",
                            str(output.resolve()): "<site>"})


def _outside_data(text: str, change) -> str:
    """``change`` applied to the text between embedded images (data: URIs stay as they are)."""
    parts = _DATA_URI.split(text)
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))


def machine_paths_in(folder: Path, mask: PathMask) -> list[str]:
    """"file: path" for every absolute path of the mask found in a text file of ``folder``."""
    found = []
    patterns = [(path, re.compile(re.escape(path) + r"(?![\w.\-])")) for path, _ in mask.replacements]
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
        text = "".join(_DATA_URI.split(file.read_text(errors="replace"))[::2])
        found += [f"{file.relative_to(folder)}: {path}" for path, pattern in patterns if pattern.search(text)]
    return found


def broken_links(folder: Path) -> list[str]:
    """"page: link" for every relative link or image of an HTML page that leads nowhere in ``folder``."""
    broken = []
    for page in sorted(folder.rglob("*.html")):
        text = "".join(_DATA_URI.split(page.read_text(errors="replace"))[::2])
        for link in dict.fromkeys(_LINK.findall(text)):
            target = html.unescape(link).split("#")[0].split("?")[0]
            if not target or re.match(r"^[a-z][a-z0-9+.\-]*:", target, re.I) or target.startswith("//"):
                continue  # same page, or another site / scheme
            if target.startswith("/") or not (page.parent / target).resolve().is_relative_to(folder.resolve()) \
                    or not (page.parent / target).exists():
                broken.append(f"{page.relative_to(folder)}: {link}")
    return broken


def _placeholder(name: str, build: dict, mask: PathMask) -> str:
    info = (build.get("runs") or {}).get(name)
    if info is None:
        why = "It was not part of the last build."
    else:
        why = f"Its status in the last build: {html.escape(info.get('status', 'unknown'))}"
        why += f" ({html.escape(mask.apply(info['error']))})." if info.get("error") else "."
    title = f"{name}: {TITLES.get(name, name)}"
    body = (f"<h1>{html.escape(title)}</h1><p>This report has not been built. {why}</p>"
            '<p>The <a href="index.html">index</a> lists the reports that were.</p>')
    return site.page(title, body, current=name)


def not_found_page() -> str:
    body = ("<h1>Page not found</h1><p>There is no page at this address. The "
            '<a href="index.html">index</a> lists every report of the series.</p>')
    return site.page(f"Page not found · {site.SITE_NAME}", body)


def _copy_text(source: Path, target: Path, mask: PathMask) -> None:
    """Copy a file of the site, its machine paths replaced (escaped in HTML, never inside images)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() in TEXT_SUFFIXES:
        markup = source.suffix.lower() in (".html", ".htm", ".svg")
        target.write_text(_outside_data(source.read_text(errors="replace"),
                                        (mask.for_html() if markup else mask).apply))
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
        _copy_text(reports / "index.html", staging / "index.html", mask)
        for name in NOTEBOOKS:
            page = f"{name}.html"
            if (reports / page).exists():
                _copy_text(reports / page, staging / page, mask)
            else:
                (staging / page).write_text(_placeholder(name, build, mask))
                result.placeholders.append(name)
            result.pages.append(page)
        for extra in EXTRAS:
            if (reports / extra).exists():
                _copy_text(reports / extra, staging / extra, mask)
                result.pages += [extra] if extra.endswith(".html") else []
        for folder in FOLDERS:
            for file in sorted((reports / folder).rglob("*")) if (reports / folder).is_dir() else []:
                if file.is_file() and not file.name.startswith("."):
                    _copy_text(file, staging / file.relative_to(reports), mask)
        (staging / "404.html").write_text(not_found_page())
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
