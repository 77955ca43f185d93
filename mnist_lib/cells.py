"""A notebook's parameters cell: read its names, defaults, annotations and comments, and write the
annotations and comments from the parameters' declarations.

The cell tagged ``parameters`` is papermill's convention and the one place a notebook's defaults
live: ``epochs: int = 20  # passes over the training set (>= 1)``. Which parameters a notebook has
is the names in its cell; their kinds, limits and help are declared once in
:data:`mnist_lib.params.PARAMS`, and :func:`sync` writes each line's annotation and comment from
there (``make sync-notebooks``; a test fails when a cell has drifted), so ``papermill
--help-notebook`` shows the same help. Reading takes ``json`` and ``ast`` only.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from mnist_lib.catalogue import NOTEBOOK_DIR
from mnist_lib.files import atomic_write_text

TAG = "parameters"


@dataclass(frozen=True)
class CellParameter:
    """One line of a parameters cell: ``name: annotation = default  # comment``."""

    name: str
    default: Any
    annotation: str | None
    comment: str
    source: str  # the default as written (a literal, or an expression when it is not one)


def notebook_path(name: str, notebook_dir: str | os.PathLike = NOTEBOOK_DIR) -> Path:
    return Path(notebook_dir) / f"{name}.ipynb"


def parameters_cell(nb: Mapping[str, Any]) -> dict | None:
    """The first code cell tagged ``parameters`` of a notebook (as read from its JSON), or None."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and TAG in cell.get("metadata", {}).get("tags", []):
            return cell
    return None


def parse(source: str) -> dict[str, CellParameter]:
    """The parameters a cell's source assigns, in order."""
    lines = source.splitlines()
    found: dict[str, CellParameter] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value, annotation = node.target.id, node.value, ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value, annotation = node.targets[0].id, node.value, None
        else:
            continue
        written = ast.get_source_segment(source, value) or ast.unparse(value)
        try:
            default = ast.literal_eval(value)
        except ValueError:
            default = written
        line = lines[node.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line[node.end_col_offset:] else ""
        found[name] = CellParameter(name, default, annotation, comment, written)
    return found


def _mtime_key(path: Path) -> tuple[str, int]:
    return str(path.resolve()), path.stat().st_mtime_ns


@lru_cache(maxsize=64)
def _read(key: tuple[str, int]) -> dict[str, CellParameter]:
    nb = json.loads(Path(key[0]).read_text(encoding="utf-8"))
    cell = parameters_cell(nb)
    return parse("".join(cell.get("source", ""))) if cell is not None else {}


def read(path: str | os.PathLike) -> dict[str, CellParameter]:
    """The parameters of the notebook at ``path`` (none when it has no parameters cell); cached
    until the file changes."""
    return dict(_read(_mtime_key(Path(path))))


def defaults(path: str | os.PathLike) -> dict[str, Any]:
    """``name: default`` of the notebook's parameters cell."""
    return {name: p.default for name, p in read(path).items()}


def render(parameters: Mapping[str, CellParameter], annotation: Callable[[str], str],
           comment: Callable[[str], str]) -> str:
    """A parameters cell's source: one ``name: annotation = default  # comment`` line per parameter,
    defaults as written, annotations and comments from the callables (by name); ``Optional`` imported
    first when an annotation uses it (papermill reads only the assignments)."""
    lines = [f"{name}: {annotation(name)} = {p.source}  # {comment(name)}" for name, p in parameters.items()]
    if any(": Optional[" in line for line in lines):
        lines[:0] = ["from typing import Optional", ""]
    return "\n".join(lines)


def sync(path: str | os.PathLike, annotation: Callable[[str], str], comment: Callable[[str], str]) -> bool:
    """Rewrite the annotations and comments of the notebook's parameters cell (defaults untouched);
    True when the file changed."""
    import nbformat  # writes the file exactly as Jupyter and Jupytext do; only needed to write

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    cell = parameters_cell(nb)
    if cell is None:
        return False
    new = render(parse(cell.source), annotation, comment)
    if new == cell.source:
        return False
    cell.source = new
    atomic_write_text(path, nbformat.writes(nb) + "\n")
    return True
