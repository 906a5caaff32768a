"""Layout and maintenance benchmark (issue 20), in one process.

Run: ``.venv/bin/python -m benchmarks.bench_layout`` (about 10 minutes on 2 cores; the first
run also creates a throwaway venv with dlt-iceberg 0.6.4 and dlt 1.27.2 under
``benchmarks/results/``, ~1 minute, PyPI access needed). ``BENCH_LAYOUT_SCALE=0.1`` shrinks
every size for a quick look; ``BENCH_LAYOUT_SKIP_DLT_ICEBERG=1`` leaves dlt-iceberg out;
``BENCH_LAYOUT_ONLY_MERGE=1`` runs section 1 alone (full scale: about 4 minutes).

1. **merge layouts**: a 100,000-row upsert (half updates of the most recent ids, half new
   ids: ``bench_merge.upsert_batch``) into a 1,000,000-row table laid out as ONE data file
   (what a first 1M-row load leaves) and as 10 files clustered by id, each from the same base
   snapshot, and the same two layouts with dlt-iceberg 0.6.4 (equality deletes) in its own venv,
   same data, each run reading the batch from the same Parquet file and starting from a
   collected heap (``gc.collect()`` untimed before it: a collection of garbage left by earlier
   work does not land in one side's timing by chance); every round runs all four (order
   alternating), and each ratio is the median of the per-round ratios.
2. **small runs, then maintenance**: 500 plugin runs of 1,000 rows, then one compaction and
   an expiry (``retain_last=1``; the incremental state's snapshot is kept): data files,
   manifests, snapshots, ``metadata.json`` files and bytes of the metadata folder, and the time
   of a full scan (median of 3) before and after.
3. **replace 1M**: replacing a 1,000,000-row table with 1,000,000 rows: plugin, dlt's native
   Iceberg filesystem destination, dlt-iceberg.

Every table is read back through PyIceberg and its row count checked.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.bench_merge import (
    _native_catalog,
    _native_pipeline,
    build_plugin_table,
    native_run,
    plugin_merge,
    upsert_batch,
)
from benchmarks.common import (
    RESULTS_DIR,
    embedded_plugin,
    plugin_run,
    timed,
    write_parquet_source,
    write_result,
)
from benchmarks.data import orders_table

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from floe_ingestion_dlt import DltIngestionPlugin

SCALE = float(os.environ.get("BENCH_LAYOUT_SCALE", "1"))
ONLY_MERGE = bool(os.environ.get("BENCH_LAYOUT_ONLY_MERGE"))
TABLE_ROWS = max(10_000, int(1_000_000 * SCALE))
BATCH_ROWS = max(1_000, int(100_000 * SCALE))
SMALL_RUNS = max(10, int(500 * SCALE))
SMALL_ROWS = 1_000
MERGE_ROUNDS = 9
SIDE_ROUNDS = 2
NAMESPACE = "bench"
DLT_ICEBERG = ("dlt-iceberg==0.6.4", "dlt==1.27.2")
SIDE_VENV = RESULTS_DIR / "venv-dlt-iceberg-0.6.4"


# -- dlt-iceberg in its own venv -------------------------------------------------------------


def side_python() -> Path | None:
    """The throwaway venv's python with dlt-iceberg installed (created once), or None."""
    if os.environ.get("BENCH_LAYOUT_SKIP_DLT_ICEBERG"):
        return None
    python = SIDE_VENV / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv")
        if uv is None:
            print("  (uv not found: dlt-iceberg left out)", flush=True)
            return None
        print(f"Creating a venv with {' '.join(DLT_ICEBERG)} ...", flush=True)
        subprocess.run([uv, "venv", "-q", "-p", "3.11", str(SIDE_VENV)], check=True)
        env = {**os.environ, "VIRTUAL_ENV": str(SIDE_VENV)}
        subprocess.run([uv, "pip", "install", "-q", *DLT_ICEBERG], check=True, env=env)
    # each dlt-iceberg run is a fresh process: without bytecode on disk (uv writes none, and
    # PYTHONDONTWRITEBYTECODE may be set) every module it imports lazily inside the timed
    # step would be compiled there, a cost the long-lived plugin process pays once
    marker = SIDE_VENV / ".bytecode-compiled"
    if not marker.exists():
        subprocess.run(
            [str(python), "-m", "compileall", "-q", "-j", "0", str(SIDE_VENV)], check=False
        )
        marker.touch()
    return python


