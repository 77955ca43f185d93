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

A notebook runs with the thread count of its ``threads`` parameter wherever it runs
(torch's arithmetic depends on it, so it belongs to the recipe and the run key, not
to the machine or to ``-j``): the notebook sets torch's count itself, and
``OMP_NUM_THREADS`` and friends in its child process's environment
(:func:`thread_limits`) hold numpy's and the other pools to the same count. ``-j N``
with N x threads above the cores oversubscribes them.
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from mnist_lib.params import ParameterError

SCHEDULER_ENV = "MNIST_REPORTS_SCHEDULER"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
START_TOPIC = "mnist-reports-start"
# Dask's nanny writes its pre-spawn variables (OMP_NUM_THREADS=1 and the like among its defaults) into the
# environment of the process that runs it, this one, for good: every later notebook this process starts would
# run on one thread. A worker here only starts notebook processes, whose thread limits the executor sets
# itself and which must not inherit the nanny's memory-trim setting (job.WORKER_ONLY_VARIABLES), so the
# nanny sets nothing.
NANNY_PRE_SPAWN = {"distributed.nanny.pre-spawn-environ": {}}
# How often a build waiting for its runs checks that the cluster still answers and has a worker, and how
# long it waits for a worker (all of them gone, or none yet) before it stops.
POLL_SECONDS = 5.0
NO_WORKER_TIMEOUT = 300.0
_ADDRESS = re.compile(r"^([a-z]+://)?[\w.\-\[\]:]+:\d+$")


# --------------------------------------------------------------------------- threads


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def thread_limits(threads: int | None) -> dict[str, str]:
    """The environment that limits a kernel's OpenMP, MKL and OpenBLAS pools to ``threads`` threads
    (nothing for None: no limit)."""
    return {name: str(threads) for name in THREAD_VARIABLES} if threads else {}


# --------------------------------------------------------------------------- GPUs


def cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def gpu_resources(trains: bool, device_type: str) -> dict[str, int] | None:
    """The Dask resources a run asks for: one GPU when it trains on CUDA."""
    return {"GPU": 1} if trains and device_type == "cuda" else None


def local_worker_options(workers: int, gpus: int) -> list[dict[str, Any]]:
    """Per-worker options of a LocalCluster: one thread each, and for the first ``gpus`` workers one
    GPU each (``CUDA_VISIBLE_DEVICES``)."""
    options = []
    for i in range(workers):
        env = {}
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


