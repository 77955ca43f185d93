"""Parameters and profiles: what a user would type is accepted, the rest is
rejected with one line naming the parameter; CLI errors are one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_lib import catalogue, params, profiles, recipes
from mnist_lib.params import ParameterError

REPO = Path(__file__).resolve().parent.parent


def base_params(tmp_path, **overrides):
    """Every parameter of 02_ann: its cell's defaults, folders of this test, CPU."""
    from mnist_lib import cells

    values = {**cells.defaults(cells.notebook_path("02_ann")), "data_dir": "data", "output_dir": str(tmp_path),
              "device": "cpu", "optimizer": "adam", "lr": 0.002, "weight_decay": 0.0, "label_smoothing": 0.0}
    values.update(overrides)
    return values


def test_strings_a_user_would_type_are_coerced(tmp_path):
    p = params.validate("02_ann", base_params(tmp_path, epochs="5", lr="1e-3", batch_size="64",
                                                     train_limit="6000", data_source="none", seed="7",
                                                     compile_model="no", threads="1", precision="bf16"))
    assert (p.epochs, p.lr, p.batch_size, p.train_limit, p.data_source, p.seed) == (5, 0.001, 64, 6000, None, 7)
    assert (p.compile_model, p.threads, p.precision) == (False, 1, "bf16")
    eda = params.validate("01_eda", {"augment": "false", "rotation": "15"}, partial=True)
    assert eda.augment is False and eda.rotation == 15.0
    opt = params.validate("05_optimizers", {"optimizers": "sgd, adam", "lr_per_optimizer": "sgd:0.1,adam=1e-3"},
                                 partial=True)
    assert opt.optimizers == ["sgd", "adam"] and opt.lr_per_optimizer == {"sgd": 0.1, "adam": 0.001}


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
    ("threads", 0, "parameter 'threads': expected a whole number in [1, 256], got 0"),
        ("threads", None, "parameter 'threads': expected a whole number in [1, 256], got None"),
    ("precision", "fp16", "parameter 'precision': expected one of fp32, bf16"),
])
def test_bad_values_name_the_parameter_and_the_valid_choices(tmp_path, name, value, fragment):
    with pytest.raises(ParameterError) as err:
        params.validate("02_ann", base_params(tmp_path, **{name: value}))
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_cross_checks_against_the_data(tmp_path):
    with pytest.raises(ParameterError, match="'batch_size': 5000 is larger than the training data \\(1000\\)"):
        params.validate("02_ann", base_params(tmp_path, train_limit=1000, batch_size=5000))
    with pytest.raises(ParameterError, match="'image_index'"):
        params.validate("06_feature_maps", {"image_index": 600, "test_limit": 500}, partial=True)
    with pytest.raises(ParameterError, match="no learning rate for optimizer 'adam'"):
        values = {**base_params(tmp_path), "optimizers": "sgd,adam", "lr_per_optimizer": "sgd:0.1",
                  "target_accuracy": 97}
        names = params.notebook_parameters("05_optimizers")
        params.validate("05_optimizers", {k: v for k, v in values.items() if k in names})
    with pytest.raises(ParameterError, match="hidden_layers"):
        params.validate("07_hyperparameters", {"hidden_layers": "128-abc"}, partial=True)
    assert params.parse_hidden("256-128-64") == (256, 128, 64) and params.parse_hidden("linear") == ()


def test_dataset_parameter_and_its_cross_checks(tmp_path):
    assert params.validate("02_ann", base_params(tmp_path, dataset="fashion-mnist")).dataset == "fashion-mnist"
    with pytest.raises(ParameterError, match="parameter 'dataset': expected one of mnist, fashion-mnist, idx, got 'cifar'"):
        params.validate("02_ann", base_params(tmp_path, dataset="cifar"))
    with pytest.raises(ParameterError, match="parameter 'data_source': dataset 'idx' reads the folder given as "
                                             "data_source"):
        params.validate("02_ann", base_params(tmp_path, dataset="idx"))
    assert params.validate("02_ann", {"dataset": "idx"}, partial=True).dataset == "idx"  # a profile may leave it
    eda = dict(dataset="mnist", augment=True, rotation=10, translate=0.1, scale_range=0.1, shear=5, brightness=0,
               contrast=0)
    with pytest.raises(ParameterError) as err:
        params.validate("04_cnn", {**eda, "hflip": "true"}, partial=True)
    assert str(err.value) == ("parameter 'hflip': a mirrored MNIST digit is not the same digit, so mirrored images "
                              "are not allowed for mnist (allowed for: fashion-mnist, idx)")
    with pytest.raises(ParameterError, match="parameter 'tta': a mirrored MNIST digit"):
        params.validate("04_cnn", {**eda, "tta": "flip"}, partial=True)
    assert params.validate("04_cnn", {**eda, "dataset": "fashion-mnist", "tta": "flip"}, partial=True).tta == "flip"
    # The default (None) follows the dataset; an explicit choice is kept where it is allowed.
    assert recipes.augmentation({**eda, "hflip": None}).hflip is False
    assert recipes.augmentation({**eda, "dataset": "fashion-mnist", "hflip": None}).hflip is True
    assert recipes.augmentation({**eda, "dataset": "fashion-mnist", "hflip": False}).hflip is False
    assert recipes.augmentation({**eda, "dataset": "idx", "hflip": None}).hflip is False
    assert recipes.augmentation({**eda, "dataset": "idx", "hflip": True}).hflip is True


