"""A growing SQLite source, an embedded lake and the harness subprocess that loads one into the other.

A :class:`Lane` is one pipeline (one destination table) whose runs are killed and rerun in
sequence; :meth:`Lane.check` reads the table back through a fresh PyIceberg catalog and the
cursor that the destination would hand to the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlt.common.pipeline import TPipelineState
from dlt.pipeline.state_sync import decompress_state

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog

REPO = Path(__file__).resolve().parents[3]
CHILD_TIMEOUT = 240.0


@dataclass
class ChildRun:
    """One harness subprocess."""

    crash_at: str | None
    returncode: int
    seconds: float
    result: dict[str, Any] | None
    output_tail: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


@dataclass
class Lane:
    """One pipeline under test: source database, lake, pipelines folder, write mode."""

    base: Path
    name: str
    write_mode: str = "append"
    new_pod: bool = False
    """Empty the pipelines folder before every rerun (a new Kubernetes pod)."""
    cursor: bool = True
    catalog_properties: dict[str, str] | None = None
    """A catalog other than the embedded one under ``base/lake`` (with ``state_url``)."""
    state_url: str | None = None
    namespace: str = "bronze"
    runs: list[ChildRun] = field(default_factory=list)
    next_id: int = 1
    updates: int = 0

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, name TEXT, "
                "amount REAL, version INTEGER NOT NULL)"
            )

    # -- paths ---------------------------------------------------------------------------

    @property
    def source_db(self) -> Path:
        return self.base / "source.db"

    @property
    def lake(self) -> Path:
        return self.base / "lake"

    @property
    def pipelines_dir(self) -> Path:
        return self.base / "pipelines"

    @property
    def table(self) -> str:
        return f"{self.namespace}.{self.name}"

    @property
    def pipeline_name(self) -> str:
        return f"floe__{self.namespace}__{self.name}"

    @property
    def catalog(self) -> CatalogConfig:
        if self.catalog_properties:
            return CatalogConfig.parse(self.catalog_properties)
        return CatalogConfig.embedded(self.lake)

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.source_db, isolation_level=None)

    # -- the source ----------------------------------------------------------------------

    def add_rows(self, count: int) -> None:
        """Append ``count`` new rows (ids keep growing: the cursor)."""
        rows = [
            (i, f"order-{i}", round(i * 1.25, 2), 1)
            for i in range(self.next_id, self.next_id + count)
        ]
        self.next_id += count
        with self._db() as db:
            db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)

    def update_rows(self, ids: list[int]) -> None:
        """Change existing rows (merge and replace lanes): amount and version move on."""
        self.updates += 1
        with self._db() as db:
            db.executemany(
                "UPDATE orders SET amount = amount + 100, version = version + 1 WHERE id = ?",
                [(i,) for i in ids],
            )

    def source_rows(self) -> list[dict[str, Any]]:
        with self._db() as db:
            cur = db.execute("SELECT id, name, amount, version FROM orders ORDER BY id")
            return [dict(zip(("id", "name", "amount", "version"), r, strict=True)) for r in cur]

    # -- running -------------------------------------------------------------------------

    def _config(self) -> Path:
        source_config: dict[str, Any] = {
            "credentials": f"sqlite:///{self.source_db}",
            "table": "orders",
            "chunk_size": 4,
        }
        if self.cursor:
            source_config["cursor_field"] = "id"
        if self.write_mode == "merge":
            source_config["primary_key"] = "id"
        path = self.base / "run.json"
        path.write_text(
            json.dumps(
                {
                    "lake": str(self.lake),
                    "catalog": self.catalog_properties,
                    "dlt_state_url": self.state_url,
                    "pipelines_dir": str(self.pipelines_dir),
                    "result": str(self.base / "result.json"),
                    "ingestion": {
                        "source_type": "sql_database",
                        "source_config": source_config,
                        "destination_table": self.table,
                        "write_mode": self.write_mode,
                    },
                }
            )
        )
        return path

    def run(self, crash_at: str | None = None) -> ChildRun:
        """One harness subprocess, killed at ``crash_at`` when given."""
        result_file = self.base / "result.json"
        result_file.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("CRASH_AT", None)
        if crash_at:
            env["CRASH_AT"] = crash_at
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.crash.harness",
                "--config",
                str(self._config()),
            ],
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
        seconds = time.perf_counter() - started
        result = json.loads(result_file.read_text()) if result_file.exists() else None
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        child = ChildRun(crash_at, proc.returncode, seconds, result, tail)
        self.runs.append(child)
        return child

    def lose_pod(self) -> None:
        """What a new pod sees: no pipelines folder at all."""
        shutil.rmtree(self.pipelines_dir, ignore_errors=True)

    # -- checking ------------------------------------------------------------------------

    def table_rows(self) -> list[dict[str, Any]]:
        table = load_catalog(self.catalog).load_table(self.table)
        data = table.scan(selected_fields=("id", "name", "amount", "version")).to_arrow()
        return sorted(data.to_pylist(), key=lambda r: r["id"])

    def destination_cursor(self) -> Any:
        """The cursor the next run starts from: the newest state stored with the destination
        (dlt's state file or the Iceberg snapshot summary, whichever has the newer load id).

        For a remote catalog only the snapshot summary is read (the state files are in S3).
        """
        states: list[tuple[str, TPipelineState]] = []
        table = load_catalog(self.catalog).load_table(self.table)
        by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
        current = table.metadata.current_snapshot_id
        while current is not None:
            snapshot = by_id[current]
            summary = snapshot.summary.additional_properties if snapshot.summary else {}
            if "floe.dlt-state" in summary:
                doc = json.loads(summary["floe.dlt-state"])
                states.append((doc["_dlt_load_id"], decompress_state(doc["state"])))
                break
            current = snapshot.parent_snapshot_id
        state_dir = self.lake / "warehouse" / self.namespace / "_dlt_pipeline_state"
        files = (
            sorted(state_dir.glob(f"{self.pipeline_name}__*.jsonl")) if state_dir.exists() else []
        )
        if files:
            newest = max(files, key=lambda p: p.name.split("__")[1])
            doc = json.loads(newest.read_text())
            states.append((doc["_dlt_load_id"], decompress_state(doc["state"])))
        if not states:
            return None
        _, state = max(states, key=lambda item: item[0])
        return _find_last_value(state, "id")


def _find_last_value(node: Any, cursor: str) -> Any:
    if isinstance(node, dict):
        incremental = node.get("incremental")
        if isinstance(incremental, dict) and cursor in incremental:
            return incremental[cursor].get("last_value")
        for value in node.values():
            found = _find_last_value(value, cursor)
            if found is not None:
                return found
    return None
