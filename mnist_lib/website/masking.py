"""The build machine's paths kept out of the site: each absolute path a page could show is replaced
by a path relative to the notebook (``../reports``) or by a name (``<output_dir>``, ``<tmp>``, ``~``).

Masking is a text substitution, applied to a notebook's sources and outputs before they are
rendered, to the text a page shows, and to the files publishing copies as they are.
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

from mnist_lib.environment import REPO
from mnist_lib.params import PATH_PARAMETERS


@dataclass(frozen=True)
class PathMask:
    """Absolute paths of the build machine and what a page shows instead, longest first."""

    replacements: tuple[tuple[str, str], ...]

    def for_html(self) -> "PathMask":
        """The same mask for text that is already HTML: what it shows, escaped (``&lt;tmp&gt;``)."""
        return PathMask(tuple((path, html.escape(shown)) for path, shown in self.replacements))

    def apply(self, text: str) -> str:
        for path, shown in self.replacements:
            text = _whole(path).sub(lambda _: shown, text)
        return text

    def found_in(self, text: str) -> list[str]:
        """The paths of the mask that ``text`` still holds."""
        return [path for path, _ in self.replacements if _whole(path).search(text)]


def _whole(path: str) -> re.Pattern:
    # a whole path component only: "/tmp/out" must not eat "/tmp/output"
    return re.compile(re.escape(path) + r"(?![\w.\-])")


def machine_roots() -> dict[str, str]:
    """Folders every build machine has, and their names on a page: the project, its Python
    environment, the home and the temporary folder."""
    return {str(REPO): "<repo>", sys.prefix: "<venv>", str(Path.home()): "~", tempfile.gettempdir(): "<tmp>"}


def _folders(parameters: Mapping[str, object] | None) -> dict[str, Path]:
    """The parameters that hold absolute folders, by name."""
    return {name: Path(value) for name, value in (parameters or {}).items()
            if name in PATH_PARAMETERS and isinstance(value, str) and os.path.isabs(value)}


def parameter_paths(parameters: Mapping[str, object] | None) -> dict[str, str]:
    """The absolute folders among a notebook's parameters, each shown by its name (``<data_dir>``)."""
    return {str(path): f"<{name}>" for name, path in _folders(parameters).items()}


def path_mask(parameters: Mapping[str, object] | None = None, notebook_dir: str | os.PathLike | None = None,
              extra: Mapping[str, str] | None = None) -> PathMask:
    """A mask for a report: each folder parameter (``output_dir``, ``data_dir``, ...) is shown
    relative to the notebook's folder when both lie in the project (``../reports``, as in the
    notebook's defaults), else by its name (``<output_dir>``); then the machine's roots.
    ``extra`` maps further paths to what to show."""
    shown: dict[str, str] = {}
    repo = Path(REPO).resolve()
    base = Path(notebook_dir).resolve() if notebook_dir else None
    folders = _folders(parameters)
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
