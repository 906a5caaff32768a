"""Mistakes a newcomer makes in the first minutes: exit 2 and a message that names the fix.

``check`` / ``run`` of ``examples/quickstart.yaml`` after the quickstart: its products API only
lived while the quickstart ran (``floe-ingest show`` without a namespace is tested with the
other ``show`` tests).
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, write_yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
QUICKSTART_YAML = REPO / "examples" / "quickstart.yaml"
QUICKSTART_API_PORT = 8765


@pytest.fixture
def after_the_quickstart(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder as the quickstart leaves it: its database, no API, no variables."""
    sys.path.insert(0, str(REPO / "examples"))
    try:
        from quickstart_db import build_database
    finally:
        sys.path.remove(str(REPO / "examples"))
    build_database(workdir / ".floe" / "quickstart" / "shop.db")
    monkeypatch.delenv("QUICKSTART_API_URL", raising=False)
    monkeypatch.delenv("QUICKSTART_DB_URL", raising=False)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", QUICKSTART_API_PORT)) == 0:
            pytest.fail(
                f"something listens on 127.0.0.1:{QUICKSTART_API_PORT}: the test needs it free"
            )
    return workdir


FIX = "the quickstart's products API only runs while `bash scripts/quickstart.sh` runs"
BY_HAND = "`.venv/bin/python examples/quickstart_api.py --port 8765`"


def test_check_of_the_quickstart_yaml_without_its_api_says_how_to_start_it(
    cli: Cli, after_the_quickstart: Path
) -> None:
    result = cli("check", str(QUICKSTART_YAML), "--json")

    assert result.exit_code == 2, result.output
    checks = {check["component"]: check for check in result.json()["checks"]}
    products = checks["source products"]
    assert products["ok"] is False
    assert products["category"] == "CONFIGURATION"
    assert FIX in products["detail"]
    assert BY_HAND in products["detail"]
    assert checks["source orders"]["ok"] and checks["source customers"]["ok"]


def test_check_text_prints_the_fix(cli: Cli, after_the_quickstart: Path) -> None:
    result = cli("check", str(QUICKSTART_YAML))

    assert result.exit_code == 2, result.output
    assert f"fix products: {FIX}" in " ".join(result.stderr.split())


def test_run_of_the_quickstart_yaml_without_its_api_says_how_to_start_it(
    cli: Cli, after_the_quickstart: Path
) -> None:
    result = cli("run", str(QUICKSTART_YAML), "--json")

    assert result.exit_code == 2, result.output
    runs = {source["name"]: source for source in result.json()["sources"]}
    assert runs["products"]["status"] == "failed"
    assert runs["products"]["category"] == "CONFIGURATION"
    assert any(FIX in error and BY_HAND in error for error in runs["products"]["errors"])
    assert runs["orders"]["status"] == runs["customers"]["status"] == "success"


def test_an_unreachable_default_address_is_named_but_stays_transient(
    cli: Cli, workdir: Path, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_API_URL", raising=False)
    config = write_yaml(
        workdir,
        f"""\
        sources:
          - name: orders
            source_type: rest_api
            source_config:
              base_url: ${{ORDERS_API_URL:-http://127.0.0.1:{closed_port}}}
              path: orders
            destination_table: bronze.orders
        """,
    )

    result = cli("check", str(config), "--json")

    assert result.exit_code == 3, result.output
    (source,) = [c for c in result.json()["checks"] if c["component"] == "source orders"]
    assert source["category"] == "TRANSIENT"
    assert (
        f"${{ORDERS_API_URL}} is not set, so the default address was used (http://127.0.0.1:{closed_port})"
        in source["detail"]
    )


def test_check_of_the_quickstart_yaml_in_another_folder_says_where_the_database_is(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUICKSTART_DB_URL", raising=False)

    result = cli("check", str(QUICKSTART_YAML), "--json")

    assert result.exit_code == 2, result.output
    checks = {check["component"]: check for check in result.json()["checks"]}
    customers = checks["source customers"]
    assert customers["category"] == "CONFIGURATION"
    assert (
        "the quickstart's SQLite database is built by `bash scripts/quickstart.sh`"
        in (customers["detail"])
    )
    assert "examples/quickstart_db.py .floe/quickstart/shop.db" in customers["detail"]
