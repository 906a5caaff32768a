"""SQL -> Iceberg: a PostgreSQL table of 1,000,000 rows x 10 columns, append, embedded catalog.

Run alone: ``.venv/bin/python -m benchmarks --only sql``.

A throwaway PostgreSQL server (``tests.services.postgres.PostgresServer``) gets the
deterministic ``orders`` table (bigint, integer, double precision, text, timestamptz) by COPY.

- ``sql_pyarrow``: the plugin with its default backend (``pyarrow``, which on PostgreSQL runs
  dlt's query through ADBC and streams Arrow batches cast to dlt's pyarrow types) vs the
  physical floor: connectorx reads the table straight to Arrow and PyIceberg appends it in one
  commit.
- ``sql_connectorx``: the plugin with ``backend: connectorx`` vs the same floor (for reference:
  the 1.5x target is the default backend's).
- ``sql_vs_sqlalchemy``: the plugin's default backend vs the plugin with dlt's row-by-row
  ``sqlalchemy`` backend (Python dicts through dlt's normalizer) on the first
  ``SQLALCHEMY_ROWS`` rows (a table of its own), the ratio being the speed-up.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import embedded_plugin, timed
from benchmarks.data import orders_table
from benchmarks.harness import (
    Measurement,
    alternating_measurement,
    expect_rows,
    pyiceberg_append,
    quiet_logs,
    run_plugin,
    scaled,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from floe_ingestion_dlt import DltIngestionPlugin

ROWS = 1_000_000
SQLALCHEMY_ROWS = 250_000
FLOOR_TARGET = 1.5
SQLALCHEMY_SPEEDUP_TARGET = 3.0
NAMESPACE = "bench"
BASELINE_NAMESPACE = "baseline"

_DDL = """
CREATE TABLE {name} (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL,
    quantity integer NOT NULL,
    price double precision,
    discount double precision,
    weight double precision,
    status text,
    note text,
    created_at timestamptz,
    updated_at timestamptz
)
"""


def load_postgres(server: Any, name: str, rows: int) -> None:
    """Create table ``name`` and COPY ``rows`` deterministic rows into it."""
    import pyarrow.csv as pcsv

    buffer = io.BytesIO()
    pcsv.write_csv(orders_table(rows), buffer, pcsv.WriteOptions(include_header=False))
    buffer.seek(0)
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
            cur.execute(_DDL.format(name=name))
            cur.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv)", buffer)
            cur.execute(f"ANALYZE {name}")
    finally:
        conn.close()


def connectorx_read(server: Any, table: str) -> pa.Table:
    """The floor's read: connectorx straight to Arrow, timestamps as Iceberg stores them (us)."""
    import connectorx as cx
    import pyarrow as pa

    uri = f"postgresql://{server.user}:{server.password}@{server.host}:{server.port}/postgres"
    data: pa.Table = cx.read_sql(uri, f"SELECT * FROM {table}", return_type="arrow")
    fields = []
    for fld in data.schema:
        kind = fld.type
        if pa.types.is_timestamp(kind) and kind.unit != "us":
            kind = pa.timestamp("us", kind.tz)
        elif pa.types.is_large_string(kind):
            kind = pa.string()
        fields.append(fld.with_type(kind))
    return data.cast(pa.schema(fields))


def _config(server: Any, table: str, destination: str, backend: str | None) -> Any:
    from floe_core.plugins.ingestion import IngestionConfig

    source: dict[str, Any] = {"credentials": server.dsn(), "table": table}
    if backend is not None:
        source["backend"] = backend
    return IngestionConfig(
        source_type="sql_database",
        source_config=source,
        destination_table=destination,
        write_mode="append",
    )


def _plugin_seconds(
    plugin: DltIngestionPlugin, server: Any, table: str, destination: str, backend: str | None
) -> tuple[float, int]:
    seconds, outcome = run_plugin(plugin, _config(server, table, destination, backend))
    return seconds, outcome.rows_loaded


def measure(server: Any, root: Path, rows: int, small_rows: int, repeats: int) -> list[Measurement]:
    """All three SQL measurements against one server."""
    load_postgres(server, "orders", rows)
    load_postgres(server, "orders_small", small_rows)
    plugin = embedded_plugin(root / "plugin")
    results: list[Measurement] = []
    for backend in ("pyarrow", "connectorx"):

        def figure(attempt: int, backend: str = backend) -> float:
            seconds, loaded = _plugin_seconds(
                plugin, server, "orders", f"{NAMESPACE}.sql_{backend}_{attempt}", backend
            )
            if loaded != rows:
                raise RuntimeError(f"plugin ({backend}) loaded {loaded} rows, expected {rows}")
            return seconds

        def baseline(attempt: int, backend: str = backend) -> float:
            with timed() as timer:
                data = connectorx_read(server, "orders")
                pyiceberg_append(
                    plugin.catalog, (BASELINE_NAMESPACE, f"orders_{backend}_{attempt}"), data
                )
            return timer.seconds

        results.append(
            alternating_measurement(
                f"sql_{backend}",
                repeats,
                figure,
                baseline,
                baseline_name="connectorx -> Arrow + 1 PyIceberg append",
                # the target is for the default backend; connectorx is for reference
                target=FLOOR_TARGET if backend == "pyarrow" else None,
                rows=rows,
                details={"backend": backend},
            )
        )
        tables = [(NAMESPACE, f"sql_{backend}_{n}") for n in range(repeats)]
        expect_rows(plugin.catalog, rows, tables)
    # the row-by-row backend once (it is slow), against the default backend on the same table
    default_s, _ = _plugin_seconds(
        plugin, server, "orders_small", f"{NAMESPACE}.sql_small_pyarrow", None
    )
    rowwise_s, loaded = _plugin_seconds(
        plugin, server, "orders_small", f"{NAMESPACE}.sql_small_sqlalchemy", "sqlalchemy"
    )
    if loaded != small_rows:
        raise RuntimeError(f"sqlalchemy backend loaded {loaded} rows, expected {small_rows}")
    results.append(
        Measurement(
            name="sql_vs_sqlalchemy_backend",
            figure=default_s,
            baseline=rowwise_s,
            baseline_name="plugin with dlt's row-by-row sqlalchemy backend",
            target=SQLALCHEMY_SPEEDUP_TARGET,
            target_mode="speedup_min",
            rows=small_rows,
            samples={"plugin": [default_s], "baseline": [rowwise_s]},
            details={"backend": "pyarrow (default)"},
        )
    )
    return results


def run(scale: float = 1.0, repeats: int = 3) -> list[Measurement]:
    """Start PostgreSQL, load the tables, measure; the server is removed afterwards."""
    from tests.services.postgres import PostgresServer

    quiet_logs()
    rows = scaled(ROWS, scale)
    small_rows = scaled(SQLALCHEMY_ROWS, scale)
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp, PostgresServer() as server:
        root = Path(tmp)
        # warm-up: imports and first connections are not part of any figure
        load_postgres(server, "warmup", 100)
        warm = embedded_plugin(root / "warmup")
        for backend in ("pyarrow", "connectorx", "sqlalchemy"):
            _plugin_seconds(warm, server, "warmup", f"{NAMESPACE}.warm_{backend}", backend)
        pyiceberg_append(
            warm.catalog, (BASELINE_NAMESPACE, "warm"), connectorx_read(server, "warmup")
        )
        return measure(server, root, rows, small_rows, repeats)
