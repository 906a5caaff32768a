"""Fixtures of the command-line tests: the CLI reconfigures logging, tests put it back."""

from __future__ import annotations

import json
import socket
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from typer.testing import CliRunner

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.cli.app import app

# ------------------------------------------------------------------ driving the CLI


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


Cli = Callable[..., CliResult]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder of the command (``.floe/`` lands here)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    return folder


@pytest.fixture
def cli(workdir: Path) -> Cli:
    """Run ``floe-ingest ARGS`` in-process, as a user would type it, in ``workdir``."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> CliResult:
        result = runner.invoke(app, list(args), env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@pytest.fixture
def orders_folder(tmp_path: Path) -> Path:
    """Two CSV files, 30 orders."""
    folder = tmp_path / "data" / "orders"
    folder.mkdir(parents=True)
    for part, ids in (("a", range(1, 21)), ("b", range(21, 31))):
        lines = ["order_id,amount,status"]
        lines += [f"{i},{i * 1.5},{'paid' if i % 3 else 'refunded'}" for i in ids]
        (folder / f"orders_{part}.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_yaml(folder: Path, text: str, name: str = "ingest.yaml") -> Path:
    """``text`` as a YAML file in ``folder``."""
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def embedded_catalog(workdir: Path) -> Catalog:
    """A fresh PyIceberg client on the embedded catalog the CLI uses in ``workdir``."""
    return load_catalog(CatalogConfig.embedded(workdir / ".floe"))
