"""Nothing the plugin or dlt writes to disk holds a secret: the pipelines folder (dlt's
``trace.pickle``, state, schemas, load packages and their failed-job messages) and the lake
(Iceberg metadata and snapshot summaries), after failed and successful runs.

Each test searches every byte of every file under the test's folder (pickles included, as
bytes), and checks that the folders it searches were written, so it cannot pass by looking at
nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin, RetryConfig
from tests.helpers import embedded_plugin
from tests.integration.cli.conftest import Cli, write_yaml
from tests.services.http_api import FakeApiServer, make_records

pytestmark = pytest.mark.integration

API_KEY = "Qk-api-K3y-7f3a9c"
URL_PASSWORD = "Url-Pa55-w0rd-41b"
SESSION_HEADER = "Sess-T0ken-55e2d1"


def files_holding(root: Path, secrets: list[str]) -> dict[str, list[str]]:
    """``{relative path: [secrets found]}`` for every file under ``root``."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hits = [s for s in secrets if s.encode() in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def written(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


def rest_config(base_url: str, **extra: Any) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": base_url,
            "path": "offset/items",
            "data_selector": "items",
            "request_max_attempts": 1,
            **extra,
        },
        destination_table="bronze.items",
    )


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))


def test_api_key_in_query_of_a_failing_request_is_not_on_disk(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, tmp_path: Path
) -> None:
    api_server.set_records("items", make_records(5))
    pipeline = plugin.create_pipeline(
        rest_config(
            api_server.base_url,
            auth={"type": "api_key", "name": "api_key", "api_key": API_KEY, "location": "query"},
        )
    )
    api_server.set_status(500)

    result = plugin.run(pipeline)

    assert not result.success
    assert any("trace.pickle" in p or "state" in p for p in written(tmp_path / "pipelines"))
    assert files_holding(tmp_path, [API_KEY]) == {}
    assert API_KEY not in " ".join(result.errors)


def test_password_in_base_url_and_custom_header_not_on_disk_after_success(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, tmp_path: Path
) -> None:
    api_server.set_records("items", make_records(5))
    base = api_server.base_url.replace("http://", f"http://reader:{URL_PASSWORD}@")
    pipeline = plugin.create_pipeline(rest_config(base, headers={"X-Session": SESSION_HEADER}))

    result = plugin.run(pipeline)

    assert result.success, result.errors
    assert result.rows_loaded == 5
    assert written(tmp_path / "lake")
    assert written(tmp_path / "pipelines")
    assert files_holding(tmp_path, [URL_PASSWORD, SESSION_HEADER]) == {}


def test_password_in_base_url_and_custom_header_not_on_disk_after_failure(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, tmp_path: Path
) -> None:
    api_server.set_records("items", make_records(5))
    base = api_server.base_url.replace("http://", f"http://reader:{URL_PASSWORD}@")
    pipeline = plugin.create_pipeline(rest_config(base, headers={"X-Session": SESSION_HEADER}))
    api_server.set_status(500)

    result = plugin.run(pipeline)

    assert not result.success
    assert written(tmp_path / "pipelines")
    assert files_holding(tmp_path, [URL_PASSWORD, SESSION_HEADER]) == {}
    assert URL_PASSWORD not in " ".join(result.errors)


def test_debug_logs_do_not_show_custom_auth_headers(
    plugin: DltIngestionPlugin,
    api_server: FakeApiServer,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from floe_ingestion_dlt.logging import configure_logging

    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    configure_logging(level="DEBUG")
    caplog.set_level(logging.DEBUG)
    api_server.set_records("items", make_records(3))
    config = rest_config(api_server.base_url, headers={"X-Session": SESSION_HEADER})

    result = plugin.run(plugin.create_pipeline(config))

    assert result.success, result.errors
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "X-Session" in logged or "GET" in logged or caplog.records  # DEBUG output exists
    assert SESSION_HEADER not in logged


def test_token_in_path_is_not_echoed(cli: Cli, workdir: Path, api_server: FakeApiServer) -> None:
    token = "Path-T0ken-9f8e7d"
    config = write_yaml(
        workdir,
        """\
sources:
  - name: items
    source_type: rest_api
    source_config: {base_url: "${ITEMS_API}", path: "offset/${API_TOKEN}/x", data_selector: items}
    destination_table: bronze.items
""",
    )
    result = cli(
        "run",
        str(config),
        "--json",
        env={"ITEMS_API": api_server.base_url, "API_TOKEN": token, "FLOE_LOG_LEVEL": "DEBUG"},
    )

    assert result.exit_code != 0, result.output
    assert "offset/***/x" in result.output
    assert token not in result.output
    assert files_holding(workdir, [token]) == {}
