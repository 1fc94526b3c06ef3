"""Datasets: built-in ones, CSV/NPZ files, seeded splits, and input normalisation.

A :class:`Dataset` holds ``X`` (m, n_features) float64 and ``y``: integer classes 0..k-1 for
``binary``/``multiclass`` tasks, floats (m,) or (m, k) for ``regression``. Files are read as plain
numbers only — NPZ with ``allow_pickle=False``, never pickle.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import ConfigError, DataError

Array = NDArray[Any]
TASKS = ("binary", "multiclass", "regression")
#: An integer-valued target with at most this many distinct values is read as classes.
MAX_INFERRED_CLASSES = 20


@dataclass
class Dataset:
    """Examples ``X`` (m, n_features) and targets ``y`` for one ``task``."""

    X: Array
    y: Array
    task: str
    n_classes: int
    name: str = "dataset"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DataError(
                f"task must be one of {', '.join(TASKS)}; got {self.task!r}", field="task"
            )
        try:
            self.X = np.asarray(self.X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"X must be numeric: {exc}", field="X") from None
        if self.X.ndim != 2:
            raise DataError(
                f"X must be 2-D (examples × features); got shape {self.X.shape}", field="X"
            )
        if self.X.shape[1] < 1:
            raise DataError("X has no feature columns", field="X")
        if not np.all(np.isfinite(self.X)):
            raise DataError("X contains NaN or infinite values", field="X")
        y = np.asarray(self.y)
        if y.shape[:1] != self.X.shape[:1]:
            raise DataError(f"y has {y.shape[:1]} rows but X has {self.X.shape[0]}", field="y")
        if self.task == "regression":
            if y.ndim not in (1, 2):
                raise DataError(f"y must be 1-D or 2-D; got shape {y.shape}", field="y")
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError("regression targets must be numeric", field="y") from None
            if not np.all(np.isfinite(y)):
                raise DataError("y contains NaN or infinite values", field="y")
            self.n_classes = 0
        else:
            if y.ndim != 1:
                raise DataError(f"class labels must be 1-D; got shape {y.shape}", field="y")
            if y.size and (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))):
                raise DataError("class labels must be integers 0..n_classes-1", field="y")
            y = y.astype(np.int64)
            wanted = 2 if self.task == "binary" else int(self.n_classes)
            if self.task == "binary":
                self.n_classes = 2
            if wanted < 2:
                raise DataError(f"a {self.task} task needs n_classes >= 2", field="n_classes")
            if y.size and (y.min() < 0 or y.max() >= wanted):
                raise DataError(f"class labels must lie in 0..{wanted - 1}", field="y")
        self.y = y

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    def subset(self, index: Array, name: str | None = None) -> Dataset:
        return Dataset(self.X[index], self.y[index], self.task, self.n_classes, name or self.name)


@dataclass
class Splits:
    """The train/dev/test partition of one dataset."""

    train: Dataset
    dev: Dataset
    test: Dataset


# -- built-in datasets ---------------------------------------------------------------------------


def _moons(seed: int) -> Dataset:
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=1000, noise=0.2, random_state=seed)
    return Dataset(X, y, "binary", 2, "moons")


def _circles(seed: int) -> Dataset:
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed)
    return Dataset(X, y, "binary", 2, "circles")


@functools.cache
def _bundled_arrays(loader: str) -> tuple[Array, Array]:
    """A dataset bundled with scikit-learn, parsed once per process (its gzipped CSV costs
    ~20 ms, more than a short trial's set-up); callers get copies."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)()
    X, y = np.asarray(bunch.data), np.asarray(bunch.target)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def _bundled(loader: str, task: str, name: str) -> Callable[[int], Dataset]:
    def load(seed: int) -> Dataset:
        X, y = _bundled_arrays(loader)
        n_classes = 0 if task == "regression" else int(np.max(y)) + 1
        return Dataset(X.copy(), y.copy(), task, n_classes, name)

    return load


_BUNDLED_LOADERS = (
    ("digits", "load_digits", "multiclass"),
    ("iris", "load_iris", "multiclass"),
    ("wine", "load_wine", "multiclass"),
    ("breast_cancer", "load_breast_cancer", "binary"),
    ("diabetes", "load_diabetes", "regression"),
)


def preload_bundled_datasets() -> None:
    """Parse every bundled dataset now: a process that forks trial processes calls this once,
    so that none of them parses a CSV again."""
    for _name, loader, _task in _BUNDLED_LOADERS:
        _bundled_arrays(loader)


_BUILTIN: dict[str, Callable[[int], Dataset]] = {
    "moons": _moons,
    "circles": _circles,
    **{name: _bundled(loader, task, name) for name, loader, task in _BUNDLED_LOADERS},
}
BUILTIN_DATASETS: tuple[str, ...] = tuple(_BUILTIN)


def load_dataset(name: str, seed: int = 0) -> Dataset:
    """A built-in dataset (no network needed). ``seed`` only affects generated ones (moons, circles)."""
    try:
        loader = _BUILTIN[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; built-in: {', '.join(BUILTIN_DATASETS)}", field="dataset"
        ) from None
    return loader(seed)


# -- files ------------------------------------------------------------------------------------


def _infer_task(y: Array) -> str:
    if y.ndim == 2:
        return "regression"
    values = np.unique(y)
    integral = bool(np.all(values == np.round(values)))
    if integral and values.size <= MAX_INFERRED_CLASSES:
        return "binary" if values.size <= 2 else "multiclass"
    return "regression"


def _make_dataset(X: Array, y: Array, task: str | None, name: str) -> Dataset:
    task = task or _infer_task(y)
    if task not in TASKS:
        raise DataError(f"task must be one of {', '.join(TASKS)}; got {task!r}", field="task")
    if task == "regression":
        return Dataset(X, y, task, 0, name)
    # any set of class values becomes 0..k-1 in sorted order
    classes, labels = np.unique(y, return_inverse=True)
    if task == "binary" and classes.size > 2:
        raise DataError(f"a binary task needs 2 classes; found {classes.size}", field="y")
    return Dataset(X, labels.reshape(-1), task, max(2, int(classes.size)), name)


def _parse_float(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


def load_csv(
    path: str | os.PathLike[str], target: str | int = -1, task: str | None = None
) -> Dataset:
    """A numeric CSV file; ``target`` is the label column (name, if there is a header, or index).

    A header row is recognised by a non-numeric first row. Every other cell must be a finite
    number; a text cell or a row of the wrong length raises ``DataError`` naming the line and
    column. ``task`` is inferred when None: integer targets with at most 20 distinct values are
    classes (binary for ≤ 2), anything else is regression.
    """
    name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [(n, row) for n, row in enumerate(csv.reader(handle), start=1) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {os.fspath(path)!r}: {exc}", field="file") from None
    if not rows:
        raise DataError("the CSV file is empty", field="file")
    header: list[str] | None = None
    first = rows[0][1]
    try:
        [_parse_float(c) for c in first]
    except ValueError:
        header = [c.strip() for c in first]
        rows = rows[1:]
    if not rows:
        raise DataError("the CSV file has a header but no data rows", field="file")
    width = len(header) if header is not None else len(rows[0][1])
    if width < 2:
        raise DataError(
            "the CSV needs at least one feature column and a target column", field="file"
        )
    if isinstance(target, str):
        if header is None or target not in header:
            raise DataError(f"no column named {target!r} in the header", field="target")
        t_col = header.index(target)
    else:
        if not -width <= target < width:
            raise DataError(
                f"target column {target} out of range for {width} columns", field="target"
            )
        t_col = target % width
    data = np.empty((len(rows), width))
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(
                f"line {line}: expected {width} columns, found {len(row)}", field="file"
            )
        for j, cell in enumerate(row):
            try:
                data[i, j] = _parse_float(cell)
            except ValueError:
                column = header[j] if header is not None else str(j + 1)
                raise DataError(
                    f"line {line}, column {column}: {cell!r} is not a finite number", field="file"
                ) from None
    y = data[:, t_col]
    X = np.delete(data, t_col, axis=1)
    return _make_dataset(X, y, task, name)


def load_npz(path: str | os.PathLike[str], task: str | None = None) -> Dataset:
    """An ``.npz`` archive with arrays ``X`` and ``y`` (read with ``allow_pickle=False``)."""
    name = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "y") if k not in archive.files]
            if missing:
                raise DataError(f"the archive lacks array(s) {', '.join(missing)}", field="file")
            X, y = archive["X"], archive["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        # ValueError is also what np.load raises for an object (pickled) array
        raise DataError(f"cannot read {os.fspath(path)!r} as npz: {exc}", field="file") from None
    if X.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise DataError("X and y must be numeric arrays", field="file")
    return _make_dataset(X, y, task, name)


# -- splits and normalisation ----------------------------------------------------------------


def split_dataset(
    ds: Dataset, fractions: Sequence[float] = (0.6, 0.2, 0.2), seed: int = 0
) -> Splits:
    """A seeded random train/dev/test split. Sizes are rounded; every part gets ≥ 1 example."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ConfigError(
            f"fractions must be three positive numbers summing to 1; got {tuple(fractions)}",
            field="fractions",
        )
    m = len(ds)
    if m < 3:
        raise DataError(f"need at least 3 examples to split; got {m}", field="X")
    n_dev = max(1, round(fractions[1] * m))
    n_test = max(1, round(fractions[2] * m))
    n_train = m - n_dev - n_test
    if n_train < 1:
        raise DataError(f"{m} examples leave no training set", field="X")
    perm = np.random.default_rng(seed).permutation(m)
    return Splits(
        train=ds.subset(perm[:n_train], f"{ds.name}/train"),
        dev=ds.subset(perm[n_train : n_train + n_dev], f"{ds.name}/dev"),
        test=ds.subset(perm[n_train + n_dev :], f"{ds.name}/test"),
    )


@dataclass
class Standardizer:
    """x' = (x − μ) / σ with μ, σ from the training set (σ = 1 for constant columns)."""

    mean: Array
    std: Array

    @classmethod
    def fit(cls, values: Array) -> Standardizer:
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        # a constant column carries no information; dividing it by 0 would make it NaN
        std = np.where(std > 0, std, 1.0)
        return cls(mean, std)

    def transform(self, values: Array, dtype: Any = np.float64) -> Array:
        return np.ascontiguousarray((values - self.mean) / self.std, dtype=dtype)

    def inverse(self, values: Array) -> Array:
        return np.asarray(values, dtype=np.float64) * self.std + self.mean
