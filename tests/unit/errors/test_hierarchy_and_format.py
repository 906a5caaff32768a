"""The documented hierarchy, and the one-line error entries of IngestionResult.errors."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pydantic
import pytest
import requests
from dlt.load.exceptions import LoadClientJobTerminalRetry
from dlt.pipeline.exceptions import PipelineStepFailed

from floe_ingestion_dlt.config import DltIngestionConfig
from floe_ingestion_dlt.destination.load_job import IcebergLoadTerminalError
from floe_ingestion_dlt.errors import (
    DestinationWriteError,
    ErrorCategory,
    IngestionError,
    PartialLoadError,
    PipelineConfigurationError,
    SchemaContractViolation,
    SourceConnectionError,
    ValidationError,
    format_error,
    root_error,
)
from floe_ingestion_dlt.scrub import register_secrets
from tests.unit.errors.factories import http_error

ENTRY = re.compile(
    r"^\[(TRANSIENT|PERMANENT|PARTIAL|CONFIGURATION)\] (\w+): (.+) "
    r"\(source_type=([^,]+), destination_table=([^,]+), pipeline=([^)]+)\)$"
)
CONTEXT = {
    "source_type": "rest_api",
    "destination_table": "bronze.orders",
    "pipeline_name": "floe__bronze__orders",
}


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        (IngestionError, ErrorCategory.PERMANENT),
        (ValidationError, ErrorCategory.CONFIGURATION),
        (PipelineConfigurationError, ErrorCategory.CONFIGURATION),
        (SourceConnectionError, ErrorCategory.TRANSIENT),
        (DestinationWriteError, ErrorCategory.TRANSIENT),
        (SchemaContractViolation, ErrorCategory.PERMANENT),
        (PartialLoadError, ErrorCategory.PARTIAL),
    ],
)
def test_default_categories_and_context(cls: type[IngestionError], category: ErrorCategory) -> None:
    err = cls("it failed", **CONTEXT)
    assert isinstance(err, IngestionError)
    assert err.category is category
    assert (err.source_type, err.destination_table, err.pipeline_name) == (
        "rest_api",
        "bronze.orders",
        "floe__bronze__orders",
    )


def test_validation_error_is_catchable_as_documented() -> None:
    """``except ValueError`` and ``except IngestionError`` both catch it."""
    with pytest.raises(ValueError, match="source_type"):
        raise ValidationError("source_type: 'x' is not supported", field="source_type")
    with pytest.raises(IngestionError) as caught:
        raise ValidationError("destination_table: empty", field="destination_table")
    assert caught.value.field == "destination_table"


def test_config_model_construction_raises_pydantic_error_which_is_a_value_error() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        DltIngestionConfig.model_validate({"connect_timeout_seconds": 0})
    assert isinstance(caught.value, ValueError)


def test_source_connection_error_is_a_connection_error() -> None:
    assert isinstance(SourceConnectionError("down"), ConnectionError)


def test_category_can_be_overridden() -> None:
    err = SourceConnectionError("credentials refused", category=ErrorCategory.PERMANENT)
    assert err.category is ErrorCategory.PERMANENT


def test_pickling_keeps_category_and_context() -> None:
    """Errors cross process boundaries (parallel pipelines in worker processes)."""
    err = SourceConnectionError(
        "refused", category=ErrorCategory.PERMANENT, field="source_config.credentials", **CONTEXT
    )
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(back) is SourceConnectionError
    assert back.category is ErrorCategory.PERMANENT
    assert back.field == "source_config.credentials"
    assert back.destination_table == "bronze.orders"
    assert str(back) == str(err)


def test_message_is_scrubbed_when_the_error_is_built() -> None:
    err = IngestionError("cannot reach postgresql://app:hunter2@db:5432/shop")
    assert "hunter2" not in str(err)
    assert "hunter2" not in err.message


def test_format_of_a_library_error() -> None:
    entry = format_error(http_error(503), **CONTEXT)
    match = ENTRY.match(entry)
    assert match, entry
    assert match.group(1) == "TRANSIENT"
    assert match.group(2) == "HTTPError"
    assert "503" in match.group(3)
    assert match.groups()[3:] == ("rest_api", "bronze.orders", "floe__bronze__orders")


def test_format_names_the_root_cause_not_dlts_wrappers(dlt_pipeline: Any) -> None:
    violation = SchemaContractViolation("column 'extra' is not in frozen table bronze.orders")
    terminal = IcebergLoadTerminalError(violation)
    terminal.__cause__ = violation
    job = LoadClientJobTerminalRetry("1.2", "orders.x.reference", "failed", terminal)
    step = PipelineStepFailed(dlt_pipeline, "load", "1.2", job)  # type: ignore[arg-type]
    assert root_error(step) is violation
    entry = format_error(step, **CONTEXT)
    assert entry == (
        "[PERMANENT] SchemaContractViolation: column 'extra' is not in frozen table "
        "bronze.orders (source_type=rest_api, destination_table=bronze.orders, "
        "pipeline=floe__bronze__orders)"
    )


def test_format_keeps_the_errors_own_context_and_fills_the_rest() -> None:
    err = SourceConnectionError("down", source_type="sql_database")
    entry = format_error(err, destination_table="bronze.t", pipeline_name="p")
    assert entry.endswith("(source_type=sql_database, destination_table=bronze.t, pipeline=p)")


def test_format_of_an_empty_message_and_missing_context() -> None:
    entry = format_error(TimeoutError())
    assert entry == (
        "[TRANSIENT] TimeoutError: (no message) (source_type=-, destination_table=-, pipeline=-)"
    )


def test_format_is_one_line_and_bounded() -> None:
    entry = format_error(RuntimeError("first line\nsecond line " + "x" * 5000))
    assert "\n" not in entry
    assert "second line" not in entry
    long = format_error(RuntimeError("y" * 5000))
    assert len(long) < 1200


SECRET_CASES = [
    ("url-password", "cannot connect to postgresql://app:S3cr3tPassw0rd@db:5432/shop", "S3cr3tPassw0rd"),
    ("query-token", "401 for url: http://api.test/items?access_token=tok_live_abcdef123456", "tok_live_abcdef123456"),
    ("query-api-key", "403 for url: http://api.test/items?api_key=AKIAXYZ123456789&page=2", "AKIAXYZ123456789"),
    ("bearer-header", "request had Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9.e30.sig"),
    ("secret-key-pair", "s3.secret-access-key=wJalrXUtnFEMI/K7MDENG in config", "wJalrXUtnFEMI/K7MDENG"),
    ("json-password", "bad config {'password': 'pa55word!x'}", "pa55word!x"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "secret"), [pytest.param(m, s, id=i) for i, m, s in SECRET_CASES]
)
def test_secrets_never_reach_an_entry(message: str, secret: str) -> None:
    for exc in (RuntimeError(message), SourceConnectionError(message)):
        entry = format_error(exc, **CONTEXT)
        assert secret not in entry, entry
        assert "***" in entry


def test_registered_secret_without_a_telltale_key_is_scrubbed() -> None:
    register_secrets(["plainlookingvalue42"])
    entry = format_error(ValueError("source answered for plainlookingvalue42 user"))
    assert "plainlookingvalue42" not in entry


def test_http_error_with_credentials_in_the_url() -> None:
    exc = http_error(401, url="http://user:hunter2pass@api.test/items?token=abc123secret")
    entry = format_error(exc, **CONTEXT)
    assert entry.startswith("[PERMANENT] HTTPError: 401 Client Error")
    assert "hunter2pass" not in entry and "abc123secret" not in entry


def test_requests_error_message_from_a_real_failed_request() -> None:
    """A real requests failure whose message embeds the URL with its query secret."""
    from tests.unit.errors.factories import refused_port

    port = refused_port()
    try:
        requests.get(f"http://127.0.0.1:{port}/x?api_key=K3YV4LU3XYZ", timeout=2)
    except requests.ConnectionError as exc:
        entry = format_error(exc, **CONTEXT)
    assert entry.startswith("[TRANSIENT] ConnectionError:")
    assert "K3YV4LU3XYZ" not in entry
