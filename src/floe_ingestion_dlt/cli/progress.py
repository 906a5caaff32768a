"""Live progress of a source while dlt runs it: phase, rows extracted, files, load jobs.

:class:`ProgressCollector` is a dlt ``Collector`` (the object dlt reports its counters to, the
same hook as ``dlt.pipeline(progress="log")``) installed on the pipeline ``create_pipeline``
returned. :class:`SourceProgress` shows its counts: a spinner line on a terminal, one line per
finished phase otherwise (CI logs, pipes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from floe_ingestion_dlt.cli.render import human_duration
from floe_ingestion_dlt.compat.dlt import CollectorHooks

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from rich.console import Console
    from rich.status import Status

__all__ = ["ProgressCollector", "ProgressCounts", "SourceProgress", "describe_done"]

_PHASES = {"extract": "extracting", "normalize": "normalizing", "load": "loading"}


@dataclass(frozen=True)
class ProgressCounts:
    """What dlt reported so far for one source."""

    phase: str = "starting"
    rows_extracted: int = 0
    rows_normalized: int = 0
    files_done: int = 0
    files_total: int = 0
    jobs_done: int = 0
    jobs_total: int = 0
    jobs_failed: int = 0
    tables: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """``extracting · 1,200 rows`` / ``loading · jobs 1/3``."""
        parts = [_PHASES.get(self.phase, self.phase)]
        if self.rows_extracted:
            parts.append(f"{self.rows_extracted:,} rows extracted")
        if self.phase in ("normalize", "load") and self.files_total:
            parts.append(f"files {self.files_done}/{self.files_total}")
        if self.phase == "load" and self.jobs_total:
            parts.append(f"load jobs {self.jobs_done}/{self.jobs_total}")
        if self.jobs_failed:
            parts.append(f"{self.jobs_failed} failed jobs")
        return " · ".join(parts)


class ProgressCollector(CollectorHooks):
    """dlt collector that accumulates a source's counters and reports every change.

    dlt calls :meth:`update` from its extract, normalize and load steps (``name`` is a table
    name while extracting and normalizing, ``"Files"`` / ``"Jobs"`` / ``"Resources"``
    otherwise); dlt's own bookkeeping tables (``_dlt_*``) are not counted as rows.
    """

    def __init__(self, on_change: Callable[[ProgressCounts, bool], None] | None = None) -> None:
        self.step = ""
        self._on_change = on_change
        self._lock = threading.Lock()
        self._counts = ProgressCounts()

    @property
    def counts(self) -> ProgressCounts:
        """The counts so far."""
        with self._lock:
            return self._counts

    def update(
        self,
        name: str,
        inc: int = 1,
        total: int | None = None,
        inc_total: int | None = None,
        message: str | None = None,
        label: str | None = None,
    ) -> None:
        """Count ``inc`` more of ``name`` in the current phase."""
        with self._lock:
            self._counts = _counted(self._counts, name, inc, total, inc_total, label)
            counts = self._counts
        self._notify(counts)

    def set_phase(self, phase: str) -> None:
        """A phase of our own (``preparing``, ``reading snapshots``) between dlt's steps."""
        with self._lock:
            self._counts = replace(self._counts, phase=phase)
            counts = self._counts
        self._notify(counts)

    def step_started(self, step: str) -> None:
        self.set_phase(step.split(" ", 1)[0].lower() if step else "running")

    def step_finished(self) -> None:
        self._notify(self.counts, finished_phase=True)

    def _notify(self, counts: ProgressCounts, finished_phase: bool = False) -> None:
        if self._on_change is not None:
            self._on_change(counts, finished_phase)


def _counted(
    counts: ProgressCounts,
    name: str,
    inc: int,
    total: int | None,
    inc_total: int | None,
    label: str | None,
) -> ProgressCounts:
    phase = counts.phase
    if name == "Resources":
        return counts
    if name == "Files":
        files_total = counts.files_total if total is None else total
        return replace(counts, files_done=counts.files_done + inc, files_total=files_total)
    if name == "Jobs":
        if label == "Failed":
            return replace(counts, jobs_failed=counts.jobs_failed + inc)
        jobs_total = counts.jobs_total if total is None else total
        jobs_total += inc_total or 0
        return replace(counts, jobs_done=counts.jobs_done + inc, jobs_total=jobs_total)
    if name.startswith("_dlt"):
        return counts
    tables = counts.tables if name in counts.tables else (*counts.tables, name)
    if phase == "normalize":
        return replace(counts, rows_normalized=counts.rows_normalized + inc, tables=tables)
    return replace(counts, rows_extracted=counts.rows_extracted + inc, tables=tables)


class SourceProgress:
    """Shows one source's progress on ``console`` (stderr) while it runs.

    On a terminal: a spinner with the phase and counters. Elsewhere: a line when each dlt
    phase ends. ``quiet`` shows nothing (``--json``).
    """

    def __init__(self, console: Console, label: str, *, quiet: bool = False) -> None:
        self.console = console
        self.label = label
        self.quiet = quiet
        self.collector = ProgressCollector(self._changed)
        self._status: Status | None = None
        self._started = time.perf_counter()
        self._phase_started = self._started
        self._extract_rows_shown: int | None = None

    def __enter__(self) -> SourceProgress:
        from rich.markup import escape

        self._started = self._phase_started = time.perf_counter()
        if not self.quiet and self.console.is_terminal:
            self._status = self.console.status(f"[bold]{escape(self.label)}[/bold] preparing")
            self._status.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def phase(self, phase: str) -> None:
        """Show a step of our own (``checking source``, ``reading snapshots``)."""
        self.collector.set_phase(phase)

    def _changed(self, counts: ProgressCounts, finished: bool) -> None:
        from rich.markup import escape

        if self.quiet:
            return
        if self._status is not None:
            self._status.update(f"[bold]{escape(self.label)}[/bold] {escape(counts.describe())}")
            return
        if finished:
            phase = counts.phase
            now = time.perf_counter()
            if phase == "extract":
                if counts.rows_extracted == self._extract_rows_shown:
                    return  # dlt's own state extract: nothing new to say
                self._extract_rows_shown = counts.rows_extracted
            detail = _phase_detail(phase, counts)
            self.console.print(
                f"  {escape(self.label)}: {phase} done{detail} "
                f"({human_duration(now - self._phase_started)})",
                soft_wrap=True,
            )
            self._phase_started = now

    def finished(self, line: str) -> None:
        """Print the source's closing line (rich markup allowed)."""
        if not self.quiet:
            self.console.print(line, soft_wrap=True)


def _phase_detail(phase: str, counts: ProgressCounts) -> str:
    if phase == "extract":
        return f", {counts.rows_extracted:,} rows"
    if phase == "normalize":
        return f", {counts.rows_normalized:,} rows in {counts.files_total} files"
    if phase == "load":
        failed = f", {counts.jobs_failed} failed" if counts.jobs_failed else ""
        return f", {counts.jobs_done} load jobs{failed}"
    return ""


def describe_done(counts: ProgressCounts) -> str:
    """``500 rows extracted · 2 files · 3 load jobs`` for a source's closing line."""
    parts: list[str] = [f"{counts.rows_extracted:,} rows extracted"]
    if counts.files_total:
        parts.append(f"{counts.files_total} files normalized")
    if counts.jobs_total or counts.jobs_done:
        parts.append(f"{counts.jobs_done} load jobs")
    if counts.jobs_failed:
        parts.append(f"{counts.jobs_failed} failed")
    return " · ".join(parts)
