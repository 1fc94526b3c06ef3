from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import (
    BUILTIN_DATASETS,
    ConfigError,
    DataError,
    Dataset,
    Splits,
    TrainConfig,
    load_csv,
    load_dataset,
    load_npz,
    split_dataset,
    train,
)


@pytest.mark.parametrize(
    ("name", "task", "n_features", "n_classes"),
    [
        ("moons", "binary", 2, 2),
        ("circles", "binary", 2, 2),
        ("digits", "multiclass", 64, 10),
        ("iris", "multiclass", 4, 3),
        ("wine", "multiclass", 13, 3),
        ("breast_cancer", "binary", 30, 2),
        ("diabetes", "regression", 10, 0),
    ],
)
def test_builtin_datasets(name: str, task: str, n_features: int, n_classes: int) -> None:
    ds = load_dataset(name)
    assert name in BUILTIN_DATASETS
    assert (ds.task, ds.n_features, ds.n_classes, ds.name) == (task, n_features, n_classes, name)
    assert len(ds) == len(ds.y) > 100
    if task != "regression":
        assert set(np.unique(ds.y)) == set(range(n_classes))


def test_generated_datasets_follow_the_seed() -> None:
    assert np.array_equal(load_dataset("moons", seed=1).X, load_dataset("moons", seed=1).X)
    assert not np.array_equal(load_dataset("moons", seed=1).X, load_dataset("moons", seed=2).X)


def test_unknown_builtin() -> None:
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    assert info.value.field == "dataset"


def test_csv_with_header_and_named_target(tmp_path: Path) -> None:
    path = tmp_path / "flowers.csv"
    path.write_text("a,label,b\n1.0,2,3\n4,0,6.5\n7,2,9\n1,1,1\n")
    ds = load_csv(path, target="label")
    assert ds.task == "multiclass" and ds.n_classes == 3 and ds.name == "flowers"
    np.testing.assert_array_equal(ds.X, [[1, 3], [4, 6.5], [7, 9], [1, 1]])
    np.testing.assert_array_equal(ds.y, [2, 0, 2, 1])


