"""Start-up: ``import floe_ingestion_dlt`` and ``floe-ingest --help``, in fresh subprocesses.

Run alone: ``.venv/bin/python -m benchmarks --only startup``.

Each figure is the median wall time of ``repeats`` fresh interpreters (``-X importtime`` is not
used: it slows imports down). Baselines of the same run:

- import: ``import floe_core.plugins.ingestion`` alone; the figure imports it and then the
  plugin package (``import floe_ingestion_dlt``, and the entry point's
  ``from floe_ingestion_dlt import DltIngestionPlugin`` as floe-core's registry loads it).
  Target: the plugin adds at most 0.15 s.
- ``floe-ingest --help``: a bare ``python -c pass`` start is the baseline. Target: under 0.5 s.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import Measurement

IMPORT_DELTA_TARGET_S = 0.15
HELP_TARGET_S = 0.5
FLOE_CORE = "import floe_core.plugins.ingestion"


def wall_time(command: list[str], repeats: int) -> list[float]:
    """Wall times of ``repeats`` runs of ``command`` (after one unmeasured warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _floe_ingest() -> list[str]:
    script = Path(sys.executable).parent / "floe-ingest"
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("floe-ingest")
    if found:
        return [found, "--help"]
    return _python("from floe_ingestion_dlt.cli import main; main(['--help'])")


def _import_measurement(name: str, statement: str, repeats: int) -> Measurement:
    baseline = wall_time(_python(FLOE_CORE), repeats)
    figure = wall_time(_python(f"{FLOE_CORE}; {statement}"), repeats)
    return Measurement(
        name=name,
        figure=statistics.median(figure),
        baseline=statistics.median(baseline),
        baseline_name=FLOE_CORE,
        target=IMPORT_DELTA_TARGET_S,
        target_mode="delta_max",
        samples={"plugin": figure, "baseline": baseline},
        details={"statement": statement},
    )


def run(scale: float = 1.0, repeats: int = 7) -> list[Measurement]:
    """Import and ``--help`` medians over ``repeats`` fresh interpreters (``scale`` unused)."""
    help_command = _floe_ingest()
    bare = wall_time(_python("pass"), repeats)
    help_times = wall_time(help_command, repeats)
    return [
        _import_measurement("startup_import", "import floe_ingestion_dlt", repeats),
        _import_measurement(
            "startup_import_entry_point",
            "from floe_ingestion_dlt import DltIngestionPlugin",
            repeats,
        ),
        Measurement(
            name="startup_cli_help",
            figure=statistics.median(help_times),
            baseline=statistics.median(bare),
            baseline_name="python -c pass",
            target=HELP_TARGET_S,
            target_mode="figure_max",
            samples={"plugin": help_times, "baseline": bare},
            details={"command": " ".join(Path(c).name for c in help_command)},
        ),
    ]
