"""The contract's error types: one hierarchy in which both wordings hold, and run() failures
named with the contract's types while keeping their cause."""

from __future__ import annotations

import pytest

from floe_ingestion_dlt import DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.errors import (
    DestinationWriteError,
    ErrorCategory,
    IngestionError,
    PipelineConfigurationError,
    SourceConnectionError,
    ValidationError,
    format_error,
)
from floe_ingestion_dlt.run_errors import contract_error


class PipelineStepFailed(Exception):
    """Stands in for dlt's wrapper (matched by name, as the real one is)."""

    def __init__(self, step: str, exception: BaseException) -> None:
        super().__init__(f"Pipeline execution failed at stage {step}: {exception}")
        self.step = step
        self.exception = exception


def test_startup_invalid_config_is_both_validation_and_configuration_error() -> None:
    config = DltIngestionConfig.model_validate(
        {
            "sources": [
                {
                    "name": "orders",
                    "source_type": "filesystem",
                    "source_config": {"bucket_url": "/data", "file_glob": "*.unknown"},
                    "destination_table": "bronze.orders",
                }
            ]
        }
    )
    plugin = DltIngestionPlugin(config=config)
    with pytest.raises(PipelineConfigurationError) as caught:
        plugin.startup()
    assert isinstance(caught.value, ValidationError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "source_config.format"


def test_validation_error_is_a_pipeline_configuration_error() -> None:
    assert issubclass(ValidationError, PipelineConfigurationError)
    assert ValidationError("x").category is ErrorCategory.CONFIGURATION


def test_locked_sqlite_catalog_is_destination_write_error_transient() -> None:
    import sqlite3

    cause = PipelineStepFailed("load", sqlite3.OperationalError("database is locked"))
    typed = contract_error(cause, source_type="filesystem")
    assert isinstance(typed, DestinationWriteError)
    assert typed.category is ErrorCategory.TRANSIENT
    assert format_error(typed).startswith(
        "[TRANSIENT] DestinationWriteError: OperationalError: database is locked"
    )


def test_blocked_metadata_directory_is_destination_write_error_transient() -> None:
    cause = PipelineStepFailed("load", NotADirectoryError(20, "Not a directory", "/lake/meta"))
    typed = contract_error(cause)
    assert isinstance(typed, DestinationWriteError)
    assert typed.category is ErrorCategory.TRANSIENT
    assert "NotADirectoryError" in typed.message
    assert "/lake/meta" in typed.message  # a path is not a secret


def test_extract_connection_error_is_source_connection_error_transient() -> None:
    cause = PipelineStepFailed("extract", ConnectionError("connection reset by peer"))
    typed = contract_error(cause, source_type="rest_api")
    assert isinstance(typed, SourceConnectionError)
    assert typed.category is ErrorCategory.TRANSIENT
    assert "ConnectionError: connection reset by peer" in typed.message
    assert typed.__cause__ is cause


def test_recognised_permanent_cause_keeps_its_category() -> None:
    cause = PipelineStepFailed("extract", ValueError("bad row"))
    typed = contract_error(cause)
    assert isinstance(typed, SourceConnectionError)
    assert typed.category is ErrorCategory.PERMANENT


def test_worker_process_traceback_does_not_hide_the_cause() -> None:
    class _RemoteTraceback(Exception):
        pass

    inner = ValueError("Decimal value does not fit in precision 38")
    inner.__cause__ = _RemoteTraceback('\n"""\nTraceback (most recent call last):\n..."""')
    typed = contract_error(PipelineStepFailed("normalize", inner))
    assert "ValueError: Decimal value does not fit in precision 38" in typed.message
    assert '"""' not in typed.message


def test_typed_errors_are_kept() -> None:
    own = SourceConnectionError("db down", source_type="sql_database")
    assert contract_error(PipelineStepFailed("extract", own)) is own
    assert isinstance(own, IngestionError)
