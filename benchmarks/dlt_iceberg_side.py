"""The dlt-iceberg 0.6.4 side of ``bench_layout``, run inside its own throwaway venv.

dlt-iceberg needs dlt < 1.28 and a PyIceberg fork, so it cannot share this project's
environment. ``bench_layout`` creates the venv (``uv venv`` + ``uv pip install
dlt-iceberg==0.6.4 dlt==1.27.2``) and runs::

    <venv>/bin/python benchmarks/dlt_iceberg_side.py ROOT MODE

MODE ``merge-one`` / ``merge-ten``: load ``ROOT/table.parquet`` as one run (one data file) or
as ten runs of consecutive slices (ten files clustered by id), then time the upsert of
``ROOT/batch.parquet``. MODE ``replace``: load the table, then time a replace with it. The
timed run reads its Parquet file itself, as the plugin's run does. Prints one JSON line:
seconds, rows read back, data and delete files.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any


def _pipeline(root: Path, name: str) -> Any:
    import dlt
    from dlt_iceberg import iceberg_rest

    (root / "wh").mkdir(parents=True, exist_ok=True)
    destination = iceberg_rest(
        catalog_uri=f"sqlite:///{root / 'catalog.db'}",
        warehouse=(root / "wh").as_uri(),
        namespace="bench",
    )
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination,
        dataset_name="bench",
        pipelines_dir=str(root / "pipelines"),
    )


def _run(pipeline: Any, data: Any, disposition: Any) -> float:
    """One ``pipeline.run``, timed; ``data`` is an Arrow table, or a Parquet file read inside
    the timed step (as the plugin reads its batch file inside its run)."""
    import dlt
    import pyarrow.parquet as pq

    @dlt.resource(name="orders", primary_key="id", write_disposition=disposition)
    def orders() -> Any:
        yield pq.read_table(data) if isinstance(data, Path) else data

    gc.collect()  # as the plugin side does before its timed run
    start = time.perf_counter()
    pipeline.run(orders())
    return time.perf_counter() - start


def _read_back(root: Path) -> dict[str, Any]:
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("dlt_catalog", uri=f"sqlite:///{root / 'catalog.db'}")
    table = catalog.load_table(("bench", "orders"))
    tasks = list(table.scan().plan_files())
    out: dict[str, Any] = {
        "data_files": len(tasks),
        "delete_files": len({d.file_path for t in tasks for d in t.delete_files}),
    }
    try:
        out["rows"] = table.scan().to_arrow().num_rows
    except Exception as exc:  # equality deletes: upstream PyIceberg cannot apply them
        out["rows"] = None
        out["read_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


def main() -> None:
    import pyarrow.parquet as pq

    root, mode = Path(sys.argv[1]), sys.argv[2]
    table = pq.read_table(root.parent / "table.parquet")
    pipeline = _pipeline(root, "side")
    if mode == "merge-ten":
        step = -(-table.num_rows // 10)
        for offset in range(0, table.num_rows, step):
            _run(pipeline, table.slice(offset, step), "append")
    else:
        _run(pipeline, table, "append")
    if mode == "replace":
        seconds = _run(pipeline, root.parent / "table.parquet", "replace")
    else:
        merge = {"disposition": "merge", "strategy": "upsert"}
        seconds = _run(pipeline, root.parent / "batch.parquet", merge)
    print(json.dumps({"seconds": round(seconds, 3), **_read_back(root)}))


if __name__ == "__main__":
    main()