def side_run(python: Path, root: Path, mode: str) -> dict[str, Any]:
    """One dlt-iceberg run (setup untimed, the measured step timed inside)."""
    work = root / f"side-{mode}-{time.monotonic_ns()}"
    proc = subprocess.run(
        [str(python), str(Path(__file__).with_name("dlt_iceberg_side.py")), str(work), mode],
        capture_output=True,
        text=True,
        env={**os.environ, "RUNTIME__LOG_LEVEL": "ERROR", "RUNTIME__DLTHUB_TELEMETRY": "false"},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dlt-iceberg {mode} failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    return result


# -- helpers ---------------------------------------------------------------------------------


def _load(plugin: DltIngestionPlugin, name: str) -> Table:
    from floe_ingestion_dlt.catalog import load_catalog

    return load_catalog(plugin.catalog).load_table((NAMESPACE, name))


def _no_delete_files(table: Table) -> bool:
    return all(not task.delete_files for task in table.scan().plan_files())


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _metadata_folder(table: Table) -> tuple[int, int]:
    """``(metadata.json files, bytes of the metadata folder)`` of a local table."""
    folder = Path(table.location().removeprefix("file://")) / "metadata"
    files = list(folder.iterdir())
    return sum(1 for f in files if f.name.endswith(".metadata.json")), sum(
        f.stat().st_size for f in files
    )


def _table_figures(table: Table) -> dict[str, Any]:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    metadata_files, metadata_bytes = _metadata_folder(table)
    scans = []
    for _ in range(3):
        start = time.perf_counter()
        rows = table.scan().to_arrow().num_rows
        scans.append(time.perf_counter() - start)
    return {
        "rows": rows,
        "data_files": len(list(table.scan().plan_files())),
        "manifests": len(snapshot.manifests(table.io)),
        "snapshots": len(table.metadata.snapshots),
        "metadata_json_files": metadata_files,
        "metadata_folder_bytes": metadata_bytes,
        "current_metadata_json_bytes": Path(str(table.metadata_location).removeprefix("file://"))
        .stat()
        .st_size,
        "full_scan_seconds": round(_median(scans), 3),
    }


# -- 1. merge layouts ------------------------------------------------------------------------


def _merge_rounds(
    plugin: DltIngestionPlugin, root: Path, bases: dict[str, int], side: Path | None
) -> dict[str, list[dict[str, Any]]]:
    """``MERGE_ROUNDS`` rounds; each round runs the plugin's upsert into both layouts and, when
    dlt-iceberg is there, its upsert into both (order alternating): ratios of the same round."""
    batch_source = root / "batch-src"
    runs: dict[str, list[dict[str, Any]]] = {"one": [], "ten": [], "merge-one": [], "merge-ten": []}
    for round_number in range(MERGE_ROUNDS):
        print(f"merges, round {round_number + 1}/{MERGE_ROUNDS} ...", flush=True)
        order = ["one", "ten", *(("merge-one", "merge-ten") if side is not None else ())]
        for name in order if round_number % 2 == 0 else reversed(order):
            if name in bases:
                gc.collect()  # as the dlt-iceberg side does: no earlier garbage in the timing
                runs[name].append(plugin_merge(plugin, batch_source, name, bases[name]))
            else:
                assert side is not None
                runs[name].append(side_run(side, root, name))
    return runs


def _per_round(runs: list[dict[str, Any]], bases: list[dict[str, Any]]) -> float:
    """Median over rounds of ``run / base run`` of the same round."""
    return round(
        _median([r["seconds"] / b["seconds"] for r, b in zip(runs, bases, strict=True)]), 3
    )


def bench_merge_layouts(root: Path, side: Path | None) -> dict[str, Any]:
    import pyarrow.parquet as pq

    data = orders_table(TABLE_ROWS)
    pq.write_table(data, root / "table.parquet")
    batch = upsert_batch(TABLE_ROWS, BATCH_ROWS)
    pq.write_table(batch, root / "batch.parquet")
    write_parquet_source(root / "batch-src", batch)
    plugin = embedded_plugin(root / "plugin")
    print(f"Building {TABLE_ROWS:,}-row tables: one file, 10 clustered files ...", flush=True)
    plugin_run(plugin, write_parquet_source(root / "one-src", data), f"{NAMESPACE}.one")
    one_base = _load(plugin, "one").metadata.current_snapshot_id
    assert one_base is not None
    bases = {"one": one_base, "ten": build_plugin_table(plugin, root, "ten", TABLE_ROWS)}
    runs = _merge_rounds(plugin, root, bases, side)
    expected_rows = TABLE_ROWS + BATCH_ROWS // 2
    for name in bases:
        assert all(r["rows"] == expected_rows for r in runs[name]), runs[name]
        assert _no_delete_files(_load(plugin, name))
    result: dict[str, Any] = {
        "plugin_one_file": runs["one"],
        "plugin_ten_files": runs["ten"],
        "plugin_one_file_median_s": round(_median([r["seconds"] for r in runs["one"]]), 3),
        "plugin_ten_files_median_s": round(_median([r["seconds"] for r in runs["ten"]]), 3),
        "one_over_ten_ratio": _per_round(runs["one"], runs["ten"]),
        "table_files_before": {
            name: len(list(_load(plugin, name).scan(snapshot_id=base).plan_files()))
            for name, base in bases.items()
        },
    }
    if side is not None:
        result["dlt_iceberg_one_file"] = runs["merge-one"]
        result["dlt_iceberg_ten_files"] = runs["merge-ten"]
        for key, mode in (("one", "merge-one"), ("ten", "merge-ten")):
            median = _median([r["seconds"] for r in runs[mode]])
            result[f"dlt_iceberg_{key}_median_s"] = round(median, 3)
            result[f"plugin_over_dlt_iceberg_{key}"] = _per_round(runs[key], runs[mode])
    return result


# -- 2. small runs, then maintenance -------------------------------------------------------


def bench_small_runs(root: Path) -> dict[str, Any]:
    plugin = embedded_plugin(root / "small")
    data = root / "small-src"
    data.mkdir()
    print(f"{SMALL_RUNS} plugin runs of {SMALL_ROWS:,} rows ...", flush=True)
    from floe_core.plugins.ingestion import IngestionConfig

    config = IngestionConfig(
        source_type="filesystem",
        source_config={
            "bucket_url": str(data),
            "file_glob": "*.parquet",
            "incremental_files": True,
        },
        destination_table=f"{NAMESPACE}.small",
        write_mode="append",
    )
    import pyarrow.parquet as pq

    with timed() as runs_timer:
        for run in range(SMALL_RUNS):
            pq.write_table(
                orders_table(SMALL_ROWS, start_id=run * SMALL_ROWS + 1),
                data / f"part-{run:05d}.parquet",
            )
            result = plugin.run(plugin.create_pipeline(config))
            if not result.success or result.rows_loaded != SMALL_ROWS:
                raise RuntimeError(f"small run {run} failed: {result.errors}")
    before = _table_figures(_load(plugin, "small"))
    with timed() as compaction_timer:
        compacted = plugin.maintain(f"{NAMESPACE}.small", compact=True)
    after_compaction = _table_figures(_load(plugin, "small"))
    with timed() as expiry_timer:
        expired = plugin.maintain(f"{NAMESPACE}.small", expire_older_than="0s", retain_last=1)
    after_expiry = _table_figures(_load(plugin, "small"))
    assert before["rows"] == after_compaction["rows"] == after_expiry["rows"] == SMALL_RUNS * 1000
    # the incremental state survived: one more run loads exactly its new file
    pq.write_table(
        orders_table(SMALL_ROWS, start_id=SMALL_RUNS * SMALL_ROWS + 1), data / "part-last.parquet"
    )
    last = plugin.run(plugin.create_pipeline(config))
    assert last.success and last.rows_loaded == SMALL_ROWS, last
    assert compacted.compaction is not None and expired.expiry is not None
    return {
        "runs": SMALL_RUNS,
        "runs_seconds": round(runs_timer.seconds, 1),
        "before": before,
        "after_compaction": after_compaction,
        "after_expiry": after_expiry,
        "compaction_seconds": round(compaction_timer.seconds, 2),
        "expiry_seconds": round(expiry_timer.seconds, 2),
        "compaction": compacted.compaction.as_dict(),
        "expiry": expired.expiry.as_dict(),
    }


# -- 3. replace 1M ---------------------------------------------------------------------------


def bench_replace(root: Path, side: Path | None) -> dict[str, Any]:
    import pyarrow.parquet as pq

    data = pq.read_table(root / "table.parquet")
    plugin = embedded_plugin(root / "replace")
    source = root / "one-src"
    plugin_run(plugin, source, f"{NAMESPACE}.rep", "replace")
    ours = []
    for round_number in range(SIDE_ROUNDS):
        print(
            f"replace {TABLE_ROWS:,} rows, round {round_number + 1}/{SIDE_ROUNDS} ...", flush=True
        )
        ours.append(plugin_run(plugin, source, f"{NAMESPACE}.rep", "replace").seconds)
    assert _load(plugin, "rep").scan().to_arrow().num_rows == TABLE_ROWS
    pipeline = _native_pipeline(root, "native_replace")
    native_run(pipeline, data, "replace")
    native = []
    for _ in range(SIDE_ROUNDS):
        with timed() as timer:
            native_run(pipeline, data, "replace")
        native.append(timer.seconds)
    assert _native_catalog().load_table((NAMESPACE, "orders")).scan().count() == TABLE_ROWS
    result: dict[str, Any] = {
        "plugin_s": [round(s, 3) for s in ours],
        "dlt_native_s": [round(s, 3) for s in native],
        "plugin_median_s": round(_median(ours), 3),
        "dlt_native_median_s": round(_median(native), 3),
    }
    if side is not None:
        theirs = [side_run(side, root, "replace")["seconds"] for _ in range(SIDE_ROUNDS)]
        result["dlt_iceberg_s"] = theirs
        result["dlt_iceberg_median_s"] = round(_median(theirs), 3)
    return result


def _merge_lines(m: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"merge layouts: {BATCH_ROWS:,}-row upsert into {TABLE_ROWS:,} rows "
        f"({MERGE_ROUNDS} rounds, order alternating, whole plugin run; dlt-iceberg in the "
        "same rounds)",
        f"  plugin, table as ONE file      : {m['plugin_one_file_median_s']:.2f} s median",
        f"  plugin, 10 clustered files     : {m['plugin_ten_files_median_s']:.2f} s median",
        f"  ratio one-file / clustered     : {m['one_over_ten_ratio']:.2f}x (target <= 1.2x)",
    ]
    if "dlt_iceberg_one_median_s" in m:
        lines += [
            f"  dlt-iceberg 0.6.4, ONE file    : {m['dlt_iceberg_one_median_s']:.2f} s "
            f"(its pipeline.run reading the batch file; equality deletes)",
            f"  dlt-iceberg 0.6.4, 10 files    : {m['dlt_iceberg_ten_median_s']:.2f} s",
            f"  plugin / dlt-iceberg           : one file {m['plugin_over_dlt_iceberg_one']:.2f}x,"
            f" clustered {m['plugin_over_dlt_iceberg_ten']:.2f}x (median of per-round ratios;"
            " target <= 1x)",
        ]
    return lines


def _other_lines(r: dict[str, Any], s: dict[str, Any]) -> list[str]:
    lines = [
        f"replace {TABLE_ROWS:,} rows: plugin {r['plugin_median_s']:.2f} s, dlt native "
        f"{r['dlt_native_median_s']:.2f} s"
        + (
            f", dlt-iceberg {r['dlt_iceberg_median_s']:.2f} s (drops and recreates the table)"
            if "dlt_iceberg_median_s" in r
            else ""
        ),
        f"{s['runs']} runs of {SMALL_ROWS:,} rows ({s['runs_seconds']:.0f} s), then compaction "
        f"({s['compaction_seconds']:.1f} s) and expiry ({s['expiry_seconds']:.1f} s):",
    ]
    for label, key in (
        ("before", "before"),
        ("after compaction", "after_compaction"),
        ("after expiry", "after_expiry"),
    ):
        f = s[key]
        lines.append(
            f"  {label:17}: {f['data_files']} data files, {f['manifests']} manifests, "
            f"{f['snapshots']} snapshots, {f['metadata_json_files']} metadata.json "
            f"(current {f['current_metadata_json_bytes'] / 1024:.0f} KiB), metadata folder "
            f"{f['metadata_folder_bytes'] / 1024 / 1024:.1f} MiB, full scan "
            f"{f['full_scan_seconds']:.3f} s"
        )
    return lines


def main() -> int:
    import logging

    logging.getLogger("dlt").setLevel(logging.WARNING)
    side = side_python()
    results: dict[str, Any] = {"table_rows": TABLE_ROWS, "batch_rows": BATCH_ROWS}
    with tempfile.TemporaryDirectory(prefix="bench-layout-") as tmp, timed() as total:
        root = Path(tmp)
        results["merge_layouts"] = bench_merge_layouts(root, side)
        if not ONLY_MERGE:
            results["replace"] = bench_replace(root, side)
            results["small_runs"] = bench_small_runs(root)
    results["total_seconds"] = round(total.seconds, 1)
    lines = _merge_lines(results["merge_layouts"])
    if not ONLY_MERGE:
        lines += _other_lines(results["replace"], results["small_runs"])
    lines.append(f"  benchmark wall time: {results['total_seconds']:.0f} s")
    print("\n".join(lines))
    print(f"  results: {write_result('layout-merge' if ONLY_MERGE else 'layout', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
