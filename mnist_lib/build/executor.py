"""Where the notebook runs of a build or a sweep execute: here, one after another, or as Dask tasks.

Every build goes through one interface. ``submit(key, fn, *args)`` returns a
handle; a handle of an earlier task may be among the arguments, and the task
then waits for it and receives its result (per task, not in waves), which is
how 06 waits for 03 and 04. ``as_completed(handles)`` yields each task's key and
result (or the exception it ended with) as it finishes.

- :class:`InProcess` (``-j 1`` without a scheduler, the default): each task runs
  in this process, in submission order, when ``as_completed`` reaches it; no
  cluster is started.
- :class:`DaskExecutor`: a ``LocalCluster`` of N single-threaded worker processes
  (``-j N``) or an existing cluster (``--scheduler ADDRESS`` or
  ``$MNIST_REPORTS_SCHEDULER``: a scheduler address or a scheduler file). A worker
  that dies mid-task has its task rerun elsewhere by the scheduler. A task goes to
  the scheduler only once what it depends on has finished and a worker thread is
  free, the ready task of highest ``priority`` first: Dask assigns a task to a
  worker the moment it is submitted (a notebook run is not the "root-ish" kind of
  task it queues), and a build that submitted all its notebooks at once had 03,
  04, 05 and 07 queued behind each other on one worker while the other sat idle.

A notebook's kernel may use :func:`threads_here` threads: ``OMP_NUM_THREADS`` and
friends go into the environment of the notebook's child process, and torch and
numpy take their thread counts from them when the kernel imports them (the
``torch_threads`` recorded in every metrics file shows it).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from mnist_lib.config import ParameterError

SCHEDULER_ENV = "MNIST_REPORTS_SCHEDULER"
# Threads one notebook kernel may use; a LocalCluster sets it on its workers, a cluster admin may too.
THREADS_ENV = "MNIST_REPORTS_THREADS"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
START_TOPIC = "mnist-reports-start"
# Dask's nanny writes its pre-spawn variables (OMP_NUM_THREADS=1 and the like among its defaults) into the
# environment of the process that runs it, this one, for good: every later notebook this process starts would
# run on one thread. A worker here only starts notebook processes, whose thread limits the executor sets
# itself, so the nanny gets only its memory-trim setting.
NANNY_PRE_SPAWN = {"distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": 65536}}
_ADDRESS = re.compile(r"^([a-z]+://)?[\w.\-\[\]:]+:\d+$")


# --------------------------------------------------------------------------- threads


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_run(cores: int, workers: int) -> int:
    """Torch threads per notebook when ``workers`` notebooks run at once on ``cores`` cores."""
    return max(1, cores // max(1, workers))


def thread_limits(threads: int | None) -> dict[str, str]:
    """The environment that limits a kernel to ``threads`` threads (nothing for None: no limit)."""
    return {name: str(threads) for name in THREAD_VARIABLES} if threads else {}


def threads_here() -> int | None:
    """Threads a notebook started from this process may use.

    ``$MNIST_REPORTS_THREADS`` when set; on a worker of an existing Dask cluster,
    this host's cores divided among the workers the scheduler knows on this host;
    otherwise None (in-process: torch's default, every core, as without Dask).
    """
    value = os.environ.get(THREADS_ENV)
    if value:
        return max(1, int(value))
    try:
        from distributed import get_client, get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not inside a Dask task
        return None
    host = _host(worker.address)
    workers = get_client().scheduler_info(n_workers=-1)["workers"]
    return threads_per_run(available_cores(), sum(_host(address) == host for address in workers))


def _host(address: str) -> str:
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


# --------------------------------------------------------------------------- GPUs


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_resources(trains: bool, device_type: str) -> dict[str, int] | None:
    """The Dask resources a run asks for: one GPU when it trains on CUDA."""
    return {"GPU": 1} if trains and device_type == "cuda" else None


def local_worker_options(workers: int, gpus: int, cores: int) -> list[dict[str, Any]]:
    """Per-worker options of a LocalCluster: one thread each, its kernels' thread limit in its
    environment, and for the first ``gpus`` workers one GPU each (``CUDA_VISIBLE_DEVICES``)."""
    threads = threads_per_run(cores, workers)
    options = []
    for i in range(workers):
        env = {THREADS_ENV: str(threads)}
        resources = {}
        if i < gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(i)
            resources = {"GPU": 1}
        options.append({"nthreads": 1, "env": env, "resources": resources})
    return options


# --------------------------------------------------------------------------- the scheduler option


def resolve_scheduler(value: str | None) -> str | None:
    """``--scheduler`` or else ``$MNIST_REPORTS_SCHEDULER``: a scheduler address or an existing
    scheduler file; a one-line ParameterError for anything else."""
    origin = "--scheduler"
    if value is None:
        value, origin = os.environ.get(SCHEDULER_ENV) or None, f"${SCHEDULER_ENV}"
    if value is None:
        return None
    value = value.strip()
    if "://" not in value and (value.endswith((".json", ".yaml", ".yml")) or os.sep in value):
        if not Path(value).is_file():
            raise ParameterError(f"{origin}: scheduler file {value!r} does not exist")
        return str(Path(value).resolve())
    if not _ADDRESS.match(value):
        raise ParameterError(f"{origin}: {value!r} is neither a scheduler address (tcp://HOST:PORT) nor a "
                             "scheduler file (a .json file that `dask scheduler --scheduler-file` writes)")
    return value


def check_jobs(jobs: int | str) -> int:
    """``-j``: a whole number >= 1 (as given on the command line or in code)."""
    try:
        if isinstance(jobs, bool) or isinstance(jobs, float):
            raise ValueError
        value = int(jobs)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ParameterError(f"-j: expected a whole number of notebooks to run at once (>= 1), got {jobs!r}")
    return value


# --------------------------------------------------------------------------- executors


class _Pending:
    """An in-process task: run when :meth:`InProcess.as_completed` reaches it."""

    def __init__(self, key: str, fn: Callable, args: tuple):
        self.key, self.fn, self.args = key, fn, args
        self.done, self.result, self.error = False, None, None


class InProcess:
    """Runs each task in this process, in submission order (dependencies come first)."""

    description = "in-process (one notebook at a time)"

    def __init__(self, on_start: Callable[[str, str | None], None] | None = None):
        self.on_start = on_start

    def submit(self, key: str, fn: Callable, *args: Any, resources: Mapping[str, int] | None = None,
               priority: float = 0.0) -> _Pending:
        """A task to run when :meth:`as_completed` reaches it (one at a time: ``priority`` changes nothing)."""
        return _Pending(key, fn, args)

    def as_completed(self, handles: list[_Pending]) -> Iterator[tuple[str, Any, BaseException | None]]:
        for handle in handles:
            if not handle.done:
                self._run(handle)
            yield handle.key, handle.result, handle.error

    def _run(self, handle: _Pending) -> None:
        args = []
        for arg in handle.args:
            if isinstance(arg, _Pending):
                if not arg.done:
                    self._run(arg)
                if arg.error is not None:  # as Dask does: a task whose dependency raised raises the same
                    handle.done, handle.error = True, arg.error
                    return
                arg = arg.result
            args.append(arg)
        if self.on_start:
            self.on_start(handle.key, None)
        try:
            handle.result = handle.fn(*args)
        except Exception as exc:  # reported with the task, as Dask reports a task's exception
            handle.error = exc
        handle.done = True

    def close(self) -> None:
        pass


def _announced(key: str, fn: Callable, *args: Any) -> Any:
    """Runs on a Dask worker: tell the client this task starts (and where), then run it."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(START_TOPIC, {"key": key, "worker": worker.address})
    return fn(*args)


class _Deferred:
    """A Dask task not yet handed to the scheduler: submitted by :meth:`DaskExecutor.as_completed`
    when what it depends on (the handles among its arguments) has finished and a thread is free."""

    def __init__(self, key: str, fn: Callable, args: tuple, resources: Mapping[str, int] | None, priority: float,
                 order: int):
        self.key, self.fn, self.args, self.order = key, fn, args, order
        self.resources, self.priority = dict(resources) if resources else None, priority
        self.future = None
        self.done, self.result, self.error = False, None, None

    @property
    def dependencies(self) -> list["_Deferred"]:
        return [arg for arg in self.args if isinstance(arg, _Deferred)]


class DaskExecutor:
    """Tasks on a Dask cluster; the client and (for ``-j N``) the LocalCluster are closed by :meth:`close`.

    :meth:`submit` only records a task; :meth:`as_completed` hands ready tasks to the scheduler as
    threads free up (the module docstring says why), highest ``priority`` first, then in
    submission order. A task whose dependency raised ends with the same exception, unsubmitted,
    as Dask would end it.
    """

    def __init__(self, client, cluster=None, description: str = "",
                 on_start: Callable[[str, str | None], None] | None = None):
        self.client, self.cluster, self.description = client, cluster, description
        self._submitted = 0
        if on_start:
            client.subscribe_topic(START_TOPIC, lambda event: on_start(event[1]["key"], event[1]["worker"]))

    def submit(self, key: str, fn: Callable, *args: Any, resources: Mapping[str, int] | None = None,
               priority: float = 0.0) -> _Deferred:
        self._submitted += 1
        return _Deferred(key, fn, args, resources, priority, self._submitted)

    def threads(self) -> int:
        """Worker threads the cluster has now (workers may join or leave during a build); at least 1."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers))

    def _start(self, task: _Deferred) -> None:
        args = [arg.result if isinstance(arg, _Deferred) else arg for arg in task.args]
        task.future = self.client.submit(_announced, task.key, task.fn, *args, key=task.key, pure=False,
                                         resources=task.resources)

    def as_completed(self, handles: list) -> Iterator[tuple[str, Any, BaseException | None]]:
        from distributed import as_completed

        wanted = {id(h) for h in handles}
        for handle in handles:  # finished in an earlier call
            if handle.done:
                yield handle.key, handle.result, handle.error
        waiting: list[_Deferred] = []
        for handle in handles:  # with the tasks they depend on, handed in or not
            stack = [handle]
            while stack:
                task = stack.pop()
                if not task.done and task.future is None and task not in waiting:
                    waiting.append(task)
                    stack.extend(task.dependencies)
        running = as_completed()
        by_future: dict[str, _Deferred] = {}
        in_flight, finished = 0, []
        while True:
            # Hand ready tasks to the scheduler first, then report what finished: a free thread
            # never waits for the caller's handling of a result.
            settled, threads = [], self.threads()
            for task in sorted(waiting, key=lambda t: (-t.priority, t.order)):
                failed = next((dep.error for dep in task.dependencies if dep.done and dep.error is not None), None)
                if failed is not None:
                    task.done, task.error = True, failed
                    settled.append(task)
                elif all(dep.done for dep in task.dependencies) and in_flight < threads:
                    self._start(task)
                    by_future[task.future.key] = task
                    running.add(task.future)
                    in_flight += 1
                    settled.append(task)
            waiting = [task for task in waiting if task not in settled]
            if any(task.done for task in settled):
                finished += [task for task in settled if task.done]
                continue  # their dependents may be settled now too
            for task in finished:
                if id(task) in wanted:
                    yield task.key, task.result, task.error
            finished = []
            if not in_flight:
                if waiting:  # cannot happen for handles of this executor; never wait forever
                    raise RuntimeError(f"tasks waiting on nothing that runs: {', '.join(t.key for t in waiting)}")
                return
            future = next(running)
            task = by_future.pop(future.key)
            in_flight -= 1
            task.done = True
            if future.status == "finished":
                task.result = future.result()
            else:
                try:
                    task.error = future.exception()
                except BaseException as exc:  # a cancelled future raises instead of returning its exception
                    task.error = exc
            task.future = None  # its result is here now; the cluster may forget it
            finished.append(task)

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _connect(scheduler: str, on_start):
    from distributed import Client

    try:
        if Path(scheduler).is_file():
            client = Client(scheduler_file=scheduler, timeout="20s")
        else:
            client = Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"--scheduler: cannot connect to {scheduler!r} ({' '.join(str(exc).split())})") from None
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    return DaskExecutor(client, description=f"Dask scheduler {client.scheduler.address} ({workers} workers)",
                        on_start=on_start)


def _local(jobs: int, on_start):
    import logging

    import dask
    from distributed import Client, LocalCluster

    cores, gpus = available_cores(), cuda_devices()
    with dask.config.set(NANNY_PRE_SPAWN):  # read when each nanny is made, during the wait below
        cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, memory_limit=0)
        try:
            base = cluster.new_spec
            for i, options in enumerate(local_worker_options(jobs, gpus, cores)):
                cluster.worker_spec[i] = {"cls": base["cls"], "options": {**base["options"], **options}}
            cluster.scale(jobs)
            client = Client(cluster)
            client.wait_for_workers(jobs, timeout=120)
        except BaseException:
            cluster.close()
            raise
    threads = threads_per_run(cores, jobs)
    return DaskExecutor(client, cluster, on_start=on_start,
                        description=f"LocalCluster of {jobs} single-threaded workers, {threads} torch "
                                    f"thread{'s' if threads > 1 else ''} per notebook ({cores} cores"
                                    + (f", {gpus} GPUs" if gpus else "") + ")")


@contextmanager
def open_executor(jobs: int = 1, scheduler: str | None = None,
                  on_start: Callable[[str, str | None], None] | None = None):
    """The executor for ``-j jobs`` / ``--scheduler``: in-process for one job and no scheduler."""
    jobs = check_jobs(jobs)
    if scheduler is None and jobs == 1:
        executor = InProcess(on_start)
    elif scheduler is not None:
        executor = _connect(scheduler, on_start)
    else:
        executor = _local(jobs, on_start)
    try:
        yield executor
    finally:
        executor.close()
