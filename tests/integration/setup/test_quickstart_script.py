"""``bash scripts/quickstart.sh`` on a fresh copy of the repository, with a PEP 668 Python.

The README's first command must work with the most common Linux Python: one whose stdlib folder
holds an ``EXTERNALLY-MANAGED`` marker, so that ``pip install`` into it is refused. The test
builds such a Python (a copy of the running interpreter's installation with the marker dropped
into its stdlib folder), puts it first on ``PATH`` as ``python3`` with no ``uv`` anywhere on
``PATH``, and runs the script in a copy of the repository's committed files: the script has to
install uv without touching that Python, install the runtime dependencies and load the three
quickstart sources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
SYSTEM_PATH = "/usr/bin:/bin"


def repository_copy(target: Path) -> Path:
    """The repository's committed files (as a fresh clone has them) copied to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def externally_managed_python(target: Path, *, with_pip: bool = True) -> Path:
    """A copy of the base interpreter whose stdlib folder holds a PEP 668 marker.

    ``with_pip=False``: no pip and no ``ensurepip`` either (Debian without ``python3-venv``):
    ``python -m venv`` cannot make an environment with pip in it.
    """
    base = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_path("stdlib", vars={"installed_base": str(base)}))
    relative_stdlib = stdlib.relative_to(base)
    dropped = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo"}
    if not with_pip:
        dropped.add("ensurepip")

    def skip(folder: str, names: list[str]) -> set[str]:
        # no third-party packages (a bare system Python) and no test suite (size)
        return dropped & set(names) if Path(folder) == stdlib else set()

    # the interpreter, its stdlib and libpython: enough to run, small even when base is /usr
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = target / "bin" / version
    python.parent.mkdir(parents=True)
    shutil.copy2(Path(sys._base_executable).resolve(), python)
    shutil.copytree(stdlib, target / relative_stdlib, symlinks=True, ignore=skip)
    for library in (base / "lib").glob("libpython*"):
        shutil.copy2(library, target / "lib" / library.name, follow_symlinks=False)
    (target / relative_stdlib / "site-packages").mkdir(exist_ok=True)
    if with_pip:  # a distribution's Python has pip, which then refuses to install anything
        bootstrapped = subprocess.run(
            [str(python), "-m", "ensurepip", "--default-pip"], capture_output=True, check=False
        )
        if bootstrapped.returncode != 0:  # a base without ensurepip (Debian): pip from PyPI
            subprocess.run(
                [find_uv(), "pip", "install", "-q", "--python", str(python), "--system", "pip"],
                check=True,
            )
    (target / relative_stdlib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the test's 'distribution'.\n"
    )
    return python


def find_uv() -> str:
    found = shutil.which("uv") or str(REPO / ".tools" / "uv" / "bin" / "uv")
    assert Path(found).exists(), "uv is installed by scripts/bootstrap.sh"
    return found


def fresh_machine_env(bin_dir: Path, python: Path, uv: str | None) -> dict[str, str]:
    """The environment of a user whose PATH has ``python`` as python3 and ``uv`` (or a broken
    ``uv``, like a pyenv shim of a version without it)."""
    bin_dir.mkdir()
    # a wrapper, not a symlink: a venv made through a symlink records the symlink's folder as
    # its home and then finds the original installation's stdlib (with ensurepip) instead
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')
    wrapper.chmod(0o755)
    if uv is None:
        broken = bin_dir / "uv"
        broken.write_text("#!/bin/sh\necho 'uv: command not found in this version' >&2\nexit 127\n")
        broken.chmod(0o755)
    else:
        (bin_dir / "uv").symlink_to(uv)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "UV_", "PYENV", "CONDA", "PIP_REQUIRE"))
        and key not in ("PYTHONPATH", "PYTHONHOME", "PYTHON", "UV")
    }
    env.update(PATH=f"{bin_dir}:{SYSTEM_PATH}", RUNTIME__DLTHUB_TELEMETRY="false")
    return env


def run_quickstart(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/quickstart.sh", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
        check=False,
    )


def assert_quickstart_loaded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout)
    assert summary["success"] is True
    loaded = {source["destination_table"]: source["rows_loaded"] for source in summary["sources"]}
    assert loaded == {
        "quickstart.orders": 300,
        "quickstart.customers": 200,
        "quickstart.products": 120,
    }


