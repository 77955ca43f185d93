"""Running one notebook: papermill in a child process with a time limit.

The child (``python -m mnist_lib.runner.job SPEC.json``) executes the
notebook and writes a small result file; the parent waits at most the
notebook's timeout and then kills the child and its kernel. So a kernel that
dies (out of memory, a segfault, ``os.kill``) or a notebook that runs too long
fails that notebook with a reason, never the build. Everything the child needs
is in the spec, which is also what a remote worker receives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from mnist_lib.files import write_json

KERNEL = "python3"
# Variables a Dask nanny sets for its worker process (``distributed.nanny.pre-spawn-environ``) that are
# wrong for a notebook the worker starts: with MALLOC_TRIM_THRESHOLD_=65536 glibc hands freed memory back to
# the system past 64 KiB, and a training kernel that inherits it spends its time in page faults (a CNN
# training step 1.9x slower in wall and CPU seconds, side by side: ``python benchmarks/allocator.py``). A
# notebook process gets the C library's defaults, on any cluster.
WORKER_ONLY_VARIABLES = ("MALLOC_TRIM_THRESHOLD_",)


@dataclass
class Execution:
    """One notebook to execute: source, parameters, where the executed copy goes, limits."""

    source: str
    executed: str
    parameters: dict
    cwd: str
    timeout: float
    env: dict = field(default_factory=dict)
    log: str | None = None  # the child's stdout and stderr (papermill, kernel warnings)


# A kernel that exits before it answers its first request (jupyter_client: "Kernel died before replying to
# kernel_info"; seen when many kernels start at once and one loses the race for a port it was handed) has run
# no cell, so the notebook is started again in a new kernel, up to this many times in all.
KERNEL_START_FAILURE = "before replying to kernel_info"
KERNEL_START_TRIES = 3


@dataclass
class Outcome:
    """What happened: an error text (None on success) and the wall seconds."""

    error: str | None
    seconds: float


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (the kernel runs in a session of its own)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def notebook_environment(inherited: Mapping[str, str], settings: Mapping[str, object]) -> dict[str, str]:
    """The environment of a notebook's process: the one it inherits without what a Dask nanny set for its
    worker only (:data:`WORKER_ONLY_VARIABLES`), and the job's own settings on top."""
    kept = {k: v for k, v in inherited.items() if k not in WORKER_ONLY_VARIABLES}
    return {**kept, **{k: str(v) for k, v in settings.items()}}


def run_notebook(job: Execution) -> Outcome:
    """Execute ``job`` in a child process; the executed notebook replaces ``job.executed``
    only when it was written completely (readable), so a killed run leaves no torn file."""
    executed = Path(job.executed)
    executed.parent.mkdir(parents=True, exist_ok=True)
    fd, spec_path = tempfile.mkstemp(dir=executed.parent, prefix=f".{executed.stem}.", suffix=".spec.json")
    os.close(fd)
    result_path = spec_path[: -len(".spec.json")] + ".result.json"
    partial = spec_path[: -len(".spec.json")] + ".ipynb"
    write_json(spec_path, {**asdict(job), "executed": partial, "result": result_path, "parent": os.getpid()})
    env = notebook_environment(os.environ, job.env)
    started = time.perf_counter()
    log = open(job.log, "ab") if job.log else subprocess.DEVNULL
    error = None
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mnist_lib.runner.job", spec_path], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            code = proc.wait(timeout=job.timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            error = (f"timed out after {job.timeout:g} s and was stopped (raise the profile's 'timeout' for "
                     "this notebook if it needs longer)")
            code = None
        if error is None:
            try:
                error = json.loads(Path(result_path).read_text())["error"]
            except (OSError, ValueError, KeyError):
                error = f"the notebook runner ended with exit code {code} before reporting (killed?)"
        _keep_if_readable(Path(partial), executed)
    finally:
        if log is not subprocess.DEVNULL:
            log.close()
        for leftover in (spec_path, result_path, partial):
            Path(leftover).unlink(missing_ok=True)
    return Outcome(error, time.perf_counter() - started)


def _keep_if_readable(partial: Path, executed: Path) -> None:
    import nbformat

    if not partial.exists() or not partial.stat().st_size:
        return
    try:
        nbformat.read(partial, as_version=4)
    except Exception:  # a notebook torn by the kill: keep nothing rather than a broken file
        return
    os.replace(partial, executed)


def _die_with_parent(parent: int) -> None:
    """On Linux, have this runner killed when the process that started it dies (a Dask worker
    killed with SIGKILL), so no orphan keeps writing; its kernel follows (ipykernel exits when
    its parent process is gone)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _execute_in_child(spec_path: str) -> None:
    """The child's side: run papermill, write the result file."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    spec = json.loads(Path(spec_path).read_text())
    if spec.get("parent"):
        _die_with_parent(spec["parent"])
    error = None
    try:
        for attempt in range(1, KERNEL_START_TRIES + 1):
            try:
                pm.execute_notebook(spec["source"], spec["executed"], parameters=spec["parameters"],
                                    kernel_name=KERNEL, cwd=spec["cwd"], progress_bar=False, log_output=False,
                                    report_mode=False)
                break
            except RuntimeError as exc:  # no cell has run yet: start a new kernel
                if KERNEL_START_FAILURE not in str(exc) or attempt == KERNEL_START_TRIES:
                    raise
    except pm.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    except DeadKernelError as exc:
        error = (f"the kernel died ({type(exc).__name__}: {exc}); a kernel ends this way when it is killed, for "
                 "example by the out-of-memory killer, or crashes")
    except CellTimeoutError as exc:
        error = f"a cell timed out ({exc})"
    except Exception as exc:  # anything else papermill or the kernel manager raises: this notebook failed
        error = f"{type(exc).__name__}: {exc}"
    write_json(spec["result"], {"error": error})


if __name__ == "__main__":
    _execute_in_child(sys.argv[1])
