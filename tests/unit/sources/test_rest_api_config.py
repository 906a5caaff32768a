"""``rest_api`` source_config: both forms, auth and secrets, resource choice, dlt's own rules."""

from __future__ import annotations

import inspect
import secrets
from typing import Any

import pytest
from pydantic import SecretStr

from floe_ingestion_dlt.errors import ErrorCategory, ValidationError
from floe_ingestion_dlt.scrub import scrub_text
from floe_ingestion_dlt.sources import get_builder
from floe_ingestion_dlt.sources.base import SourceContext
from floe_ingestion_dlt.sources.rest_api import (
    ApiKeyAuth,
    BearerAuth,
    HttpBasicAuth,
    OAuth2ClientCredentialsAuth,
    RestApiSourceBuilder,
    RestApiSourceConfig,
)
from floe_ingestion_dlt.sources.rest_api_probe import probe_request

BASE = "https://api.example.com/v1"


def parse(source_config: dict[str, Any]) -> RestApiSourceConfig:
    config = RestApiSourceBuilder().parse(source_config)
    assert isinstance(config, RestApiSourceConfig)
    return config


def context(table: str = "orders") -> SourceContext:
    return SourceContext(
        source_type="rest_api",
        destination_table=f"bronze.{table}",
        namespace="bronze",
        table_name=table,
        write_mode="append",
        schema_contract="evolve",
        pipeline_name=f"floe__bronze__{table}",
    )


def parent_child(**extra: Any) -> dict[str, Any]:
    return {
        "client": {"base_url": BASE, "paginator": "single_page"},
        "resources": [
            {"name": "orders", "endpoint": {"path": "orders", "params": {"status": "open"}}},
            {
                "name": "lines",
                "endpoint": {"path": "orders/{resources.orders.id}/lines"},
                "include_from_parent": ["id"],
            },
        ],
        **extra,
    }


def test_registry_points_at_this_builder() -> None:
    assert isinstance(get_builder("rest_api"), RestApiSourceBuilder)


def test_short_form_becomes_one_dlt_resource() -> None:
    config = parse(
        {
            "base_url": BASE,
            "path": "orders",
            "params": {"status": "open"},
            "paginator": {"type": "offset", "limit": 100, "total_path": "total"},
            "data_selector": "items",
        }
    )
    assert config.is_short_form
    assert config.selected_resource() is None
    assert config.to_dlt_config(name="orders") == {
        "client": {"base_url": BASE},
        "resources": [
            {
                "name": "orders",
                "endpoint": {
                    "path": "orders",
                    "params": {"status": "open"},
                    "paginator": {"type": "offset", "limit": 100, "total_path": "total"},
                    "data_selector": "items",
                },
            }
        ],
    }


def test_dlt_config_is_accepted_as_is() -> None:
    source_config = {
        "client": {
            "base_url": BASE,
            "headers": {"Accept": "application/json"},
            "paginator": {"type": "json_link", "next_url_path": "next"},
        },
        "resource_defaults": {"primary_key": "id", "endpoint": {"params": {"per_page": 50}}},
        "resources": [
            "customers",
            {
                "name": "orders",
                "endpoint": {
                    "path": "orders",
                    "params": {
                        "since": {
                            "type": "incremental",
                            "cursor_path": "updated_at",
                            "initial_value": "2024-01-01T00:00:00Z",
                        }
                    },
                },
            },
        ],
        "resource": "orders",
    }
    config = parse(source_config)
    dlt_config = config.to_dlt_config()
    assert dlt_config["client"] == {
        "base_url": BASE,
        "headers": {"Accept": "application/json"},
        "paginator": {"type": "json_link", "next_url_path": "next"},
    }
    assert dlt_config["resources"] == source_config["resources"]
    assert dlt_config["resource_defaults"] == source_config["resource_defaults"]
    assert config.selected_resource() == "orders"