@pytest.fixture(scope="module")
def quickstart_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("fresh-machine")
    python = externally_managed_python(root / "python")
    env = fresh_machine_env(root / "bin", python, uv=None)
    repo = repository_copy(root / "repo")
    refused = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "uv"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stderr + refused.stdout
    return repo, python, run_quickstart(repo, env)


@pytest.fixture(scope="module")
def python_without_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = externally_managed_python(tmp_path_factory.mktemp("bare") / "python", with_pip=False)
    assert subprocess.run([str(python), "-m", "pip", "--version"], check=False).returncode != 0
    return python


def test_quickstart_succeeds_with_a_python_that_refuses_pip_install(
    quickstart_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    repo, python, result = quickstart_run
    assert_quickstart_loaded(result)
    # nothing was installed into the externally managed Python
    site_packages = python.parent.parent / Path(sysconfig.get_path("purelib")).relative_to(
        sys.prefix
    )
    installed = sorted(path.name for path in site_packages.iterdir())
    assert not [name for name in installed if name.startswith("uv")], installed
    assert not [name for name in installed if name.startswith("dlt")], installed
    assert (repo / ".tools" / "uv" / "bin" / "uv").exists()


def test_quickstart_setup_says_what_it_does_and_how_long_each_step_took(
    quickstart_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    _, _, result = quickstart_run
    log = result.stderr
    assert "(externally managed, PEP 668: nothing is installed into it)" in log
    assert "setup: installing uv: done in " in log
    assert "setup: installing the runtime dependencies and DuckDB into .venv" in log
    assert "no test tools): done in " in log
    assert "setup: ready in " in log


def test_quickstart_installs_the_runtime_only_and_compiles_bytecode(
    quickstart_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    repo, _, _ = quickstart_run
    venv_python = repo / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [
            str(venv_python),
            "-c",
            "import importlib.util as u, dlt, pathlib; "
            "print([m for m in ('pytest', 'mypy', 'ruff', 'hypothesis', 'connectorx', 'duckdb') "
            "if u.find_spec(m)]); "
            "print(len(list(pathlib.Path(dlt.__file__).parent.rglob('*.pyc'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    dev_tools, compiled = probe.stdout.splitlines()
    assert dev_tools == "['duckdb']"  # the quickstart group only: no test tools
    assert not (repo / ".venv" / "bin" / "weed").exists()  # nor the test services
    assert int(compiled) > 500  # dlt's modules were compiled at install


def test_quickstart_with_neither_pip_nor_venv_unpacks_uv_from_pypi(
    python_without_pip: Path, tmp_path: Path
) -> None:
    env = fresh_machine_env(tmp_path / "bin", python_without_pip, uv=None)
    repo = repository_copy(tmp_path / "repo")

    result = run_quickstart(repo, env)

    assert_quickstart_loaded(result)
    assert "unpacking uv's wheel from PyPI into .tools/uv/bin" in result.stderr
    assert "sha256" not in result.stderr  # checked, and it matched
    assert (repo / ".tools" / "uv" / "bin" / "uv").is_file()


def test_quickstart_with_uv_on_path_needs_no_pip(python_without_pip: Path, tmp_path: Path) -> None:
    env = fresh_machine_env(tmp_path / "bin", python_without_pip, uv=find_uv())
    repo = repository_copy(tmp_path / "repo")

    result = run_quickstart(repo, env)

    assert_quickstart_loaded(result)
    assert f"setup: uv: {tmp_path / 'bin' / 'uv'} (" in result.stderr
    assert "installing uv" not in result.stderr
    assert not (repo / ".tools").exists()


def test_the_readme_query_runs_in_the_quickstart_environment(
    quickstart_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    """The README's first Python block (PyIceberg + DuckDB) works with what the quickstart
    installed, in the folder it ran in."""
    repo, _, _ = quickstart_run
    readme = (repo / "README.md").read_text()
    snippet = readme.split("Query the tables:\n\n```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(
        [str(repo / ".venv" / "bin" / "python"), "-c", snippet],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "status" in done.stdout and "count_star()" in done.stdout
