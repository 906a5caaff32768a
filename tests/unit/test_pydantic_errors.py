"""One pydantic -> ValidationError conversion: the same field path and message form at every site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.factory import iceberg
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError
from floe_ingestion_dlt.plugin import DltIngestionPlugin
from floe_ingestion_dlt.pydantic_errors import first_error, first_message, validation_error
from floe_ingestion_dlt.sources import get_builder


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = 1
    mode: str = "a"

    @model_validator(mode="after")
    def _check(self) -> Inner:
        if self.mode == "b" and self.size > 1:
            raise ValueError("size: mode 'b' takes one")
        return self


class Outer(BaseModel):
    inner: Inner = Inner()
    kind: Any = None


def _error(data: dict[str, Any]) -> PydanticValidationError:
    with pytest.raises(PydanticValidationError) as info:
        Outer.model_validate(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "location", "message"),
    [
        ({"inner": {"size": "x"}}, "inner.size", "Input should be a valid integer"),
        ({"inner": {"sise": 1}}, "inner.sise", "Extra inputs are not permitted"),
        ({"inner": {"mode": "b", "size": 2}}, "inner.size", "mode 'b' takes one"),
    ],
)
def test_location_and_message(data: dict[str, Any], location: str, message: str) -> None:
    error = first_error(_error(data))
    assert error.location == location
    assert error.message.startswith(message)
    assert "Value error" not in error.message


def test_prefix_and_typed_error() -> None:
    error = validation_error(_error({"inner": {"size": "x"}}), prefix="source_config")
    assert isinstance(error, ValidationError)
    assert error.category is ErrorCategory.CONFIGURATION
    assert error.field == "source_config.inner.size"
    assert str(error).startswith("source_config.inner.size: Input should be a valid integer")


def test_a_nested_validator_message_without_its_field() -> None:
    exc = _error({"inner": {"mode": "b", "size": 2}})
    assert first_message(exc, named=False) == "mode 'b' takes one"
    assert first_message(exc) == "inner.size: mode 'b' takes one"


def test_a_path_the_scrubber_takes_for_a_secret_is_named_after_the_message() -> None:
    with pytest.raises(ValidationError) as info:
        iceberg(catalog_type="rest", credentials={"uri": "http://c", "warehous": "w"})
    assert info.value.field == "credentials.warehous"
    assert str(info.value).startswith("unknown catalog key(s) ['warehous']")
    assert str(info.value).endswith("(field credentials.warehous)")
    assert "***" not in str(info.value)


def _site_errors(tmp_path: Path) -> list[ValidationError]:
    """The same kind of mistake (a wrong value) at each of the four conversion sites."""
    errors: list[ValidationError] = []
    attempts = [
        lambda: DltIngestionPlugin().configure({"retry_config": {"max_retries": "x"}}),
        lambda: CatalogConfig.parse({"type": "rest", "uri": "http://c", "scope": 3}),
        lambda: iceberg(
            credentials=CatalogConfig.embedded(tmp_path),
            table_layouts={"orders": {"target_file_size_mb": "big"}},
        ),
        lambda: get_builder("filesystem").parse({"bucket_url": "/d", "chunk_size": "x"}),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as info:
            attempt()
        errors.append(info.value)
    return errors


def test_every_site_names_the_field_path_first(tmp_path: Path) -> None:
    fields = [error.field for error in _site_errors(tmp_path)]
    assert fields == [
        "retry_config.max_retries",
        "catalog_config.scope",
        "table_layouts.orders.target_file_size_mb",
        "source_config.chunk_size",
    ]
    for error in _site_errors(tmp_path):
        assert str(error).startswith(f"{error.field}: ")
        assert "Value error" not in str(error)
        assert error.category is ErrorCategory.CONFIGURATION
