"""Built-in and uploaded datasets: names, upload validation, loading for the trial runner."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, BinaryIO

from service.errors import InvalidInput
from service.store import DatasetData, Store

# The design's list, used only while the engine package cannot be imported.
_FALLBACK_BUILTINS = ("moons", "circles", "digits", "iris", "wine", "breast_cancer", "diabetes")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CHUNK = 1 << 20


def builtin_names() -> tuple[str, ...]:
    try:
        import engine

        return tuple(engine.BUILTIN_DATASETS)
    except (ImportError, AttributeError):  # pragma: no cover - engine is written in parallel
        return _FALLBACK_BUILTINS


def dataset_exists(store: Store, name: str) -> bool:
    return name in builtin_names() or store.get_dataset(name) is not None


def _sanitize(stem: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "dataset"
    return s[:80]


def _detect_format(filename: str | None, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") or (filename or "").lower().endswith(".npz"):
        return "npz"
    if (filename or "").lower().endswith((".csv", ".txt")) or not filename:
        return "csv"
    raise InvalidInput("only CSV and NPZ files are accepted", ("body", "file"))


def save_upload(
    store: Store,
    data_dir: Path,
    stream: BinaryIO,
    filename: str | None,
    name: str | None = None,
    target: str | None = None,
    task: str | None = None,
) -> DatasetData:
    import engine

    if name is not None and not _NAME_RE.match(name):
        raise InvalidInput(
            "name: letters, digits, '_', '.', '-', at most 100 characters", ("body", "name")
        )
    if task is not None and task not in ("binary", "multiclass", "regression"):
        raise InvalidInput("task is binary, multiclass or regression", ("body", "task"))
    if name in builtin_names():
        raise InvalidInput(f"{name!r} is the name of a built-in dataset", ("body", "name"))

    head = stream.read(4)
    fmt = _detect_format(filename, head)
    folder = Path(data_dir) / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    # The stored file name is ours, never the client's: no path tricks, no collisions.
    path = folder / f"{secrets.token_hex(12)}.{fmt}"
    size = 0
    try:
        with open(path, "wb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInput(
                        f"file larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB", ("body", "file")
                    )
                out.write(chunk)
                chunk = stream.read(_CHUNK)
        if size == 0:
            raise InvalidInput("the file is empty", ("body", "file"))
        ds = _load(path, fmt, target, task, engine)
        base = name or _sanitize(Path(filename or "dataset").stem)
        final = base
        if name is None:
            while final in builtin_names() or store.get_dataset(final) is not None:
                final = f"{base}-{secrets.token_hex(3)}"
        return store.add_dataset(
            name=final,
            original_filename=(filename or None) and Path(filename).name[:255],
            path=str(path.resolve()),
            format=fmt,
            task=str(ds.task),
            n_samples=int(ds.X.shape[0]),
            n_features=int(ds.X.shape[1]) if ds.X.ndim > 1 else 1,
            n_classes=int(ds.n_classes),
            size_bytes=size,
            target=None if target is None else str(target),
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _target_arg(target: str | None) -> str | int:
    if target is None:
        return -1
    try:
        return int(target)
    except ValueError:
        return target


def _load(path: Path, fmt: str, target: str | None, task: str | None, engine: Any) -> Any:
    try:
        if fmt == "npz":
            return engine.load_npz(path, task=task)
        return engine.load_csv(path, target=_target_arg(target), task=task)
    except engine.EngineError as e:
        fld = getattr(e, "field", None)
        where = fld if fld in ("target", "task") else "file"
        msg = getattr(e, "message", None) or str(e)
        raise InvalidInput(f"not a usable {fmt.upper()} dataset: {msg}", ("body", where)) from e
    except Exception as e:
        # Whatever a hostile or broken file makes the parser raise (BadZipFile, ...) is the
        # client's fault, never a 500.
        raise InvalidInput(f"not a usable {fmt.upper()} dataset: {e}", ("body", "file")) from e


def load_dataset(store: Store, name: str, seed: int = 0) -> Any:
    """The engine Dataset for a study's objective.dataset (built-in or uploaded)."""
    import engine

    if name in builtin_names():
        return engine.load_dataset(name, seed=seed)
    row = store.get_dataset(name)
    if row is None:
        raise InvalidInput(f"unknown dataset {name!r}", ("body", "objective", "dataset"))
    path = Path(row.path)
    task = row.task
    if row.format == "npz":
        return engine.load_npz(path, task=task)
    return engine.load_csv(path, target=_target_arg(row.target), task=task)
