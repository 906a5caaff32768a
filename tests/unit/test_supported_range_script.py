"""scripts/supported_range.py: the bounds come from pyproject.toml; a skip or an empty path fails."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "supported_range.py"


@pytest.fixture
def supported_range() -> ModuleType:
    spec = importlib.util.spec_from_file_location("supported_range", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bounds_are_pyprojects_with_their_extras(supported_range: ModuleType) -> None:
    import tomllib

    declared = tomllib.loads(supported_range.PYPROJECT.read_text())["project"]["dependencies"]
    for package in ("dlt", "pyiceberg"):
        requirement = supported_range.requirement(package)
        assert requirement in declared
        assert requirement.startswith(f"{package}[") and "<" in requirement


def test_a_range_without_an_upper_bound_is_refused(
    supported_range: ModuleType, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["dlt[parquet]>=1.31", "pyarrow>=18"]\n')
    with pytest.raises(SystemExit, match="dlt has no upper bound"):
        supported_range.requirement("dlt", pyproject)
    with pytest.raises(SystemExit, match="pyiceberg is not in"):
        supported_range.requirement("pyiceberg", pyproject)


def _report(tmp_path: Path, *cases: str) -> Path:
    report = tmp_path / "junit.xml"
    report.write_text(
        f'<testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'
    )
    return report


PASSED = '<testcase classname="tests.unit.compat.test_dlt_compat" name="test_a"/>'
PASSED_MERGE = '<testcase classname="tests.integration.destination.test_merge" name="test_b"/>'
PATHS = ["tests/unit/compat", "tests/integration/destination/test_merge.py"]


def test_every_path_passing_is_green(supported_range: ModuleType, tmp_path: Path) -> None:
    supported_range.junit(_report(tmp_path, PASSED, PASSED_MERGE), PATHS)


@pytest.mark.parametrize("outcome", ["skipped", "failure", "error"])
def test_a_skip_a_failure_or_an_error_is_not_green(
    supported_range: ModuleType, tmp_path: Path, outcome: str
) -> None:
    bad = (
        '<testcase classname="tests.integration.destination.test_merge" name="test_c">'
        f'<{outcome} message="dlt 1.30 has no X"/></testcase>'
    )
    with pytest.raises(SystemExit, match=f"test_merge::test_c: {outcome}: dlt 1\\.30 has no X"):
        supported_range.junit(_report(tmp_path, PASSED, PASSED_MERGE, bad), PATHS)


def test_a_selected_path_that_ran_nothing_is_not_green(
    supported_range: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match=r"test_merge\.py: no test ran"):
        supported_range.junit(_report(tmp_path, PASSED), PATHS)


def test_versions_moved_away_from_the_lock_are_listed(
    supported_range: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked, resolved = tmp_path / "locked.txt", tmp_path / "resolved.txt"
    locked.write_text("cachetools==8.0.2\npyiceberg==0.12.0\nrich==15.0.0\n")
    resolved.write_text(
        "cachetools==6.2.6\n    # via pyiceberg\npyiceberg[pyarrow]==0.11.1\nrich==15.0.0\n"
    )
    supported_range.moved(locked, resolved)
    assert capsys.readouterr().out.splitlines() == [
        "supported_range: not as locked: cachetools 8.0.2 -> 6.2.6",
        "supported_range: not as locked: pyiceberg 0.12.0 -> 0.11.1",
    ]
