"""REST API -> Iceberg: 200 pages x 1,000 records from a local server, append, embedded catalog.

Run alone: ``.venv/bin/python -m benchmarks --only rest``.

The server is ``tests.services.http_api.FakeApiServer`` run in a subprocess of its own (so its
JSON encoding does not compete with the measured client for the GIL), serving the
deterministic 10-column ``orders`` records (timestamps as ISO 8601 strings) at
``/offset/orders?limit=1000&offset=N`` -> ``{"items": [...], "total": N}``.

Figure: the plugin's ``rest_api`` source (offset paginator, data selector ``items``) into a
new table. Baseline: a plain ``requests`` session fetching the same 200 pages, one
``pa.Table.from_pylist``, timestamps parsed by Arrow, one PyIceberg append.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import embedded_plugin, timed
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

PAGES = 200
PAGE_SIZE = 1_000
TARGET = 2.0
NAMESPACE = "bench"
BASELINE_NAMESPACE = "baseline"

_SERVER = """
import sys
from benchmarks.data import orders_records
from tests.services.http_api import FakeApiServer

rows, page = int(sys.argv[1]), int(sys.argv[2])
with FakeApiServer() as server:
    server.set_records("orders", orders_records(rows))
    server.set_page_limits(default=page, maximum=page)
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


@contextmanager
def api_server(rows: int, page_size: int) -> Iterator[str]:
    """A ``FakeApiServer`` in a subprocess serving ``rows`` orders; yields its base URL."""
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(rows), str(page_size)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("the benchmark API server did not start")
        yield base_url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def requests_read(base_url: str, pages: int, page_size: int) -> pa.Table:
    """The baseline's read: every page with ``requests``, then one Arrow table."""
    import pyarrow as pa
    import requests

    records: list[dict[str, Any]] = []
    with requests.Session() as session:
        for page in range(pages):
            response = session.get(
                f"{base_url}/offset/orders",
                params={"limit": page_size, "offset": page * page_size},
                timeout=30,
            )
            response.raise_for_status()
            records.extend(response.json()["items"])
    data = pa.Table.from_pylist(records)
    for name in ("created_at", "updated_at"):
        index = data.schema.get_field_index(name)
        data = data.set_column(index, name, data[name].cast(pa.timestamp("us", "UTC")))
    return data


def _config(base_url: str, destination: str, page_size: int) -> Any:
    from floe_core.plugins.ingestion import IngestionConfig

    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": base_url,
            "path": "offset/orders",
            "paginator": {"type": "offset", "limit": page_size, "total_path": "total"},
            "data_selector": "items",
        },
        destination_table=destination,
        write_mode="append",
    )


def measure(
    plugin: DltIngestionPlugin, base_url: str, pages: int, page_size: int, repeats: int
) -> Measurement:
    """Plugin vs ``requests`` + one append on the same pages."""
    rows = pages * page_size

    def baseline(attempt: int) -> float:
        with timed() as timer:
            data = requests_read(base_url, pages, page_size)
            pyiceberg_append(plugin.catalog, (BASELINE_NAMESPACE, f"rest_{attempt}"), data)
        return timer.seconds

    def figure(attempt: int) -> float:
        config = _config(base_url, f"{NAMESPACE}.rest_{attempt}", page_size)
        seconds, outcome = run_plugin(plugin, config)
        if outcome.rows_loaded != rows:
            raise RuntimeError(f"plugin loaded {outcome.rows_loaded} rows, expected {rows}")
        return seconds

    measurement = alternating_measurement(
        "rest_api",
        repeats,
        figure,
        baseline,
        baseline_name="requests, same pages + 1 PyIceberg append",
        target=TARGET,
        rows=rows,
        details={"pages": pages, "page_size": page_size},
    )
    tables = [(ns, f"rest_{n}") for n in range(repeats) for ns in (NAMESPACE, BASELINE_NAMESPACE)]
    expect_rows(plugin.catalog, rows, tables)
    return measurement


def run(scale: float = 1.0, repeats: int = 2) -> list[Measurement]:
    """``PAGES * scale`` pages of ``PAGE_SIZE`` records."""
    quiet_logs()
    pages = scaled(PAGES, scale, minimum=2)
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        root = Path(tmp)
        with api_server(pages * PAGE_SIZE, PAGE_SIZE) as base_url:
            warm = embedded_plugin(root / "warmup")
            run_plugin(warm, _config(base_url, f"{NAMESPACE}.warm", PAGE_SIZE))
            requests_read(base_url, 1, PAGE_SIZE)
            plugin = embedded_plugin(root / "plugin")
            return [measure(plugin, base_url, pages, PAGE_SIZE, repeats)]
