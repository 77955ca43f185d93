"""What a run ran on: library versions, the git commit of the code, the CPU and the date.

Reports print it (provenance), run keys hash part of it, checkpoints record it.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from mnist_lib.choices import DEVICES

REPO = Path(__file__).resolve().parent.parent
LIBRARIES = ("torch", "torchvision", "numpy", "pandas", "scikit-learn", "matplotlib", "seaborn", "papermill",
             "nbconvert")
# The versions that change what a notebook computes; part of every run key.
KEY_LIBRARIES = ("torch", "torchvision", "numpy")


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def git_state(repo: Path = REPO) -> dict:
    """Commit and whether the work tree differs from it (None outside a checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def short_commit(git: dict) -> str:
    """``abc123def456`` (plus a note when the work tree had uncommitted changes)."""
    return (git.get("commit") or "unknown")[:12] + (" (dirty work tree)" if git.get("dirty") else "")


def versions(names=LIBRARIES) -> dict:
    result = {"python": platform.python_version()}
    for name in names:
        try:
            result[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            result[name] = None
    return result


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels dispatch to here ("AVX2", "AVX512", "DEFAULT", ...): two
    machines with the same code, parameters, data and versions can still differ in the last bits of
    their arithmetic when this differs, so run keys and checkpoint keys hold it and reports name it."""
    import torch

    return torch.backends.cpu.get_cpu_capability()


def pick_device(name: str = "auto"):
    """The ``torch.device`` a run uses: ``auto`` picks CUDA, then MPS, then CPU; an explicit name must be
    available. (torch is imported here, not at the top: the build and the command line use this
    module without loading torch.)"""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise ValueError(f"device {name!r} is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


def arithmetic(device_type: str) -> dict:
    """What decides the last bits of a run's arithmetic beyond its code, parameters, data and thread
    count: the torch version, the CPU instruction set its kernels dispatch to, and the device type.
    Checkpoint keys hold it (run keys hold the same parts)."""
    import torch

    return {"torch": str(torch.__version__), "cpu_capability": cpu_capability(), "device": device_type}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