def test_a_hand_run_on_another_dataset_writes_to_its_own_reports_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project / "notebooks")
    names = params.notebook_parameters("02_ann")
    values = {k: v for k, v in base_params(tmp_path).items() if k in names}
    mnist = params.notebook_params("02_ann", {**values, "output_dir": None})
    assert mnist.output_dir == str(project / "reports")
    fashion = params.notebook_params("02_ann", {**values, "dataset": "fashion-mnist", "output_dir": None})
    assert fashion.output_dir == str(project / "reports" / "fashion-mnist")
    folder = tmp_path / "my-data"
    folder.mkdir()
    idx = params.notebook_params("02_ann", {**values, "dataset": "idx", "data_source": str(folder), "output_dir": None})
    assert idx.output_dir == str(project / "reports" / "idx-my-data")
    given = params.notebook_params("02_ann", {**values, "dataset": "fashion-mnist"})
    assert given.output_dir == str(tmp_path)  # a folder given is used as it is


def test_unknown_and_missing_parameters(tmp_path):
    with pytest.raises(ParameterError, match="unknown parameter 'epoch' for 02_ann; valid: dataset, data_dir"):
        params.validate("02_ann", {**base_params(tmp_path), "epoch": 3})
    values = base_params(tmp_path)
    del values["lr"]
    with pytest.raises(ParameterError, match="parameter 'lr' is missing"):
        params.validate("02_ann", values)


def test_output_folder_must_exist_and_be_writable(tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match="'output_dir': folder .* does not exist"):
        params.validate("02_ann", base_params(tmp_path, output_dir=str(tmp_path / "missing")))
    real_access = os.access
    monkeypatch.setattr(params.os, "access", lambda path, mode: False if str(path) == str(tmp_path) else
                        real_access(path, mode))
    with pytest.raises(ParameterError, match="not writable"):
        params.validate("02_ann", base_params(tmp_path))


def test_shipped_profiles_are_valid():
    for name in profiles.PROFILES:
        profile = profiles.load_profile(name)
        for notebook in catalogue.series_names():
            profile.params_for(notebook)
    quick = profiles.load_profile("quick")
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
        profiles.load_profile(str(path))
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ParameterError, match="unknown profile 'fast'; valid: quick, full"):
        profiles.load_profile("fast")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mnist_lib", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


