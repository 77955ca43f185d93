"""The benchmark script runs end to end (quick mode: a small subset, one repeat)
and writes the machine-readable keys and the markdown table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_quick_benchmark_writes_json_and_table(tmp_path, mnist_data_dir):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--data-dir",
                           str(mnist_data_dir), "--output", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "benchmarks.json").read_text())
    for key in ("cnn_time_to_99_s", "ratio_vs_dataloader", "ratio_vs_canonical", "full_build_s", "epoch_seconds",
                "pipelines", "images_per_s_ratio_vs_dataloader"):
        assert key in record
    assert set(record["pipelines"]) == {"in_memory", "dataloader", "canonical"}
    assert all(p["images_per_s_median"] > 0 for p in record["pipelines"].values())
    assert set(record["epoch_seconds"]) == {"ann", "mlp", "lenet5", "cnn"}
    table = (tmp_path / "benchmarks.md").read_text()
    assert "| pipeline | time to 99% (s) | images/s |" in table and "canonical" in table
    assert table in done.stdout


def test_benchmark_rejects_unknown_pipelines(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--pipelines", "tpu"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and "--pipelines from in_memory, dataloader, canonical" in done.stderr
