"""What a Dask nanny's memory-trim setting costs a notebook that inherits it, side by side.

A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (``distributed.nanny.pre-spawn-environ``);
a notebook kernel the worker starts would inherit it, and glibc then gives freed memory back to the system
at every 64 KiB. This script times the same CNN training steps (one thread, batch 128, Adam) in a child
process with and without the variable, interleaved, and prints each round and the ratio of the medians of
wall and CPU seconds. The runner keeps the variable from every notebook it starts
(``mnist_lib.runner.job.WORKER_ONLY_VARIABLES``).

    python benchmarks/allocator.py [--rounds 3] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STEPS = """
import json, resource, sys, time, torch
from mnist_lib import training
torch.set_num_threads(1)
model = training.seeded_model("cnn", 0)
opt = torch.optim.Adam(model.parameters(), 1e-3)
x, y = torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))
def step():
    opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
for _ in range(5):
    step()
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(int(sys.argv[1])):
    step()
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - start, "minflt": after.ru_minflt - before.ru_minflt,
                  "cpu": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime}))
"""
VARIABLE, NANNY_VALUE = "MALLOC_TRIM_THRESHOLD_", "65536"


def one_run(with_trim: bool, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != VARIABLE}
    if with_trim:
        env[VARIABLE] = NANNY_VALUE
    done = subprocess.run([sys.executable, "-c", STEPS, str(steps)], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each setting (default 3)")
    parser.add_argument("--steps", type=int, default=60, help="timed training steps per run (default 60)")
    args = parser.parse_args(argv)
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for round_ in range(1, args.rounds + 1):
        for with_trim in (True, False):
            run = one_run(with_trim, args.steps)
            runs[with_trim].append(run)
            label = f"{VARIABLE}={NANNY_VALUE}" if with_trim else "C library default"
            print(f"round {round_}, {label:>30}: {run['wall']:.2f} s wall, {run['cpu']:.2f} s CPU, "
                  f"{run['minflt']:,} minor page faults")
    for measure in ("wall", "cpu"):
        slow, fast = (statistics.median(r[measure] for r in runs[k]) for k in (True, False))
        print(f"median {measure} seconds: {slow:.2f} with the nanny's setting, {fast:.2f} without: {slow / fast:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
