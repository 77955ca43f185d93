"""Run keys: a hash of everything a notebook's report depends on.

A notebook's key covers its source (outputs and execution counts stripped), its
resolved parameters (the notebook's defaults, then the profile; paths left out
because the data is covered by its hashes), the source of every library module
a notebook can import, the SHA-256 of the data files, the versions of torch /
torchvision / numpy, the device type, the CPU instruction set torch dispatches to, and the keys of the notebooks it depends
on. The library rule is deliberately coarse: any edit to a module a notebook
can reach reruns every notebook (changing the CNN reruns 02 too). Only the
layers above what a notebook can import are left out (``website/``, ``runner/``,
the CLI: ARCHITECTURE.md); ``tests/test_architecture.py`` checks that no module
imports one above its layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mnist_lib import cells, environment
from mnist_lib.environment import KEY_LIBRARIES, versions
from mnist_lib.files import digest_of, sha256_file
from mnist_lib.params import PATH_PARAMETERS, validate

LIBRARY = Path(__file__).resolve().parent.parent
# Library parts that only build, publish or check the series: no notebook imports them.
BUILD_ONLY = ("runner", "website", "cli.py", "__main__.py")


def notebook_source_digest(path: str | Path) -> str:
    """Hash of the cells' types, sources and tags; outputs, counts and other metadata ignored."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [{"type": c.get("cell_type"), "source": "".join(c.get("source", "")),
              "tags": sorted(c.get("metadata", {}).get("tags", []))} for c in nb.get("cells", [])]
    return digest_of(cells)


def library_files(library: Path = LIBRARY) -> dict[str, str]:
    """SHA-256 of every library module a notebook can import, by relative path."""
    files = {}
    for path in sorted(library.rglob("*.py")):
        rel = path.relative_to(library).as_posix()
        if rel.split("/")[0] in BUILD_ONLY or "__pycache__" in rel:
            continue
        files[rel] = sha256_file(path)
    return files


def resolved_parameters(notebook: str, path: str | Path, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with the overrides, coerced to their types; paths left out."""
    merged = {**cells.defaults(path), **overrides}
    settings = {k: v for k, v in merged.items() if k not in PATH_PARAMETERS}
    return dict(sorted(validate(notebook, settings, partial=True).items()))


@dataclass(frozen=True)
class RunKey:
    """The components of a notebook's run key and their digest."""

    notebook: str
    components: dict

    @property
    def digest(self) -> str:
        return digest_of(self.components)

    def changed_since(self, old_components: Mapping[str, Any] | None) -> list[str]:
        """Names of the components that differ from an earlier key's (all when there is none)."""
        if not old_components:
            return sorted(self.components)
        return sorted(k for k in set(self.components) | set(old_components)
                      if self.components.get(k) != old_components.get(k))

    def describe_change(self, old_components: Mapping[str, Any] | None) -> str:
        """Which inputs changed, in words; for the library, which modules."""
        changed = self.changed_since(old_components)
        if not old_components:
            return "no earlier successful run"
        words = []
        for name in changed:
            if name == "library" and isinstance(old_components.get("library"), dict):
                old, new = old_components["library"], self.components["library"]
                modules = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                words.append("library (" + ", ".join(modules[:4]) + (" ..." if len(modules) > 4 else "") + ")")
            elif name == "parameters" and isinstance(old_components.get("parameters"), dict):
                old, new = old_components["parameters"], self.components["parameters"]
                names = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                words.append("parameters (" + ", ".join(names) + ")")
            else:
                words.append(name)
        return "changed: " + ", ".join(words)


def run_key(notebook: str, path: str | Path, parameters: Mapping[str, Any], *, data: Mapping[str, str],
            device_type: str, dependencies: Mapping[str, str] | None = None,
            library: Mapping[str, str] | None = None) -> RunKey:
    """The run key of ``notebook`` (its file at ``path``) with its resolved ``parameters``
    (from :func:`resolved_parameters`).

    ``data`` maps each data file the notebook reads to its SHA-256; ``dependencies``
    maps the notebooks it depends on to their run-key digests.
    """
    library = dict(library) if library is not None else library_files()
    all_versions = versions(KEY_LIBRARIES)
    return RunKey(notebook, {
        "notebook": notebook_source_digest(path),
        "parameters": dict(parameters),
        "library": library,
        "data": dict(sorted(data.items())),
        "versions": {k: all_versions.get(k) for k in KEY_LIBRARIES},
        "device": device_type,
        "cpu_capability": environment.cpu_capability(),
        "dependencies": dict(sorted((dependencies or {}).items())),
    })
