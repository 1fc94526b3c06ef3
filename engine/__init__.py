"""hpsearch's NumPy training engine: deep fully connected networks, float32 by default.

The public names below are the contract of docs/architecture.md.
"""

from .checkpoint import TrainingState, load_checkpoint, save_checkpoint
from .config import KNOWN_PARAMS, MUTABLE_PARAMS, TrainConfig, validate_mutable
from .datasets import (
    BUILTIN_DATASETS,
    Dataset,
    Splits,
    Standardizer,
    load_csv,
    load_dataset,
    load_npz,
    split_dataset,
)
from .diagnosis import Diagnosis, diagnose
from .errors import CheckpointError, ConfigError, DataError, EngineError
from .gradient_check import GradientCheck, gradient_check
from .network import Network
from .training import (
    BaseReporter,
    Directive,
    EpochRecord,
    Model,
    Reporter,
    TrainResult,
    train,
)

__all__ = [
    "BUILTIN_DATASETS",
    "KNOWN_PARAMS",
    "MUTABLE_PARAMS",
    "BaseReporter",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Dataset",
    "Diagnosis",
    "Directive",
    "EngineError",
    "EpochRecord",
    "GradientCheck",
    "Model",
    "Network",
    "Reporter",
    "Splits",
    "Standardizer",
    "TrainConfig",
    "TrainResult",
    "TrainingState",
    "diagnose",
    "gradient_check",
    "load_checkpoint",
    "load_csv",
    "load_dataset",
    "load_npz",
    "save_checkpoint",
    "split_dataset",
    "train",
    "validate_mutable",
]
