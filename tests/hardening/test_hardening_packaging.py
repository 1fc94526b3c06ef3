"""A regular (non-editable) install works on its own, as in the Docker image.

The wheel is built from exactly what the Dockerfile copies, installed with `pip install --target`
into a fresh folder, and run from there with the Dockerfile's own environment, command and health
check (host, port and /data moved to 127.0.0.1, a free port and a temporary folder), with the
working directory outside the repository: the service must migrate a fresh SQLite database to
head and serve /healthz, the dashboard pages and their static files, all from the installed
copy. The static checks of the Dockerfile (slim base, non-root user, HEALTHCHECK, CMD) are in
test_hardening_deploy.py.

The build runs without build isolation when the build requirements of pyproject.toml are
installed already, else pip fetches them from the package index (as `pip install .` in the image
does).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hardening_helpers import free_port

REPO = Path(__file__).resolve().parents[2]


# --- the Dockerfile, read as Docker reads it (enough of it for this image) -------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in dockerfile():
        if word == "ENV":
            for item in shlex.split(rest):
                key, sep, value = item.partition("=")
                assert sep, f"ENV key=value expected: {item}"
                env[key] = value
    return env


def exec_form(rest: str) -> list[str]:
    """The argv of a CMD / HEALTHCHECK CMD: exec form (JSON) or shell form."""
    rest = rest.strip()
    if rest.startswith("["):
        return [str(a) for a in json.loads(rest)]
    return ["/bin/sh", "-c", rest]


def copy_build_context(dest: Path) -> list[str]:
    """Reproduce, in dest, what the Dockerfile's COPY lines put in the folder it installs from;
    returns the sources copied."""
    ignore = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.egg-info", "build", "dist")
    sources: list[str] = []
    for word, rest in dockerfile():
        if word != "COPY":
            continue
        assert "--from" not in rest, f"a single-stage image is what this reads: {rest}"
        args = [a for a in shlex.split(rest) if not a.startswith("--")]
        *srcs, target = args
        for src in srcs:
            path = REPO / src
            assert path.exists(), f"the Dockerfile copies {src}, which is not in the repository"
            norm = posixpath.normpath(target)
            to = dest / path.name if target.endswith("/") or norm == "." else dest / norm
            if path.is_dir():
                shutil.copytree(path, to, ignore=ignore)
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to)
            sources.append(src)
    return sources


# --- build and install -----------------------------------------------------------------------


def build_requirements_installed() -> bool:
    """Whether every [build-system] requirement is installed here (then no build isolation)."""
    from packaging.requirements import Requirement

    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    for spec in requires:
        req = Requirement(spec)
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(have, prereleases=True):
            return False
    return True


def run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert out.returncode == 0, (
        f"{cmd} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Docker build context: a snapshot of the sources (the work tree may change meanwhile),
    what the installed files are compared with."""
    ctx = tmp_path_factory.mktemp("docker-context")
    sources = copy_build_context(ctx)
    assert {"pyproject.toml", "service", "alembic"} <= set(sources), sources
    return ctx


