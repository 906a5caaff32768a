"""floe-ingestion-dlt: the floe platform's default ingestion plugin, built on dlt and Iceberg.

Every public name is imported when first used (PEP 562), so ``import floe_ingestion_dlt`` and
the ``floe-ingest`` command line stay cheap: floe-core, pydantic models, dlt and PyIceberg load
only when a name that needs them is touched.

Example:
    >>> from floe_ingestion_dlt import DltIngestionPlugin, DltIngestionConfig
    >>> DltIngestionPlugin(config=DltIngestionConfig()).name
    'dlt'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from floe_ingestion_dlt.config import (
        CatalogConfig,
        DltIngestionConfig,
        IngestionSourceConfig,
        RetryConfig,
        SchemaContract,
        SourceType,
    )
    from floe_ingestion_dlt.destination import iceberg
    from floe_ingestion_dlt.errors import (
        DestinationWriteError,
        ErrorCategory,
        IngestionError,
        PipelineConfigurationError,
        SchemaContractViolation,
        SourceConnectionError,
        ValidationError,
        categorize_error,
    )
    from floe_ingestion_dlt.plugin import DltIngestionPlugin
    from floe_ingestion_dlt.vocabulary import MergeStrategy, WriteMode

__version__ = "0.1.0"

__all__ = [
    "CatalogConfig",
    "DestinationWriteError",
    "DltIngestionConfig",
    "DltIngestionPlugin",
    "ErrorCategory",
    "IngestionError",
    "IngestionSourceConfig",
    "MergeStrategy",
    "PipelineConfigurationError",
    "RetryConfig",
    "SchemaContract",
    "SchemaContractViolation",
    "SourceConnectionError",
    "SourceType",
    "ValidationError",
    "WriteMode",
    "categorize_error",
    "iceberg",
]

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "CatalogConfig",
            "DltIngestionConfig",
            "IngestionSourceConfig",
            "RetryConfig",
            "SchemaContract",
            "SourceType",
        ),
        "floe_ingestion_dlt.config",
    ),
    **dict.fromkeys(("MergeStrategy", "WriteMode"), "floe_ingestion_dlt.vocabulary"),
    **dict.fromkeys(
        (
            "DestinationWriteError",
            "ErrorCategory",
            "IngestionError",
            "PipelineConfigurationError",
            "SchemaContractViolation",
            "SourceConnectionError",
            "ValidationError",
            "categorize_error",
        ),
        "floe_ingestion_dlt.errors",
    ),
    "DltIngestionPlugin": "floe_ingestion_dlt.plugin",
    "iceberg": "floe_ingestion_dlt.destination",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'floe_ingestion_dlt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
