"""Generated invalid configurations only ever raise the documented typed errors, and no
secret they carry reaches an exception text or a log line.

Documented errors (see ``floe_ingestion_dlt.errors``):
- ``DltIngestionPlugin.create_pipeline(IngestionConfig)``: ``ValidationError`` (bad values) or
  ``PipelineConfigurationError`` (impossible combination, missing package).
- ``DltIngestionPlugin.configure(dict)``: ``ValidationError``.
- ``DltIngestionConfig(...)`` / ``model_validate``: pydantic's ``ValidationError``, as for any
  pydantic model. Both ``ValidationError`` kinds are ``ValueError``.

Every generated example carries at least one definite violation, so ``create_pipeline`` never
gets as far as probing a source: these tests validate only (fast, no network).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import structlog
from floe_core.plugins.ingestion import IngestionConfig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PipelineConfigurationError,
    ValidationError,
)

SETTINGS = dict(
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
VALID_TYPES = ("rest_api", "sql_database", "filesystem")
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")

secrets = st.from_regex(r"Zq[A-Za-z0-9]{10,16}", fullmatch=True).map(lambda s: f"SECRET{s}")
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
good_table = st.sampled_from(["bronze.orders", "raw.events", "silver_x.t_1"])


@pytest.fixture(scope="module")
def plugin() -> Iterator[DltIngestionPlugin]:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        started = DltIngestionPlugin(
            DltIngestionConfig(
                catalog_config=CatalogConfig.embedded(base / "lake"),
                pipelines_dir=base / "pipelines",
                connect_timeout_seconds=0.5,
            )
        )
        started.startup()
        yield started
        started.shutdown()


# ------------------------------------------------------------------ invalid IngestionConfig


def _with(base: dict[str, Any], **changes: Any) -> IngestionConfig:
    fields = {
        "source_type": "filesystem",
        "source_config": {"bucket_url": "/nonexistent/floe", "file_glob": "*.csv"},
        "destination_table": "bronze.orders",
        "write_mode": "append",
        "schema_contract": "evolve",
    }
    fields.update(base)
    fields.update(changes)
    return IngestionConfig(**fields)


@st.composite
def invalid_ingestion_config(draw: st.DrawFn) -> tuple[IngestionConfig, str]:
    """An IngestionConfig with at least one definite violation, and a secret somewhere in it."""
    secret = draw(secrets)
    secret_files = {
        "bucket_url": f"s3://bucket/{draw(identifiers)}",
        "file_glob": "*.csv",
        "credentials": {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": secret},
    }
    sql_url = f"postgresql://app:{secret}@127.0.0.1:1/shop"
    rest_auth = {"type": "bearer", "token": secret}
    kind = draw(
        st.sampled_from(
            [
                "source_type",
                "destination",
                "write_mode",
                "schema_contract",
                "source_config_type",
                "files_unknown_key",
                "files_bad_value",
                "files_secret_bad_key",
                "rest_missing_base_url",
                "rest_bad_url",
                "rest_unknown_key",
                "rest_bad_auth",
                "sql_unknown_key",
                "sql_bad_value",
                "sql_missing_table",
                "merge_without_key",
            ]
        )
    )
    if kind == "source_type":
        value = draw(st.one_of(junk, st.text(max_size=20)).filter(lambda v: v not in VALID_TYPES))
        return _with({}, source_type=value, source_config=secret_files), secret
    if kind == "destination":
        value = draw(
            st.one_of(junk, st.text(max_size=30)).filter(
                lambda v: not (isinstance(v, str) and TABLE.match(v))
            )
        )
        return _with({}, destination_table=value, source_config=secret_files), secret
    if kind == "write_mode":
        value = draw(st.one_of(junk, st.text(max_size=10)).filter(
            lambda v: v not in ("append", "replace", "merge")
        ))  # fmt: skip
        return _with({}, write_mode=value, source_config=secret_files), secret
    if kind == "schema_contract":
        value = draw(st.one_of(junk, st.text(max_size=10)).filter(
            lambda v: v not in ("evolve", "freeze", "discard_value")
        ))  # fmt: skip
        return _with({}, schema_contract=value, source_type="sql_database",
                     source_config={"credentials": sql_url, "table": "t"}), secret  # fmt: skip
    if kind == "source_config_type":
        value = draw(
            st.one_of(
                st.none(),
                st.text(max_size=10),
                st.integers(),
                st.lists(st.just(secret), max_size=2),
            )
        )
        return _with(
            {}, source_type=draw(st.sampled_from(VALID_TYPES)), source_config=value
        ), secret
    if kind == "files_unknown_key":
        key = draw(identifiers.filter(lambda k: k not in _FILES_KEYS))
        return _with({}, source_config={**secret_files, key: draw(junk)}), secret
    if kind == "files_bad_value":
        bad = draw(st.sampled_from([
            {"chunk_size": draw(st.integers(max_value=0))},
            {"chunk_size": "many"},
            {"format": draw(st.text(max_size=8).filter(lambda f: f not in ("csv", "jsonl", "parquet")))},
            {"bucket_url": ""},
            {"csv": {"delimiter": draw(st.text(min_size=2, max_size=4))}},
            {"file_glob": "*.unknownext"},
        ]))  # fmt: skip
        return _with({}, source_config={**secret_files, **bad}), secret
    if kind == "files_secret_bad_key":
        creds = {"aws_secret_access_key": secret, draw(identifiers): "x"}
        return _with({}, source_config={"bucket_url": "s3://b/p", "file_glob": "*.csv",
                                        "credentials": creds}), secret  # fmt: skip
    if kind == "rest_missing_base_url":
        return _with(
            {}, source_type="rest_api", source_config={"path": "items", "auth": rest_auth}
        ), secret
    if kind == "rest_bad_url":
        url = draw(
            st.one_of(
                st.just(f"ftp://u:{secret}@host/x"),
                st.text(max_size=15).filter(lambda u: "://" not in u),
            )
        )
        return _with(
            {},
            source_type="rest_api",
            source_config={"base_url": url, "path": "items", "auth": rest_auth},
        ), secret
    if kind == "rest_unknown_key":
        key = draw(identifiers.filter(lambda k: k not in _REST_KEYS))
        return _with({}, source_type="rest_api", source_config={
            "base_url": "http://127.0.0.1:1/api", "auth": rest_auth, key: secret}), secret  # fmt: skip
    if kind == "rest_bad_auth":
        auth = draw(st.sampled_from([
            {"type": "bearer"},
            {"type": draw(identifiers.filter(lambda t: t not in ("bearer", "api_key", "http_basic", "oauth2_client_credentials"))), "token": secret},
            {"type": "http_basic", "username": "u", "password": secret, "bogus": 1},
        ]))  # fmt: skip
        return _with({}, source_type="rest_api", source_config={
            "base_url": "http://127.0.0.1:1/api", "path": "items", "auth": auth}), secret  # fmt: skip
    if kind == "sql_unknown_key":
        key = draw(identifiers.filter(lambda k: k not in _SQL_KEYS))
        return _with({}, source_type="sql_database", source_config={
            "credentials": sql_url, "table": "orders", key: draw(junk)}), secret  # fmt: skip
    if kind == "sql_bad_value":
        bad = draw(st.sampled_from([
            {"chunk_size": 0}, {"backend": "excel"}, {"connect_timeout": -1},
            {"table": ""}, {"columns": []}, {"reflection_level": "psychic"},
        ]))  # fmt: skip
        return _with({}, source_type="sql_database",
                     source_config={"credentials": sql_url, "table": "orders", **bad}), secret  # fmt: skip
    if kind == "sql_missing_table":
        return _with({}, source_type="sql_database", source_config={"credentials": sql_url}), secret
    assert kind == "merge_without_key"
    return _with({}, write_mode="merge", source_config=secret_files), secret


_FILES_KEYS = {
    "bucket_url", "file_glob", "format", "csv", "chunk_size", "credentials", "incremental_files",
    "primary_key", "merge_key", "cursor_field", "initial_value", "end_value", "lag",
    "row_order", "merge_strategy", "hard_delete_column",
}  # fmt: skip
_REST_KEYS = _FILES_KEYS | {
    "client", "resources", "resource_defaults", "resource", "base_url", "path", "method",
    "params", "json", "json_body", "paginator", "data_selector", "auth", "headers",
    "max_table_nesting", "request_timeout", "request_max_attempts", "request_backoff_factor",
    "request_max_retry_delay",
}  # fmt: skip
_SQL_KEYS = _FILES_KEYS | {
    "table", "schema", "db_schema", "backend", "columns", "where", "reflection_level",
    "connect_timeout", "engine_kwargs",
}  # fmt: skip


def _texts(exc: BaseException) -> list[str]:
    found = [str(exc), repr(exc), str(getattr(exc, "field", "") or "")]
    for inner in (exc.__cause__, exc.__context__):
        if inner is not None and not exc.__suppress_context__:
            found.extend([str(inner), repr(inner)])
    return found


@settings(max_examples=350, **SETTINGS)
@given(case=invalid_ingestion_config())
def test_create_pipeline_raises_only_typed_errors_without_secrets(
    plugin: DltIngestionPlugin, case: tuple[IngestionConfig, str]
) -> None:
    config, secret = case
    with structlog.testing.capture_logs() as logs:
        try:
            plugin.create_pipeline(config)
        except (ValidationError, PipelineConfigurationError) as exc:
            error: BaseException = exc
        else:
            pytest.fail(f"invalid config accepted: {config!r}")
    assert isinstance(error, ValueError | PipelineConfigurationError)
    assert error.category is ErrorCategory.CONFIGURATION  # type: ignore[attr-defined]
    if isinstance(error, ValidationError):
        assert error.field, "a ValidationError names the offending field"
    for text in _texts(error):
        assert secret not in text, text
    assert secret not in repr(logs)


# ---------------------------------------------------------------- invalid DltIngestionConfig


@st.composite
def invalid_plugin_config(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    secret = draw(secrets)
    rest_catalog = {
        "type": "rest",
        "uri": "http://127.0.0.1:1/catalog",
        "credential": f"client:{secret}",
    }
    kind = draw(
        st.sampled_from(
            [
                "unknown_top_key",
                "timeout",
                "retry",
                "catalog_type",
                "catalog_uri",
                "catalog_both_credentials",
                "catalog_half_s3_keys",
                "catalog_property_clash",
                "catalog_unknown_key",
                "source_name",
                "source_duplicate",
                "source_table",
                "source_type",
                "source_merge",
            ]
        )
    )
    good_source = {
        "name": "orders",
        "source_type": "filesystem",
        "source_config": {"bucket_url": "/data", "file_glob": "*.csv"},
        "destination_table": "bronze.orders",
    }
    if kind == "unknown_top_key":
        key = draw(identifiers.filter(lambda k: k not in DltIngestionConfig.model_fields))
        return {"catalog_config": rest_catalog, key: secret}, secret
    if kind == "timeout":
        value = draw(
            st.one_of(
                st.floats(max_value=0),
                st.floats(min_value=120.0001),
                st.text(max_size=5).filter(lambda t: not _is_number(t)),
            )
        )
        return {"catalog_config": rest_catalog, "connect_timeout_seconds": value}, secret
    if kind == "retry":
        bad = draw(st.sampled_from([
            {"max_retries": -1}, {"max_retries": 21}, {"initial_delay_seconds": -0.5},
            {"max_delay_seconds": 1e9}, {"backoff_multiplier": 0.5}, {"jitter": "sometimes"},
            {"unknown": 1},
        ]))  # fmt: skip
        return {"catalog_config": rest_catalog, "retry_config": bad}, secret
    if kind == "catalog_type":
        value = draw(st.text(max_size=8).filter(lambda t: t not in ("sql", "rest")))
        return {"catalog_config": {**rest_catalog, "type": value}}, secret
    if kind == "catalog_uri":
        return {
            "catalog_config": {
                **rest_catalog,
                "uri": draw(st.sampled_from(["", "ftp://x/y", f"sqlite:///{secret}"])),
            }
        }, secret
    if kind == "catalog_both_credentials":
        return {"catalog_config": {**rest_catalog, "token": secret}}, secret
    if kind == "catalog_half_s3_keys":
        return {"catalog_config": {**rest_catalog, "s3.secret-access-key": secret}}, secret
    if kind == "catalog_property_clash":
        return {
            "catalog_config": {**rest_catalog, "properties": {"s3.secret-access-key": secret}}
        }, secret
    if kind == "catalog_unknown_key":
        key = draw(st.sampled_from(["s3.endpont", "credentials", "warehose", "tokn"]))
        return {"catalog_config": {**rest_catalog, key: secret}}, secret
    if kind == "source_name":
        name = draw(
            st.text(min_size=1, max_size=10).filter(
                lambda n: not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", n)
            )
        )
        return {"catalog_config": rest_catalog, "sources": [{**good_source, "name": name}]}, secret
    if kind == "source_duplicate":
        return {"catalog_config": rest_catalog, "sources": [good_source, good_source]}, secret
    if kind == "source_table":
        table = draw(st.text(max_size=20).filter(lambda t: not TABLE.match(t)))
        return {
            "catalog_config": rest_catalog,
            "sources": [{**good_source, "destination_table": table}],
        }, secret
    if kind == "source_type":
        value = draw(st.text(max_size=12).filter(lambda t: t not in VALID_TYPES))
        return {
            "catalog_config": rest_catalog,
            "sources": [{**good_source, "source_type": value}],
        }, secret
    assert kind == "source_merge"
    return {
        "catalog_config": rest_catalog,
        "sources": [{**good_source, "write_mode": "merge"}],
    }, secret


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=250, **SETTINGS)
@given(case=invalid_plugin_config())
def test_invalid_plugin_config_raises_documented_errors_without_secrets(
    case: tuple[dict[str, Any], str],
) -> None:
    data, secret = case
    with pytest.raises(pydantic.ValidationError) as constructed:
        DltIngestionConfig(**data)
    assert isinstance(constructed.value, ValueError)
    for text in _texts(constructed.value):
        assert secret not in text, text

    with structlog.testing.capture_logs() as logs, pytest.raises(ValidationError) as configured:
        DltIngestionPlugin().configure(data)
    assert configured.value.category is ErrorCategory.CONFIGURATION
    assert configured.value.field
    for text in _texts(configured.value):
        assert secret not in text, text
    assert secret not in repr(logs)
