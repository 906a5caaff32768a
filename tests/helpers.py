"""Helpers shared by the tests: an embedded plugin, reading tables back through PyIceberg."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from floe_core.plugins.ingestion import IngestionConfig
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.catalog import load_catalog


def embedded_plugin(tmp_path: Path, **config: Any) -> DltIngestionPlugin:
    """A started plugin on an embedded catalog under ``tmp_path``."""
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=CatalogConfig.embedded(tmp_path / "lake"),
            pipelines_dir=tmp_path / "pipelines",
            **config,
        )
    )
    plugin.startup()
    return plugin


def fresh_catalog(plugin: DltIngestionPlugin) -> Catalog:
    """A new PyIceberg client on the plugin's catalog (not the one the plugin used)."""
    return load_catalog(plugin.catalog)


def read_table(plugin: DltIngestionPlugin, identifier: str) -> Table:
    return fresh_catalog(plugin).load_table(identifier)


def user_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows without dlt's bookkeeping columns, sorted by ``id`` when present."""
    keep = [c for c in table.column_names if not c.startswith("_dlt")]
    rows = table.select(keep).to_pylist()
    return sorted(rows, key=lambda r: r.get("id") or 0) if keep and "id" in keep else rows


def files_config(
    folder: Path, glob: str, table: str = "bronze.items", write_mode: str = "append", **extra: Any
) -> IngestionConfig:
    return IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": glob, **extra},
        destination_table=table,
        write_mode=write_mode,
    )


def snapshot_count(table: Table) -> int:
    return len(table.metadata.snapshots)


@dataclass
class MeasuredRun:
    """A child process's exit code, output, peak resident memory and wall time."""

    returncode: int
    output: str
    peak_rss_bytes: int
    seconds: float


_MEASURE = """\
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "returncode": done.returncode,
    "output": done.stdout + done.stderr,
    "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "seconds": time.perf_counter() - started,
}))
"""


def run_measured(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> MeasuredRun:
    """Run ``argv`` under a fresh interpreter that reports the child's peak RSS (getrusage).

    The fresh parent has no other children, so ``RUSAGE_CHILDREN`` is this command's alone.
    """
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=True,
    )
    report = json.loads(done.stdout)
    return MeasuredRun(
        report["returncode"], report["output"], report["peak_rss_kib"] * 1024, report["seconds"]
    )