class ClusterLost(RuntimeError):
    """The Dask cluster a build runs on stopped answering, or had no worker for too long. Runs recorded
    before it stay recorded; rerunning the command runs the rest."""


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
        self.address = client.scheduler.address
        self._submitted = 0
        if on_start:
            client.subscribe_topic(START_TOPIC, lambda event: on_start(event[1]["key"], event[1]["worker"]))

    def submit(self, key: str, fn: Callable, *args: Any, resources: Mapping[str, int] | None = None,
               priority: float = 0.0) -> _Deferred:
        self._submitted += 1
        return _Deferred(key, fn, args, resources, priority, self._submitted)

    def threads(self) -> int:
        """Worker threads the cluster has now (workers may join or leave during a build); 0 when it has
        no worker. Raises :class:`ClusterLost` when the scheduler cannot be reached."""
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
        except (OSError, TimeoutError) as exc:  # distributed's CommClosedError is an OSError
            raise ClusterLost(f"the Dask scheduler at {self.address} cannot be reached any more "
                              f"({type(exc).__name__})") from None
        return sum(int(w.get("nthreads", 1)) for w in workers)

    def _start(self, task: _Deferred) -> None:
        args = [arg.result if isinstance(arg, _Deferred) else arg for arg in task.args]
        task.future = self.client.submit(_announced, task.key, task.fn, *args, key=task.key, pure=False,
                                         resources=task.resources)

    def _settle(self, task: _Deferred, future) -> None:
        """Take a finished future's result or exception into its task. A future that ended without
        either (cancelled, lost with the scheduler) means the cluster is gone."""
        task.done = True
        if future.status == "finished":
            task.result = future.result()
        else:
            try:
                task.error = future.exception(timeout=10)
            except BaseException:  # a cancelled future raises instead of returning its exception
                task.error = None
            if task.error is None:
                raise ClusterLost(f"the Dask cluster at {self.address} lost the run {task.key} "
                                  f"({future.status}): its scheduler went away")
        task.future = None  # its result is here now; the cluster may forget it

    def _wait(self, futures: list, no_worker_since: list[float]) -> list:
        """The futures among ``futures`` that finish within :data:`POLL_SECONDS` (maybe none); between
        polls, the cluster must answer and have a worker at least every :data:`NO_WORKER_TIMEOUT` s."""
        from concurrent.futures import CancelledError

        from distributed import wait

        try:
            done, _ = wait(futures, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            return list(done)
        except TimeoutError:
            pass
        except CancelledError:  # distributed cancels every future when the scheduler connection is lost
            raise ClusterLost(f"the Dask scheduler at {self.address} went away") from None
        if self.threads():
            no_worker_since.clear()
        elif not no_worker_since:
            no_worker_since.append(time.monotonic())
        elif time.monotonic() - no_worker_since[0] > NO_WORKER_TIMEOUT:
            raise ClusterLost(f"the Dask cluster at {self.address} has had no worker for "
                              f"{NO_WORKER_TIMEOUT:.0f} s")
        return []

    def as_completed(self, handles: list) -> Iterator[tuple[str, Any, BaseException | None]]:
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
        in_flight: dict[str, _Deferred] = {}
        finished: list[_Deferred] = []
        no_worker_since: list[float] = []
        while True:
            # Hand ready tasks to the scheduler first, then report what finished: a free thread
            # never waits for the caller's handling of a result. A cluster with no worker yet gets one
            # task, which waits for the first worker to join.
            settled, threads = [], max(1, self.threads())
            for task in sorted(waiting, key=lambda t: (-t.priority, t.order)):
                failed = next((dep.error for dep in task.dependencies if dep.done and dep.error is not None), None)
                if failed is not None:
                    task.done, task.error = True, failed
                    settled.append(task)
                elif all(dep.done for dep in task.dependencies) and len(in_flight) < threads:
                    self._start(task)
                    in_flight[task.future.key] = task
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
            for future in self._wait([task.future for task in in_flight.values()], no_worker_since):
                task = in_flight.pop(future.key)
                self._settle(task, future)
                finished.append(task)

    def close(self) -> None:
        try:
            self.client.close(timeout=10)
        except (OSError, TimeoutError):  # the scheduler is gone already
            pass
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
    import dask
    from distributed import Client, LocalCluster

    cores, gpus = available_cores(), cuda_devices()
    with dask.config.set(NANNY_PRE_SPAWN):  # read when each nanny is made, during the wait below
        cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, memory_limit=0)
        try:
            base = cluster.new_spec
            for i, options in enumerate(local_worker_options(jobs, gpus)):
                cluster.worker_spec[i] = {"cls": base["cls"], "options": {**base["options"], **options}}
            cluster.scale(jobs)
            client = Client(cluster)
            client.wait_for_workers(jobs, timeout=120)
        except BaseException:
            cluster.close()
            raise
    return DaskExecutor(client, cluster, on_start=on_start,
                        description=f"LocalCluster of {jobs} single-threaded workers ({cores} cores"
                                    + (f", {gpus} GPUs" if gpus else "") + ")")


@contextmanager
def open_executor(jobs: int = 1, scheduler: str | None = None,
                  on_start: Callable[[str, str | None], None] | None = None):
    """The executor for ``-j jobs`` / ``--scheduler``: in-process for one job and no scheduler."""
    jobs = check_jobs(jobs)
    if scheduler is None and jobs == 1:
        executor = InProcess(on_start)
        try:
            yield executor
        finally:
            executor.close()
        return
    # distributed logs its own tracebacks when a connection drops; the build says what happened in one line
    # (ClusterLost), so they are kept out of the command's output while the executor is open.
    import distributed  # noqa: F401  (sets up its loggers, each with its own level)

    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "distributed" or name.startswith("distributed.")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        executor = _connect(scheduler, on_start) if scheduler is not None else _local(jobs, on_start)
        try:
            yield executor
        finally:
            executor.close()
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
