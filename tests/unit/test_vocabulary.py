"""The write vocabulary (``WriteMode``, ``MergeStrategy``) and the one merge-key rule.

The rule is asked at three layers (the YAML configuration, floe's ``IngestionConfig`` and the
table hints the destination merges with); the table below is checked against each of them, so
they cannot disagree again.
"""

from __future__ import annotations

from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.config import IngestionSourceConfig
from floe_ingestion_dlt.destination.factory import ICEBERG_MERGE_STRATEGIES
from floe_ingestion_dlt.destination.merge_batch import MergePlan
from floe_ingestion_dlt.destination.writes import WRITE_STRATEGIES, write_strategy
from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.pipeline import validate_ingestion_config
from floe_ingestion_dlt.plugin import DltIngestionPlugin
from floe_ingestion_dlt.sources.base import SourceOptions
from floe_ingestion_dlt.vocabulary import (
    DEFAULT_MERGE_STRATEGY,
    MergeStrategy,
    WriteMode,
    missing_merge_keys,
)

# strategy (None: not given) x primary_key x merge_key -> accepted?
RULE: list[tuple[str | None, str | None, str | None, bool]] = [
    (None, "id", None, True),
    (None, None, "day", False),
    (None, "id", "day", True),
    (None, None, None, False),
    ("upsert", "id", None, True),
    ("upsert", None, "day", False),
    ("upsert", "id", "day", True),
    ("upsert", None, None, False),
    ("insert-only", "id", None, True),
    ("insert-only", None, "day", False),
    ("insert-only", "id", "day", True),
    ("insert-only", None, None, False),
    ("delete-insert", "id", None, True),
    ("delete-insert", None, "day", True),
    ("delete-insert", "id", "day", True),
    ("delete-insert", None, None, False),
]
IDS = [f"{s or 'default'}-pk:{pk or '-'}-mk:{mk or '-'}" for s, pk, mk, _ in RULE]


def test_the_enums_are_the_strings_users_write() -> None:
    assert [m.value for m in WriteMode] == ["append", "replace", "merge"]
    assert [s.value for s in MergeStrategy] == ["upsert", "insert-only", "delete-insert"]
    assert DEFAULT_MERGE_STRATEGY == "upsert"
    assert WriteMode("merge") == "merge" and f"{MergeStrategy.INSERT_ONLY}" == "insert-only"


def test_every_list_of_the_vocabulary_is_the_enum() -> None:
    assert ICEBERG_MERGE_STRATEGIES == [s.value for s in MergeStrategy]
    assert set(WRITE_STRATEGIES) == set(WriteMode)
    capabilities = DltIngestionPlugin().capabilities
    assert capabilities["merge_strategies"] == [s.value for s in MergeStrategy]
    assert capabilities["write_modes"] == [m.value for m in WriteMode]
    assert SourceOptions(merge_strategy="delete-insert").merge_strategy is (  # type: ignore[arg-type]
        MergeStrategy.DELETE_INSERT
    )
    with pytest.raises(ValueError, match="use one of \\['append', 'merge', 'replace'\\]"):
        write_strategy("scd2")
    assert write_strategy("append") is write_strategy(WriteMode.APPEND)


@pytest.mark.parametrize(("strategy", "primary_key", "merge_key", "accepted"), RULE, ids=IDS)
def test_the_rule(
    strategy: str | None, primary_key: str | None, merge_key: str | None, accepted: bool
) -> None:
    missing = missing_merge_keys(strategy, primary_key=primary_key, merge_key=merge_key)
    assert (missing is None) is accepted
    if not accepted:
        assert "write_mode 'merge' needs a primary_key" in str(missing)
        assert repr(strategy or "upsert") in str(missing)


def _source_config(strategy: str | None, primary_key: str | None, merge_key: str | None) -> Any:
    options: dict[str, Any] = {"bucket_url": "/data", "file_glob": "*.csv", "format": "csv"}
    for name, value in (
        ("merge_strategy", strategy),
        ("primary_key", primary_key),
        ("merge_key", merge_key),
    ):
        if value is not None:
            options[name] = value
    return options


@pytest.mark.parametrize(("strategy", "primary_key", "merge_key", "accepted"), RULE, ids=IDS)
def test_the_yaml_configuration_applies_the_rule(
    strategy: str | None, primary_key: str | None, merge_key: str | None, accepted: bool
) -> None:
    source = {
        "name": "orders",
        "source_type": "filesystem",
        "source_config": _source_config(strategy, None, merge_key),
        "destination_table": "bronze.orders",
        "write_mode": "merge",
        "primary_key": primary_key,  # the source-level shortcut
    }
    if accepted:
        IngestionSourceConfig.model_validate(source)
        return
    with pytest.raises(PydanticValidationError) as info:
        IngestionSourceConfig.model_validate(source)
    assert "primary_key: write_mode 'merge' needs a primary_key" in str(info.value)


@pytest.mark.parametrize(("strategy", "primary_key", "merge_key", "accepted"), RULE, ids=IDS)
def test_the_ingestion_config_applies_the_rule(
    strategy: str | None, primary_key: str | None, merge_key: str | None, accepted: bool
) -> None:
    config = IngestionConfig(
        source_type="filesystem",
        source_config=_source_config(strategy, primary_key, merge_key),
        destination_table="bronze.orders",
        write_mode="merge",
    )
    if accepted:
        _, _, context = validate_ingestion_config(config)
        assert context.write_mode is WriteMode.MERGE
        return
    with pytest.raises(ValidationError) as info:
        validate_ingestion_config(config)
    assert info.value.field == "source_config.primary_key"


@pytest.mark.parametrize(("strategy", "primary_key", "merge_key", "accepted"), RULE, ids=IDS)
def test_the_destination_applies_the_rule(
    strategy: str | None, primary_key: str | None, merge_key: str | None, accepted: bool
) -> None:
    columns: dict[str, Any] = {"id": {"name": "id"}, "day": {"name": "day"}}
    if primary_key:
        columns[primary_key]["primary_key"] = True
    if merge_key:
        columns[merge_key]["merge_key"] = True
    hints: dict[str, Any] = {"name": "orders", "columns": columns}
    if strategy:
        hints["x-merge-strategy"] = strategy
    if accepted:
        plan = MergePlan.from_hints(hints)
        assert plan.strategy is MergeStrategy(strategy or "upsert")
        return
    with pytest.raises(ValidationError) as info:
        MergePlan.from_hints(hints)
    assert info.value.field == "source_config.primary_key"


def test_an_unknown_strategy_in_yaml_is_left_to_the_source_config_parse() -> None:
    source = {
        "name": "orders",
        "source_type": "filesystem",
        "source_config": _source_config("scd2", None, None),
        "destination_table": "bronze.orders",
        "write_mode": "merge",
    }
    IngestionSourceConfig.model_validate(source)  # the key rule has no opinion on scd2
    config = IngestionConfig(
        source_type="filesystem",
        source_config=_source_config("scd2", "id", None),
        destination_table="bronze.orders",
        write_mode="merge",
    )
    with pytest.raises(ValidationError) as info:
        validate_ingestion_config(config)
    assert info.value.field == "source_config.merge_strategy"
    assert "'upsert', 'insert-only' or 'delete-insert'" in str(info.value)
