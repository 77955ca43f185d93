"""Shared fixtures: the real MNIST from ../shared/mnist (or $MNIST_SOURCE), verified
once per test session into a temporary cache, and small splits of it."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent


def shared_mnist() -> Path:
    folder = os.environ.get("MNIST_SOURCE") or str(REPO.parent / "shared" / "mnist")
    return Path(folder)


@pytest.fixture(scope="session")
def mnist_source() -> Path:
    folder = shared_mnist()
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists() and not (folder / "t10k-labels-idx1-ubyte").exists():
        pytest.fail(f"real MNIST not found in {folder}: set MNIST_SOURCE to a folder with the four IDX files")
    return folder


@pytest.fixture(scope="session")
def fashion_source() -> Path:
    """Fashion-MNIST's four files: $FASHION_MNIST_SOURCE, else Debian's dataset-fashion-mnist (CI installs it)."""
    folder = Path(os.environ.get("FASHION_MNIST_SOURCE") or "/usr/share/datasets/fashion-mnist")
    if not any((folder / f"t10k-labels-idx1-ubyte{ext}").exists() for ext in ("", ".gz")):
        pytest.fail(f"Fashion-MNIST not found in {folder}: apt-get install dataset-fashion-mnist, or set "
                    "FASHION_MNIST_SOURCE to a folder with its four IDX files")
    return folder


@pytest.fixture(scope="session")
def mnist_data_dir(tmp_path_factory, mnist_source) -> Path:
    from mnist_lib.data import ensure_mnist

    data_dir = tmp_path_factory.mktemp("mnist-data")
    ensure_mnist(data_dir, source=mnist_source, progress=False)
    return data_dir


@pytest.fixture(scope="session")
def mnist_raw(mnist_data_dir):
    from mnist_lib.data import load_mnist

    return load_mnist(mnist_data_dir)


@pytest.fixture(scope="session")
def small_splits(mnist_raw):
    from mnist_lib.data import prepare_data

    return prepare_data(mnist_raw, train_limit=3000, test_limit=1000, seed=0)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``python -m mnist_lib ARGS`` in this process (what the entry point calls): exit code, stdout, stderr.
    One test per command family still runs the real entry point in a subprocess."""
    from mnist_lib import cli

    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def run_build(output: Path, data_dir: Path, source: Path, *extra: str, timeout: int = 900):
    """The real report build, through the CLI, as a user runs it."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mnist_lib", "reports", "--profile", "quick", "--output", str(output),
                           "--data-dir", str(data_dir), "--source", str(source), *extra],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory, mnist_data_dir, mnist_source) -> Path:
    """The whole series built once on the quick profile (papermill + nbconvert)."""
    output = tmp_path_factory.mktemp("reports")
    done = run_build(output, mnist_data_dir, mnist_source)
    if done.returncode != 0:
        pytest.fail(f"quick build failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return output
