"""Cost of the plugin's observability (spans, log events, metrics, scrubbing) with no OTel SDK.

Run alone: ``.venv/bin/python -m benchmarks.bench_observability [--rows N] [--repeats N]``.

Two figures, both against a baseline measured in the same process:

1. **A/B runs.** The same ``create_pipeline`` + ``run`` (``filesystem`` CSV source, embedded
   catalog, a new table each time) with the observability as shipped (log events rendered as
   JSON into a null stream, no OpenTelemetry SDK: the API's no-op tracer and meter) against
   the same run with every observability call replaced by a no-op (spans, the dlt phase
   tracker, the Iceberg commit span, metrics, structlog events, the stdlib scrubbing record
   factory). Runs alternate; medians are compared. On a 2-core machine the noise between two
   medians of whole dlt runs is a few percent, larger than what is measured: read this figure
   as "no visible difference", and the next one as the measurement.
2. **Instrumentation work per run.** Exactly the observability calls one run makes (run span,
   observe_run, three phase spans through the tracker, one commit span, the run metrics, the
   run's log events) repeated many times in a loop; its time per run divided by the median
   run time of (1) gives the overhead share.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROWS = 10_000
REPEATS = 7
LOOPS = 2_000


def _write_csv(folder: Path, rows: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,name,amount,country"]
    lines += [f"{i},name-{i},{i * 1.25:.2f},{'NL' if i % 3 else 'DE'}" for i in range(rows)]
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")


class _NullLogger:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None

    def bind(self, **_: Any) -> _NullLogger:
        return self


class _NullRecorder:
    def committed(self, table: Any) -> None:
        pass


@contextlib.contextmanager
def _null_commit_span(**_: Any) -> Iterator[_NullRecorder]:
    yield _NullRecorder()


@contextlib.contextmanager
def _null_context(*_: Any, **__: Any) -> Iterator[Any]:
    from opentelemetry.trace import INVALID_SPAN

    yield INVALID_SPAN


@contextlib.contextmanager
def observability_disabled() -> Iterator[None]:
    """Replace every observability call of the run path by a no-op (the baseline)."""
    import importlib

    from floe_ingestion_dlt import plugin, retry, runner
    from floe_ingestion_dlt.destination import load_job, schema_contract
    from floe_ingestion_dlt.observability import DltPhaseTracker

    dlt_trace = importlib.import_module("dlt.pipeline.trace")
    saved: list[tuple[Any, str, Any]] = []

    def patch(module: Any, name: str, value: Any) -> None:
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, value)

    patch(runner, "span", _null_context)
    patch(runner, "observe_run", _null_context)
    patch(runner, "record_run", lambda **_: None)
    patch(runner, "record_error", lambda *_: None)
    patch(load_job, "iceberg_commit_span", _null_commit_span)
    patch(plugin, "span", _null_context)
    for module in (runner, plugin, retry, schema_contract):
        patch(module, "_log", _NullLogger())
    trackers = [m for m in dlt_trace.TRACKING_MODULES if isinstance(m, DltPhaseTracker)]
    for tracker in trackers:
        dlt_trace.TRACKING_MODULES.remove(tracker)
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        dlt_trace.TRACKING_MODULES.extend(trackers)
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def _one_run(root: Path, source: Path, index: int) -> float:
    from floe_core.plugins.ingestion import IngestionConfig

    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin

    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=CatalogConfig.embedded(root / "lake"),
            pipelines_dir=root / f"pipelines_{index}",
        )
    )
    plugin.startup()
    started = time.perf_counter()
    pipeline = plugin.create_pipeline(
        IngestionConfig(
            source_type="filesystem",
            source_config={"bucket_url": str(source), "file_glob": "*.csv"},
            destination_table=f"bench.obs_{index}",
        )
    )
    result = plugin.run(pipeline)
    seconds = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(f"benchmark run failed: {result.errors}")
    plugin.shutdown()
    return seconds


def measure_runs(rows: int, repeats: int) -> tuple[list[float], list[float]]:
    """Alternating instrumented / baseline runs; returns both lists of seconds."""
    instrumented: list[float] = []
    baseline: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_csv(root / "src", rows)
        _one_run(root, root / "src", 0)  # warm-up: imports, catalog creation
        for i in range(repeats):
            instrumented.append(_one_run(root, root / "src", 2 * i + 1))
            with observability_disabled():
                baseline.append(_one_run(root, root / "src", 2 * i + 2))
    return instrumented, baseline


def measure_instrumentation(loops: int) -> float:
    """Seconds of the observability calls one run makes, averaged over ``loops``."""
    from floe_ingestion_dlt.destination.commit_span import iceberg_commit_span
    from floe_ingestion_dlt.logging import get_logger
    from floe_ingestion_dlt.metrics import record_run
    from floe_ingestion_dlt.observability import DltPhaseTracker, observe_run
    from floe_ingestion_dlt.sources.base import SourceContext
    from floe_ingestion_dlt.tracing import span

    context = SourceContext(
        source_type="filesystem",
        destination_table="bench.orders",
        namespace="bench",
        table_name="orders",
        write_mode="append",
        schema_contract="evolve",
        pipeline_name="floe__bench__orders",
    )
    tracker = DltPhaseTracker()
    pipeline = SimpleNamespace(pipeline_name=context.pipeline_name)
    log = get_logger("bench")
    info = SimpleNamespace(
        loads_ids=["1700000000.1"],
        metrics={},
        row_counts={"orders": 10_000},
        load_packages=[],
    )
    started = time.perf_counter()
    for _ in range(loops):
        with (
            span(
                "run",
                **{
                    "ingestion.source_type": context.source_type,
                    "ingestion.destination_table": context.destination_table,
                    "ingestion.pipeline_name": context.pipeline_name,
                    "ingestion.write_mode": context.write_mode,
                    "ingestion.schema_contract": context.schema_contract,
                },
            ) as run_span,
            observe_run(context),
        ):
            for step in ("extract", "normalize", "load"):
                tracker.on_start_trace_step(None, step, pipeline)
                if step == "load":
                    with iceberg_commit_span(
                        pipeline_name=context.pipeline_name,
                        destination_table=context.destination_table,
                        load_id="1700000000.1",
                    ):
                        pass
                tracker.on_end_trace_step(
                    None, SimpleNamespace(step=step, step_exception=None), pipeline, info, False
                )
            for key in ("rows_loaded", "bytes_written", "duration_seconds", "attempts"):
                run_span.set_attribute(f"ingestion.{key}", 1)
        record_run(
            source_type=context.source_type,
            destination_table=context.destination_table,
            success=True,
            rows_loaded=10_000,
            bytes_written=1 << 20,
            duration_seconds=1.0,
        )
        log.info("run finished", status="success", rows_loaded=10_000, **context.__dict__)
    return (time.perf_counter() - started) / loops


def main(argv: list[str] | None = None) -> None:
    """Print both figures with their baselines and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--loops", type=int, default=LOOPS)
    args = parser.parse_args(argv)

    from opentelemetry import trace

    from floe_ingestion_dlt.logging import configure_logging

    assert not trace.get_tracer(__name__).start_span("probe").is_recording(), "no SDK expected"
    configure_logging(level="INFO", json=True, stream=io.StringIO())  # rendered, not printed
    logging.getLogger("dlt").setLevel(logging.WARNING)

    instrumented, baseline = measure_runs(args.rows, args.repeats)
    with_obs, without = statistics.median(instrumented), statistics.median(baseline)
    per_run = measure_instrumentation(args.loops)
    print(f"rows per run: {args.rows}, repeats: {args.repeats} (alternating)")
    print(
        f"A/B run median: observability {with_obs:.3f} s, baseline (no-op) {without:.3f} s, "
        f"ratio {with_obs / without:.3f}"
    )
    print(f"  instrumented runs: {[round(s, 3) for s in instrumented]}")
    print(f"  baseline runs:     {[round(s, 3) for s in baseline]}")
    print(
        f"instrumentation work per run: {per_run * 1e3:.3f} ms = "
        f"{100 * per_run / without:.3f} % of the baseline run median ({without:.3f} s); "
        "target < 1 %"
    )


if __name__ == "__main__":
    main()
