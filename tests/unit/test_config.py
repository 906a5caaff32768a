"""Configuration models: defaults, validation messages naming the field, secrets hidden."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.config import (
    CatalogConfig,
    DltIngestionConfig,
    IngestionSourceConfig,
    RetryConfig,
    SchemaContract,
    WriteMode,
    parse_destination_table,
)

SOURCE: dict[str, Any] = {
    "name": "orders",
    "source_type": "filesystem",
    "source_config": {"bucket_url": "/data", "file_glob": "*.csv"},
    "destination_table": "bronze.orders",
}


def test_defaults() -> None:
    cfg = DltIngestionConfig.model_validate({"sources": [SOURCE]})
    assert cfg.retry_config == RetryConfig(max_retries=3, initial_delay_seconds=1.0)
    source = cfg.sources[0]
    assert source.write_mode is WriteMode.APPEND
    assert source.schema_contract is SchemaContract.EVOLVE
    assert cfg.catalog_config is None
    assert cfg.resolved_catalog("/tmp/x").uri == "sqlite:////tmp/x/catalog.db"
    assert DltIngestionConfig().sources == []


def test_models_are_frozen() -> None:
    cfg = DltIngestionConfig()
    with pytest.raises(PydanticValidationError):
        cfg.pipelines_dir = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"source_type": "ftp"}, "source_type"),
        ({"destination_table": "orders"}, "destination_table"),
        ({"write_mode": "upsert"}, "write_mode"),
        ({"schema_contract": "loose"}, "schema_contract"),
        ({"unknown": 1}, "unknown"),
        ({"name": "bad name!"}, "name"),
        ({"write_mode": "merge"}, "primary_key"),
    ],
)
def test_source_validation_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        IngestionSourceConfig.model_validate({**SOURCE, **change})
    assert field in str(info.value)


def test_allowed_values_are_listed() -> None:
    with pytest.raises(PydanticValidationError) as info:
        IngestionSourceConfig.model_validate({**SOURCE, "write_mode": "upsert"})
    text = str(info.value)
    assert "'append'" in text and "'replace'" in text and "'merge'" in text


def test_source_names_unique() -> None:
    with pytest.raises(PydanticValidationError, match="unique"):
        DltIngestionConfig.model_validate({"sources": [SOURCE, SOURCE]})


def test_merge_key_folded_into_source_config() -> None:
    src = IngestionSourceConfig.model_validate(
        {**SOURCE, "write_mode": "merge", "primary_key": ["a", "b"], "cursor_field": "ts"}
    )
    assert src.effective_source_config()["primary_key"] == ["a", "b"]
    assert src.effective_source_config()["cursor_field"] == "ts"


def test_retry_bounds() -> None:
    with pytest.raises(PydanticValidationError, match="max_retries"):
        RetryConfig(max_retries=-1)


def test_catalog_secrets_are_secret_str_and_hidden() -> None:
    cat = CatalogConfig.model_validate(
        {
            "type": "rest",
            "uri": "http://127.0.0.1:8181/catalog",
            "warehouse": "lake",
            "credential": "client:s3cr3t-value",
            "s3.access-key-id": "AKIAXXXX",
            "s3.secret-access-key": "very-secret-key",
            "s3.path-style-access": True,
        }
    )
    assert isinstance(cat.credential, SecretStr)
    assert "s3cr3t-value" not in repr(cat) and "very-secret-key" not in repr(cat)
    props = cat.pyiceberg_properties()
    assert props["credential"] == "client:s3cr3t-value"
    assert props["s3.secret-access-key"] == "very-secret-key"
    assert props["s3.path-style-access"] == "true"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "sql", "uri": "http://x"}, "uri"),
        ({"type": "sql", "uri": "sqlite:///x.db"}, "warehouse"),
        ({"type": "rest", "uri": "sqlite:///x"}, "uri"),
        ({"type": "hive", "uri": "thrift://x"}, "type"),
        ({"type": "rest", "uri": "http://x", "credential": "a:b", "token": "t"}, "credential"),
        ({"type": "rest", "uri": "http://x", "s3.access-key-id": "a"}, "s3.access-key-id"),
        ({"type": "rest", "uri": "http://x", "s3.bogus": "a"}, "s3.bogus"),
        ({"type": "rest", "uri": "http://x", "properties": {"s3.endpoint": "y"}}, "properties"),
    ],
)
def test_catalog_validation(data: dict[str, Any], field: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        CatalogConfig.model_validate(data)
    assert field in str(info.value)


def test_parse_destination_table() -> None:
    assert parse_destination_table("bronze.raw_orders") == ("bronze", "raw_orders")
    for bad in ("", "a", "a.b.c", "a.", ".b", "a b.c", "1a.b"):
        with pytest.raises(ValueError, match=r"namespace\.table"):
            parse_destination_table(bad)
    for bad, fix in (("bronze.Orders", "bronze.orders"), ("bronze.x__y", "bronze.x_y")):
        with pytest.raises(ValueError, match=rf"write destination_table: {fix}$"):
            parse_destination_table(bad)
    with pytest.raises(ValueError, match=r"namespace\.table"):
        parse_destination_table("bronze.t\n")


def test_destination_table_length_is_bounded_and_the_fix_fits() -> None:
    fits = "n" * 40 + "." + "t" * 100
    assert parse_destination_table(fits) == ("n" * 40, "t" * 100)
    for namespace, table in (("n" * 40, "t" * 101), ("n" * 300, "t"), ("n" * 90, "t" * 90)):
        with pytest.raises(ValueError, match="at most 140") as info:
            parse_destination_table(f"{namespace}.{table}")
        suggestion = str(info.value).rsplit("destination_table: ", 1)[1]
        assert parse_destination_table(suggestion)  # the name to write is itself accepted


@pytest.mark.parametrize("table", ["_dlt_loads", "_dlt_version", "_dlt_pipeline_state", "_dlt_x"])
def test_dlt_bookkeeping_table_names_are_refused(table: str) -> None:
    with pytest.raises(ValueError, match=rf"write another name, .*bronze\.{table[1:]}$"):
        parse_destination_table(f"bronze.{table}")


def test_non_identifier_names_say_what_dlt_would_write() -> None:
    with pytest.raises(ValueError, match=r"dlt would write it as 'bronze\.a_b'$"):
        parse_destination_table("bronze.a/b")
