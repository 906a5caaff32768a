"""Small helpers of the fault-injection tests: data files, reading ids back, counting commits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.destination.snapshots import LOAD_ID
from tests.helpers import read_table


def plugin_on(lake: Path, pipelines_dir: Path, **config: Any) -> DltIngestionPlugin:
    """A started plugin on the embedded catalog under ``lake`` with its own ``pipelines_dir``
    (a pod of its own)."""
    plugin = DltIngestionPlugin(
        DltIngestionConfig(
            catalog_config=CatalogConfig.embedded(lake),
            pipelines_dir=pipelines_dir,
            **config,
        )
    )
    plugin.startup()
    return plugin


def write_ids_csv(folder: Path, ids: Iterable[int], name: str) -> Path:
    """A CSV with columns ``id`` and ``label`` for ``ids``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("id,label\n" + "".join(f"{i},row-{i}\n" for i in ids))
    return path


def incremental_files_config(folder: Path, table: str = "bronze.events") -> IngestionConfig:
    """Files source with an incremental cursor on ``id``: a rerun extracts only new ids."""
    return IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": "*.csv", "cursor_field": "id"},
        destination_table=table,
    )


def table_ids(plugin: DltIngestionPlugin, identifier: str) -> list[int]:
    """The ``id`` column of the table as a fresh PyIceberg client reads it."""
    table = read_table(plugin, identifier)
    return [int(v) for v in table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()]


def duplicates(ids: list[int]) -> dict[int, int]:
    return {k: n for k, n in Counter(ids).items() if n > 1}


def commits_per_load_id(plugin: DltIngestionPlugin, identifier: str) -> Counter[str]:
    """How many snapshots of the table carry each load id (each must be 1)."""
    table = read_table(plugin, identifier)
    found: Counter[str] = Counter()
    for snapshot in table.metadata.snapshots:
        props: dict[str, Any] = dict(snapshot.summary.additional_properties)
        if LOAD_ID in props:
            found[props[LOAD_ID]] += 1
    return found
