"""``startup()`` imports only what floe's contract asks of it; PyIceberg loads on first use.

Measured in fresh interpreters (this test process has imported everything already).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin

_STARTUP = """
import json, sys
from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
plugin = DltIngestionPlugin(config=DltIngestionConfig(
    catalog_config=CatalogConfig.embedded(sys.argv[1])))
plugin.startup()
after_startup = sorted(m for m in sys.modules if m.split(".")[0] in ("pyiceberg", "sqlalchemy"))
status = plugin.health_check(timeout=float(sys.argv[2]))
print(json.dumps({"after_startup": after_startup, "dlt": "dlt" in sys.modules,
                  "health": status.state.value, "message": status.message}))
"""


def _fresh(folder: Path, timeout: float) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _STARTUP, str(folder), str(timeout)],
        capture_output=True,
        text=True,
        check=True,
        env={"FLOE_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"},
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _existing_catalog(tmp_path: Path) -> Path:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(catalog_config=CatalogConfig.embedded(tmp_path))
    )
    plugin.startup()
    from floe_ingestion_dlt.catalog import load_catalog

    load_catalog(plugin.catalog).create_namespace("bronze")
    return tmp_path


def test_startup_imports_dlt_but_not_pyiceberg(tmp_path: Path) -> None:
    result = _fresh(_existing_catalog(tmp_path), 5.0)
    assert result["dlt"] is True
    assert result["after_startup"] == []
    assert result["health"] == "healthy", result["message"]


def test_first_health_check_is_not_failed_by_the_deferred_import(tmp_path: Path) -> None:
    """The smallest timeout still sees the catalog: importing PyIceberg is not its latency."""
    result = _fresh(_existing_catalog(tmp_path), 0.2)
    assert result["health"] == "healthy", result["message"]
