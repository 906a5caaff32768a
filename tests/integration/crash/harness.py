"""One ingestion through the plugin, in a process that SIGKILLs itself where ``CRASH_AT`` says.

Run as ``python -m tests.integration.crash.harness --config run.json``. ``run.json`` holds::

    {"lake": "<folder of the embedded catalog>", "pipelines_dir": "<dlt's pipelines folder>",
     "catalog": {<catalog properties: instead of the embedded catalog>}, "dlt_state_url": ...,
     "result": "<where the IngestionResult is written as JSON>",
     "ingestion": {"source_type": ..., "source_config": {...}, "destination_table": ...,
                   "write_mode": "append"}}

``CRASH_AT=<point>:<n>`` kills the process the ``n``-th time ``point`` is reached (see
:data:`POINTS`); ``CRASH_AT=random:<seconds>`` kills it that long after the plugin starts.
Without ``CRASH_AT`` the run goes through and the exit code says whether it succeeded.

The kill is ``os.kill(os.getpid(), SIGKILL)``: no ``finally``, no atexit, no flush, from any
thread (load jobs run in dlt's thread pool), exactly what an OOM kill or a node loss does.
This module is test-only: the hooks are installed by monkeypatching in this process alone.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CRASH_ENV = "CRASH_AT"

POINTS: dict[str, str] = {
    "extract_start": "dlt Pipeline.extract is called",
    "extract_items": "dlt's extractor writes an item (a chunk of rows) to the package",
    "extract_commit_before": "extracted package about to be committed",
    "extract_commit_after": "package committed, dlt's local state file not yet saved",
    "extract_end": "Pipeline.extract returned (local state saved)",
    "normalize_start": "dlt Pipeline.normalize is called",
    "normalize_commit_before": "normalized package about to be moved to the load folder",
    "normalize_commit_after": "normalized package moved, extracted copy not yet deleted",
    "normalize_end": "Pipeline.normalize returned",
    "load_start": "dlt Pipeline.load is called",
    "iceberg_commit_before": "our load job is about to commit its PyIceberg transaction",
    "iceberg_metadata_written": "new table metadata file written, catalog not yet switched",
    "iceberg_commit_after": "the Iceberg commit landed, the job is not yet marked completed",
    "complete_load_before": "all jobs completed, dlt's complete_load not yet called",
    "store_load_before": "dlt's state file written at the destination, load record not",
    "complete_load_after": "complete_load done, package not yet moved to loaded",
    "load_end": "Pipeline.load returned",
}
"""Kill points, in the order a run reaches them."""


class KillSwitch:
    """Counts the points reached and kills the process at the chosen one."""

    def __init__(self, spec: str | None) -> None:
        self.point: str | None = None
        self.nth = 0
        self.delay: float | None = None
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        if not spec:
            return
        point, _, count = spec.partition(":")
        if point == "random":
            self.delay = float(count)
        elif point in POINTS:
            self.point, self.nth = point, int(count or 1)
        else:
            raise SystemExit(f"{CRASH_ENV}: unknown point {point!r}; known: {sorted(POINTS)}")

    def reached(self, point: str) -> None:
        if point != self.point:
            return
        with self._lock:
            self._counts[point] = self._counts.get(point, 0) + 1
            due = self._counts[point] == self.nth
        if due:
            kill_now()

    def arm_timer(self) -> None:
        if self.delay is not None:
            timer = threading.Timer(self.delay, kill_now)
            timer.daemon = True
            timer.start()


def kill_now() -> None:
    """SIGKILL this process: nothing after this line runs, in any thread."""
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: Any, name: str, switch: KillSwitch, before: str | None, after: str | None) -> None:
    raw = owner.__dict__[name]
    is_static = isinstance(raw, staticmethod)
    original: Callable[..., Any] = raw.__func__ if is_static else raw

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            switch.reached(before)
        result = original(*args, **kwargs)
        if after:
            switch.reached(after)
        return result

    setattr(owner, name, staticmethod(wrapper) if is_static else wrapper)


def install_hooks(switch: KillSwitch) -> None:
    """Patch dlt, PyIceberg and the destination so that each point calls ``switch``."""
    from dlt.common.storages.load_storage import LoadStorage
    from dlt.destinations.impl.filesystem.filesystem import FilesystemClient
    from dlt.extract.extract import Extract
    from dlt.extract.extractors import Extractor
    from dlt.pipeline.pipeline import Pipeline
    from pyiceberg.catalog import MetastoreCatalog
    from pyiceberg.table import CreateTableTransaction, Transaction

    _wrap(Pipeline, "extract", switch, "extract_start", "extract_end")
    _wrap(Extractor, "write_items", switch, "extract_items", None)
    _wrap(Extract, "commit_packages", switch, "extract_commit_before", "extract_commit_after")
    _wrap(Pipeline, "normalize", switch, "normalize_start", "normalize_end")
    _wrap(
        LoadStorage,
        "commit_new_load_package",
        switch,
        "normalize_commit_before",
        "normalize_commit_after",
    )
    _wrap(Pipeline, "load", switch, "load_start", "load_end")
    for transaction in (Transaction, CreateTableTransaction):  # the first load creates the table
        _wrap(
            transaction,
            "commit_transaction",
            switch,
            "iceberg_commit_before",
            "iceberg_commit_after",
        )
    _wrap(MetastoreCatalog, "_write_metadata", switch, None, "iceberg_metadata_written")
    _wrap(FilesystemClient, "complete_load", switch, "complete_load_before", "complete_load_after")
    _wrap(FilesystemClient, "_store_load", switch, "store_load_before", None)


def run(config: dict[str, Any], switch: KillSwitch) -> dict[str, Any]:
    """One plugin run as the platform makes it; the result as a dict."""
    from floe_core.plugins.ingestion import IngestionConfig

    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
    from floe_ingestion_dlt.config import RetryConfig

    catalog = (
        CatalogConfig.parse(config["catalog"])
        if config.get("catalog")
        else CatalogConfig.embedded(config["lake"])
    )
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=catalog,
            dlt_state_url=config.get("dlt_state_url"),
            pipelines_dir=Path(config["pipelines_dir"]),
            retry_config=RetryConfig(max_retries=1, initial_delay_seconds=0.1, jitter=False),
        )
    )
    plugin.startup()
    switch.arm_timer()
    started = time.perf_counter()
    pipeline = plugin.create_pipeline(IngestionConfig(**config["ingestion"]))
    result = plugin.run(pipeline)
    plugin.shutdown()
    return {
        "success": result.success,
        "rows_loaded": result.rows_loaded,
        "errors": list(result.errors),
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    switch = KillSwitch(os.environ.get(CRASH_ENV))
    install_hooks(switch)
    outcome = run(config, switch)
    Path(config["result"]).write_text(json.dumps(outcome))
    return 0 if outcome["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
