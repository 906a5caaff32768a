"""``floe-ingest --help``: answers without importing dlt, PyIceberg, floe-core or the models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from floe_ingestion_dlt.cli.app import app

HEAVY = (
    "dlt",
    "pyiceberg",
    "floe_core",
    "pydantic",
    "pyarrow",
    "sqlalchemy",
    "structlog",
    "yaml",
    "rich",
)
"""Top-level packages ``--help`` must not import (typer's rich help alone costs ~0.4 s)."""

PROBE = """
import json, sys
from floe_ingestion_dlt.cli import main
code = main(sys.argv[1:])
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["show", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}
    assert "Usage: floe-ingest" in done.stdout


def test_console_script_answers_help() -> None:
    script = Path(sys.executable).with_name("floe-ingest")
    done = subprocess.run(
        [str(script), "--help"], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for command in ("run", "validate", "check", "show"):
        assert f"  {command} " in done.stdout
    assert "Exit codes: 0 success" in done.stdout


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("run", "floe-ingest run ingest.yaml --source orders --source customers"),
        ("validate", "floe-ingest validate ingest.yaml --json"),
        ("check", "floe-ingest check ingest.yaml"),
        ("show", "floe-ingest show quickstart.orders --limit 5"),
    ],
)
def test_every_command_help_has_examples(command: str, example: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert example in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("floe-ingest 0.")


def test_no_arguments_shows_help() -> None:
    result = CliRunner().invoke(app, [])
    assert "Usage:" in result.output
    assert "Commands" in result.output