@pytest.mark.slow  # a subprocess
def test_the_entry_point_prints_one_line_and_exits_2():
    """The real ``python -m mnist_lib`` (the other CLI tests call the same main in-process)."""
    done = cli("reports", "--profile", "fast")
    assert done.returncode == 2
    assert "unknown profile 'fast'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,fragment", [
    (("reports", "--only", "02_ann,09_x"), "--only: unknown notebook '09_x'"),  # --profile fast: just above
])
def test_cli_bad_input_is_one_line_and_exit_2(run_cli, args, fragment):
    code, out, err = run_cli(*args)
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_data_with_a_bad_source_names_every_source(run_cli, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    code, out, err = run_cli("data", "--offline", "--data-dir", tmp_path / "d", "--source", tmp_path / "src")
    assert code == 2 and "Traceback" not in err
    assert f"local folder {tmp_path / 'src'}: CorruptFileError: truncated" in err
    assert "python -m mnist_lib data --source DIR" in err


def test_cli_data_prints_a_verified_location(run_cli, tmp_path, mnist_source):
    code, out, err = run_cli("data", "--data-dir", tmp_path / "d", "--source", mnist_source)
    assert code == 0, err
    assert out.startswith(f"MNIST: 4 files verified (SHA-256 ok) in {tmp_path / 'd' / 'MNIST' / 'raw'}, from local "
                          f"folder {mnist_source}; classes 0, 1, 2, 3, 4, 5, 6, 7, 8, 9") and out.count("\n") == 1


# --------------------------------------------------------------------------- paths resolve against the project


def fake_project(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return root


def test_path_defaults_resolve_against_the_project_from_its_root_or_notebooks(tmp_path, monkeypatch):
    project = fake_project(tmp_path / "proj")
    for cwd in (project, project / "notebooks"):
        monkeypatch.chdir(cwd)
        p = params.validate("02_ann", base_params(tmp_path, data_dir=None, output_dir=None))
        assert p.data_dir == str(project / "data")
        assert p.output_dir == str(project / "reports")  # need not exist yet: the project may be fresh
        lenet = params.validate("03_lenet", {"checkpoint_dir": None}, partial=True)
        assert lenet.checkpoint_dir == str(project / "checkpoints")
    # A path the user gives is taken as given (relative to where they run), never re-anchored.
    given = params.validate("02_ann", base_params(tmp_path, data_dir="elsewhere"))
    assert given.data_dir == "elsewhere"
    assert "none for the project's reports/ folder" in params.PARAMS["output_dir"].describe()


def test_outside_any_project_the_checkout_of_the_package_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert params.project_root() == REPO
    monkeypatch.setattr(params, "find_project", lambda start: None)
    with pytest.raises(ParameterError, match="parameter 'output_dir': no project found from") as err:
        params.validate("02_ann", base_params(tmp_path, output_dir=None))
    assert "\n" not in str(err.value)


def test_output_dir_that_is_a_file_is_named(tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(ParameterError, match="'output_dir': .*a-file' is a file, not a folder"):
        params.validate("02_ann", base_params(tmp_path, output_dir=str(target)))


# --------------------------------------------------------------------------- profile files that cannot be read


def test_profile_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# réglages\n02_ann:\n  epochs: 3\n".encode("latin-1"))
    with pytest.raises(ParameterError) as err:
        profiles.load_profile(str(path))
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
        profiles.load_profile(str(path))
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
    assert "checkpoint_dir" not in metrics["params"]  # 02 trains nothing it caches


# --------------------------------------------------------------------------- one declaration, the cells derived


def test_every_parameters_cell_is_declared_and_in_step_with_the_declarations():
    from mnist_lib import cells

    for notebook in catalogue.NOTEBOOKS:
        assert params.undeclared(notebook.name) == [], notebook.name
        for name, line in cells.read(cells.notebook_path(notebook.name)).items():
            declared = params.PARAMS[name]
            assert (line.annotation, line.comment) == (declared.annotation(), declared.comment()), (
                f"{notebook.name}: the line of {name!r} has drifted from mnist_lib.params: run `make sync-notebooks`")


def test_papermill_help_shows_each_parameters_declared_type_and_help():
    import papermill

    from mnist_lib import cells

    for notebook in catalogue.NOTEBOOKS:
        shown = papermill.inspect_notebook(str(cells.notebook_path(notebook.name)))
        assert list(shown) == list(params.notebook_parameters(notebook.name))
        for name, entry in shown.items():
            assert entry["inferred_type_name"] == params.PARAMS[name].annotation() != "None"
            assert entry["help"] == params.PARAMS[name].comment()


def test_a_cell_that_drifted_is_rewritten_from_the_declarations(tmp_path):
    import nbformat

    from mnist_lib import cells

    path = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('epochs = 3  # how long\nlr: float = 0.5  # step size\noptimizer = "sgd"')
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nbformat.write(nb, path)
    assert cells.sync(path, lambda n: params.PARAMS[n].annotation(), lambda n: params.PARAMS[n].comment())
    written = cells.read(path)
    assert {n: p.default for n, p in written.items()} == {"epochs": 3, "lr": 0.5, "optimizer": "sgd"}
    assert written["epochs"].comment == "passes over the training set, in [1, 1000]"
    assert written["optimizer"].annotation == "str" and "adamw" in written["optimizer"].comment
    assert not cells.sync(path, lambda n: params.PARAMS[n].annotation(), lambda n: params.PARAMS[n].comment())


def _invariants():
    """Each declared numeric range, as the dataclass that runs it takes it: a value at either end."""
    from dataclasses import replace

    from mnist_lib.analysis.hyperparameters import StudyConfig
    from mnist_lib.augment import Augmentation
    from mnist_lib.runtime import ExecSettings
    from mnist_lib.training import TrainConfig

    return {
        "epochs": lambda v: TrainConfig(epochs=v), "batch_size": lambda v: TrainConfig(batch_size=v),
        "lr": lambda v: TrainConfig(lr=v), "weight_decay": lambda v: TrainConfig(weight_decay=v),
        "label_smoothing": lambda v: TrainConfig(label_smoothing=v), "threads": lambda v: ExecSettings(threads=v),
        "rotation": lambda v: Augmentation(rotation=v), "translate": lambda v: Augmentation(translate=v),
        "scale_range": lambda v: Augmentation(scale=(1 - v, 1 + v)), "shear": lambda v: Augmentation(shear=v),
        "brightness": lambda v: Augmentation(brightness=v), "contrast": lambda v: Augmentation(contrast=v),
        "learning_rates": lambda v: StudyConfig(lr=v), "batch_sizes": lambda v: StudyConfig(batch_size=v),
        "train_fractions": lambda v: replace(StudyConfig(), train_fraction=v),
    }


@pytest.mark.parametrize("name", sorted(_invariants()))
def test_each_declared_range_lies_inside_the_invariants_of_what_runs_it(name):
    declared = params.PARAMS[name]
    build = _invariants()[name]
    ends = [declared.low if declared.low_inclusive else declared.low + 1e-9,
            declared.high if declared.high_inclusive else declared.high - 1e-9]
    for value in ends:
        build(int(value) if declared.kind == "int" or declared.item == "int" else value)
