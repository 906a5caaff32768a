"""Plugin overhead: the same load through the plugin and through a hand-written dlt pipeline.

Run alone: ``.venv/bin/python -m benchmarks --only overhead``.

Both load the same 1,000,000-row Parquet file into a new table of the same embedded catalog
with the same destination (``floe_ingestion_dlt.iceberg``, same catalog, ``state_tables``),
the same loader file format (``parquet``) and the same reader (dlt's ``filesystem`` listing
piped into a transformer yielding 100,000-row Arrow tables, as the plugin's files source
does). The hand-written side is what a dlt user would write, with the same dlt writer settings
the plugin applies to an Arrow source (``performance.dlt_defaults``: e.g. 1,000,000-row extract
buffers), so that the ratio measures the plugin's own work and not its tuning: validation,
reachability checks, state restore from Iceberg snapshots, retries and the read-back of its
commits. Target: at most 5% slower.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import embedded_plugin, write_parquet_source
from benchmarks.data import orders_table
from benchmarks.harness import (
    Measurement,
    alternating_measurement,
    expect_rows,
    quiet_logs,
    run_plugin,
    scaled,
)

ROWS = 1_000_000
CHUNK_ROWS = 100_000
TARGET = 1.05
NAMESPACE = "bench"


def same_dlt_settings(pipeline_name: str) -> None:
    """Give ``pipeline_name`` the dlt settings the plugin applies to an Arrow source.

    A dlt user sets them the same way: ``<PIPELINE>__EXTRACT__DATA_WRITER__BUFFER_MAX_ITEMS``...
    """
    from floe_ingestion_dlt.performance import dlt_defaults

    for key, value in dlt_defaults(python_rows=False).items():
        name = "__".join(p.replace(".", "__") for p in (pipeline_name, key)).upper()
        os.environ[name] = str(value)


def hand_written_dlt(
    folder: Path, catalog: Any, pipelines_dir: Path, namespace: str, table: str
) -> float:
    """A plain dlt pipeline with the plugin's destination; returns its wall time."""
    started = time.perf_counter()
    import dlt
    import pyarrow as pa
    import pyarrow.parquet as pq
    from dlt.sources.filesystem import filesystem

    from floe_ingestion_dlt import iceberg

    pipeline_name = f"hand_written_{table}"
    same_dlt_settings(pipeline_name)

    @dlt.transformer(name=table, standalone=False)
    def read_parquet(items: list[Any]) -> Iterator[pa.Table]:
        for item in items:
            with item.open() as stream:
                for batch in pq.ParquetFile(stream).iter_batches(batch_size=CHUNK_ROWS):
                    yield pa.Table.from_batches([batch])

    resource = filesystem(bucket_url=folder.as_uri(), file_glob="*.parquet") | read_parquet
    resource.apply_hints(table_name=table, write_disposition="append", table_format="iceberg")
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name,
        pipelines_dir=str(pipelines_dir),
        destination=iceberg(catalog_type=catalog.type, credentials=catalog, state_tables=[table]),
        dataset_name=namespace,
    )
    pipeline.run(resource, loader_file_format="parquet")
    return time.perf_counter() - started


def measure(root: Path, rows: int, repeats: int) -> Measurement:
    from floe_core.plugins.ingestion import IngestionConfig

    folder = write_parquet_source(root / "source", orders_table(rows))
    plugin = embedded_plugin(root / "plugin")
    catalog = plugin.catalog

    def baseline(attempt: int) -> float:
        return hand_written_dlt(folder, catalog, root / "dlt", NAMESPACE, f"dlt_{attempt}")

    def figure(attempt: int) -> float:
        config = IngestionConfig(
            source_type="filesystem",
            source_config={"bucket_url": str(folder), "file_glob": "*.parquet"},
            destination_table=f"{NAMESPACE}.plugin_{attempt}",
            write_mode="append",
        )
        seconds, outcome = run_plugin(plugin, config)
        if outcome.rows_loaded != rows:
            raise RuntimeError(f"plugin loaded {outcome.rows_loaded} rows, expected {rows}")
        return seconds

    measurement = alternating_measurement(
        "plugin_overhead",
        repeats,
        figure,
        baseline,
        baseline_name="hand-written dlt pipeline, same destination + loader format",
        target=TARGET,
        rows=rows,
        warmup=1,
    )
    tables = [(NAMESPACE, f"{side}_{n}") for n in range(repeats) for side in ("dlt", "plugin")]
    expect_rows(catalog, rows, tables)
    return measurement


def run_here(scale: float = 1.0, repeats: int = 21) -> list[Measurement]:
    """``ROWS * scale`` rows, ``repeats`` alternating runs of each side, in this process."""
    quiet_logs()
    rows = scaled(ROWS, scale)
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        root = Path(tmp)
        measure(root / "warmup", 1_000, 1)
        return [measure(root, rows, repeats)]


_CHILD = """
import json, sys
from benchmarks.bench_overhead import run_here
[m] = run_here(float(sys.argv[1]), int(sys.argv[2]))
print(json.dumps(m.as_dict()))
"""


def run(scale: float = 1.0, repeats: int = 21) -> list[Measurement]:
    """:func:`run_here` in a new interpreter.

    Both sides slow down as a process accumulates dlt pipelines (about 0.5 ms per earlier
    run, measured on 1,000-row runs); in ``python -m benchmarks`` this benchmark follows the
    files benchmark's full-size runs. A process of its own measures both sides from the same
    clean start, as ``--only overhead`` does.
    """
    import dataclasses
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(scale), str(repeats)],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,  # the child's errors go to this process's stderr
        text=True,
    )
    record = json.loads(result.stdout.strip().splitlines()[-1])
    fields = {f.name for f in dataclasses.fields(Measurement)}
    return [Measurement(**{k: v for k, v in record.items() if k in fields})]