@pytest.fixture(scope="module")
def installed(context: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the Docker build context, installed into a folder of its own."""
    ctx = tmp_path_factory.mktemp("build") / "src"
    shutil.copytree(context, ctx)  # pip builds in place: keep the snapshot clean
    wheels = tmp_path_factory.mktemp("wheels")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "-w", str(wheels)]
    cmd.append(str(ctx))
    if build_requirements_installed():
        cmd.append("--no-build-isolation")
    run(cmd, timeout=300, cwd=ctx)
    (wheel,) = wheels.glob("hpsearch-*.whl")
    target = tmp_path_factory.mktemp("site")
    pip_install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input"]
    run([*pip_install, "--target", str(target), str(wheel)], timeout=300)
    return target


def clean_env(site: Path) -> dict[str, str]:
    """This process's environment without HPSEARCH_* and with PYTHONPATH = the installed copy
    only (the repository is on no path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    env["PYTHONPATH"] = str(site)
    env.pop("PYTHONHOME", None)
    return env


# --- the tests -------------------------------------------------------------------------------

# The wheel is built once for the module (about 10 s, more when pip fetches the build
# requirements) and the server takes seconds to start: together over 20 s.
WHEEL = pytest.mark.slow


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


@WHEEL
def test_wheel_ships_migrations_and_dashboard_files(context: Path, installed: Path) -> None:
    pkg = installed / "service"
    # The dashboard's templates and static files, every one of them.
    for sub in ("templates", "static"):
        want = _files(context / "service" / "dashboard" / sub)
        assert want, sub
        assert _files(pkg / "dashboard" / sub) == want, sub
    # The migrations: env.py, the script template and every revision of alembic/versions.
    migrations = pkg / "core" / "migrations"
    assert (migrations / "env.py").read_text() == (context / "alembic" / "env.py").read_text()
    assert (migrations / "script.py.mako").is_file()
    revisions = {p.name for p in (context / "alembic" / "versions").glob("*.py")}
    assert revisions and {p.name for p in (migrations / "versions").glob("*.py")} == revisions
    # ... under the service package, never as a top-level `alembic` (the library's own name).
    assert not (installed / "alembic").exists()
    assert (installed / "bin" / "hpsearch").is_file()


@WHEEL
def test_installed_copy_is_the_one_imported(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, alembic, service, service.core.db as db; "
        "print(json.dumps({'service': service.__file__, 'alembic': alembic.__file__, "
        "'migrations': str(db.migrations_dir()), 'ini': db.alembic_config('sqlite://')"
        ".config_file_name}))"
    )
    out = run([sys.executable, "-c", probe], timeout=120, cwd=tmp_path, env=clean_env(installed))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(got["service"]).is_relative_to(installed), got
    assert Path(got["migrations"]) == installed / "service" / "core" / "migrations", got
    assert got["ini"] is None, got  # no alembic.ini needed once installed
    # Alembic is the library, not the installed migrations nor the repository's alembic/.
    assert not Path(got["alembic"]).is_relative_to(installed), got
    assert Path(got["alembic"]).parent != REPO / "alembic", got


@contextmanager
def serving(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    """The server of argv, stopped by its PID (SIGTERM, then SIGKILL) on exit."""
    port = env["HPSEARCH_PORT"]
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"server exited {proc.returncode}:\n{log.read_text()}")
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready:\n{log.read_text()[-5000:]}")
                time.sleep(0.2)
            yield base
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def _head_revision(scripts: Path) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(scripts))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head
    return head


@WHEEL
def test_installed_service_runs_as_the_image_does(
    context: Path, installed: Path, tmp_path: Path
) -> None:
    """The Dockerfile's ENV, CMD and HEALTHCHECK against the installed copy: a fresh SQLite
    database migrated to head, /healthz, the dashboard pages and their static files."""
    data = tmp_path / "data"  # the image's /data volume
    workdir = tmp_path / "cwd"  # outside the repository
    workdir.mkdir()
    port = free_port()
    image_env = docker_env()
    assert image_env["HPSEARCH_DATA_DIR"] == "/data", image_env
    env = clean_env(installed)
    env.update({k: v.replace("/data", str(data)) for k, v in image_env.items()})
    # Never 0.0.0.0 on a test machine: the loopback, on a free port.
    env.update({"HPSEARCH_HOST": "127.0.0.1", "HPSEARCH_PORT": str(port)})
    env["HPSEARCH_MAX_WORKERS"] = "1"
    db_file = data / "hpsearch.db"
    assert env["HPSEARCH_DATABASE_URL"] == f"sqlite:///{db_file}", env["HPSEARCH_DATABASE_URL"]
    assert not db_file.exists()

    cmds = [exec_form(rest) for word, rest in dockerfile() if word == "CMD"]
    argv = cmds[-1]
    assert argv[:2] == ["hpsearch", "serve"], argv
    # The console script of the install (its shebang names this venv's interpreter).
    argv = [sys.executable, str(installed / "bin" / "hpsearch"), *argv[1:]]
    with serving(argv, env, workdir, tmp_path / "server.log") as base:
        health = httpx.get(base + "/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        # Migrated to head by `hpsearch serve` itself: the API has its tables.
        studies = httpx.get(base + "/api/v1/studies", timeout=10)
        assert studies.status_code == 200 and studies.json()["items"] == [], studies.text
        import sqlite3

        with sqlite3.connect(db_file) as conn:
            (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version == _head_revision(context / "alembic")

        # The dashboard pages, rendered from the installed templates.
        assets: set[str] = set()
        for page in ("/", "/new", "/studies/1", "/trials/1"):
            r = httpx.get(base + page, timeout=10)
            assert r.status_code == 200, (page, r.status_code, r.text[:500])
            assert r.headers["content-type"].startswith("text/html")
            assert "<html" in r.text.lower()
            assets |= set(re.findall(r"""(?:href|src)="(/static/[^"?]+)""", r.text))
        # Every static file a page links, and each one served is the repository's file.
        assert "/static/style.css" in assets and "/static/app.js" in assets, assets
        dashboard = context / "service" / "dashboard"
        for asset in sorted(assets | {f"/static/{n}" for n in _files(dashboard / "static")}):
            r = httpx.get(base + asset, timeout=10)
            assert r.status_code == 200, (asset, r.status_code)
            assert r.content == (dashboard / asset.removeprefix("/")).read_bytes(), asset
        assert httpx.get(base + "/assets/plotly.min.js", timeout=30).status_code == 200

        # The image's HEALTHCHECK command, pointed at this port.
        checks = [rest for word, rest in dockerfile() if word == "HEALTHCHECK"]
        assert checks, "a HEALTHCHECK"
        check = checks[-1].partition("CMD")[2]
        assert f"127.0.0.1:{image_env['HPSEARCH_PORT']}/healthz" in check, check
        check = check.replace(f":{image_env['HPSEARCH_PORT']}/", f":{port}/")
        check_argv = exec_form(check)
        if check_argv[:2] == ["/bin/sh", "-c"]:
            check_argv = shlex.split(check_argv[2])
        assert check_argv[0] == "python", check_argv
        run([sys.executable, *check_argv[1:]], timeout=30, cwd=workdir, env=env)

    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log, log[-5000:]


def test_alembic_from_the_repository_root_still_works(tmp_path: Path) -> None:
    """The top-level alembic.ini and alembic/ stay what `alembic` uses from a checkout."""
    exe = Path(sys.executable).parent / "alembic"
    assert exe.is_file(), exe
    db_file = tmp_path / "root.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPSEARCH_")}
    run(
        [str(exe), "-x", f"url=sqlite:///{db_file}", "upgrade", "head"],
        timeout=120,
        cwd=REPO,
        env=env,
    )
    import sqlite3

    with sqlite3.connect(db_file) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == _head_revision(REPO / "alembic")
    from service.core.db import REPO_ROOT, migrations_dir

    if REPO_ROOT == REPO:  # a checkout (or an editable install): the top-level folder
        assert migrations_dir() == REPO / "alembic"
