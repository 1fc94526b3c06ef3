"""Checkpoints: the full training state as an ``np.savez`` archive (bytes), never pickle.

Arrays are stored as arrays; everything else (epoch, RNG state from ``bit_generator.state``, the
mutable hyperparameters, the history, early-stopping bookkeeping, a fingerprint of the network
shape) is one JSON string stored as a 0-d unicode array, so ``np.load(allow_pickle=False)`` reads
it all back.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import CheckpointError

Array = NDArray[Any]
FORMAT_VERSION = 1


@dataclass
class TrainingState:
    """Everything ``train`` needs to continue a run exactly where it stopped."""

    epoch: int
    theta: Array
    bn_state: Array
    optimizer: dict[str, Array]
    rng_state: dict[str, Any]
    params: dict[str, Any]
    history: list[dict[str, Any]]
    fingerprint: dict[str, Any]
    best_epoch: int | None = None
    best_loss: float | None = None
    bad_epochs: int = 0
    best_theta: Array | None = None
    best_bn_state: Array | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(state: TrainingState) -> bytes:
    """Serialise ``state`` to npz bytes."""
    meta = {
        "format": FORMAT_VERSION,
        "epoch": state.epoch,
        "rng_state": state.rng_state,
        "params": state.params,
        "history": state.history,
        "fingerprint": state.fingerprint,
        "best_epoch": state.best_epoch,
        "best_loss": state.best_loss,
        "bad_epochs": state.bad_epochs,
        "optimizer_keys": sorted(state.optimizer),
        "extra": state.extra,
    }
    arrays: dict[str, Array] = {
        "theta": state.theta,
        "bn_state": state.bn_state,
        "meta": np.array(json.dumps(meta)),
    }
    for key, value in state.optimizer.items():
        arrays[f"opt_{key}"] = np.asarray(value)
    if state.best_theta is not None:
        arrays["best_theta"] = state.best_theta
    if state.best_bn_state is not None:
        arrays["best_bn_state"] = state.best_bn_state
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def load_checkpoint(blob: bytes) -> TrainingState:
    """Read bytes written by :func:`save_checkpoint`; ``CheckpointError`` if they are not one."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise CheckpointError("a checkpoint must be bytes", field="resume_from")
    try:
        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays["meta"][()]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"not a readable checkpoint: {exc}", field="resume_from") from None
    if meta.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"unsupported checkpoint format {meta.get('format')!r}", field="resume_from"
        )
    try:
        return TrainingState(
            epoch=int(meta["epoch"]),
            theta=arrays["theta"],
            bn_state=arrays["bn_state"],
            optimizer={key: arrays[f"opt_{key}"] for key in meta["optimizer_keys"]},
            rng_state=meta["rng_state"],
            params=meta["params"],
            history=meta["history"],
            fingerprint=meta["fingerprint"],
            best_epoch=meta["best_epoch"],
            best_loss=meta["best_loss"],
            bad_epochs=int(meta["bad_epochs"]),
            best_theta=arrays.get("best_theta"),
            best_bn_state=arrays.get("best_bn_state"),
            extra=meta.get("extra", {}),
        )
    except KeyError as exc:
        raise CheckpointError(f"checkpoint lacks {exc}", field="resume_from") from None
