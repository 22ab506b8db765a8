"""Data sets: the real Fashion-MNIST from its IDX files, digits, MNIST-1D, and clear errors."""

import gzip

import numpy as np
import pytest
import torch

from bridge.core.errors import UserError
from bridge.learning import data

needs_fashion = pytest.mark.skipif(
    data.fashion_mnist_dir() is None,
    reason="Fashion-MNIST absent: apt-get install dataset-fashion-mnist or set HOMEOBRIDGE_DATA",
)


@needs_fashion
def test_fashion_mnist_is_60000_plus_10000_balanced_images():
    ds = data.load("fashion-mnist")
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == torch.float32 and ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    assert torch.equal(torch.bincount(ds.y_train), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(ds.y_test), torch.full((10,), 1000))


def test_missing_fashion_mnist_names_the_package_and_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("HOMEOBRIDGE_DATA", str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(UserError, match="dataset-fashion-mnist.*HOMEOBRIDGE_DATA"):
        data.load("fashion-mnist")


def test_fashion_mnist_is_found_in_homeobridge_data(monkeypatch, tmp_path):
    def idx(name, dims, values):
        header = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        with gzip.open(tmp_path / f"{name}.gz", "wb") as handle:
            handle.write(header + values.astype(np.uint8).tobytes())

    idx("train-images-idx3-ubyte", (3, 28, 28), np.full(3 * 784, 255))
    idx("train-labels-idx1-ubyte", (3,), np.array([0, 1, 2]))
    idx("t10k-images-idx3-ubyte", (2, 28, 28), np.zeros(2 * 784))
    idx("t10k-labels-idx1-ubyte", (2,), np.array([4, 5]))
    monkeypatch.setenv("HOMEOBRIDGE_DATA", str(tmp_path))
    ds = data.load("fashion-mnist")
    assert ds.x_train.shape == (3, 784) and float(ds.x_train.max()) == 1.0
    assert ds.y_test.tolist() == [4, 5]


def test_truncated_idx_file_is_a_user_error(tmp_path):
    path = tmp_path / "bad-idx"
    path.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(3))
    with pytest.raises(UserError, match="truncated IDX"):
        data.read_idx(path)


def test_digits_split_is_reproducible_and_stratified():
    a, b = data.load("digits", seed=1), data.load("digits", seed=1)
    assert torch.equal(a.x_train, b.x_train)
    assert a.x_train.shape[1] == 64 and len(a.x_train) + len(a.x_test) == 1797
    assert torch.bincount(a.y_test).min() >= 40


def test_mnist1d_is_generated_not_downloaded():
    ds = data.load("mnist1d", seed=0)
    assert ds.x_train.shape[1] == 40 and ds.n_classes == 10
    assert len(ds.x_train) == 4000 and len(ds.x_test) == 1000


def test_unknown_data_set_is_a_user_error():
    with pytest.raises(UserError, match="unknown data set 'cifar'"):
        data.load("cifar")
