"""What every figure-vs-baseline benchmark shares: the measurement record, medians, loads.

A benchmark module exposes ``run(scale: float = 1.0, repeats: int = ...) -> list[Measurement]``.
Each :class:`Measurement` holds the plugin's figure and a baseline measured in the same process,
in the same run, on the same data; the ratio is ``figure / baseline`` for times.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pathlib import Path

    import pyarrow as pa
    from floe_core.plugins.ingestion import IngestionConfig

    from floe_ingestion_dlt import CatalogConfig, DltIngestionPlugin
    from floe_ingestion_dlt.runner import RunOutcome

__all__ = [
    "Measurement",
    "TargetMode",
    "alternate",
    "make_dir",
    "median_seconds",
    "pyiceberg_append",
    "quiet_logs",
    "rows_in",
    "run_plugin",
    "scaled",
]


TargetMode = Literal["ratio_max", "speedup_min", "delta_max", "figure_max"]
"""How ``target`` reads: ``figure/baseline <= target``; ``baseline/figure >= target``;
``figure - baseline <= target`` (seconds); ``figure <= target`` (seconds)."""


@dataclass
class Measurement:
    """One benchmark line: the plugin's figure, the baseline of the same run, their ratio."""

    name: str
    figure: float
    baseline: float
    baseline_name: str
    target: float | None = None
    target_mode: TargetMode = "ratio_max"
    unit: str = "s"
    rows: int | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    paired_ratio: float | None = None
    """For alternating runs: the median of the per-attempt ``figure / baseline`` ratios."""

    @property
    def ratio(self) -> float:
        """``figure / baseline`` (``baseline / figure`` for a speed-up target).

        With alternating runs it is the median of the per-attempt ratios (:attr:`paired_ratio`):
        each attempt runs both sides back to back, so a load burst on this shared machine hits
        both halves of a pair; the ratio of the two medians can jump by 20-30% when a few slow
        samples fall on one side (``details["ratio_of_medians"]`` keeps it for comparison).
        """
        if self.paired_ratio is not None:
            if self.target_mode == "speedup_min":
                return 1 / self.paired_ratio if self.paired_ratio else float("inf")
            return self.paired_ratio
        if self.target_mode == "speedup_min":
            return self.baseline / self.figure if self.figure else float("inf")
        return self.figure / self.baseline if self.baseline else float("inf")

    @property
    def target_met(self) -> bool | None:
        if self.target is None:
            return None
        if self.target_mode == "speedup_min":
            return self.ratio >= self.target
        if self.target_mode == "delta_max":
            return self.figure - self.baseline <= self.target
        if self.target_mode == "figure_max":
            return self.figure <= self.target
        return self.ratio <= self.target

    def target_text(self) -> str:
        """The target in words, e.g. ``<= 1.5x`` or ``+<= 0.15 s``."""
        if self.target is None:
            return "-"
        return {
            "ratio_max": f"<= {self.target:g}x",
            "speedup_min": f">= {self.target:g}x faster",
            "delta_max": f"adds <= {self.target:g} s",
            "figure_max": f"<= {self.target:g} s",
        }[self.target_mode]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, ratio and verdict included."""
        return {
            **asdict(self),
            "ratio": round(self.ratio, 3),
            "target_text": self.target_text(),
            "target_met": self.target_met,
        }


def scaled(rows: int, scale: float, minimum: int = 100) -> int:
    """``rows * scale`` rounded, at least ``minimum`` (smoke runs use a tiny ``scale``)."""
    return max(minimum, round(rows * scale))


def median_seconds(samples: list[float]) -> float:
    """The median of the timed repeats (robust to one slow outlier on a busy machine)."""
    return statistics.median(samples)


def quiet_logs() -> None:
    """Keep dlt's and the plugin's info logs out of the benchmark output."""
    import logging

    import structlog

    logging.getLogger("dlt").setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def pyiceberg_append(catalog: CatalogConfig, identifier: tuple[str, str], data: pa.Table) -> int:
    """The baseline's write: create the table and commit ``data`` in ONE PyIceberg append."""
    from floe_ingestion_dlt.catalog import load_catalog

    iceberg = load_catalog(catalog)
    iceberg.create_namespace_if_not_exists(identifier[0])
    table = iceberg.create_table(identifier, schema=data.schema)
    table.append(data)
    return data.num_rows


