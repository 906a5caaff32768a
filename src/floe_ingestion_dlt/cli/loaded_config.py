"""A configuration file read and validated: the config and where each part was written.

Below both :mod:`~floe_ingestion_dlt.cli.yaml_config` (which builds it) and
:mod:`~floe_ingestion_dlt.cli.source_checks` (which checks it), so neither imports the other's
consumer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from floe_ingestion_dlt.cli.problems import line_of

if TYPE_CHECKING:
    from floe_ingestion_dlt.cli.interpolation import DefaultedVariable
    from floe_ingestion_dlt.config import DltIngestionConfig

__all__ = ["LoadedConfig"]


@dataclass
class LoadedConfig:
    """A validated configuration and where its parts were written."""

    file: Path
    config: DltIngestionConfig
    lines: dict[str, int] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)
    defaulted: list[DefaultedVariable] = field(default_factory=list)
    """``${NAME:-default}`` values that fell back to their default (the variable was unset)."""

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or of its closest enclosing key."""
        return line_of(self.lines, path)
