"""Run every benchmark: ``.venv/bin/python -m benchmarks`` (about 6-9 minutes on 2 cores).

Options: ``--only files,sql`` (names: files, sql, rest, overhead, startup, upstream, merge,
observability),
``--scale 0.1`` (fewer rows, for a quick look), ``--repeats N`` (timed runs per side).

Prints one line per measurement (the plugin's figure, the baseline measured in the same run,
their ratio and the target) and saves everything as JSON under ``benchmarks/results/``
(``run-<UTC time>.json`` and ``latest.json``). The process is pinned to at most 2 CPUs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR
from benchmarks.harness import Measurement

BENCHMARKS = ("startup", "upstream", "files", "overhead", "rest", "sql", "merge", "observability")
MERGE_TARGET_SPEEDUP = 20.0
OBSERVABILITY_SHARE_TARGET = 0.01

_OBSERVABILITY = """
import io, json, logging, statistics, sys
from benchmarks import bench_observability as b
from floe_ingestion_dlt.logging import configure_logging

rows, repeats, loops = (int(a) for a in sys.argv[1:4])
configure_logging(level="INFO", json=True, stream=io.StringIO())
logging.getLogger("dlt").setLevel(logging.WARNING)
instrumented, baseline = b.measure_runs(rows, repeats)
per_run = b.measure_instrumentation(loops)
print(json.dumps({"instrumented": instrumented, "baseline": baseline, "per_run": per_run}))
"""


def pin_to_two_cpus() -> list[int]:
    """Restrict this process (and its children) to at most 2 CPUs; returns the CPUs used."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 2:
        cpus = cpus[:2]
        os.sched_setaffinity(0, cpus)
    return cpus


def run_merge(scale: float) -> list[Measurement]:
    """The merge issue's benchmark (``benchmarks.bench_merge``) in a process of its own."""
    env = dict(os.environ)
    env.setdefault("FLOE_LOG_LEVEL", "WARNING")
    if scale < 1.0:
        env.setdefault("BENCH_MERGE_NATIVE_BUDGET_S", str(max(5.0, 75.0 * scale)))
    subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_merge"],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    payload = json.loads((RESULTS_DIR / "merge.json").read_text())
    native = payload["native"]
    ours = payload["plugin"]
    return [
        Measurement(
            name="merge_upsert" + ("" if native["finished"] else " (dlt stopped: lower bound)"),
            figure=float(ours["seconds"]),
            baseline=float(native["seconds"]),
            baseline_name="dlt's native Iceberg merge (upsert per 1,000 rows)",
            target=MERGE_TARGET_SPEEDUP,
            target_mode="speedup_min",
            rows=int(payload["batch_rows"]),
            details={
                "table_rows": payload["table_rows"],
                "native_finished": native["finished"],
                "ratio_extrapolated": payload.get("ratio_extrapolated"),
                "double_batch_ratio": payload.get("double_batch_ratio"),
                "double_table_ratio": payload.get("double_table_ratio"),
            },
        )
    ]


def run_observability(scale: float, repeats: int | None) -> list[Measurement]:
    """The observability issue's benchmark (``benchmarks.bench_observability``), own process."""
    import statistics

    from benchmarks import bench_observability

    rows = max(100, round(bench_observability.ROWS * scale))
    loops = max(10, round(bench_observability.LOOPS * min(scale, 1.0)))
    result = subprocess.run(
        [sys.executable, "-c", _OBSERVABILITY, str(rows), str(repeats or 7), str(loops)],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
    )
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    with_obs = statistics.median(payload["instrumented"])
    without = statistics.median(payload["baseline"])
    return [
        Measurement(
            name="observability_ab_runs",
            figure=with_obs,
            baseline=without,
            baseline_name="same runs with every observability call a no-op",
            rows=rows,
            samples={"plugin": payload["instrumented"], "baseline": payload["baseline"]},
        ),
        Measurement(
            name="observability_work_per_run",
            figure=float(payload["per_run"]),
            baseline=without,
            baseline_name="median run without observability",
            target=OBSERVABILITY_SHARE_TARGET,
            rows=rows,
            details={"loops": loops},
        ),
    ]


def run_benchmark(name: str, scale: float, repeats: int | None) -> list[Measurement]:
    """One benchmark module's measurements."""
    if name == "merge":
        return run_merge(scale)
    if name == "observability":
        return run_observability(scale, repeats)
    module = importlib.import_module(f"benchmarks.bench_{name}")
    kwargs: dict[str, Any] = {"scale": scale}
    if repeats is not None:
        kwargs["repeats"] = repeats
    result: list[Measurement] = module.run(**kwargs)
    return result


def _seconds(value: float) -> str:
    return f"{value:8.3f} s" if value >= 0.01 else f"{value * 1e3:7.3f} ms"


def format_line(m: Measurement) -> str:
    """One aligned line of the summary table."""
    verdict = {True: "yes", False: "NO", None: "-"}[m.target_met]
    rows = f"{m.rows:>9,}" if m.rows else " " * 9
    ratio = f"{m.ratio:.2f}x" if m.ratio >= 0.1 else f"{m.ratio:.2g}x"
    return (
        f"{m.name:<30} {rows}  {_seconds(m.figure)}  {_seconds(m.baseline)}  {ratio:>8}  "
        f"{m.target_text():<18} {verdict:<4} vs {m.baseline_name}"
    )


def header() -> str:
    return (
        f"{'benchmark':<30} {'rows':>9}  {'plugin':>10}  {'baseline':>10}  {'ratio':>8}  "
        f"{'target':<18} {'met':<4}"
    )


def environment(cpus: list[int]) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus_used": cpus,
        "cpu_count": os.cpu_count(),
        "versions": {p: version(p) for p in ("dlt", "pyiceberg", "pyarrow", "connectorx")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")

    cpus = pin_to_two_cpus()
    started = time.perf_counter()
    measurements: list[Measurement] = []
    failures: dict[str, str] = {}
    for name in names:
        print(f"== {name} ...", flush=True)
        bench_started = time.perf_counter()
        try:
            got = run_benchmark(name, args.scale, args.repeats)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"   FAILED: {failures[name]}", flush=True)
            continue
        measurements += got
        for m in got:
            print("   " + format_line(m), flush=True)
        print(f"   ({time.perf_counter() - bench_started:.0f} s)", flush=True)
    total = time.perf_counter() - started

    print()
    print(header())
    for m in measurements:
        print(format_line(m))
    print(f"total wall time {total:.0f} s on CPUs {cpus or '?'}; scale {args.scale}")
    payload = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "total_seconds": round(total, 1),
        "environment": environment(cpus),
        "measurements": [m.as_dict() for m in measurements],
        "failures": failures,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    (RESULTS_DIR / f"run-{stamp}.json").write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    print(f"results: {RESULTS_DIR / 'latest.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
