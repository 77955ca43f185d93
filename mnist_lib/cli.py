"""Command line: ``python -m mnist_lib data|reports|sweep|diff|check-reports|publish|sync-notebooks``.

Bad input ends with one line on stderr naming what was wrong and exit code 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnist_lib import catalogue, datasets
from mnist_lib.catalogue import NOTEBOOK_DIR
from mnist_lib.datasets.errors import DatasetError
from mnist_lib.files import to_json
from mnist_lib.params import ParameterError, checked_folder, sync_cell
from mnist_lib.profiles import PROFILE_DIR, PROFILES
from mnist_lib.runner.diff import diff_records, resolve_record
from mnist_lib.runner.executors import ClusterLost, check_jobs, resolve_scheduler
from mnist_lib.runner.pipeline import build_reports
from mnist_lib.runner.sweep import run_sweep
from mnist_lib.website.browser import check_reports
from mnist_lib.website.publish import PublishError, publish


def _folders(args: argparse.Namespace, *, reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()) -> None:
    """Check the folder options of a command where they enter, replacing each given one by its absolute
    path: ``reads`` must exist; ``writes`` may be created (in a writable folder)."""
    for attr in reads + writes:
        value = getattr(args, attr)
        if value is not None:
            setattr(args, attr, str(checked_folder("--" + attr.replace("_", "-"), value, must_exist=attr in reads,
                                                   writable=attr in writes)))


def _cmd_data(args: argparse.Namespace) -> int:
    try:
        dataset = datasets.get_dataset(args.dataset)
    except datasets.UnknownDatasetError as exc:
        raise ParameterError(f"--dataset: {exc}") from None
    if args.source is None and not dataset.pinned:
        raise ParameterError(f"--source: dataset {dataset.name!r} reads the folder given as --source DIR "
                             "(the four IDX files, plain or .gz)")
    _folders(args, reads=("source",), writes=("data_dir",) if dataset.pinned else ())
    files = datasets.ensure_dataset(dataset, args.data_dir, source=args.source, offline=args.offline)
    print(files.summary())
    if not dataset.pinned:
        for name, digest in files.sha256.items():
            print(f"  {digest}  {name}")
    return 0


def check_checkout(notebooks: str | None) -> None:
    """The notebooks and profiles live in the project's checkout, not in the installed package:
    a plain ``pip install .`` gets a one-line explanation instead of a traceback."""
    if notebooks is None and not (NOTEBOOK_DIR.is_dir() and PROFILE_DIR.is_dir()):
        raise ParameterError(f"the notebooks and profiles are not part of the installed package (looked in "
                             f"{NOTEBOOK_DIR}): building reports needs a checkout of the project (clone it, then "
                             "`pip install -e .` there), or --notebooks DIR with a profile path")


def _cmd_reports(args: argparse.Namespace) -> int:
    check_checkout(args.notebooks)
    _folders(args, reads=("source", "notebooks"), writes=("data_dir", "output"))
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    jobs, scheduler = _executor_options(args)
    result = build_reports(profile=args.profile, only=only, output=Path(args.output), data_dir=Path(args.data_dir),
                           source=args.source, no_input=args.no_input, force=args.force, jobs=jobs,
                           scheduler=scheduler, dataset=args.dataset,
                           **({"notebook_dir": Path(args.notebooks)} if args.notebooks else {}))
    failed = [name for name, run in result.runs.items() if run.status != "ok"]
    cached = sum(run.cached for run in result.runs.values())
    print(f"Index: {result.index_path} ({len(result.runs) - cached} run, {cached} up to date, "
          f"{result.seconds:.1f} s; executor: {result.executor})")
    if failed:
        reasons = "; ".join(f"{name}: {result.runs[name].error}" for name in failed)
        print(f"error: notebooks failed: {reasons} (see their HTML reports)", file=sys.stderr)
        return 1
    return 0


def _executor_options(args: argparse.Namespace) -> tuple[int, str | None]:
    """``-j N`` / ``--scheduler ADDRESS`` (or ``$MNIST_REPORTS_SCHEDULER`` when neither is given)."""
    if args.jobs is not None and args.scheduler is not None:
        raise ParameterError("-j and --scheduler exclude each other: -j N starts a local cluster of N workers, "
                             "--scheduler uses an existing one")
    if args.jobs is not None:
        return check_jobs(args.jobs), None
    return 1, resolve_scheduler(args.scheduler)


def _add_executor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", default=None, metavar="N",
                        help="run up to N notebooks at once on a local Dask cluster of N single-threaded worker "
                             "processes; each notebook runs with its `threads` parameter (default 1), so N up to "
                             "the number of cores keeps every core busy (default: 1, in this process, no cluster)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the notebooks on an existing Dask cluster: a scheduler address "
                             "(tcp://HOST:PORT) or a scheduler file (default: $MNIST_REPORTS_SCHEDULER)")


def _cmd_sweep(args: argparse.Namespace) -> int:
    check_checkout(args.notebooks)
    _folders(args, reads=("source", "notebooks"), writes=("data_dir", "output"))
    jobs, scheduler = _executor_options(args)
    result = run_sweep(args.file, output=args.output, data_dir=args.data_dir, source=args.source, jobs=jobs,
                       scheduler=scheduler, force=args.force, no_input=args.no_input, progress=not args.no_progress,
                       **({"notebook_dir": Path(args.notebooks)} if args.notebooks else {}))
    summary = result.summary
    print(f"Sweep {result.name}: {len(result.runs)} runs: {result.executed} executed, {result.cached} up to date, "
          f"{len(result.failed)} not ok ({result.seconds:.1f} s; executor: {result.executor or 'none needed'})")
    print(f"Summary: {result.folder / 'summary.html'}" + ("" if summary.status == "ok" else f" ({summary.status}: "
                                                          f"{summary.error})"))
    if result.failed:
        reasons = "; ".join(f"{run_id}: {result.runs[run_id].error}" for run_id in result.failed)
        print(f"error: sweep runs not ok: {reasons} (rerun the same command to retry only these)", file=sys.stderr)
        return 1
    return 0 if summary.status == "ok" else 1


def _cmd_diff(args: argparse.Namespace) -> int:
    _folders(args, reads=("reports",))
    old = resolve_record(args.old, args.reports, -2)
    new = resolve_record(args.new, args.reports, -1)
    diff = diff_records(old, new, timings=args.timings)
    print(to_json(diff.to_dict()) if args.json else diff.to_markdown(), end="" if not args.json else "\n")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    _folders(args, reads=("reports",))
    try:
        results = check_reports(args.reports)
    except (FileNotFoundError, RuntimeError) as exc:
        raise ParameterError(str(exc)) from None
    bad = 0
    for name, page in results.items():
        problems = page.problems
        bad += bool(problems)
        state = "ok" if not problems else "; ".join(problems)
        print(f"{name}: {page.images} images, {'a' if page.has_toc else 'no'} table of contents: {state}")
    print(f"screenshots in {Path(args.reports) / 'screenshots'}")
    return 1 if bad else 0


def _cmd_publish(args: argparse.Namespace) -> int:
    _folders(args, reads=("reports",), writes=("output",))
    try:
        site = publish(Path(args.reports), Path(args.output))
    except PublishError as exc:
        print(f"error: cannot publish {args.reports}: {exc}", file=sys.stderr)
        return 1
    missing = f"; not built, a page says so: {', '.join(site.placeholders)}" if site.placeholders else ""
    print(f"Site: {site.folder} ({len(site.pages)} pages, {site.files} files, {site.size / 1e6:.1f} MB{missing}); "
          "open index.html or serve the folder with any static web server")
    return 0


def _cmd_sync(args: argparse.Namespace) -> int:
    changed = [n.name for n in catalogue.NOTEBOOKS if sync_cell(n.name)]
    print(f"parameters cells rewritten from mnist_lib.params: {', '.join(changed) or 'none (all in step)'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mnist_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{data,reports,sweep,diff,check-reports,publish,sync-notebooks}")

    data = sub.add_parser("data", help="acquire and verify a dataset (MNIST by default), print where it is")
    data.add_argument("--dataset", default="mnist", help="mnist (default), fashion-mnist, or idx (any folder of the "
                                                         "four IDX files of a 10-class 28x28 dataset, given as --source)")
    data.add_argument("--data-dir", default="data", help="cache folder (torchvision layout: MNIST/raw, "
                                                         "FashionMNIST/raw; default: data)")
    data.add_argument("--source", default=None, help="a folder with the four IDX files (plain or .gz), tried first "
                                                     "(default: $MNIST_SOURCE / $FASHION_MNIST_SOURCE); for idx, "
                                                     "the dataset itself")
    data.add_argument("--offline", action="store_true", help="use only the cache and --source, no network")
    data.set_defaults(run=_cmd_data)

    reports = sub.add_parser("reports", help="run the notebooks with papermill and render HTML reports")
    reports.add_argument("--profile", default="full", help=f"{' or '.join(PROFILES)}, or a path to a profile .yaml")
    reports.add_argument("--only", default=None, help=f"comma-separated notebooks to build ({', '.join(catalogue.series_names())}); "
                                                      "their dependencies run too")
    reports.add_argument("--output", default="reports", help="folder for the HTML reports and index (default: reports)")
    reports.add_argument("--dataset", default=None, help="the data set of the whole series: mnist, fashion-mnist or "
                                                         "idx (the folder given as --source); default: the profile's "
                                                         "common.dataset, else mnist. MNIST's reports go to OUTPUT, "
                                                         "another data set's to OUTPUT/<name> (OUTPUT/idx-<folder>)")
    reports.add_argument("--data-dir", default="data", help="dataset cache folder (default: data)")
    reports.add_argument("--source", default=None, help="a folder with the four IDX files, tried before the mirrors "
                                                        "(for --dataset idx: the data set itself)")
    reports.add_argument("--no-input", action="store_true", help="hide code cells in the HTML")
    reports.add_argument("--force", nargs="?", const="all", default=None, metavar="NOTEBOOKS",
                         help="rerun even when up to date: every notebook, or the comma-separated ones given "
                              "(and what depends on them)")
    reports.add_argument("--notebooks", default=None, help="the folder of the notebooks to build (default: the "
                                                           "project's notebooks/)")
    _add_executor_options(reports)
    reports.set_defaults(run=_cmd_reports)

    sweep = sub.add_parser("sweep", help="run notebooks over a grid of parameters (seeds, ...) and summarize them")
    sweep.add_argument("file", help="a sweep file, e.g. notebooks/sweeps/seeds-quick.yaml")
    sweep.add_argument("--output", default="reports", help="reports folder; the sweep goes to "
                                                           "OUTPUT/sweeps/NAME (default: reports)")
    sweep.add_argument("--data-dir", default="data", help="MNIST cache folder (default: data)")
    sweep.add_argument("--source", default=None, help="a folder with the four IDX files, tried before the mirrors")
    sweep.add_argument("--no-input", action="store_true", help="hide code cells in the HTML")
    sweep.add_argument("--force", action="store_true", help="rerun every run, even those up to date")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sweep.add_argument("--notebooks", default=None, help="the folder of the notebooks to run (default: the "
                                                         "project's notebooks/)")
    _add_executor_options(sweep)
    sweep.set_defaults(run=_cmd_sweep)

    diff = sub.add_parser("diff", help="what changed between two builds, with McNemar p-values for accuracies")
    diff.add_argument("old", nargs="?", default=None,
                      help="a build record, a reports folder (its latest build) or a record name in "
                           "REPORTS/history (default: the build before the latest)")
    diff.add_argument("new", nargs="?", default=None, help="the same, for the newer build (default: the latest)")
    diff.add_argument("--reports", default="reports", help="the reports folder whose history is read "
                                                           "(default: reports)")
    diff.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    diff.add_argument("--timings", action="store_true", help="include seconds (left out: they always change)")
    diff.set_defaults(run=_cmd_diff)

    check = sub.add_parser("check-reports", help="open the built reports in headless Chromium and check them")
    check.add_argument("--reports", default="reports", help="the folder with index.html (default: reports)")
    check.set_defaults(run=_cmd_check)

    publish = sub.add_parser("publish", help="gather the index, reports, benchmarks, sweeps and images into one "
                                             "folder for any static host")
    publish.add_argument("--reports", default="reports", help="the built reports folder (default: reports)")
    publish.add_argument("--output", default="site", help="the folder to publish to, replaced whole when an earlier "
                                                          "publish made it (default: site)")
    publish.set_defaults(run=_cmd_publish)

    sync = sub.add_parser("sync-notebooks", help="write each notebook's parameters-cell annotations and comments from "
                                                 "the parameters' declarations (mnist_lib.params)")
    sync.set_defaults(run=_cmd_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ParameterError, DatasetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ClusterLost as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # what the system refused (a full disk, a file that vanished): said in one line
        where = f": {exc.filename!r}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (rerun the same command to finish: what was done is kept)", file=sys.stderr)
        return 130