def rows_in(catalog: CatalogConfig, identifier: tuple[str, str]) -> int:
    """Rows of the table as a new PyIceberg client reads them (a check, not part of timings)."""
    from floe_ingestion_dlt.catalog import load_catalog

    return int(load_catalog(catalog).load_table(identifier).scan().count())


def run_plugin(plugin: DltIngestionPlugin, config: IngestionConfig) -> tuple[float, RunOutcome]:
    """``create_pipeline`` + ``run`` timed together, as a user of the plugin pays them.

    Raises:
        RuntimeError: when the run failed (a benchmark of a failed load means nothing).
    """
    started = time.perf_counter()
    pipeline = plugin.create_pipeline(config)
    outcome = plugin.run_with_outcome(pipeline)
    seconds = time.perf_counter() - started
    if not outcome.success:
        raise RuntimeError(f"plugin run into {config.destination_table} failed: {outcome.errors}")
    return seconds, outcome


def alternate(
    repeats: int,
    figure: Callable[[int], float],
    baseline: Callable[[int], float],
    warmup: int = 0,
) -> tuple[list[float], list[float]]:
    """Run baseline and figure alternately ``repeats`` times so drift hits both equally.

    ``warmup`` untimed rounds of both sides come first (attempt numbers ``repeats`` and up):
    the first full-size run of a process pays for growing the heap and Arrow's memory pool,
    which would otherwise fall on whichever side runs first.

    The order flips every attempt (baseline first, then figure first) so neither side always
    runs right after the other or with the other's files in the page cache, and each run starts
    from a fully collected heap (:func:`settled`): neither side pays for the other's garbage.
    """
    for attempt in range(repeats, repeats + warmup):
        settled(baseline, attempt)
        settled(figure, attempt)
    figures: list[float] = []
    baselines: list[float] = []
    for attempt in range(repeats):
        if attempt % 2:
            figures.append(settled(figure, attempt))
            baselines.append(settled(baseline, attempt))
        else:
            baselines.append(settled(baseline, attempt))
            figures.append(settled(figure, attempt))
    return figures, baselines


def settled(side: Callable[[int], float], attempt: int) -> float:
    """Run one timed side after a full garbage collection (not part of its time)."""
    import gc

    gc.collect()
    return side(attempt)


def make_dir(root: Path, name: str) -> Path:
    """A new empty folder ``root/name``."""
    path = root / name
    path.mkdir(parents=True, exist_ok=False)
    return path


def expect_rows(catalog: CatalogConfig, rows: int, identifiers: Iterable[tuple[str, str]]) -> None:
    """Raise unless every table holds ``rows`` rows, read back through a new PyIceberg client."""
    for identifier in identifiers:
        counted = rows_in(catalog, identifier)
        if counted != rows:
            raise RuntimeError(f"{'.'.join(identifier)} has {counted} rows, expected {rows}")


def alternating_measurement(
    name: str,
    repeats: int,
    figure: Callable[[int], float],
    baseline: Callable[[int], float],
    *,
    baseline_name: str,
    target: float | None,
    rows: int,
    details: dict[str, Any] | None = None,
    warmup: int = 0,
) -> Measurement:
    """Run both sides alternately (see :func:`alternate`): their medians and the paired ratio.

    The ratio is the median of the per-attempt ratios (see :attr:`Measurement.ratio`); the
    figure and the baseline shown are each side's median.
    """
    figures, baselines = alternate(repeats, figure, baseline, warmup=warmup)
    paired = [f / b for f, b in zip(figures, baselines, strict=True) if b]
    figure_median, baseline_median = median_seconds(figures), median_seconds(baselines)
    details = {**(details or {}), "warmup_rounds": warmup}
    if baseline_median:
        details["ratio_of_medians"] = round(figure_median / baseline_median, 3)
    return Measurement(
        name=name,
        figure=figure_median,
        baseline=baseline_median,
        baseline_name=baseline_name,
        target=target,
        rows=rows,
        samples={"plugin": figures, "baseline": baselines},
        details=details,
        paired_ratio=median_seconds(paired) if paired else None,
    )