def test_csv_without_header_infers_task(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("0.5,1.25\n0.1,2.5\n0.3,3.75\n")
    ds = load_csv(path)
    assert ds.task == "regression"
    np.testing.assert_array_equal(ds.y, [1.25, 2.5, 3.75])
    path.write_text("0.5,7\n0.1,9\n0.2,7\n")
    binary = load_csv(path)
    assert binary.task == "binary"
    np.testing.assert_array_equal(binary.y, [0, 1, 0])  # class values become 0..k-1
    assert load_csv(path, task="regression").task == "regression"


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("a,b,y\n1,2,0\n3,4\n", ["line 3", "expected 3 columns, found 2"]),
        ("a,b,y\n1,2,0\n3,x,1\n", ["line 3", "column b", "'x'"]),
        ("1,2,0\n3,4,1\n5,6,1,9\n", ["line 3"]),
        ("1,2,0\n3,nan,1\n", ["line 2", "column 2"]),
        ("a,b,y\n", ["no data rows"]),
        ("", ["empty"]),
    ],
)
def test_csv_errors_name_row_and_column(tmp_path: Path, content: str, fragments: list[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        load_csv(path)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_csv_bad_target(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,0\n2,1\n")
    with pytest.raises(DataError) as info:
        load_csv(path, target="nope")
    assert info.value.field == "target"
    with pytest.raises(DataError):
        load_csv(path, target=5)
    with pytest.raises(DataError):
        load_csv(tmp_path / "missing.csv")


def test_npz(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    X = np.arange(12.0).reshape(6, 2)
    np.savez(path, X=X, y=np.array([0, 1, 2, 0, 1, 2]))
    ds = load_npz(path)
    assert ds.task == "multiclass" and ds.n_classes == 3
    np.testing.assert_array_equal(ds.X, X)
    np.savez(path, X=X)
    with pytest.raises(DataError, match="lacks"):
        load_npz(path)
    # object arrays would need pickle: refused, not unpickled
    np.savez(path, X=X, y=np.array([{"a": 1}] * 6, dtype=object))
    with pytest.raises(DataError):
        load_npz(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError):
        load_npz(tmp_path / "junk.npz")


def test_dataset_validation() -> None:
    with pytest.raises(DataError):
        Dataset(np.zeros((3, 2)), np.zeros(4), "binary", 2)
    with pytest.raises(DataError):
        Dataset(np.zeros(3), np.zeros(3), "binary", 2)
    with pytest.raises(DataError):
        Dataset(np.zeros((3, 2)), np.array([0, 1, 3]), "multiclass", 3)
    with pytest.raises(DataError):
        Dataset(np.full((3, 2), np.nan), np.zeros(3), "regression", 0)
    with pytest.raises(DataError):
        Dataset(np.zeros((3, 2)), np.zeros(3), "ranking", 0)


def test_split_is_seeded_disjoint_and_sized() -> None:
    ds = Dataset(np.arange(200.0).reshape(100, 2), np.arange(100) % 2, "binary", 2, "d")
    a = split_dataset(ds, seed=1)
    b = split_dataset(ds, seed=1)
    c = split_dataset(ds, seed=2)
    assert (len(a.train), len(a.dev), len(a.test)) == (60, 20, 20)
    np.testing.assert_array_equal(a.train.X, b.train.X)
    assert not np.array_equal(a.train.X, c.train.X)
    ids = np.concatenate([a.train.X[:, 0], a.dev.X[:, 0], a.test.X[:, 0]])
    assert sorted(ids) == list(np.arange(0, 200, 2.0))
    custom = split_dataset(ds, (0.8, 0.1, 0.1))
    assert (len(custom.train), len(custom.dev), len(custom.test)) == (80, 10, 10)
    with pytest.raises(ConfigError):
        split_dataset(ds, (0.5, 0.2, 0.2))
    with pytest.raises(DataError):
        split_dataset(ds.subset(np.arange(2)))


def test_inputs_are_normalised_with_training_statistics(moons: Splits) -> None:
    # an affine change of units must not change training at all (up to float rounding)
    def rescaled(ds: Dataset) -> Dataset:
        return Dataset(ds.X * 1000.0 + 5.0, ds.y, ds.task, ds.n_classes, ds.name)

    shifted = Splits(rescaled(moons.train), rescaled(moons.dev), rescaled(moons.test))
    config = TrainConfig(layers=[8], epochs=3, dtype="float64")
    a = train(config, moons)
    b = train(config, shifted)
    np.testing.assert_allclose(
        [r.dev_loss for r in a.history], [r.dev_loss for r in b.history], rtol=1e-6
    )
    assert b.model is not None
    np.testing.assert_allclose(b.model.x_scaler.mean, moons.train.X.mean(axis=0) * 1000 + 5)
    # dev statistics are not used: a dev set shifted far away is *not* re-centred
    far = Splits(moons.train, rescaled(moons.dev), moons.test)
    assert train(config, far).history[0].dev_loss > 2 * a.history[0].dev_loss


def test_mini_batches_include_the_last_partial_batch(moons: Splits) -> None:
    from engine.training import _Run

    run = _Run(TrainConfig(batch_size=64, layers=[4], epochs=1), moons, None)
    sizes = [xb.shape[0] for xb, _, _ in run.batches]
    assert sum(sizes) == len(moons.train) == 600
    assert sizes == [64] * 9 + [24]


def test_bundled_datasets_are_parsed_once_and_handed_out_as_copies() -> None:
    from engine.datasets import _bundled_arrays, preload_bundled_datasets

    preload_bundled_datasets()
    hits = _bundled_arrays.cache_info().hits
    first = load_dataset("digits")
    first.X[:] = -1.0  # a caller may normalise in place: the next load must not see it
    second = load_dataset("digits")
    assert _bundled_arrays.cache_info().hits == hits + 2
    assert second.X.min() >= 0.0 and second.X.shape == (1797, 64)
    assert not np.shares_memory(first.X, second.X)
