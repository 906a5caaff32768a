"""Small helpers shared by the benchmarks: an embedded plugin, parquet sources, results."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from floe_core.plugins.ingestion import IngestionResult

    from floe_ingestion_dlt import DltIngestionPlugin

__all__ = [
    "RESULTS_DIR",
    "PluginRun",
    "Timer",
    "embedded_plugin",
    "plugin_load",
    "plugin_run",
    "timed",
    "write_parquet_source",
    "write_result",
]

RESULTS_DIR = Path(__file__).parent / "results"


class Timer:
    """Elapsed wall-clock seconds of a ``with timed()`` block."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    """Measure the wall-clock time of the block: ``with timed() as t: ...; t.seconds``."""
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def embedded_plugin(root: Path) -> DltIngestionPlugin:
    """A started plugin on an embedded (SQLite + local folder) catalog under ``root``."""
    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin

    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=CatalogConfig.embedded(root / "lake"), pipelines_dir=root / "pipelines"
        )
    )
    plugin.startup()
    return plugin


def write_parquet_source(folder: Path, table: pa.Table, files: int = 1) -> Path:
    """Write ``table`` as ``files`` parquet files (consecutive slices) into a new ``folder``."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    per_file = -(-table.num_rows // files)
    for index in range(files):
        part = table.slice(index * per_file, per_file)
        pq.write_table(part, folder / f"part-{index:04d}.parquet")
    return folder


@dataclass
class PluginRun:
    """One timed plugin run: wall-clock seconds, the result, and dlt's step durations."""

    seconds: float
    result: IngestionResult
    steps: dict[str, float] = field(default_factory=dict)
    """``extract`` / ``normalize`` / ``load`` seconds from the pipeline's last trace."""


def _step_seconds(pipeline: Any) -> dict[str, float]:
    trace = getattr(pipeline, "last_trace", None)
    steps: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or []:
        if step.finished_at is not None and step.step in ("extract", "normalize", "load"):
            steps[step.step] = (step.finished_at - step.started_at).total_seconds()
    return steps


def plugin_run(
    plugin: DltIngestionPlugin,
    folder: Path,
    destination_table: str,
    write_mode: str = "append",
    **source_options: Any,
) -> PluginRun:
    """Run the plugin on the parquet files of ``folder``, timed; raises if the run fails."""
    from floe_core.plugins.ingestion import IngestionConfig

    config = IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": "*.parquet", **source_options},
        destination_table=destination_table,
        write_mode=write_mode,
    )
    pipeline = plugin.create_pipeline(config)
    with timed() as timer:
        result = plugin.run(pipeline)
    if not result.success:
        raise RuntimeError(f"plugin run into {destination_table} failed: {result.errors}")
    return PluginRun(seconds=timer.seconds, result=result, steps=_step_seconds(pipeline))


def plugin_load(
    plugin: DltIngestionPlugin,
    folder: Path,
    destination_table: str,
    write_mode: str = "append",
    **source_options: Any,
) -> tuple[float, IngestionResult]:
    """Run the plugin on the parquet files of ``folder``; ``(seconds, result)``."""
    run = plugin_run(plugin, folder, destination_table, write_mode, **source_options)
    return run.seconds, run.result


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as ``benchmarks/results/<name>.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path
