from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from engine.sklearn import NumpyMLPClassifier, NumpyMLPRegressor


@parametrize_with_checks([NumpyMLPClassifier(epochs=30), NumpyMLPRegressor(epochs=30)])
def test_sklearn_estimator_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


def test_classifier_in_a_pipeline_and_cross_validation() -> None:
    X, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    pipe = make_pipeline(StandardScaler(), NumpyMLPClassifier(layers=(16,), epochs=40))
    scores = cross_val_score(pipe, X, labels, cv=3)
    assert scores.mean() > 0.85
    pipe.fit(X, labels)
    assert set(pipe.predict(X)) <= set(labels)
    proba = pipe.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_regressor_cross_validation_and_params() -> None:
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    reg = NumpyMLPRegressor(layers=(32,), epochs=60)
    assert cross_val_score(reg, X, y, cv=3).mean() > 0.8
    reg.set_params(l2=0.5, layers=(8, 8))
    assert reg.get_params()["layers"] == (8, 8)
    assert reg.fit(X, y).predict(X[:3]).shape == (3,)


def test_binary_predict_proba_and_seed() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    a = NumpyMLPClassifier(epochs=20, seed=1).fit(X, y)
    b = NumpyMLPClassifier(epochs=20, seed=1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.predict_proba(X).shape == (120, 2)
    assert a.score(X, y) > 0.9
    with pytest.raises(ValueError, match="2 classes"):
        NumpyMLPClassifier().fit(X, np.zeros(120))
