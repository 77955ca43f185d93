"""Parameters and profiles: what a user would type is accepted, the rest is
rejected with one line naming the parameter; CLI errors are one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from mnist_lib import config
from mnist_lib.config import ParameterError

REPO = Path(__file__).resolve().parent.parent


def base_params(tmp_path, **overrides):
    values = dict(dataset="mnist", data_dir="data", data_source=None, seed=0, device="cpu", train_limit=None, test_limit=None,
                  output_dir=str(tmp_path), checkpoint_dir=str(tmp_path / "ckpt"), epochs=10, batch_size=128,
                  optimizer="adam", lr=0.002, scheduler="onecycle", weight_decay=0.0, label_smoothing=0.0,
                  normalization="dataset", memory_format="auto", compile_model=None, threads=None, fused_optimizer=None,
                  precision="fp32",
                  misses_shown=32)
    values.update(overrides)
    return values


def test_strings_a_user_would_type_are_coerced(tmp_path):
    p = config.validate_params("02_ann", base_params(tmp_path, epochs="5", lr="1e-3", batch_size="64",
                                                     train_limit="6000", data_source="none", seed="7",
                                                     compile_model="no", threads="1", precision="bf16"))
    assert (p.epochs, p.lr, p.batch_size, p.train_limit, p.data_source, p.seed) == (5, 0.001, 64, 6000, None, 7)
    assert (p.compile_model, p.threads, p.precision) == (False, 1, "bf16")
    eda = config.validate_params("01_eda", {"augment": "false", "rotation": "15"}, partial=True)
    assert eda.augment is False and eda.rotation == 15.0
    opt = config.validate_params("05_optimizers", {"optimizers": "sgd, adam", "learning_rates": "sgd:0.1,adam=1e-3"},
                                 partial=True)
    assert opt.optimizers == ["sgd", "adam"] and opt.learning_rates == {"sgd": 0.1, "adam": 0.001}


@pytest.mark.parametrize("name,value,fragment", [
    ("epochs", 0, "parameter 'epochs': expected a whole number in [1, 1000]"),
    ("epochs", "five", "parameter 'epochs'"),
    ("epochs", -3, "parameter 'epochs'"),
    ("epochs", 2.5, "parameter 'epochs'"),
    ("epochs", True, "parameter 'epochs'"),
    ("lr", 0, "parameter 'lr': expected a number in (0, 100]"),
    ("lr", "nan", "parameter 'lr'"),
    ("batch_size", 0, "parameter 'batch_size'"),
    ("train_limit", 70000, "parameter 'train_limit'"),
    ("test_limit", 20000, "parameter 'test_limit'"),
    ("optimizer", "adagrad", "one of sgd, momentum, nesterov, adam, adamw, rmsprop"),
    ("scheduler", "plateau", "one of none, step, cosine, onecycle"),
    ("normalization", "zscore", "one of dataset, half, none, raw"),
    ("device", "tpu", "one of auto, cpu, cuda, mps"),
    ("memory_format", "nhwc", "parameter 'memory_format': expected one of auto, contiguous, channels_last"),
    ("compile_model", "maybe", "parameter 'compile_model': expected true or false (or none)"),
    ("threads", 0, "parameter 'threads': expected a whole number in [1, 1024] (or none)"),
    ("precision", "fp16", "parameter 'precision': expected one of fp32, bf16"),
])
def test_bad_values_name_the_parameter_and_the_valid_choices(tmp_path, name, value, fragment):
    with pytest.raises(ParameterError) as err:
        config.validate_params("02_ann", base_params(tmp_path, **{name: value}))
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_cross_checks_against_the_data(tmp_path):
    with pytest.raises(ParameterError, match="'batch_size': 5000 is larger than the training data \\(1000\\)"):
        config.validate_params("02_ann", base_params(tmp_path, train_limit=1000, batch_size=5000))
    with pytest.raises(ParameterError, match="'image_index'"):
        config.validate_params("06_feature_maps", {"image_index": 600, "test_limit": 500}, partial=True)
    with pytest.raises(ParameterError, match="no learning rate for optimizer 'adam'"):
        params = {**base_params(tmp_path), "optimizers": "sgd,adam", "learning_rates": "sgd:0.1",
                  "target_accuracy": 97}
        spec = config.NOTEBOOK_PARAMS["05_optimizers"]
        config.validate_params("05_optimizers", {k: v for k, v in params.items() if k in spec})
    with pytest.raises(ParameterError, match="hidden_layers"):
        config.validate_params("07_hyperparameters", {"hidden_layers": "128-abc"}, partial=True)
    assert config.parse_hidden("256-128-64") == (256, 128, 64) and config.parse_hidden("linear") == ()


def test_dataset_parameter_and_its_cross_checks(tmp_path):
    assert config.validate_params("02_ann", base_params(tmp_path, dataset="fashion-mnist")).dataset == "fashion-mnist"
    with pytest.raises(ParameterError, match="parameter 'dataset': expected one of mnist, fashion-mnist, idx, got 'cifar'"):
        config.validate_params("02_ann", base_params(tmp_path, dataset="cifar"))
    with pytest.raises(ParameterError, match="parameter 'data_source': dataset 'idx' reads the folder given as "
                                             "data_source"):
        config.validate_params("02_ann", base_params(tmp_path, dataset="idx"))
    assert config.validate_params("02_ann", {"dataset": "idx"}, partial=True).dataset == "idx"  # a profile may leave it
    eda = dict(dataset="mnist", augment=True, rotation=10, translate=0.1, scale_range=0.1, shear=5, brightness=0,
               contrast=0)
    with pytest.raises(ParameterError) as err:
        config.validate_params("04_cnn", {**eda, "hflip": "true"}, partial=True)
    assert str(err.value) == ("parameter 'hflip': a mirrored MNIST digit is not the same digit, so horizontal flips "
                              "are not allowed for mnist (allowed for: fashion-mnist, idx)")
    # The default (None) follows the dataset; an explicit choice is kept where it is allowed.
    assert config.augmentation_from({**eda, "hflip": None}).hflip is False
    assert config.augmentation_from({**eda, "dataset": "fashion-mnist", "hflip": None}).hflip is True
    assert config.augmentation_from({**eda, "dataset": "fashion-mnist", "hflip": False}).hflip is False
    assert config.augmentation_from({**eda, "dataset": "idx", "hflip": None}).hflip is False
    assert config.augmentation_from({**eda, "dataset": "idx", "hflip": True}).hflip is True


def test_a_hand_run_on_another_dataset_writes_to_its_own_reports_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project / "notebooks")
    names = config.NOTEBOOK_PARAMS["02_ann"]
    values = {k: v for k, v in base_params(tmp_path).items() if k in names}
    mnist = config.notebook_params("02_ann", {**values, "output_dir": None})
    assert mnist.output_dir == str(project / "reports")
    fashion = config.notebook_params("02_ann", {**values, "dataset": "fashion-mnist", "output_dir": None})
    assert fashion.output_dir == str(project / "reports" / "fashion-mnist")
    folder = tmp_path / "my-data"
    folder.mkdir()
    idx = config.notebook_params("02_ann", {**values, "dataset": "idx", "data_source": str(folder), "output_dir": None})
    assert idx.output_dir == str(project / "reports" / "idx-my-data")
    given = config.notebook_params("02_ann", {**values, "dataset": "fashion-mnist"})
    assert given.output_dir == str(tmp_path)  # a folder given is used as it is


def test_unknown_and_missing_parameters(tmp_path):
    with pytest.raises(ParameterError, match="unknown parameter 'epoch' for 02_ann; valid: dataset, data_dir"):
        config.validate_params("02_ann", {**base_params(tmp_path), "epoch": 3})
    params = base_params(tmp_path)
    del params["lr"]
    with pytest.raises(ParameterError, match="parameter 'lr' is missing"):
        config.validate_params("02_ann", params)


def test_output_folder_must_exist_and_be_writable(tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match="'output_dir': folder .* does not exist"):
        config.validate_params("02_ann", base_params(tmp_path, output_dir=str(tmp_path / "missing")))
    real_access = os.access
    monkeypatch.setattr(config.os, "access", lambda path, mode: False if str(path) == str(tmp_path) else
                        real_access(path, mode))
    with pytest.raises(ParameterError, match="not writable"):
        config.validate_params("02_ann", base_params(tmp_path))


def test_shipped_profiles_are_valid():
    for name in config.PROFILES:
        profile = config.load_profile(name)
        for notebook in config.NOTEBOOKS:
            profile.params_for(notebook)
    quick = config.load_profile("quick")
    assert quick.params_for("02_ann")["train_limit"] == 6000
    assert "examples_per_digit" not in quick.params_for("02_ann")


@pytest.mark.parametrize("text,fragment", [
    ("02_ann: {epochs: 3\n", "malformed YAML"),
    ("02_ann:\n  epoch: 3\n", "unknown key 'epoch' in section '02_ann'; valid keys: dataset, data_dir"),
    ("08_gan:\n  epochs: 3\n", "unknown section '08_gan'; valid: common, 01_eda"),
    ("common:\n  epocs: 3\n", "unknown key 'epocs' in section 'common'"),
    ("02_ann:\n  epochs: 0\n", "section '02_ann': parameter 'epochs'"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_bad_profiles_name_the_file_and_key(tmp_path, text, fragment):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(ParameterError) as err:
        config.load_profile(str(path))
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ParameterError, match="unknown profile 'fast'; valid: quick, full"):
        config.load_profile("fast")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mnist_lib", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_the_entry_point_prints_one_line_and_exits_2():
    """The real ``python -m mnist_lib`` (the other CLI tests call the same main in-process)."""
    done = cli("reports", "--profile", "fast")
    assert done.returncode == 2
    assert "unknown profile 'fast'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,fragment", [
    (("reports", "--only", "02_ann,09_x"), "--only: unknown notebook '09_x'"),  # --profile fast: just above
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, args, fragment):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_data_with_a_bad_source_names_every_source(capsys, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    code, out, err = run_cli(capsys, "data", "--offline", "--data-dir", tmp_path / "d", "--source", tmp_path / "src")
    assert code == 2 and "Traceback" not in err
    assert f"local folder {tmp_path / 'src'}: CorruptFileError: truncated" in err
    assert "python -m mnist_lib data --source DIR" in err


def test_cli_data_prints_a_verified_location(capsys, tmp_path, mnist_source):
    code, out, err = run_cli(capsys, "data", "--data-dir", tmp_path / "d", "--source", mnist_source)
    assert code == 0, err
    assert f"MNIST verified in {tmp_path / 'd' / 'MNIST' / 'raw'}" in out


# --------------------------------------------------------------------------- paths resolve against the project


def fake_project(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def test_path_defaults_resolve_against_the_project_from_its_root_or_notebooks(tmp_path, monkeypatch):
    project = fake_project(tmp_path / "proj")
    for cwd in (project, project / "notebooks"):
        monkeypatch.chdir(cwd)
        p = config.validate_params("02_ann", base_params(tmp_path, data_dir=None, output_dir=None,
                                                         checkpoint_dir=None))
        assert p.data_dir == str(project / "data")
        assert p.output_dir == str(project / "reports")  # need not exist yet: the project may be fresh
        assert p.checkpoint_dir == str(project / "checkpoints")
    # A path the user gives is taken as given (relative to where they run), never re-anchored.
    given = config.validate_params("02_ann", base_params(tmp_path, data_dir="elsewhere"))
    assert given.data_dir == "elsewhere"
    assert "none for the project's reports/ folder" in config.COMMON["output_dir"].describe()


def test_outside_any_project_the_checkout_of_the_package_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config.project_root() == REPO
    monkeypatch.setattr(config, "find_project", lambda start: None)
    with pytest.raises(ParameterError, match="parameter 'output_dir': no project found from") as err:
        config.validate_params("02_ann", base_params(tmp_path, output_dir=None))
    assert "\n" not in str(err.value)


def test_output_dir_that_is_a_file_is_named(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(ParameterError, match="'output_dir': .*a-file' is a file, not a folder"):
        config.validate_params("02_ann", base_params(tmp_path, output_dir=str(target)))


# --------------------------------------------------------------------------- profile files that cannot be read


def test_profile_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# réglages\n02_ann:\n  epochs: 3\n".encode("latin-1"))
    with pytest.raises(ParameterError) as err:
        config.load_profile(str(path))
    message = str(err.value)
    assert str(path) in message and "is not UTF-8 text (byte 3" in message and "\n" not in message


@pytest.mark.parametrize("make,fragment", [
    (lambda p: p.mkdir(), "is a folder, not a file"),
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("02_ann: {}\n"), "cannot be read (permission denied)"),
])
def test_profile_path_that_is_not_a_readable_file_is_one_line(tmp_path, monkeypatch, make, fragment):
    path = tmp_path / "mine.yaml"
    make(path)
    if "permission" in fragment:  # chmod does not stop root, so the refusal is simulated
        def refuse(self):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ParameterError) as err:
        config.load_profile(str(path))
    assert str(path) in str(err.value) and fragment in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- papermill from the repository root


def papermill_from(cwd: Path, notebook: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MNIST_REPORTS_BATCH": "1"}
    return subprocess.run([sys.executable, "-m", "papermill", str(notebook), str(out), "-k", "python3",
                           "--no-progress-bar", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_readme_example_from_the_repository_root_stops_on_epochs(tmp_path):
    done = papermill_from(REPO, Path("notebooks/02_ann.ipynb"), tmp_path / "out.ipynb", "-p", "epochs", "0")
    assert done.returncode != 0
    assert "parameter 'epochs': expected a whole number in [1, 1000], got 0" in done.stderr, done.stderr[-2000:]
    assert "output_dir" not in done.stderr


@pytest.mark.slow
def test_papermill_from_a_project_root_uses_the_projects_folders(tmp_path, mnist_data_dir):
    """A project laid out like this checkout; papermill run from its root with the notebook's
    defaults finds the project's data and writes to the project's reports."""
    project = fake_project(tmp_path / "proj")
    notebook = project / "notebooks" / "02_ann.ipynb"
    notebook.write_bytes((REPO / "notebooks" / "02_ann.ipynb").read_bytes())
    (project / "data").symlink_to(mnist_data_dir, target_is_directory=True)
    done = papermill_from(project, Path("notebooks/02_ann.ipynb"), tmp_path / "out.ipynb", "-p", "epochs", "1",
                          "-p", "train_limit", "1000", "-p", "test_limit", "500", "-p", "misses_shown", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    metrics = json.loads((project / "reports" / "02_ann.metrics.json").read_text())
    assert metrics["params"]["output_dir"] == str(project / "reports")
    assert metrics["params"]["data_dir"] == str(project / "data")
    assert metrics["params"]["checkpoint_dir"] == str(project / "checkpoints")
