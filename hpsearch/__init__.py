"""hpsearch: hyperparameter search for neural networks.

The client SDK talks to the service over HTTP only (httpx); the CLI lives in :mod:`hpsearch.cli`.
Importing it loads neither rich nor pandas nor any server-side package::

    from hpsearch import Client, hp

    with Client("http://127.0.0.1:8000") as client:
        study = client.create_study(mode="ask_tell", metric="accuracy", direction="maximize",
                                    space={"alpha": hp.log_float(1e-6, 1e-1)}, n_trials=20)
        study.optimize(lambda params, trial: evaluate(params["alpha"]))
        print(study.best_trial.params)
"""

__version__ = "0.1.0"

from hpsearch import hp
from hpsearch._base import DEFAULT_URL, Run, Study, Trial
from hpsearch.aio import AsyncClient
from hpsearch.client import Client
from hpsearch.errors import (
    AuthError,
    ConflictError,
    HpsearchError,
    NotFoundError,
    RequestTimeout,
    ServerError,
    ServerUnavailable,
    TrialPruned,
    ValidationError,
)
from hpsearch.models import Dataset, Epoch

__all__ = [
    "DEFAULT_URL",
    "AsyncClient",
    "AuthError",
    "Client",
    "ConflictError",
    "Dataset",
    "Epoch",
    "HpsearchError",
    "NotFoundError",
    "RequestTimeout",
    "Run",
    "ServerError",
    "ServerUnavailable",
    "Study",
    "Trial",
    "TrialPruned",
    "ValidationError",
    "__version__",
    "hp",
]
