from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status

from service.api.deps import SettingsDep, StoreDep
from service.datasets import builtin_names, save_upload
from service.schemas import DatasetOut, DatasetPage

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("", response_model=DatasetOut, status_code=status.HTTP_201_CREATED)
def upload_dataset(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV (header row) or NPZ with arrays X and y")],
    name: Annotated[str | None, Form()] = None,
    target: Annotated[str | None, Form(description="CSV target column (name or index)")] = None,
    task: Annotated[str | None, Form()] = None,
) -> DatasetOut:
    row = save_upload(store, settings.data_dir, file.file, file.filename, name, target, task)
    return DatasetOut(builtin=False, **{k: getattr(row, k) for k in _FIELDS})


_FIELDS = (
    "name",
    "format",
    "task",
    "n_samples",
    "n_features",
    "n_classes",
    "size_bytes",
    "original_filename",
    "created_at",
)


@router.get("", response_model=DatasetPage)
def list_datasets(store: StoreDep) -> DatasetPage:
    items = [DatasetOut(name=n, builtin=True) for n in builtin_names()]
    items += [
        DatasetOut(builtin=False, **{k: getattr(r, k) for k in _FIELDS})
        for r in store.list_datasets()
    ]
    return DatasetPage(items=items, total=len(items))
