"""The layers of ARCHITECTURE.md hold: every module of mnist_lib is listed there once, and imports run
downward only (a module imports modules of its own layer or below, never above), with no cycle.
Imports inside functions count too: an import-and-look test would miss them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "mnist_lib"
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([\w./]+)`\s*\|")


def declared_layers() -> dict[str, int]:
    """``module or package/ -> layer`` from the tables of ARCHITECTURE.md."""
    layers = {}
    for line in (REPO / "ARCHITECTURE.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            name = match.group(2)
            assert name not in layers, f"{name} is listed twice in ARCHITECTURE.md"
            layers[name] = int(match.group(1))
    return layers


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(("mnist_lib", *parts))


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def layer_of(module: str, layers: dict[str, int]) -> int:
    parts = module.split(".")[1:]
    if not parts:
        return 0  # the package's own __init__: imports nothing
    if f"{parts[0]}/" in layers:
        return layers[f"{parts[0]}/"]
    return layers[parts[0]]


def imports_of(path: Path, module: str) -> set[str]:
    """Every mnist_lib module ``path`` imports, at the top or inside a function."""
    found = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mnist_lib")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("mnist_lib"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules() else base)
    return found - {module}


def test_every_module_has_a_layer():
    layers = declared_layers()
    missing = sorted(m for m in modules() if m != "mnist_lib" and not _listed(m, layers))
    assert missing == [], f"not in ARCHITECTURE.md: {missing}"


def _listed(module: str, layers: dict[str, int]) -> bool:
    top = module.split(".")[1]
    return top in layers or f"{top}/" in layers


def test_imports_run_downward_only():
    layers = declared_layers()
    upward = []
    for module, path in modules().items():
        if module == "mnist_lib":
            continue
        mine = layer_of(module, layers)
        for target in imports_of(path, module):
            if layer_of(target, layers) > mine:
                upward.append(f"{module} (layer {mine}) imports {target} (layer {layer_of(target, layers)})")
    assert upward == []


def test_no_import_cycle():
    graph = {module: imports_of(path, module) for module, path in modules().items()}
    graph = {m: {t if t in graph else t.rsplit(".", 1)[0] for t in targets} for m, targets in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if state.get(target) is None:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if state.get(module) is None:
            cycle = visit(module)
            assert cycle is None, " -> ".join(cycle)


def test_in_package_imports_are_at_the_top():
    """Imports inside functions are for heavy third-party libraries only; the library's own modules are
    imported at the top of the module that uses them."""
    inside = []
    for module, path in modules().items():
        tree = ast.parse(path.read_text())
        for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(function):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                if any(name.startswith("mnist_lib") for name in names):
                    inside.append(f"{module}.{function.name}: {', '.join(names)}")
    assert inside == []


def test_only_notebooks_speak_prose():
    """Sentences are made in prose/ from what the rest computes: no library module outside prose/
    imports it (analysis computes, prose words the result), so no sentence hides in a computation."""
    speakers = sorted(module for module, path in modules().items() if not module.startswith("mnist_lib.prose")
                      and any(t.startswith("mnist_lib.prose") for t in imports_of(path, module)))
    assert speakers == []


def test_run_keys_leave_out_exactly_the_layers_above_what_a_notebook_imports():
    """runner.keys.BUILD_ONLY names the modules a notebook cannot import; ARCHITECTURE.md says which
    they are (layer 3 and up): the two must agree."""
    from mnist_lib.runner.keys import BUILD_ONLY

    layers = declared_layers()
    above = {name.rstrip("/") + ("" if name.endswith("/") else ".py") for name, layer in layers.items() if layer >= 3}
    assert set(BUILD_ONLY) == above


def test_the_command_line_starts_without_torch():
    """``python -m mnist_lib`` (help, data, errors, the build's own process) never imports torch: the
    notebooks' kernels do. The choices a parameter can take live in ``choices``, the device in
    ``environment``, tensors are read lazily; a torch import at the top of a module the command line
    reaches fails here."""
    import subprocess
    import sys

    code = "import sys, mnist_lib.cli; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
