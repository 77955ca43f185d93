"""Data in memory: splits, batches and augmentation on the real MNIST (acquisition and
verification are tests/test_datasets.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_lib import data
from mnist_lib.augment import Augmentation, augment_batch


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
    aug = Augmentation(rotation=20, translate=0.1, scale=(0.9, 1.1), shear=10, brightness=0.2, contrast=0.2)
    a = augment_batch(xn, aug, torch.Generator().manual_seed(0), mean, std)
    b = augment_batch(xn, aug, torch.Generator().manual_seed(0), mean, std)
    assert a.shape == xn.shape and torch.equal(a, b)
    assert not torch.allclose(a[0], a[1])  # per-sample parameters
    geometric = Augmentation(rotation=20, translate=0.1, scale=(0.9, 1.1), shear=10, brightness=0, contrast=0)
    g = augment_batch(xn, geometric, torch.Generator().manual_seed(0), mean, std)
    assert torch.allclose(g[:, :, 0, 0], torch.full((16, 1), -mean / std))  # the border fills with background
    unit = a * std + mean
    assert float(unit.min()) >= -1e-6 and float(unit.max()) <= 1 + 1e-6
    identity = Augmentation(rotation=0, translate=0, scale=(1, 1), shear=0, brightness=0, contrast=0)
    same = augment_batch(xn, identity, torch.Generator().manual_seed(0), mean, std)
    assert torch.allclose(same, xn, atol=1e-5)
    shifted = augment_batch(xn, Augmentation(0, 0.2, (1, 1), 0, 0, 0), torch.Generator().manual_seed(1),
                                 mean, std)
    assert not torch.allclose(shifted, xn, atol=1e-3)
    with pytest.raises(ValueError, match="scale"):
        Augmentation(scale=(1.2, 0.8))


def test_conventional_dataset_matches_in_memory_tensors(mnist_data_dir, mnist_raw):
    ds = data.torchvision_dataset(mnist_data_dir, train=False, mean=0.0, std=1.0)
    image, label = ds[7]
    assert image.shape == (1, 28, 28) and label == int(mnist_raw.test_labels[7])
    assert torch.allclose(image[0] * 255, mnist_raw.test_images[7].float(), atol=1e-3)
