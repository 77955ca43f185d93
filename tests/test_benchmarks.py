"""The benchmark script: a smoke run end to end (small subset, one repeat, short
timings) writes every section to the JSON and the markdown; the arguments are
checked with one line each; the recipe, transforms and derived numbers say what
they are."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mnist_lib import cells, recipes, runtime

REPO = Path(__file__).resolve().parent.parent


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = load_bench()


@pytest.mark.slow  # trains the CNN through four pipelines and four models through the settings table
@pytest.mark.extended
def test_smoke_benchmark_writes_every_section(tmp_path, mnist_data_dir):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--data-dir",
                           str(mnist_data_dir), "--output", str(tmp_path)], capture_output=True, text=True,
                          timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "benchmarks.json").read_text())
    assert record["smoke"] is True and record["device"] == "cpu"
    assert set(record["load_average"]) == {"pipelines", "model_epochs", "settings"}
    assert set(record["pipelines"]) == {"floor", "in_memory", "dataloader", "canonical"}
    assert all(p["images_per_s_median"] > 0 for p in record["pipelines"].values())
    for name in ("in_memory", "dataloader", "canonical"):
        assert record["pipelines"][name]["preparation_s_median"] > 0
    overhead = record["overhead_vs_floor_percent"]
    floor = record["pipelines"]["floor"]["images_per_s_median"]
    ours = record["pipelines"]["in_memory"]["images_per_s_median"]
    assert overhead["in_memory"] == pytest.approx((floor / ours - 1) * 100)
    assert overhead["dataloader"] is not None
    calibration = record["dataloader_calibration"]
    assert set(calibration["images_per_s_median"]) == {"num_workers=0, pin_memory=False",
                                                       "num_workers=1, pin_memory=False",
                                                       "num_workers=2, pin_memory=False"}
    assert record["pipelines"]["dataloader"]["setting"] == calibration["chosen"] == max(
        calibration["images_per_s_median"], key=calibration["images_per_s_median"].get)
    assert set(record["epoch_seconds"]) == {"ann", "mlp", "lenet5", "cnn"}
    settings = record["settings"]
    assert set(settings["models"]) == {"ann", "mlp", "lenet5", "cnn"}
    for name, entry in settings["models"].items():
        rows = entry["rows"]
        assert {"eager", "eager, 1 thread", "channels_last", "fused optimizer", "channels_last + fused optimizer, 1 thread",
                "torch.compile", "bf16 autocast"} <= set(rows)
        assert rows["fused optimizer"]["train_images_per_s_median"] > 0
        recipe = bench.model_recipe(name)
        assert entry["recipe"]["batch_size"] == recipe.batch_size and entry["recipe"]["optimizer"] == recipe.optimizer
        assert [c["process_threads"] for c in entry["chosen"]] == sorted({settings["default_threads"], 1, 2},
                                                                          reverse=True)
        for chosen in entry["chosen"]:
            assert chosen["setting"] in rows and chosen["setting"] != "bf16 autocast"
            assert rows[chosen["setting"]]["threads"] <= chosen["process_threads"]
            assert chosen["eval_batch_size"] == entry["fastest_eval_batch"]
        assert rows["eager"]["train_images_per_s_median"] > 0 and rows["eager"]["eval_images_per_s_median"] > 0
        assert rows["torch.compile"]["compile_s"] > 0 and rows["torch.compile"]["train_images_per_s_median"] > 0
        if name in ("ann", "mlp"):
            assert rows["channels_last"]["note"] == rows["channels_last, 1 thread"]["note"] == "n/a: no convolutions"
        else:
            assert rows["channels_last"]["train_images_per_s_median"] > 0
        assert set(entry["eval_by_batch_median"]) == {"250", "2000"}
    table = (tmp_path / "benchmarks.md").read_text()
    for fragment in ("compute floor", "overhead over the floor", "a recipe-and-model comparison",
                     f"adam lr {recipes.recipe('cnn').lr:g}, onecycle schedule", "(bilinear)",
                     f"{calibration['chosen']} (chosen)", "## Execution settings per model",
                     "n/a: no convolutions", "Evaluation images/s by batch size", "smoke run, not for quoting",
                     "Chosen per model", "cnn (adam, batch 128)",
                     "Machine load average (1 min)"):
        assert fragment in table, fragment
    assert table in done.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--pipelines", "tpu"], "--pipelines: unknown section 'tpu'; choose from floor, in_memory, dataloader, "
                             "canonical, model_epochs, settings"),
    (["--device", "mps"], "--device: 'mps' is not one of cpu, cuda"),
    (["--threads", "0"], "--threads: expected thread counts >= 1"),
    (["--repeats", "0"], "--repeats: expected a whole number >= 1, got 0"),
    (["--train-limit", "50"], "--train-limit: expected a whole number in [1000, 60000], got 50"),
    (["--repeats", "two"], "argument --repeats: invalid int value: 'two'"),
    (["--compile-backend", "xla"], "--compile-backend: 'xla' is not one of inductor, eager, none"),
])
def test_bad_arguments_stop_with_one_line(args, fragment, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_cuda_without_a_gpu_stops_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        bench.parse_args(["--device", "cuda"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "--device cuda: no CUDA device is available here" in err


@pytest.mark.slow  # a fresh interpreter importing torch: seconds; the in-process test above stays fast
def test_cuda_message_from_the_command_line():
    if torch.cuda.is_available():
        args = bench.parse_args(["--device", "cuda"])
        assert args.device == "cuda"
        return
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--device", "cuda"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "--device cuda: no CUDA device is available here" in done.stderr and "use --device cpu" in done.stderr


def test_recipe_is_04s_with_a_shorter_schedule():
    recipe = bench.Recipe()
    default = recipes.recipe("cnn")
    assert recipe.train_config(3) == replace(recipes.train_config({**default, "seed": 3, "epochs": recipe.epochs}, "cnn"),
                                             restore_best=False)
    described = recipe.describe()
    assert described["lr"] == default.lr and described["normalization"] == "half"
    assert described["source"] == f"04_cnn defaults, schedule over {recipe.epochs} epochs"


def test_dataloader_transforms_draw_the_same_affine_with_bilinear_interpolation():
    from torchvision import transforms

    recipe = bench.Recipe()
    aug = recipe.augment
    train_tf, test_tf = bench.recipe_transforms(recipe, 0.5, 0.5)
    affine = next(t for t in train_tf.transforms if isinstance(t, transforms.RandomAffine))
    assert affine.interpolation == transforms.InterpolationMode.BILINEAR
    assert affine.degrees == [-aug.rotation, aug.rotation] and affine.shear == [-aug.shear, aug.shear]
    assert affine.translate == (aug.translate, aug.translate) and affine.scale == aug.scale
    jitter = next(t for t in train_tf.transforms if isinstance(t, transforms.ColorJitter))
    assert jitter.brightness == (1 - aug.brightness, 1 + aug.brightness)
    assert [type(t) for t in test_tf.transforms] == [transforms.ToTensor, transforms.Normalize]


def test_loader_settings_try_pinned_memory_only_for_a_gpu():
    assert [s.label() for s in bench.loader_settings(torch.device("cpu"))] == [
        "num_workers=0, pin_memory=False", "num_workers=1, pin_memory=False", "num_workers=2, pin_memory=False"]
    assert len(bench.loader_settings(torch.device("cuda"))) == 6
    assert bench.LoaderSetting(2, True).kwargs() == {"num_workers": 2, "pin_memory": True, "persistent_workers": True}


def test_overheads_and_ratios_are_derived_from_the_medians():
    record = {"pipelines": {
        "floor": {"images_per_s_median": 1000.0},
        "in_memory": {"images_per_s_median": 800.0, "time_to_99_s_median": 100.0},
        "dataloader": {"images_per_s_median": 250.0, "time_to_99_s_median": 400.0},
        "canonical": {"images_per_s_median": 300.0, "time_to_99_s_median": None, "seconds_run_median": 900.0},
    }}
    out = bench.derived(record)
    assert out["overhead_vs_floor_percent"] == {"in_memory": pytest.approx(25.0), "dataloader": pytest.approx(300.0)}
    assert out["ratio_vs_dataloader"] == 4.0 and out["ratio_vs_canonical"] is None
    assert out["ratio_vs_canonical_lower_bound"] == 9.0 and out["images_per_s_ratio_vs_dataloader"] == 3.2


def test_execution_settings_rows():
    rows = bench.exec_settings([1, 2], default_threads=2, compile_models=True)
    assert [(r.name, r.threads, r.channels_last, r.fused_optimizer, r.compile, r.precision) for r in rows] == [
        ("eager", 2, False, False, False, "fp32"), ("fused optimizer", 2, False, True, False, "fp32"),
        ("channels_last", 2, True, False, False, "fp32"),
        ("channels_last + fused optimizer", 2, True, True, False, "fp32"),
        ("channels_last from conv 2 + fused optimizer", 2, True, True, False, "fp32"),
        ("channels_last from conv 3 + fused optimizer", 2, True, True, False, "fp32"),
        ("eager, 1 thread", 1, False, False, False, "fp32"), ("fused optimizer, 1 thread", 1, False, True, False, "fp32"),
        ("channels_last, 1 thread", 1, True, False, False, "fp32"),
        ("channels_last + fused optimizer, 1 thread", 1, True, True, False, "fp32"),
        ("channels_last from conv 2 + fused optimizer, 1 thread", 1, True, True, False, "fp32"),
        ("channels_last from conv 3 + fused optimizer, 1 thread", 1, True, True, False, "fp32"),
        ("torch.compile", 2, False, False, True, "fp32"), ("bf16 autocast", 2, False, False, False, "bf16")]
    names = [r.name for r in bench.exec_settings([1, 2], default_threads=4, compile_models=False)]
    assert len(names) == 3 * 6 + 1 and names[-1] == "bf16 autocast" and "channels_last, 2 threads" in names


def test_each_model_is_measured_with_its_notebooks_recipe():
    lenet, mlp = bench.model_recipe("lenet5"), bench.model_recipe("mlp")
    epochs = cells.defaults(REPO / "notebooks" / "03_lenet.ipynb")["epochs"]  # the recipe's, whatever a sweep chose
    assert (lenet.notebook, lenet.optimizer, lenet.batch_size, lenet.epochs, lenet.runs) == ("03_lenet", "adam", 128,
                                                                                          epochs, 1)
    assert lenet.full_run_images == epochs * 55_000
    assert (mlp.notebook, mlp.optimizer, mlp.lr, mlp.batch_size, mlp.runs) == ("05_optimizers", "adam", 0.001, 64, 3)


def _entry(eager, **others):
    rows = {"eager": {"train_images_per_s_median": eager, "threads": 2, "channels_last": False, "compile": False,
                      "precision": "fp32", "compile_s": None, "fused_optimizer": False}}
    for name, (ips, extra) in others.items():
        rows[name] = {"train_images_per_s_median": ips, "threads": 2, "channels_last": False, "compile": False,
                      "precision": "fp32", "compile_s": None, **extra}
    return {"name": "lenet5", "rows": rows, "fastest_eval_batch": 1000}


def test_a_setting_is_chosen_only_when_it_is_clearly_faster_over_a_full_run():
    recipe = bench.ModelRecipe("03_lenet", "adam", 3e-3, 128, epochs=15)  # 825,000 images
    pick = bench.choose_setting(_entry(1000, channels_last=(1600, {"channels_last": True})), recipe, 2, 1.05)
    assert (pick["setting"], pick["memory_format"], pick["threads"], pick["eval_batch_size"]) == \
        ("channels_last", "channels_last", None, 1000)
    assert pick["speedup"] == pytest.approx(1.6) and pick["seconds_saved_full_run"] == pytest.approx(825 - 515.625)
    # 3% faster is within the noise: eager stays.
    assert bench.choose_setting(_entry(1000, channels_last=(1030, {"channels_last": True})), recipe, 2,
                                1.05)["setting"] == "eager"
    # Twice as fast but 900 s of compiling to save 412 s: eager stays. bf16 is never chosen.
    assert bench.choose_setting(_entry(1000, **{"torch.compile": (2000, {"compile": True, "compile_s": 900.0}),
                                                "bf16 autocast": (3000, {"precision": "bf16"})}), recipe, 2,
                                1.05)["setting"] == "eager"
    # One thread beating two: chosen, as a ceiling of 1 thread.
    one = bench.choose_setting(_entry(1000, **{"eager, 1 thread": (1300, {"threads": 1})}), recipe, 2, 1.05)
    assert (one["setting"], one["threads"]) == ("eager, 1 thread", 1)
    # For a one-thread process the baseline is eager on one thread, and two-thread rows are out.
    entry = _entry(1000, **{"eager, 1 thread": (600, {"threads": 1}),
                            "channels_last, 1 thread": (900, {"threads": 1, "channels_last": True}),
                            "channels_last": (1010, {"channels_last": True})})
    single = bench.choose_setting(entry, recipe, 2, 1.05, process_threads=1)
    assert (single["setting"], single["speedup"], single["threads"]) == ("channels_last, 1 thread", 1.5, None)
    assert bench.choose_setting(entry, recipe, 2, 1.05)["setting"] == "eager"
    fused = bench.choose_setting(_entry(1000, **{"fused optimizer": (1400, {"fused_optimizer": True}),
                                                 "channels_last + fused optimizer": (1500, {"fused_optimizer": True,
                                                                                           "channels_last": True})}),
                                 recipe, 2, 1.05)
    assert (fused["setting"], fused["fused_optimizer"], fused["memory_format"], fused["fused_for"]) == \
        ("channels_last + fused optimizer", True, "channels_last", ["adam"])  # measured with 03's Adam only
    partial = bench.choose_setting(_entry(1000, **{
        "channels_last + fused optimizer": (900, {"fused_optimizer": True, "channels_last": True}),
        "channels_last from conv 2 + fused optimizer": (1250, {"fused_optimizer": True, "channels_last": True,
                                                               "channels_last_from": 1})}), recipe, 2, 1.05)
    assert (partial["setting"], partial["memory_format"], partial["channels_last_from"]) == \
        ("channels_last from conv 2 + fused optimizer", "channels_last", 1)


def test_a_setting_runner_measures_on_prebuilt_tensors():
    setting = bench.ExecSetting("channels_last", runtime.ExecSettings(memory_format="channels_last",
                                                                         threads=torch.get_num_threads()))
    runner = bench.SettingRunner("lenet5", setting, torch.device("cpu"), batch_size=16, eval_batch=250, seed=0,
                                 backend="inductor")
    assert runner.x[0].shape == (16, 1, 32, 32)
    assert runner.model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert runner.compile_s is None
    before = runner.model.conv1.weight.detach().clone()
    assert runner.train_images_per_s(min_seconds=0.0) > 0 and not torch.equal(before, runner.model.conv1.weight)
    assert runner.eval_images_per_s(250, min_seconds=0.0) > 0 and runner.model.training


def test_thread_count_is_restored_after_a_setting():
    before = torch.get_num_threads()
    with bench.intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_the_machine_load_is_stated_beside_the_numbers():
    record = {"load_average": {"settings": {"before": 3.5, "after": 2.0, "cores": 2},
                               "pipelines": {"before": 0.4, "after": 0.6, "cores": 2}}}
    busy = bench.load_text(record, "settings")
    assert "3.5 before, 2.0 after, on 2 cores" in busy and "noisy" in busy
    quiet = bench.load_text(record, "pipelines")
    assert "0.4 before, 0.6 after" in quiet and "noisy" not in quiet
    assert bench.load_text(record, "model_epochs") == ""
