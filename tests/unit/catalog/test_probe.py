"""Probing a REST catalog: what "answers" means, deadlines, typed errors, no secret leaks."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugin_metadata import HealthState

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.catalog import check_catalog, probe_catalog
from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PipelineConfigurationError,
    SourceConnectionError,
)
from tests.unit.catalog.fake_catalog import FakeRestCatalog, SilentServer

GOOD = "client:s3cr3t-Zq81x"
"""The fake catalog's OAuth2 client credential."""


@pytest.fixture
def fake() -> Iterator[FakeRestCatalog]:
    with FakeRestCatalog() as server:
        yield server


def rest(uri: str, **props: Any) -> CatalogConfig:
    return CatalogConfig.parse({"type": "rest", "uri": uri, "warehouse": "wh", **props})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_oauth2_exchange_then_config_then_namespaces(fake: FakeRestCatalog) -> None:
    config = rest(fake.uri, credential=GOOD, scope="PRINCIPAL_ROLE:ALL")
    config = config.model_copy(update={"access_delegation": "vended-credentials"})
    probe = probe_catalog(config, timeout=2.0)
    assert probe.ok, probe.message
    assert probe.step == "namespaces"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/oauth/tokens"),
        ("GET", "/v1/config"),
        ("GET", "/v1/wh/namespaces"),
    ]
    token_request, config_request, _ = fake.requests
    assert token_request.form["scope"] == ["PRINCIPAL_ROLE:ALL"]
    assert token_request.form["grant_type"] == ["client_credentials"]
    assert config_request.query == {"warehouse": ["wh"]}
    assert config_request.headers["Authorization"] == "Bearer tok-Zq81x"
    assert config_request.headers["X-Iceberg-Access-Delegation"] == "vended-credentials"


def test_default_oauth2_scope_is_pyicebergs_catalog(fake: FakeRestCatalog) -> None:
    assert probe_catalog(rest(fake.uri, credential=GOOD), 2.0).ok
    assert fake.requests[0].form["scope"] == ["catalog"]


def test_oauth2_server_uri_is_used_for_the_exchange(fake: FakeRestCatalog) -> None:
    config = rest(fake.uri, credential=GOOD, **{"oauth2-server-uri": f"{fake.uri}/v1/oauth/tokens"})
    assert probe_catalog(config, 2.0).ok


def test_bearer_token_is_sent_as_it_is(fake: FakeRestCatalog) -> None:
    assert probe_catalog(rest(fake.uri, token="tok-Zq81x"), 2.0).ok
    assert [r.path for r in fake.requests] == ["/v1/config", "/v1/wh/namespaces"]


@pytest.mark.parametrize(
    ("props", "step"),
    [
        ({"credential": "client:wrong-secret-value"}, "token"),
        ({"token": "wrong-token-value"}, "config"),
        ({}, "config"),
    ],
)
def test_rejected_credentials(fake: FakeRestCatalog, props: dict[str, str], step: str) -> None:
    probe = probe_catalog(rest(fake.uri, **props), 2.0)
    assert (probe.status, probe.step, probe.http_status) == ("rejected", step, 401)
    assert fake.uri in probe.message
    assert "wrong-secret-value" not in probe.message
    assert "wrong-token-value" not in probe.message


def test_a_catalog_that_answers_config_to_any_token_is_caught_by_the_authenticated_call(
    fake: FakeRestCatalog,
) -> None:
    """SeaweedFS answers /v1/config without checking the token; listing namespaces checks."""
    fake.require_auth_on_config = False
    probe = probe_catalog(rest(fake.uri, token="wrong-token-value"), 2.0)
    assert (probe.status, probe.step, probe.http_status) == ("rejected", "namespaces", 401)
    probe = probe_catalog(rest(fake.uri, token="wrong-token-value"), 2.0, namespace="bronze")
    assert (probe.status, probe.step, probe.http_status) == ("rejected", "namespace", 401)


