"""Time spent in ``iceberg.capabilities()`` per pipeline run: memoized (the plugin) vs dlt's own.

Run: ``.venv/bin/python -m benchmarks.capabilities_memo [runs]``. Measures whether
``compat.dlt.partial_destination_configuration`` still pays for itself: each run loads 100 rows
into an embedded catalog; the two variants alternate, and the baseline (dlt's
``Destination.capabilities``, resolving its partial configuration on every call) is measured in
the same process. Prints calls per run and the median milliseconds inside ``capabilities()``
and per run (wall).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("FLOE_LOG_LEVEL", "WARNING")

import dlt
from dlt.common.destination.reference import Destination

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.destination import iceberg

MEMOIZED: Callable[..., Any] = iceberg.capabilities
DLTS_OWN: Callable[..., Any] = Destination.capabilities


def _one_run(variant: Callable[..., Any], name: str) -> tuple[float, int, float]:
    """(wall s, capabilities() calls, s inside capabilities()) of one 100-row run."""
    calls = [0, 0.0]

    def timed(self: Any, config: Any = None, naming: Any = None) -> Any:
        started = time.perf_counter()
        try:
            return variant(self, config, naming)
        finally:
            calls[0] += 1
            calls[1] += time.perf_counter() - started

    iceberg.capabilities = timed  # type: ignore[method-assign]
    folder = tempfile.mkdtemp()
    destination = iceberg(
        catalog_type="sql",
        credentials=CatalogConfig.embedded(os.path.join(folder, "lake")),
        state_tables=["t"],
    )

    @dlt.resource(name="t", table_format="iceberg")
    def rows() -> Any:
        yield [{"id": k, "v": str(k)} for k in range(100)]

    pipeline = dlt.pipeline(
        name, destination=destination, dataset_name="bronze", pipelines_dir=f"{folder}/p"
    )
    started = time.perf_counter()
    pipeline.run(rows())
    return time.perf_counter() - started, int(calls[0]), float(calls[1])


def main(runs: int) -> None:
    results: dict[str, list[tuple[float, int, float]]] = {"memoized": [], "dlt": []}
    variants = {"memoized": MEMOIZED, "dlt": DLTS_OWN}
    try:
        for name, variant in variants.items():  # warm-up: imports, first catalog
            _one_run(variant, f"caps_warmup_{name}")
        for i in range(runs):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                results[name].append(_one_run(variants[name], f"caps_{name}_{i}"))
    finally:
        iceberg.capabilities = MEMOIZED  # type: ignore[method-assign]
    for name, rs in results.items():
        print(
            f"{name:9s} runs {len(rs)}  calls/run {statistics.median(r[1] for r in rs):.0f}  "
            f"capabilities() {1000 * statistics.median(r[2] for r in rs):.1f} ms/run  "
            f"wall {1000 * statistics.median(r[0] for r in rs):.0f} ms/run"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