def test_single_declared_resource_is_selected_without_naming_it() -> None:
    config = parse({"client": {"base_url": BASE}, "resources": ["orders"]})
    assert config.selected_resource() == "orders"


def test_several_resources_need_a_choice() -> None:
    with pytest.raises(ValidationError) as info:
        parse(parent_child())
    assert info.value.field == "source_config.resource"
    assert "orders" in str(info.value) and "lines" in str(info.value)


def test_unknown_resource_lists_the_declared_ones() -> None:
    with pytest.raises(ValidationError) as info:
        parse(parent_child(resource="invoices"))
    assert info.value.field == "source_config.resource"
    assert "'invoices'" in str(info.value)
    assert "orders, lines" in str(info.value)


@pytest.mark.parametrize(
    ("source_config", "field", "text"),
    [
        ({}, "source_config", "base_url"),
        ({"base_url": "ftp://x", "path": "a"}, "source_config.base_url", "http"),
        ({"base_url": BASE, "client": {"base_url": BASE}}, "source_config", "not both"),
        ({"client": {"base_url": BASE}}, "source_config", "client and resources"),
        (
            {"client": {"base_url": BASE}, "resources": ["a"], "path": "a"},
            "source_config.path",
            "short-form",
        ),
        (
            {"client": {"base_url": BASE}, "resources": ["a"], "json": {"q": 1}},
            "source_config.json",
            "short-form",
        ),
        ({"base_url": BASE, "resource": "a"}, "source_config.resource", "client/resources"),
        ({"base_url": BASE, "pagniator": "auto"}, "source_config.pagniator", "Extra"),
        ({"base_url": BASE, "request_timeout": 0}, "source_config.request_timeout", ""),
        ({"client": {"base_url": BASE}, "resources": []}, "source_config.resources", ""),
        (
            {"client": {"base_url": BASE}, "resources": [{"endpoint": "a"}]},
            "source_config.resources[0].name",
            "name",
        ),
    ],
)
def test_structural_errors_name_the_field(
    source_config: dict[str, Any], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse(source_config)
    assert info.value.field == field
    assert info.value.category is ErrorCategory.CONFIGURATION
    assert text in str(info.value)


def test_dlt_rejects_an_unknown_paginator_type() -> None:
    with pytest.raises(ValidationError) as info:
        parse({"base_url": BASE, "path": "a", "paginator": {"type": "telepathy"}})
    assert info.value.field == "source_config"
    assert "paginator" in str(info.value)


def test_dlt_rejects_a_child_of_an_unknown_parent() -> None:
    with pytest.raises(ValidationError, match="non existing parent resource"):
        parse(
            {
                "client": {"base_url": BASE},
                "resources": [{"name": "lines", "endpoint": "orders/{resources.orderz.id}/lines"}],
            }
        )


# ---------------------------------------------------------------------------- auth, secrets


def test_auth_shorthand_is_bearer_and_token_is_secret() -> None:
    token = "tok-" + secrets.token_hex(8)
    config = parse({"base_url": BASE, "auth": {"token": token}})
    assert isinstance(config.auth, BearerAuth)
    assert isinstance(config.auth.token, SecretStr)
    assert token not in repr(config)
    assert token not in scrub_text(f"token was {token}!")
    assert config.to_dlt_config()["client"]["auth"] == {"type": "bearer", "token": token}


@pytest.mark.parametrize(
    ("auth", "model", "secret_key"),
    [
        ({"type": "api_key", "api_key": "K", "name": "X-Api-Key"}, ApiKeyAuth, "api_key"),
        (
            {"type": "api_key", "api_key": "K", "location": "query", "name": "key"},
            ApiKeyAuth,
            "api_key",
        ),
        ({"type": "http_basic", "username": "bob", "password": "K"}, HttpBasicAuth, "password"),
        (
            {
                "type": "oauth2_client_credentials",
                "access_token_url": f"{BASE}/oauth/token",
                "client_id": "floe",
                "client_secret": "K",
            },
            OAuth2ClientCredentialsAuth,
            "client_secret",
        ),
    ],
)
def test_every_auth_type_keeps_its_secret_secret(
    auth: dict[str, Any], model: type, secret_key: str
) -> None:
    secret = "sec-" + secrets.token_hex(8)
    auth = {k: (secret if v == "K" else v) for k, v in auth.items()}
    config = parse({"client": {"base_url": BASE, "auth": auth}, "resources": ["orders"]})
    assert config.client is not None
    assert isinstance(config.client.auth, model)
    assert isinstance(getattr(config.client.auth, secret_key), SecretStr)
    assert secret not in repr(config)
    assert secret not in scrub_text(f"said {secret}")
    dlt_auth = config.to_dlt_config()["client"]["auth"]
    assert dlt_auth[secret_key] == secret
    assert dlt_auth["type"] == auth["type"]


def test_secrets_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    client_id = "id-" + secrets.token_hex(4)
    client_secret = "cs-" + secrets.token_hex(8)
    monkeypatch.setenv("FLOE_TEST_CLIENT_ID", client_id)
    monkeypatch.setenv("FLOE_TEST_CLIENT_SECRET", client_secret)
    monkeypatch.setenv("FLOE_TEST_API_URL", BASE)
    config = parse(
        {
            "base_url": {"from_env": "FLOE_TEST_API_URL"},
            "auth": {
                "type": "oauth2_client_credentials",
                "access_token_url": f"{BASE}/oauth/token",
                "client_id": {"from_env": "FLOE_TEST_CLIENT_ID"},
                "client_secret": {"from_env": "FLOE_TEST_CLIENT_SECRET"},
            },
        }
    )
    assert config.base_url == BASE
    auth = config.to_dlt_config()["client"]["auth"]
    assert (auth["client_id"], auth["client_secret"]) == (client_id, client_secret)
    assert client_secret not in scrub_text(client_secret)


def test_missing_environment_variable_names_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_TEST_NO_TOKEN", raising=False)
    with pytest.raises(ValidationError) as info:
        parse({"base_url": BASE, "auth": {"token": {"from_env": "FLOE_TEST_NO_TOKEN"}}})
    assert info.value.field == "source_config.auth.bearer.token"
    assert "FLOE_TEST_NO_TOKEN" in str(info.value)


def test_wrong_auth_type_lists_the_supported_ones() -> None:
    with pytest.raises(ValidationError) as info:
        parse({"base_url": BASE, "auth": {"type": "kerberos"}})
    assert info.value.field == "source_config.auth"
    for name in ("bearer", "api_key", "http_basic", "oauth2_client_credentials"):
        assert name in str(info.value)


def test_secret_looking_headers_are_registered_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "hk-" + secrets.token_hex(8)
    env_value = "he-" + secrets.token_hex(8)
    accept = "application/x-floe-" + secrets.token_hex(4)
    monkeypatch.setenv("FLOE_TEST_HEADER", env_value)
    config = parse(
        {
            "base_url": BASE,
            "headers": {
                "X-Api-Key": key,
                "X-Tenant": {"from_env": "FLOE_TEST_HEADER"},
                "Accept": accept,
            },
        }
    )
    assert config.to_dlt_config()["client"]["headers"] == {
        "X-Api-Key": key,
        "X-Tenant": env_value,
        "Accept": accept,
    }
    assert key not in scrub_text(key)
    assert env_value not in scrub_text(env_value)
    assert scrub_text(accept) == accept
    assert key not in repr(config)


def test_endpoint_level_auth_is_parsed_too() -> None:
    token = "ep-" + secrets.token_hex(8)
    config = parse(
        {
            "client": {"base_url": BASE},
            "resources": [{"name": "orders", "endpoint": {"path": "o", "auth": {"token": token}}}],
        }
    )
    assert token not in repr(config)
    assert token not in scrub_text(token)
    endpoint = config.to_dlt_config()["resources"][0]["endpoint"]
    assert endpoint == {"path": "o", "auth": {"type": "bearer", "token": token}}


def test_endpoint_auth_errors_name_the_resource() -> None:
    with pytest.raises(ValidationError, match=r"resources\[0\]\.endpoint\.auth"):
        parse(
            {
                "client": {"base_url": BASE},
                "resources": [{"name": "o", "endpoint": {"auth": {"type": "http_basic"}}}],
            }
        )


# ------------------------------------------------------------------------------- building


def test_build_returns_the_selected_resource_with_one_table_nesting_default() -> None:
    config = parse(parent_child(resource="lines"))
    resource = RestApiSourceBuilder().build(config, context("order_lines"))
    assert resource.name == "lines"
    assert resource.max_table_nesting == 0


def test_short_form_resource_takes_the_table_name() -> None:
    config = parse({"base_url": BASE, "path": "orders", "max_table_nesting": 2})
    resource = RestApiSourceBuilder().build(config, context("raw_orders"))
    assert resource.name == "raw_orders"
    assert resource.max_table_nesting == 2


def test_probe_of_a_child_goes_to_the_root_parent() -> None:
    request = probe_request(parse(parent_child(resource="lines")))
    assert request.resource == "orders"
    assert request.url == f"{BASE}/orders"
    assert request.params == {"status": "open"}
    assert request.concrete


def test_probe_skips_bound_params_and_uses_endpoint_auth_and_headers() -> None:
    config = parse(
        {
            "client": {"base_url": BASE, "headers": {"Accept": "json"}, "auth": {"token": "c1c1"}},
            "resources": [
                {
                    "name": "orders",
                    "endpoint": {
                        "path": "orders",
                        "headers": {"X-Page": "1"},
                        "auth": {"type": "api_key", "api_key": "e2e2", "name": "X-Key"},
                        "params": {
                            "since": {
                                "type": "incremental",
                                "cursor_path": "u",
                                "initial_value": 1,
                            },
                            "q": "x",
                        },
                    },
                }
            ],
        }
    )
    request = probe_request(config)
    assert request.params == {"q": "x"}
    assert request.headers == {"Accept": "json", "X-Page": "1"}
    assert request.auth is not None and request.auth["type"] == "api_key"


def test_probe_of_a_templated_path_checks_the_base_url_only() -> None:
    config = parse(
        {
            "client": {"base_url": BASE},
            "resources": [
                {
                    "name": "orders",
                    "endpoint": {
                        "path": "orders/since/{incremental.start_value}",
                        "incremental": {"cursor_path": "updated_at", "initial_value": "2024"},
                    },
                }
            ],
        }
    )
    request = probe_request(config)
    assert request.url == BASE
    assert not request.concrete


# ---------------------------------------------------------------- dlt internals we rely on


def test_dlt_rest_api_internals_we_use() -> None:
    """The probe reads dlt's dependency graph; the build hands dlt a session of ours."""
    from dlt.sources.rest_api import config_setup, create_resources
    from dlt.sources.rest_api.typing import ClientConfig, OAuth2ClientCredentialsConfig

    graph = config_setup.build_resource_dependency_graph(
        {}, parse(parent_child(resource="lines")).to_dlt_config()["resources"]
    )
    assert len(graph) == 3
    endpoints, parents = graph[1], graph[2]
    assert parents["orders"] is None
    assert parents["lines"][0].resolve_config["resource"] == "orders"
    assert endpoints["orders"]["endpoint"]["path"] == "orders"
    assert callable(config_setup.create_auth)
    assert "session" in ClientConfig.__annotations__
    assert "session" in OAuth2ClientCredentialsConfig.__annotations__
    assert 'session=client_config.get("session")' in inspect.getsource(create_resources)
