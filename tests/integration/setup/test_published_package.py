"""The package as PyPI would publish it: ``uv build``, then the wheel installed with plain pip.

No uv and no dependency group in the installing environment: a new virtual environment, its own
pip, ``pip install <wheel>`` resolving the runtime dependencies from the package index. Then
the installed ``floe-ingest`` runs ``examples/quickstart.yaml`` against the quickstart's SQLite
file and API, as a user who ran ``pip install floe-ingestion-dlt`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"


def find_uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "uv" / "bin" / "uv")
    assert Path(found).exists(), "uv is installed by scripts/bootstrap.sh"
    return found


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [find_uv(), "build", "--out-dir", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean venv with the wheel installed by pip; returns its bin folder."""
    venv = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (wheel,) = dist.glob("*.whl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv / "bin"


@pytest.fixture
def quickstart_services(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The quickstart's SQLite database and API, as scripts/quickstart.sh provides them."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from quickstart_api import QuickstartApi
        from quickstart_db import build_database
    finally:
        sys.path.remove(str(EXAMPLES))
    database = tmp_path / "shop.db"
    build_database(database)
    with QuickstartApi() as api:
        yield {"QUICKSTART_DB_URL": f"sqlite:///{database}", "QUICKSTART_API_URL": api.url}


def test_uv_build_makes_an_sdist_and_a_wheel(dist: Path) -> None:
    (sdist,) = dist.glob("floe_ingestion_dlt-*.tar.gz")
    (wheel,) = dist.glob("floe_ingestion_dlt-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        declared = archive.read(entry_points).decode()
    assert "floe_ingestion_dlt/plugin.py" in names
    assert "floe_ingestion_dlt/py.typed" in names
    assert "floe-ingest = floe_ingestion_dlt.cli:main" in declared
    assert "dlt = floe_ingestion_dlt:DltIngestionPlugin" in declared
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("src/floe_ingestion_dlt/plugin.py") for m in members)
    assert any(m.endswith("/pyproject.toml") for m in members)


def test_the_wheel_installs_with_plain_pip_and_without_test_tools(installed: Path) -> None:
    probe = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import importlib.util as u; "
            "print([m for m in ('pytest', 'mypy', 'ruff', 'uv') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "[]"
    version = subprocess.run(
        [str(installed / "floe-ingest"), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("floe-ingest ")


def test_the_installed_floe_ingest_runs_the_quickstart(
    installed: Path, quickstart_services: dict[str, str], tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = {
        "PATH": f"{installed}:/usr/bin:/bin",
        "HOME": str(workdir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        **quickstart_services,
    }
    done = subprocess.run(
        [str(installed / "floe-ingest"), "run", str(EXAMPLES / "quickstart.yaml"), "--json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    loaded = {source["destination_table"]: source["rows_loaded"] for source in summary["sources"]}
    assert loaded == {
        "quickstart.orders": 300,
        "quickstart.customers": 200,
        "quickstart.products": 120,
    }
    assert (workdir / ".floe" / "catalog.db").exists()
