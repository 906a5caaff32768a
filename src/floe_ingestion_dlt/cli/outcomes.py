"""What a command did, per source or probe: the records the commands fill and the renderers show.

Below :mod:`~floe_ingestion_dlt.cli.render` and the commands, so the renderers read them without
importing the commands that produce them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.exit_codes import ExitCode, exit_code_for

if TYPE_CHECKING:
    from floe_ingestion_dlt.runner import RunOutcome

__all__ = ["CheckResult", "SourceRun"]


@dataclass
class SourceRun:
    """What running one source did, as the summary reports it."""

    name: str
    source_type: str
    destination_table: str
    write_mode: str = "append"
    status: str = "skipped"
    """``success``, ``failed`` or ``skipped`` (not run after ``--fail-fast``)."""
    rows_loaded: int = 0
    bytes_written: int = 0
    duration_seconds: float = 0.0
    snapshot_ids: list[int] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    """One entry per committed load; a pending load of an earlier run has ``resumed: true``."""
    attempts: int = 0
    rows_extracted: int = 0
    files_normalized: int = 0
    load_jobs: int = 0
    category: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def snapshot_id(self) -> int | None:
        """The last snapshot this run committed to the table."""
        return self.snapshot_ids[-1] if self.snapshot_ids else None

    @property
    def exit_code(self) -> ExitCode:
        """``OK`` for success and skipped sources, the category's code otherwise."""
        return ExitCode.OK if self.status != "failed" else exit_code_for(self.category)

    def record(self, outcome: RunOutcome) -> None:
        """Take what the plugin's run reported."""
        self.status = "success" if outcome.success else "failed"
        self.category = (
            None
            if outcome.success
            else (outcome.category.value if outcome.category else "PERMANENT")
        )
        self.rows_loaded = outcome.rows_loaded
        self.bytes_written = outcome.bytes_written
        self.snapshot_ids = list(outcome.snapshot_ids)
        self.load_ids = list(outcome.load_ids)
        self.loads = [load.as_dict() for load in outcome.loads]
        self.attempts = outcome.attempts
        self.errors = list(outcome.errors)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "source_type": self.source_type,
            "destination_table": self.destination_table,
            "write_mode": self.write_mode,
            "status": self.status,
            "rows_loaded": self.rows_loaded,
            "bytes_written": self.bytes_written,
            "duration_seconds": round(self.duration_seconds, 3),
            "snapshot_id": self.snapshot_id,
            "snapshot_ids": self.snapshot_ids,
            "load_ids": self.load_ids,
            "loads": self.loads,
            "attempts": self.attempts,
            "rows_extracted": self.rows_extracted,
            "files_normalized": self.files_normalized,
            "load_jobs": self.load_jobs,
            "category": self.category,
            "errors": self.errors,
        }


@dataclass
class CheckResult:
    """The outcome of one probe."""

    component: str
    """``catalog`` or ``source <name>``."""
    target: str
    """What was probed (URI, folder, host), without secrets."""
    ok: bool
    detail: str
    response_time_ms: float
    category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "component": self.component,
            "target": self.target,
            "ok": self.ok,
            "detail": self.detail,
            "response_time_ms": round(self.response_time_ms, 1),
            "category": self.category,
        }
