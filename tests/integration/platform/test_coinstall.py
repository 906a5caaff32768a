"""The plugin's dependency ranges co-install with every floe 0.1.0a1 package on PyPI.

floe-catalog-polaris 0.1.0a1 pins ``tenacity>=8,<9``: a range of ours that excluded it would
make the platform's own catalog plugin uninstallable beside us. Two checks: a fresh resolution
over PyPI of this project's ranges with all floe packages (``uv pip compile``, not the lock),
and the installed environment (the ``floe`` dependency group) satisfying every requirement.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
FLOE_PACKAGES = (
    "floe-core",
    "floe-orchestrator-dagster",
    "floe-catalog-polaris",
    "floe-storage-minio",
    "floe-iceberg",
    "floe-compute-duckdb",
)


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    assert Path(found).exists(), "uv is installed by scripts/bootstrap.sh"
    return found


def test_ranges_resolve_with_every_floe_package_from_pypi(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.in"
    requirements.write_text(
        "\n".join([*(f"{name}==0.1.0a1" for name in FLOE_PACKAGES), str(ROOT)]) + "\n"
    )
    done = subprocess.run(
        [
            _uv(),
            "pip",
            "compile",
            str(requirements),
            "--python-version",
            "3.11",
            "--prerelease",
            "allow",
            "--no-header",
            "--quiet",
            "--cache-dir",
            str(tmp_path / "cache"),  # a fresh resolution, not a cached one
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pins = {line.split("==")[0].lower() for line in done.stdout.splitlines() if "==" in line}
    assert {name.lower() for name in FLOE_PACKAGES} <= pins
    assert "tenacity==8." in done.stdout  # floe-catalog-polaris's range, and ours admits it


def _satisfied(requirement: Requirement) -> bool:
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return True
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)


@pytest.mark.parametrize("package", ["floe-ingestion-dlt", *FLOE_PACKAGES])
def test_installed_environment_satisfies_every_requirement(package: str) -> None:
    requires = [Requirement(r) for r in metadata.requires(package) or []]
    broken = [str(r) for r in requires if not _satisfied(r)]
    assert metadata.version(package)
    assert broken == []
