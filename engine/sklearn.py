"""scikit-learn estimators over the engine: ``NumpyMLPClassifier`` and ``NumpyMLPRegressor``.

They train on all of ``X`` (the dev set of the engine is the training set itself, so there is no
early stopping) and default to float64 so that predictions on a subset equal predictions on the
whole, as scikit-learn's estimator checks demand. Inputs and regression targets are standardised
inside ``train``, so no scaler is needed in front of them (one in a Pipeline does no harm).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .config import TrainConfig
from .datasets import Dataset, Splits
from .errors import EngineError
from .training import Model, train

Array = NDArray[Any]


class _NumpyMLPBase(BaseEstimator):
    def __init__(
        self,
        layers: tuple[int, ...] = (32,),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 0.01,
        epochs: int = 100,
        batch_size: int = 32,
        l2: float = 0.0,
        keep_prob: float = 1.0,
        batch_norm: bool = False,
        init: str = "he",
        decay: str = "none",
        seed: int = 0,
        dtype: str = "float64",
    ) -> None:
        self.layers = layers
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.keep_prob = keep_prob
        self.batch_norm = batch_norm
        self.init = init
        self.decay = decay
        self.seed = seed
        self.dtype = dtype

    def _config(self) -> TrainConfig:
        return TrainConfig(
            layers=tuple(self.layers),
            activation=self.activation,
            optimizer=self.optimizer,
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            batch_size=self.batch_size,
            l2=self.l2,
            keep_prob=self.keep_prob,
            batch_norm=self.batch_norm,
            init=self.init,
            decay=self.decay,
            seed=self.seed,
            dtype=self.dtype,
        )

    def _train(self, ds: Dataset) -> Model:
        result = train(self._config(), Splits(ds, ds, ds))
        if result.model is None:
            raise EngineError(result.error or f"training ended with status {result.status}")
        self.history_ = result.history
        return result.model


class NumpyMLPClassifier(ClassifierMixin, _NumpyMLPBase):
    """A fully connected classifier (sigmoid output for 2 classes, softmax for more)."""

    def fit(self, X: Array, y: Array) -> NumpyMLPClassifier:
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                f"NumpyMLPClassifier needs samples of at least 2 classes; got {self.classes_.size} class"
            )
        task = "binary" if self.classes_.size == 2 else "multiclass"
        ds = Dataset(X, encoded.reshape(-1), task, int(self.classes_.size), "sklearn")
        self.model_ = self._train(ds)
        return self

    def predict_proba(self, X: Array) -> Array:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict_proba(X)

    def predict(self, X: Array) -> Array:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.classes_[self.model_.predict(X)]


class NumpyMLPRegressor(RegressorMixin, _NumpyMLPBase):
    """A fully connected regressor (linear output, mean squared error; multi-output allowed)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Array, y: Array) -> NumpyMLPRegressor:
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        ds = Dataset(X, y.astype(np.float64), "regression", 0, "sklearn")
        self.model_ = self._train(ds)
        return self

    def predict(self, X: Array) -> Array:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(X)
