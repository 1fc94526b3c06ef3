from __future__ import annotations

import ast
import pathlib

import samplers

FORBIDDEN = {"engine", "service", "hpsearch", "sqlalchemy", "fastapi", "httpx", "requests"}


def test_samplers_import_nothing_from_other_layers_or_io() -> None:
    root = pathlib.Path(samplers.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] not in FORBIDDEN, f"{path.name} imports {n}"