def test_forbidden_listing_is_fine_for_an_authenticated_principal(fake: FakeRestCatalog) -> None:
    """Polaris may forbid LIST_NAMESPACES to a principal that can still write its namespace."""
    fake.overrides["/v1/wh/namespaces"] = (403, {"error": {"message": "not authorized"}})
    assert probe_catalog(rest(fake.uri, credential=GOOD), 2.0).ok


def test_pipeline_probe_heads_its_namespace_missing_is_fine(fake: FakeRestCatalog) -> None:
    config = rest(fake.uri, credential=GOOD)
    assert probe_catalog(config, 2.0, namespace="bronze").ok
    assert probe_catalog(config, 2.0, namespace="silver").ok  # created by the first run
    assert [(r.method, r.path) for r in fake.requests if r.path.startswith("/v1/wh")] == [
        ("HEAD", "/v1/wh/namespaces/bronze"),
        ("HEAD", "/v1/wh/namespaces/silver"),
    ]
    fake.overrides["/v1/wh/namespaces/bronze"] = (403, {})
    probe = probe_catalog(config, 2.0, namespace="bronze")
    assert (probe.status, probe.step, probe.http_status) == ("rejected", "namespace", 403)


@pytest.mark.parametrize(
    ("path", "code", "status"),
    [
        ("/v1/config", 503, "unreachable"),
        ("/v1/config", 429, "unreachable"),
        ("/v1/config", 500, "unreachable"),
        ("/v1/config", 404, "error"),
        ("/v1/config", 400, "error"),
        ("/v1/oauth/tokens", 400, "rejected"),
        ("/v1/oauth/tokens", 503, "unreachable"),
    ],
)
def test_http_answers_are_sorted(fake: FakeRestCatalog, path: str, code: int, status: str) -> None:
    fake.overrides[path] = (code, {"error": {"message": "scripted", "type": "X", "code": code}})
    probe = probe_catalog(rest(fake.uri, credential=GOOD), 2.0)
    assert (probe.status, probe.http_status) == (status, code)
    assert f"HTTP {code}" in probe.message


def test_connection_refused_is_unreachable_at_once() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    probe = probe_catalog(rest(uri, credential=GOOD), 2.0)
    assert probe.status == "unreachable"
    assert "refused" in probe.message.lower()
    assert uri in probe.message
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("timeout", [0.1, 0.3])
def test_a_silent_catalog_never_holds_the_probe_past_its_timeout(timeout: float) -> None:
    with SilentServer() as silent:
        started = time.perf_counter()
        probe = probe_catalog(rest(silent.uri), timeout)
        waited = time.perf_counter() - started
    assert probe.status == "unreachable"
    assert waited < timeout + 0.05
    assert 0 <= probe.response_time_ms < (timeout + 0.05) * 1000


def test_a_slow_catalog_is_cut_at_the_deadline(fake: FakeRestCatalog) -> None:
    fake.stall_seconds = 0.4
    started = time.perf_counter()
    probe = probe_catalog(rest(fake.uri, credential=GOOD), 0.5)
    assert probe.status == "unreachable"
    assert time.perf_counter() - started < 0.55


def test_check_catalog_raises_typed_errors(fake: FakeRestCatalog) -> None:
    check_catalog(rest(fake.uri, credential=GOOD), 2.0, namespace="bronze")

    with pytest.raises(PipelineConfigurationError) as rejected:
        check_catalog(rest(fake.uri, credential="client:nope-secret-123"), 2.0)
    assert rejected.value.category is ErrorCategory.CONFIGURATION
    assert rejected.value.field == "catalog_config.credential"
    assert fake.uri in str(rejected.value)
    assert "nope-secret-123" not in str(rejected.value)

    fake.overrides["/v1/config"] = (404, {"error": {"message": "warehouse wh not found"}})
    with pytest.raises(PipelineConfigurationError) as refused:
        check_catalog(rest(fake.uri, credential=GOOD), 2.0)
    assert refused.value.field == "catalog_config"
    assert "warehouse wh not found" in str(refused.value)

    fake.overrides["/v1/config"] = (503, {"error": {"message": "maintenance"}})
    with pytest.raises(SourceConnectionError) as down:
        check_catalog(rest(fake.uri, credential=GOOD), 2.0)
    assert down.value.category is ErrorCategory.TRANSIENT


