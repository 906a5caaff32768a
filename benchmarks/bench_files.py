"""Files -> Iceberg: 1,000,000 rows as Parquet and as CSV, plugin vs PyArrow + one append.

Run alone: ``.venv/bin/python -m benchmarks --only files``.

Data: ``benchmarks.data.orders_table`` (10 columns) written once as one Parquet file and once
as one CSV file. Figure: the plugin's ``create_pipeline`` + ``run`` (``filesystem`` source,
``write_mode=append``, embedded catalog) into a new table. Baseline: ``pyarrow`` reads the
same file and PyIceberg creates the table and appends it in one commit. Each side is run
``repeats`` times, alternately, into new tables; the medians are compared.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.common import embedded_plugin, timed
from benchmarks.data import orders_table
from benchmarks.harness import (
    Measurement,
    alternating_measurement,
    expect_rows,
    make_dir,
    pyiceberg_append,
    quiet_logs,
    run_plugin,
    scaled,
)

if TYPE_CHECKING:
    import pyarrow as pa

ROWS = 1_000_000
TARGETS = {"parquet": 1.3, "csv": 1.3}
NAMESPACE = "bench"
BASELINE_NAMESPACE = "baseline"


def _write_source(folder: Path, file_format: str, rows: int) -> Path:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    data = orders_table(rows)
    path = folder / f"orders.{file_format}"
    if file_format == "parquet":
        pq.write_table(data, path)
    else:
        pcsv.write_csv(data, path)
    return path


def _read(path: Path, file_format: str) -> pa.Table:
    """Read the file as Arrow; CSV timestamps (inferred as ns) cast to us, as Iceberg v2 needs."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if file_format == "parquet":
        return pq.read_table(path)
    data = pcsv.read_csv(path)
    schema = pa.schema(
        [
            f.with_type(pa.timestamp("us", f.type.tz)) if pa.types.is_timestamp(f.type) else f
            for f in data.schema
        ]
    )
    return data.cast(schema)


def measure_format(root: Path, file_format: str, rows: int, repeats: int) -> Measurement:
    """Plugin vs baseline for one file format; every table is read back and counted."""
    from floe_core.plugins.ingestion import IngestionConfig

    source = make_dir(root, f"source-{file_format}")
    path = _write_source(source, file_format, rows)
    plugin = embedded_plugin(root / f"plugin-{file_format}")
    catalog = plugin.catalog

    def baseline(attempt: int) -> float:
        with timed() as timer:
            data = _read(path, file_format)
            pyiceberg_append(catalog, (BASELINE_NAMESPACE, f"{file_format}_{attempt}"), data)
        return timer.seconds

    def figure(attempt: int) -> float:
        config = IngestionConfig(
            source_type="filesystem",
            source_config={"bucket_url": str(source), "file_glob": f"*.{file_format}"},
            destination_table=f"{NAMESPACE}.plugin_{file_format}_{attempt}",
            write_mode="append",
        )
        seconds, outcome = run_plugin(plugin, config)
        if outcome.rows_loaded != rows:
            raise RuntimeError(f"plugin loaded {outcome.rows_loaded} rows, expected {rows}")
        return seconds

    measurement = alternating_measurement(
        f"files_{file_format}",
        repeats,
        figure,
        baseline,
        baseline_name=f"pyarrow {file_format} read + 1 PyIceberg append",
        target=TARGETS[file_format],
        rows=rows,
        details={"source_bytes": path.stat().st_size},
        warmup=1,
    )
    tables = [(BASELINE_NAMESPACE, f"{file_format}_{n}") for n in range(repeats)]
    tables += [(NAMESPACE, f"plugin_{file_format}_{n}") for n in range(repeats)]
    expect_rows(catalog, rows, tables)
    return measurement


def run(scale: float = 1.0, repeats: int = 7) -> list[Measurement]:
    """Parquet and CSV, ``ROWS * scale`` rows each."""
    quiet_logs()
    rows = scaled(ROWS, scale)
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        root = Path(tmp)
        # warm-up: first imports (dlt, PyIceberg, pyarrow readers) are not part of any figure
        for file_format in TARGETS:
            measure_format(root / "warmup", file_format, 1_000, 1)
        return [measure_format(root, fmt, rows, repeats) for fmt in TARGETS]
