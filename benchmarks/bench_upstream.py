"""Start-up against the upstream plugin: floe-ingestion-dlt 0.1.0a1 from PyPI, same run.

Run alone: ``.venv/bin/python -m benchmarks --only upstream``.

The upstream release is installed into a throwaway virtual environment (uv, bytecode compiled
like ours; the folder is deleted afterwards). Then, in fresh interpreters, alternating sides:

- ``startup_vs_upstream``: ``from floe_ingestion_dlt import DltIngestionPlugin;
  DltIngestionPlugin().startup()`` timed inside the process from before the import (what floe's
  registry pays to load and start the plugin). Baseline: the same lines with the upstream
  release. Target: no slower (ratio <= 1.0, median of per-attempt ratios).
- ``first_row_floe_ingest_run``: ``floe-ingest run`` on a YAML with one 1,000-row CSV source
  into a new embedded catalog, from process launch to the line saying the first rows were
  extracted (details: to the committed-rows line and to exit). Shown beside the upstream's
  ``startup()`` (which has no command line): how long after typing the command rows arrive.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks.harness import Measurement

UPSTREAM = "floe-ingestion-dlt==0.1.0a1"
STARTUP_RATIO_TARGET = 1.0
FIRST_ROWS = 1_000
REPO = Path(__file__).resolve().parent.parent

_STARTUP = """
import time
started = time.perf_counter()
from floe_ingestion_dlt import DltIngestionPlugin
plugin = DltIngestionPlugin()
plugin.startup()
elapsed = time.perf_counter() - started
import dlt, importlib.metadata as m
print(f"STARTUP_SECONDS={elapsed} DLT={dlt.__version__} PLUGIN={m.version('floe-ingestion-dlt')}")
"""


def find_uv() -> str | None:
    """The uv that scripts/bootstrap.sh used (PATH, else the private .tools/uv)."""
    found = shutil.which("uv")
    private = REPO / ".tools" / "uv" / "bin" / "uv"
    return found or (str(private) if private.exists() else None)


def install_upstream(folder: Path) -> Path:
    """A virtual environment in ``folder`` with the upstream release; returns its python."""
    python = folder / "bin" / "python"
    uv = find_uv()
    if uv is not None:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), UPSTREAM],
            check=True,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--compile", UPSTREAM], check=True
        )
    return python


def startup_seconds(python: Path | str) -> tuple[float, float, str]:
    """``(import + startup() seconds, process wall seconds, versions)`` in a fresh interpreter."""
    env = {**os.environ, "FLOE_LOG_LEVEL": "WARNING"}
    launched = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", _STARTUP],
        check=True,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env=env,
    )
    wall = time.perf_counter() - launched
    line = next(x for x in done.stdout.splitlines() if x.startswith("STARTUP_SECONDS="))
    seconds, *versions = line.split()
    return float(seconds.split("=")[1]), wall, " ".join(versions)


def _first_rows_config(folder: Path) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = ["order_id,amount,status"] + [
        f"{i},{i * 1.25},{'paid' if i % 3 else 'refunded'}" for i in range(FIRST_ROWS)
    ]
    (data / "orders.csv").write_text("\n".join(lines) + "\n")
    config = folder / "ingest.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            sources:
              - name: orders
                source_type: filesystem
                source_config: {bucket_url: data, file_glob: "*.csv"}
                destination_table: bench.orders
            """
        )
    )
    return config


def first_row_seconds(floe_ingest: Path, folder: Path) -> tuple[float, float, float]:
    """``floe-ingest run`` in a new working folder: seconds from launch to the first extracted
    rows, to the committed rows, to exit."""
    config = _first_rows_config(folder)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RUNTIME__DLTHUB_TELEMETRY": "false"}
    launched = time.perf_counter()
    extracted = committed = None
    with subprocess.Popen(
        [str(floe_ingest), "run", str(config)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        for line in process.stderr:
            now = time.perf_counter() - launched
            if extracted is None and "extract done" in line:
                extracted = now
            if committed is None and "rows committed" in line:
                committed = now
        code = process.wait()
    total = time.perf_counter() - launched
    if code != 0 or extracted is None or committed is None:
        raise RuntimeError(f"floe-ingest run failed (exit {code}) in {folder}")
    return extracted, committed, total


def run(scale: float = 1.0, repeats: int = 7) -> list[Measurement]:
    """Alternating fresh interpreters, ``repeats`` per side (``scale`` unused)."""
    floe_ingest = Path(sys.executable).parent / "floe-ingest"
    with tempfile.TemporaryDirectory(prefix="floe-upstream-") as scratch:
        root = Path(scratch)
        installing = time.perf_counter()
        upstream = install_upstream(root / "upstream-venv")
        install_seconds = time.perf_counter() - installing
        startup_seconds(sys.executable)  # warm the page cache of both sides
        startup_seconds(upstream)
        ours: list[float] = []
        theirs: list[float] = []
        ours_wall: list[float] = []
        theirs_wall: list[float] = []
        ratios: list[float] = []
        extracted: list[float] = []
        committed: list[float] = []
        totals: list[float] = []
        versions = {}
        for attempt in range(repeats):
            sides = [("ours", sys.executable), ("upstream", str(upstream))]
            if attempt % 2:
                sides.reverse()
            got = {}
            for side, python in sides:
                seconds, wall, versions[side] = startup_seconds(python)
                got[side] = (seconds, wall)
            ours.append(got["ours"][0])
            ours_wall.append(got["ours"][1])
            theirs.append(got["upstream"][0])
            theirs_wall.append(got["upstream"][1])
            ratios.append(got["ours"][0] / got["upstream"][0])
            first, commit, total = first_row_seconds(floe_ingest, root / f"run-{attempt}")
            extracted.append(first)
            committed.append(commit)
            totals.append(total)
    upstream_median = statistics.median(theirs)
    return [
        Measurement(
            name="startup_vs_upstream",
            figure=statistics.median(ours),
            baseline=upstream_median,
            baseline_name=f"{UPSTREAM} import + startup()",
            target=STARTUP_RATIO_TARGET,
            samples={"plugin": ours, "baseline": theirs},
            paired_ratio=statistics.median(ratios),
            details={
                "process_wall_plugin": statistics.median(ours_wall),
                "process_wall_upstream": statistics.median(theirs_wall),
                "versions": versions,
                "upstream_install_seconds": round(install_seconds, 1),
                "ratio_of_medians": statistics.median(ours) / upstream_median,
            },
        ),
        Measurement(
            name="first_row_floe_ingest_run",
            figure=statistics.median(extracted),
            baseline=upstream_median,
            baseline_name=f"{UPSTREAM} import + startup() (no CLI upstream)",
            rows=FIRST_ROWS,
            samples={"plugin": extracted, "baseline": theirs},
            details={
                "to_rows_committed": statistics.median(committed),
                "to_exit": statistics.median(totals),
                "command": "floe-ingest run ingest.yaml (1 CSV file, new embedded catalog)",
            },
        ),
    ]
