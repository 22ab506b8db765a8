"""Data sets as tensors: Fashion-MNIST (IDX files), scikit-learn's digits, MNIST-1D (generated).

Every loader returns a :class:`Dataset` whose four tensors (float32 inputs scaled to [0, 1]
or standardised, int64 labels) can be moved to a device once with :meth:`Dataset.to` and
sliced into batches there; nothing is downloaded.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from bridge.core.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
ENV_DATA = "HOMEOBRIDGE_DATA"
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DATASETS = ("fashion-mnist", "digits", "mnist1d")
_FASHION_MISSING = ("Fashion-MNIST not found: install Debian's package dataset-fashion-mnist "
                    f"(apt-get install dataset-fashion-mnist) or set {ENV_DATA} to a folder with its IDX files")


@dataclass
class Dataset:
    """Train/test tensors of one data set; ``x_*`` are (n, features) float32, ``y_*`` int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    shape: tuple[int, ...]

    def to(self, device: torch.device | str) -> Dataset:
        """The same data set with every tensor on ``device`` (one copy, before training)."""
        return Dataset(
            self.name, self.x_train.to(device), self.y_train.to(device),
            self.x_test.to(device), self.y_test.to(device), self.n_classes, self.shape,
        )

    def subset(self, n_train: int | None, n_test: int | None) -> Dataset:
        """The first ``n_train`` / ``n_test`` examples (None keeps all)."""
        return Dataset(
            self.name, self.x_train[:n_train], self.y_train[:n_train],
            self.x_test[:n_test], self.y_test[:n_test], self.n_classes, self.shape,
        )

    def validation_indices(self, n_train: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(training, validation) indices into the training set: the first ``n_train`` images
        train, the last ``n_val`` are held out for selection (learning rates, "best of"
        baselines), disjoint by construction; a UserError when they would overlap (without a split, a larger
        ``n_train`` keeps every image, as :meth:`subset` does)."""
        total = self.x_train.shape[0]
        if n_val and n_train + n_val > total:
            raise UserError(f"n_train {n_train} + n_val {n_val} exceeds the {total} training images of "
                            f"{self.name}: the validation split is held out of the training set")
        return torch.arange(min(n_train, total)), torch.arange(total - n_val, total)

    def held_out(self, n_train: int, n_val: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The validation images and labels of :meth:`validation_indices`."""
        index = self.validation_indices(n_train, n_val)[1]
        return self.x_train[index], self.y_train[index]


def fashion_mnist_dir() -> Path | None:
    """Where the Fashion-MNIST IDX files are: $HOMEOBRIDGE_DATA (or its fashion-mnist/), then Debian's."""
    candidates = []
    if os.environ.get(ENV_DATA):
        root = Path(os.environ[ENV_DATA])
        candidates += [root, root / "fashion-mnist"]
    candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        if all(_idx_path(folder, stem) for stem in FASHION_FILES.values()):
            return folder
    return None


@functools.lru_cache(maxsize=8)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of a file, cached per process for as long as its size and mtime stay the same."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_identity(name: str) -> dict:
    """What identifies the data behind a run: the Fashion-MNIST files' names, sizes and sha256, or
    the version of the package that generates the set (digits: scikit-learn; mnist1d: mnist1d).

    Part of every training run's identity (docs/store-schema.md): other files give another run.
    """
    if name == "fashion-mnist":
        folder = fashion_mnist_dir()
        if folder is None:
            raise UserError(_FASHION_MISSING)
        files = {}
        for stem in FASHION_FILES.values():
            path = _idx_path(folder, stem)
            stat = path.stat()
            files[path.name] = {"bytes": stat.st_size, "sha256": _file_sha256(path, stat.st_size, stat.st_mtime_ns)}
        return {"name": name, "files": files}
    packages = {"digits": "scikit-learn", "mnist1d": "mnist1d"}
    if name not in packages:
        raise UserError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return {"name": name, "generator": f"{packages[name]} {metadata.version(packages[name])}"}


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array; the format of LeCun's MNIST files."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = bytearray(handle.read())  # writable: torch shares the array without a copy
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"{path}: truncated IDX file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST: 60000 train + 10000 test images of 28x28 pixels in [0, 1], 10 classes.

    Read once per process for the same files (folder, sizes, modification times): every cell a
    worker trains shares the one copy (220 MB as float32), which nothing modifies in place."""
    folder = fashion_mnist_dir()
    if folder is None:
        raise UserError(_FASHION_MISSING)
    paths = tuple(_idx_path(folder, stem) for stem in FASHION_FILES.values())
    return _read_fashion_mnist(paths, tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths))


@functools.lru_cache(maxsize=1)
def _read_fashion_mnist(paths: tuple[Path, ...], stamps: tuple) -> Dataset:
    arrays = {key: read_idx(path) for key, path in zip(FASHION_FILES, paths)}

    def images(key: str) -> torch.Tensor:  # in torch: one multi-threaded conversion, divided in place
        return torch.from_numpy(arrays[key].reshape(len(arrays[key]), -1)).to(torch.float32).div_(255.0)

    def labels(key: str) -> torch.Tensor:
        return torch.from_numpy(arrays[key].astype(np.int64))

    return Dataset(
        "fashion-mnist", images("train_images"), labels("train_labels"),
        images("test_images"), labels("test_labels"), 10, (1, 28, 28),
    )


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, pixels in [0, 1]), split with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        (x / 16.0).astype(np.float32), y.astype(np.int64),
        test_size=test_fraction, random_state=seed, stratify=y,
    )
    return Dataset(
        "digits", torch.from_numpy(x_train), torch.from_numpy(y_train),
        torch.from_numpy(x_test), torch.from_numpy(y_test), 10, (1, 8, 8),
    )


def load_mnist1d(seed: int = 0, num_samples: int = 5000) -> Dataset:
    """MNIST-1D generated in code by ``mnist1d.data.make_dataset`` (never downloaded), 40 features."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    data = make_dataset(args)
    return Dataset(
        "mnist1d",
        torch.as_tensor(data["x"], dtype=torch.float32), torch.as_tensor(data["y"], dtype=torch.int64),
        torch.as_tensor(data["x_test"], dtype=torch.float32),
        torch.as_tensor(data["y_test"], dtype=torch.int64), 10, (1, 40),
    )


def load(name: str, seed: int = 0) -> Dataset:
    """A data set by name: one of ``DATASETS``."""
    if name == "fashion-mnist":
        return load_fashion_mnist()
    if name == "digits":
        return load_digits(seed)
    if name == "mnist1d":
        return load_mnist1d(seed)
    raise UserError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
