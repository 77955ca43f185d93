"""Data: acquisition and verification on tiny IDX files made here, the real files,
splits, batches and augmentation."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import pickle
import threading
import time

import numpy as np
import pytest
import torch

from mnist_lib import data
from mnist_lib.data import FileSpec, MnistUnavailableError


# --------------------------------------------------------------------------- tiny synthetic IDX files

def tiny_set(n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    blobs = {name: data.encode_idx(a) for name, a in arrays.items()}
    manifest = {name: FileSpec(0x800 | a.ndim, a.shape, hashlib.sha256(blobs[name]).hexdigest())
                for name, a in arrays.items()}
    return arrays, blobs, manifest


def write_folder(folder, blobs, gz=False, override=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in {**blobs, **(override or {})}.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / name).write_bytes(blob)
    return folder


@pytest.mark.parametrize("gz", [False, True])
def test_local_folder_plain_and_gzipped(tmp_path, gz):
    arrays, blobs, manifest = tiny_set()
    src = write_folder(tmp_path / "src", blobs, gz=gz)
    raw = data.load_mnist(tmp_path / "cache", source=src, sources=[data.local_source(src)], manifest=manifest)
    assert raw.train_images.dtype == torch.uint8 and raw.train_labels.dtype == torch.int64
    assert np.array_equal(raw.test_images.numpy(), arrays["t10k-images-idx3-ubyte"])
    # torchvision's layout, stored uncompressed
    for name in manifest:
        assert (tmp_path / "cache" / "MNIST" / "raw" / name).read_bytes() == blobs[name]


def corruptions(blob):
    flipped = bytearray(blob)
    flipped[-5] ^= 0xFF
    wrong_magic = b"\x00\x00\x08\x02" + blob[4:]
    return {
        "flipped byte": (bytes(flipped), "SHA-256 mismatch"),
        "truncated": (blob[: len(blob) // 2], "truncated"),
        "wrong magic": (wrong_magic, "wrong magic number"),
        "broken gzip": (gzip.compress(blob)[:-20], "gzip"),
    }


@pytest.mark.parametrize("kind", ["flipped byte", "truncated", "wrong magic", "broken gzip"])
def test_corrupt_source_is_rejected_with_every_source_named(tmp_path, kind):
    _, blobs, manifest = tiny_set()
    name = "train-labels-idx1-ubyte"
    bad, reason = corruptions(blobs[name])[kind]
    bad_src = write_folder(tmp_path / "bad", blobs, override={name: bad})
    sources = [data.local_source(bad_src), data.local_source(tmp_path / "nowhere")]
    with pytest.raises(MnistUnavailableError) as err:
        data.ensure_mnist(tmp_path / "cache", sources=sources, manifest=manifest)
    message = str(err.value)
    assert name in message and reason in message
    assert str(bad_src) in message and "nowhere" in message
    assert "python -m mnist_lib data --source DIR" in message
    assert not (tmp_path / "cache" / "MNIST" / "raw" / name).exists()


def test_falls_back_to_next_source_after_a_corrupt_one(tmp_path):
    _, blobs, manifest = tiny_set()
    name = "t10k-images-idx3-ubyte"
    bad_src = write_folder(tmp_path / "bad", blobs, override={name: corruptions(blobs[name])["flipped byte"][0]})
    good_src = write_folder(tmp_path / "good", blobs, gz=True)
    directory = data.ensure_mnist(tmp_path / "cache", sources=[data.local_source(bad_src), data.local_source(good_src)],
                                  manifest=manifest)
    assert (directory / name).read_bytes() == blobs[name]


def test_corrupt_cached_file_is_moved_aside_and_refetched(tmp_path):
    _, blobs, manifest = tiny_set()
    src = write_folder(tmp_path / "src", blobs)
    directory = data.ensure_mnist(tmp_path / "cache", sources=[data.local_source(src)], manifest=manifest)
    target = directory / "train-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.warns(UserWarning, match="failed verification"):
        data.ensure_mnist(tmp_path / "cache", sources=[data.local_source(src)], manifest=manifest)
    assert target.read_bytes() == blobs["train-images-idx3-ubyte"]
    assert len(list((directory / "rejected").iterdir())) == 1


def test_verified_cache_is_not_rehashed_but_a_changed_file_is(tmp_path, monkeypatch):
    _, blobs, manifest = tiny_set()
    src = write_folder(tmp_path / "src", blobs)
    directory = data.ensure_mnist(tmp_path / "cache", sources=[data.local_source(src)], manifest=manifest)
    calls = []
    real_check = data.check_idx
    monkeypatch.setattr(data, "check_idx", lambda content, spec: calls.append(1) or real_check(content, spec))
    data.ensure_mnist(tmp_path / "cache", sources=[], manifest=manifest)
    assert calls == []
    path = directory / "t10k-labels-idx1-ubyte"
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    data.ensure_mnist(tmp_path / "cache", sources=[], manifest=manifest)
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
    _, blobs, manifest = tiny_set()
    gz = {f"{name}.gz": gzip.compress(blob) for name, blob in blobs.items()}
    dropping = http_mirror(gz, drop=True)
    working = http_mirror(gz)
    sources = [data.mirror_source(dropping, timeout=5, progress=False), data.mirror_source(working, timeout=5,
                                                                                          progress=False)]
    directory = data.ensure_mnist(tmp_path / "cache", sources=sources, manifest=manifest)
    assert all((directory / name).read_bytes() == blob for name, blob in blobs.items())
    with pytest.raises(MnistUnavailableError, match="connection dropped"):
        data.ensure_mnist(tmp_path / "cache2", sources=sources[:1], manifest=manifest)


def test_unreachable_mirror_is_reported(tmp_path):
    _, _, manifest = tiny_set()
    with pytest.raises(MnistUnavailableError, match="mirror http://127.0.0.1:9/"):
        data.ensure_mnist(tmp_path, sources=[data.mirror_source("http://127.0.0.1:9/", timeout=2, progress=False)],
                          manifest=manifest)


def test_pickle_rebuild_is_exact_and_refuses_code():
    rng = np.random.default_rng(1)
    k = rng.integers(0, 256, (7, 784))
    splits = tuple((k[i:i + 3] / 256.0, np.arange(3) % 10) for i in (0, 2, 4))
    rebuilt = data.idx_files_from_pickle(gzip.compress(pickle.dumps(splits, protocol=2)))
    images = data.parse_idx(rebuilt["train-images-idx3-ubyte"]).reshape(6, 784)
    assert np.array_equal(images, np.concatenate([k[0:3], k[2:5]]).astype(np.uint8))
    assert data.parse_idx(rebuilt["t10k-labels-idx1-ubyte"]).tolist() == [0, 1, 2]

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.idx_files_from_pickle(gzip.compress(pickle.dumps(Evil())))


# --------------------------------------------------------------------------- the real files

def test_real_files_verify_and_torchvision_reads_them(mnist_data_dir, mnist_raw):
    from torchvision.datasets import MNIST

    assert tuple(mnist_raw.train_images.shape) == (60000, 28, 28)
    assert tuple(mnist_raw.test_labels.shape) == (10000,)
    assert mnist_raw.train_images.dtype == torch.uint8 and int(mnist_raw.train_images.max()) == 255
    assert sorted(mnist_raw.train_labels.unique().tolist()) == list(range(10))
    tv = MNIST(str(mnist_data_dir), train=False, download=False)
    assert torch.equal(tv.data, mnist_raw.test_images) and torch.equal(tv.targets, mnist_raw.test_labels)


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(10), [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])
    idx = data.stratified_subset(labels, 550, seed=3)
    assert len(idx) == 550 and len(set(idx)) == 550
    counts = np.bincount(labels[idx], minlength=10)
    assert np.all(np.abs(counts - np.bincount(labels) / 10) <= 1)
    assert np.array_equal(idx, data.stratified_subset(labels, 550, seed=3))
    assert not np.array_equal(idx, data.stratified_subset(labels, 550, seed=4))
    with pytest.raises(ValueError, match="between 1 and 5500"):
        data.stratified_subset(labels, 0, seed=0)


def test_prepare_data_splits(mnist_raw):
    d = data.prepare_data(mnist_raw, train_limit=6000, test_limit=1000, seed=5)
    assert d.sizes() == {"train": 5500, "validation": 500, "test": 1000}
    assert not set(d.train_index) & set(d.val_index)
    assert np.bincount(d.y_val.numpy()).min() >= 40  # every digit in the validation split
    assert abs(float(d.x_train.mean())) < 1e-4 and abs(float(d.x_train.std()) - 1) < 1e-3
    full = data.prepare_data(mnist_raw, normalization="half")
    assert full.sizes() == {"train": 55000, "validation": 5000, "test": 10000}
    assert float(full.x_test.min()) == -1.0 and float(full.x_test.max()) == 1.0
    padded = data.prepare_data(mnist_raw, train_limit=1200, test_limit=200, image_size=32, normalization="none")
    assert padded.x_train.shape[1:] == (1, 32, 32)
    assert float(padded.x_train[:, :, :2].abs().max()) == 0.0  # zero border
    assert torch.equal(padded.x_test[:, :, 2:30, 2:30] * 255, mnist_raw.test_images[padded.test_index].float().unsqueeze(1))
    with pytest.raises(ValueError, match="normalization must be one of"):
        data.prepare_data(mnist_raw, normalization="zscore")
    with pytest.raises(ValueError, match="train_limit must be between 1 and 60000"):
        data.prepare_data(mnist_raw, train_limit=70000)


def test_batches_cover_everything_deterministically():
    x = torch.arange(103).float().view(103, 1)
    y = torch.arange(103)
    epoch0 = list(data.batches(x, y, 10, seed=1, epoch=0))
    assert len(epoch0) == 11 and len(epoch0[-1][1]) == 3
    seen = torch.cat([yb for _, yb in epoch0])
    assert sorted(seen.tolist()) == list(range(103))
    assert all(torch.equal(xb.view(-1), yb.float()) for xb, yb in epoch0)
    again = torch.cat([yb for _, yb in data.batches(x, y, 10, seed=1, epoch=0)])
    other = torch.cat([yb for _, yb in data.batches(x, y, 10, seed=1, epoch=1)])
    assert torch.equal(seen, again) and not torch.equal(seen, other)
    ordered = torch.cat([yb for _, yb in data.batches(x, y, 10, shuffle=False)])
    assert torch.equal(ordered, y)


def test_augmentation_is_per_sample_seeded_and_keeps_background():
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0
    mean, std = 0.1307, 0.3081
    xn = (x - mean) / std
    aug = data.Augmentation(rotation=20, translate=0.1, scale=(0.9, 1.1), shear=10, brightness=0.2, contrast=0.2)
    a = data.augment_batch(xn, aug, torch.Generator().manual_seed(0), mean, std)
    b = data.augment_batch(xn, aug, torch.Generator().manual_seed(0), mean, std)
    assert a.shape == xn.shape and torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])  # per-sample parameters
    geometric = data.Augmentation(rotation=20, translate=0.1, scale=(0.9, 1.1), shear=10, brightness=0, contrast=0)
    g = data.augment_batch(xn, geometric, torch.Generator().manual_seed(0), mean, std)
    assert torch.allclose(g[:, :, 0, 0], torch.full((16, 1), -mean / std))  # the border fills with background
    unit = a * std + mean
    assert float(unit.min()) >= -1e-6 and float(unit.max()) <= 1 + 1e-6
    identity = data.Augmentation(rotation=0, translate=0, scale=(1, 1), shear=0, brightness=0, contrast=0)
    same = data.augment_batch(xn, identity, torch.Generator().manual_seed(0), mean, std)
    assert torch.allclose(same, xn, atol=1e-5)
    shifted = data.augment_batch(xn, data.Augmentation(0, 0.2, (1, 1), 0, 0, 0), torch.Generator().manual_seed(1),
                                 mean, std)
    assert not torch.allclose(shifted, xn, atol=1e-3)
    with pytest.raises(ValueError, match="scale"):
        data.Augmentation(scale=(1.2, 0.8))


def test_conventional_dataset_matches_in_memory_tensors(mnist_data_dir, mnist_raw):
    ds = data.torchvision_dataset(mnist_data_dir, train=False, mean=0.0, std=1.0)
    image, label = ds[7]
    assert image.shape == (1, 28, 28) and label == int(mnist_raw.test_labels[7])
    assert torch.allclose(image[0] * 255, mnist_raw.test_images[7].float(), atol=1e-3)
