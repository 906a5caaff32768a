"""What :meth:`DltIngestionPlugin.run` returns: floe's ``IngestionResult`` plus one entry per load.

A run can commit more than one load: a package left pending by a run that crashed (or failed
transiently) is committed first, as it was extracted then, and the run's own load follows
(see the README, "Crashes and reruns"). floe reads ``success``/``errors``; the totals cover
both loads, and ``loads`` says what each one was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from floe_core.plugins.ingestion import IngestionResult

__all__ = ["DltIngestionResult", "LoadReport"]


@dataclass(frozen=True)
class LoadReport:
    """One dlt load committed by a run."""

    load_id: str
    resumed: bool
    """True for a package an earlier run extracted and did not commit (it crashed or failed)."""
    rows_loaded: int
    bytes_written: int
    snapshot_ids: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "load_id": self.load_id,
            "resumed": self.resumed,
            "rows_loaded": self.rows_loaded,
            "bytes_written": self.bytes_written,
            "snapshot_ids": list(self.snapshot_ids),
        }


@dataclass
class DltIngestionResult(IngestionResult):
    """floe's ``IngestionResult`` with ``loads``: one :class:`LoadReport` per committed load."""

    loads: list[LoadReport] = field(default_factory=list)
