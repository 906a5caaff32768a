"""floe-ingestion-dlt: the floe platform's default ingestion plugin, built on dlt and Iceberg.

Heavy modules (dlt, PyIceberg) are imported when first needed, so importing this package is cheap.

Example:
    >>> from floe_ingestion_dlt import DltIngestionPlugin, DltIngestionConfig
    >>> DltIngestionPlugin(config=DltIngestionConfig()).name
    'dlt'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.config import (
    CatalogConfig,
    DltIngestionConfig,
    IngestionSourceConfig,
    RetryConfig,
    SchemaContract,
    SourceType,
    WriteMode,
)
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

if TYPE_CHECKING:
    from floe_ingestion_dlt.destination import iceberg

__version__ = "0.1.0"

__all__ = [
    "CatalogConfig",
    "DestinationWriteError",
    "DltIngestionConfig",
    "DltIngestionPlugin",
    "ErrorCategory",
    "IngestionError",
    "IngestionSourceConfig",
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


def __getattr__(name: str) -> Any:
    if name == "iceberg":  # the destination factory imports dlt: only on demand
        from floe_ingestion_dlt.destination import iceberg

        return iceberg
    raise AttributeError(f"module 'floe_ingestion_dlt' has no attribute {name!r}")