def test_sqlite_catalog_that_does_not_exist_yet_is_fine_and_not_created(tmp_path: Path) -> None:
    config = CatalogConfig.embedded(tmp_path / "lake")
    probe = probe_catalog(config, 2.0)
    assert probe.ok, probe.message
    assert not (tmp_path / "lake").exists()


def test_unreachable_postgres_sql_catalog_is_unreachable() -> None:
    import pyiceberg.catalog.sql  # noqa: F401 - as startup() does: the probe's time is the call's

    config = CatalogConfig.parse(
        {
            "type": "sql",
            "uri": f"postgresql+psycopg2://u:pw-secret-9@127.0.0.1:{free_port()}/cat",
            "warehouse": "s3://lake/wh",
        }
    )
    probe = probe_catalog(config, 3.0)
    assert (probe.status, probe.step) == ("unreachable", "sql"), probe.message
    assert "refused" in probe.message
    assert "pw-secret-9" not in probe.message


# ------------------------------------------------------------------------ plugin health


def started_plugin(catalog: CatalogConfig) -> DltIngestionPlugin:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(catalog_config=catalog, dlt_state_url="s3://state/dlt")
    )
    plugin.startup()
    return plugin


def test_health_of_a_rest_catalog_is_fast_and_detailed(fake: FakeRestCatalog) -> None:
    plugin = started_plugin(rest(fake.uri, credential=GOOD))
    started = time.perf_counter()
    status = plugin.health_check()
    assert time.perf_counter() - started < 1.0
    assert status.state is HealthState.HEALTHY, status.message
    assert status.details["check"] == "catalog"
    assert status.details["catalog_status"] == "ok"
    assert status.details["catalog_uri"] == fake.uri
    assert 0 <= status.details["catalog_response_time_ms"] <= status.details["response_time_ms"]


def test_health_of_a_silent_catalog_is_unhealthy_within_the_timeout() -> None:
    with SilentServer() as silent:
        plugin = started_plugin(rest(silent.uri, credential=GOOD))
        started = time.perf_counter()
        status = plugin.health_check(timeout=0.2)
        waited = time.perf_counter() - started
    assert status.state is HealthState.UNHEALTHY
    assert waited < 0.2
    assert status.details["catalog_status"] == "unreachable"
    assert status.details["response_time_ms"] < 200
    assert silent.uri in status.message


def test_health_with_rejected_credentials_never_shows_the_secret(fake: FakeRestCatalog) -> None:
    plugin = started_plugin(rest(fake.uri, credential="client:very-wrong-secret"))
    status = plugin.health_check(timeout=1.0)
    assert status.state is HealthState.UNHEALTHY
    assert status.details["catalog_status"] == "rejected"
    assert status.details["catalog_http_status"] == 401
    assert "very-wrong-secret" not in status.message + repr(status.details)


def test_sigv4_catalogs_are_probed_through_pyiceberg_which_signs(
    fake: FakeRestCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sigv4-secret-Zq81x")
    sigv4 = {
        "rest.sigv4-enabled": "true",
        "rest.signing-region": "us-east-1",
        "rest.signing-name": "s3tables",
    }
    fake.require_auth_on_config = False
    probe = probe_catalog(rest(fake.uri, properties=sigv4), 5.0)
    assert probe.ok, probe.message
    assert fake.requests[0].headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    fake.require_auth_on_config = True
    probe = probe_catalog(rest(fake.uri, properties=sigv4), 5.0)
    assert probe.status == "rejected"
    assert "sigv4-secret-Zq81x" not in probe.message
