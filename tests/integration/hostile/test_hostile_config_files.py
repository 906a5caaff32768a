"""Hostile configuration files: YAML bombs, recursive anchors, huge or deeply nested files,
nested and unterminated ``${...}`` and ``FLOE_LOG_LEVEL`` must each end with a typed problem
(exit code 2) in bounded time, with nothing created and stdout/``--json`` left clean."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from floe_ingestion_dlt.cli.yaml_config import load_config_file
from tests.helpers import run_measured
from tests.integration.cli.conftest import Cli, write_yaml

pytestmark = pytest.mark.integration

BOUND_SECONDS = 10.0
"""Before the fix: 13-42 s (billion laughs), 67 s (2.3 MB), a RecursionError crash."""

ORDERS = """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {bucket_url: data/orders, file_glob: "*.csv"}
    destination_table: bronze.orders
"""


def billion_laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghijklmnop"[: levels - 1]:
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text + "sources: []\n"


CASES = {
    "billion_laughs": (billion_laughs(9), "expands to more than 100,000 values"),
    "billion_laughs_10_levels": (billion_laughs(10), "expands to more than 100,000 values"),
    "recursive_anchor": (
        "sources: &s\n  - name: x\n    more: *s\n",
        "anchor refers to itself",
    ),
    "huge_file": (ORDERS + "# " + "x" * 2_300_000 + "\n", "more than the 1,000,000"),
    "deep_nesting": ("sources: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested more than"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_yaml_is_refused_quickly(cli: Cli, workdir: Path, case: str) -> None:
    text, says = CASES[case]
    config = write_yaml(workdir, text)

    started = time.perf_counter()
    result = cli("validate", str(config))
    elapsed = time.perf_counter() - started

    assert result.exit_code == 2, result.output
    assert says in result.output
    assert elapsed < BOUND_SECONDS, elapsed
    assert not (workdir / ".floe").exists()


PEAK_RSS_BOUND = 300 * 1024 * 1024
"""Measured: 43-46 MB peak RSS and ~0.5 s for each case (53 MB for a one-line file), was 0.85-1.6 GB."""


@pytest.mark.parametrize("case", ["billion_laughs", "billion_laughs_10_levels", "huge_file"])
def test_hostile_yaml_is_refused_in_bounded_memory(workdir: Path, case: str) -> None:
    text, says = CASES[case]
    config = write_yaml(workdir, text)
    command = Path(sys.executable).with_name("floe-ingest")

    run = run_measured([str(command), "validate", str(config)], cwd=workdir)

    assert run.returncode == 2, run.output
    assert says in run.output
    assert run.peak_rss_bytes < PEAK_RSS_BOUND, run.peak_rss_bytes
    assert run.seconds < BOUND_SECONDS, run.seconds


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${A:-${B}}", {"A": "aye"}, "aye"),
        ("${A:-${B}}", {"B": "bee"}, "bee"),
        ("${A:-${B:-${C:-deep}}}", {}, "deep"),
    ],
)
def test_nested_defaults_resolve(
    workdir: Path, value: str, environ: dict[str, str], expected: str
) -> None:
    config = write_yaml(
        workdir,
        f"""\
sources:
  - name: orders
    source_type: filesystem
    source_config: {{bucket_url: "data/{value}", file_glob: "*.csv"}}
    destination_table: bronze.orders
""",
    )
    loaded = load_config_file(config, workdir=workdir, environ=environ)
    bucket_url = loaded.config.sources[0].source_config["bucket_url"]
    assert bucket_url == str(workdir / "data" / expected)


def test_unterminated_reference_is_a_problem(cli: Cli, workdir: Path) -> None:
    config = write_yaml(
        workdir,
        """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {bucket_url: "data/${A", file_glob: "*.csv"}
    destination_table: bronze.orders
""",
    )
    result = cli("validate", str(config), env={"A": "x"})
    assert result.exit_code == 2, result.output
    assert "unterminated reference" in result.output


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_floe_log_level_keeps_json_output_clean(
    cli: Cli, workdir: Path, orders_folder_in_workdir: Path, level: str
) -> None:
    config = write_yaml(workdir, ORDERS)
    result = cli("run", str(config), "--json", env={"FLOE_LOG_LEVEL": level})

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # nothing but the JSON document on stdout
    assert summary["sources"][0]["rows_loaded"] == 3


@pytest.fixture
def orders_folder_in_workdir(workdir: Path) -> Path:
    folder = workdir / "data" / "orders"
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text("order_id,amount\n1,1.5\n2,2.5\n3,3.5\n")
    return folder
