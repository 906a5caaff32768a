"""Where the incremental cursor is bound: dlt's resource hint, a SQL WHERE, an API parameter."""

from __future__ import annotations

from typing import Any

import pytest

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.sources import (
    SourceContext,
    build_resource,
    get_builder,
    incremental_hint,
    schema_contract_hint,
)

CONTEXT = SourceContext(
    source_type="rest_api",
    destination_table="bronze.orders",
    namespace="bronze",
    table_name="orders",
    write_mode="append",
    schema_contract="freeze",
    pipeline_name="floe__bronze__orders",
)
SHORT = {"base_url": "http://127.0.0.1:9/api", "path": "orders", "data_selector": "items"}


def _rest(**extra: Any) -> Any:
    return get_builder("rest_api").parse({**SHORT, **extra})


def test_incremental_hint_carries_every_configured_bound() -> None:
    config = _rest(
        cursor_field="updated_at",
        initial_value="2024-01-01",
        end_value="2025-01-01",
        lag=3600,
        row_order="asc",
    )
    incremental = incremental_hint(config)
    assert incremental.cursor_path == "updated_at"
    assert incremental.initial_value == "2024-01-01"
    assert incremental.end_value == "2025-01-01"
    assert incremental.lag == 3600
    assert incremental.row_order == "asc"


def test_cursor_param_sends_the_cursor_to_the_api_instead_of_a_resource_hint() -> None:
    builder = get_builder("rest_api")
    config = _rest(cursor_field="updated_at", cursor_param="updated_since", initial_value="x")
    endpoint = config.to_dlt_config()["resources"][0]["endpoint"]
    assert endpoint["incremental"] == {
        "start_param": "updated_since",
        "cursor_path": "updated_at",
        "initial_value": "x",
    }
    assert builder.handles_incremental(config)  # type: ignore[attr-defined]
    resource = build_resource(builder, config, CONTEXT)
    # no resource-level hint: dlt binds the endpoint's incremental to the query parameter
    assert resource.incremental is None or resource.incremental.incremental is None


def test_without_cursor_param_the_rows_are_filtered_by_the_resource_hint() -> None:
    builder = get_builder("rest_api")
    config = _rest(cursor_field="id")
    assert "incremental" not in config.to_dlt_config()["resources"][0]["endpoint"]
    assert not builder.handles_incremental(config)  # type: ignore[attr-defined]
    resource = build_resource(builder, config, CONTEXT)
    assert resource.incremental is not None
    assert resource.incremental.incremental.cursor_path == "id"


def test_incremental_declared_in_dlts_endpoint_config_is_not_applied_twice() -> None:
    builder = get_builder("rest_api")
    config = builder.parse(
        {
            "client": {"base_url": "http://127.0.0.1:9/api"},
            "resources": [
                {
                    "name": "orders",
                    "endpoint": {
                        "path": "orders",
                        "params": {"since": {"type": "incremental", "cursor_path": "ts"}},
                    },
                }
            ],
            "cursor_field": "ts",
        }
    )
    assert builder.handles_incremental(config)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        ({"cursor_param": "since"}, "needs cursor_field"),
        ({"cursor_param": ""}, "cursor_param"),
    ],
)
def test_cursor_param_errors_name_the_field(extra: dict[str, Any], text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _rest(**extra)
    assert "cursor_param" in str(caught.value) and text in str(caught.value)


def test_cursor_param_is_refused_in_the_full_form() -> None:
    with pytest.raises(ValidationError) as caught:
        get_builder("rest_api").parse(
            {
                "client": {"base_url": "http://127.0.0.1:9/api"},
                "resources": [{"name": "orders", "endpoint": {"path": "orders"}}],
                "cursor_field": "ts",
                "cursor_param": "since",
            }
        )
    assert "cursor_param" in str(caught.value)


def test_the_contract_hint_never_freezes_the_table_itself() -> None:
    assert schema_contract_hint("freeze") == {
        "tables": "evolve",
        "columns": "freeze",
        "data_type": "freeze",
    }
    resource = build_resource(get_builder("rest_api"), _rest(), CONTEXT)
    assert resource.compute_table_schema()["schema_contract"] == schema_contract_hint("freeze")
