"""Deployment files, checked without a Docker engine: docker-compose.yml parses (through
`docker compose config` when the compose plugin is there, else PyYAML) and wires the service to
Postgres and to a Dask scheduler with a scalable worker service; the Dockerfile is slim,
non-root, health-checked and runs the documented command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            out = subprocess.run(
                [docker, "compose", "-f", "docker-compose.yml", "config", "--format", "json"],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            return dict(json.loads(out.stdout))
    return dict(yaml.safe_load((REPO / "docker-compose.yml").read_text()))


def test_compose_file_structure() -> None:
    spec = _compose()
    services = spec["services"]
    assert {"service", "db"} <= set(services)
    db, svc = services["db"], services["service"]
    assert str(db["image"]).startswith("postgres")
    assert "healthcheck" in db and "pg_isready" in json.dumps(db["healthcheck"]["test"])
    named = set(spec.get("volumes") or {})
    db_vols = [
        str(v.get("source") if isinstance(v, dict) else v).split(":")[0] for v in db["volumes"]
    ]
    assert any(v in named for v in db_vols), (db_vols, named)
    env = svc["environment"]
    env = env if isinstance(env, dict) else dict(e.split("=", 1) for e in env)
    url = env["HPSEARCH_DATABASE_URL"]
    assert url.startswith("postgresql") and "@db:5432/" in url
    depends = svc["depends_on"]
    assert depends["db"]["condition"] == "service_healthy"
    assert "build" in svc
    # Published on the host's loopback only.
    ports = [json.dumps(p) for p in svc.get("ports", [])]
    assert ports and all("127.0.0.1" in p for p in ports), ports
    _check_dask_services(spec)


def _argv(command: object) -> list[str]:
    """A compose `command`: a list, or a string split as the shell would."""
    if isinstance(command, str):
        return shlex.split(command)
    assert isinstance(command, list), command
    return [str(a) for a in command]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {str(k): str(v) for k, v in env.items()}


def _mounts(service: dict) -> dict[str, str]:
    """target path -> source (a named volume or a host path) of a compose service."""
    out: dict[str, str] = {}
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out[str(v["target"])] = str(v.get("source"))
        else:
            source, target = str(v).split(":")[:2]
            out[target] = source
    return out


def _worker_scheduler(argv: list[str]) -> str:
    """The scheduler address a worker command connects to: `hpsearch worker --scheduler ADDR`
    or the documented plain equivalent, `dask worker ADDR` (docs/scaling.md)."""
    if argv[:2] == ["hpsearch", "worker"]:
        for i, arg in enumerate(argv):
            if arg == "--scheduler":
                return argv[i + 1]
            if arg.startswith("--scheduler="):
                return arg.split("=", 1)[1]
        raise AssertionError(f"hpsearch worker without --scheduler: {argv}")
    assert argv[:2] == ["dask", "worker"], argv
    return next(a for a in argv[2:] if not a.startswith("-"))


def _check_dask_services(spec: dict) -> None:
    """`docker compose up --scale worker=4`: a Dask scheduler, a scalable worker service that
    connects to it, and the service submitting its trials there (docs/scaling.md)."""
    services = spec["services"]
    assert {"dask-scheduler", "worker", "service"} <= set(services), set(services)
    sched, worker, svc = services["dask-scheduler"], services["worker"], services["service"]

    # The scheduler is `dask scheduler`, listening on 8786 (its default) on every interface of
    # the compose network.
    s_argv = _argv(sched["command"])
    assert s_argv[:2] == ["dask", "scheduler"], s_argv
    if "--port" in s_argv:
        assert s_argv[s_argv.index("--port") + 1] == "8786", s_argv
    address = "tcp://dask-scheduler:8786"

    # The workers connect to that scheduler by its service name, and the service submits there.
    assert _worker_scheduler(_argv(worker["command"])) == address
    assert _env(svc).get("HPSEARCH_DASK_SCHEDULER") == address, _env(svc)
    assert "dask-scheduler" in worker.get("depends_on", {}), worker.get("depends_on")
    assert "dask-scheduler" in svc.get("depends_on", {}), svc.get("depends_on")

    # Scalable: a fixed container name or a fixed host port would clash at --scale worker=4.
    assert "container_name" not in worker, worker
    assert not worker.get("ports"), worker.get("ports")
    # Uploaded datasets: the workers read the service's data directory from the same volume.
    data_dir = _env(svc)["HPSEARCH_DATA_DIR"]
    assert data_dir in _mounts(svc), _mounts(svc)
    assert _mounts(worker).get(data_dir) == _mounts(svc)[data_dir], (_mounts(worker), data_dir)
    assert _env(worker).get("HPSEARCH_DATA_DIR", data_dir) == data_dir
    # The Dask dashboard is published on the host's loopback only, as the service is.
    ports = [json.dumps(p) for p in sched.get("ports", [])]
    assert all("127.0.0.1" in p for p in ports), ports


def test_dockerfile() -> None:
    text = (REPO / "Dockerfile").read_text()
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert froms and re.match(r"FROM python:3\.\d+-slim", froms[-1]), froms
    users = [ln.split()[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    health = " ".join(ln for ln in lines if "HEALTHCHECK" in ln or "/healthz" in ln)
    assert "HEALTHCHECK" in health and "/healthz" in health
    # 0.0.0.0 only inside the container: set in the image, never a default of the service.
    assert re.search(r"HPSEARCH_HOST=0\.0\.0\.0", text)
    from service.core.config import Settings

    assert Settings.model_fields["host"].default == "127.0.0.1"
    cmd = [ln for ln in lines if ln.upper().startswith("CMD")]
    assert cmd, "a CMD"
    argv = json.loads(cmd[-1][3:].strip())
    assert argv[:2] == ["hpsearch", "serve"], argv
    assert "hpsearch serve" in (REPO / "README.md").read_text()
