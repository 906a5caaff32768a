"""A new pod (empty pipelines folder) restores dlt's state and schema from the destination."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import files_config, user_rows
from tests.integration.rest_catalog.conftest import PluginFactory, unique
from tests.integration.rest_catalog.test_rest_write_modes import read_back, run_ok, write_csv
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def incremental_cursors(state: dict[str, Any]) -> list[Any]:
    """What ``incremental_files`` remembers in a dlt pipeline state: the loaded files."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "floe_loaded_files" in node:
                found.extend(sorted(node["floe_loaded_files"]))
            for value in node.values():
                walk(value)

    walk(state.get("sources", {}))
    return found


def test_new_pipelines_folder_restores_state_and_appends_only_new_files(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    ns = unique("bronze")
    folder = tmp_path / "in"
    first_rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
    write_csv(folder, "a.csv", first_rows)
    os.utime(folder / "a.csv", (time.time() - 60, time.time() - 60))
    config = files_config(folder, "*.csv", f"{ns}.items", incremental_files=True)

    pod1 = make_plugin(pod="pod-1")
    pipeline1 = pod1.create_pipeline(config)
    assert run_ok(pod1, pipeline1).rows_loaded == 3
    cursor_after_first = incremental_cursors(pipeline1.state)
    assert cursor_after_first, json.dumps(pipeline1.state, default=str)[:2000]
    schema_hash = pipeline1.default_schema.version_hash

    new_rows = [{"id": 4, "name": "d"}, {"id": 5, "name": "e"}]
    write_csv(folder, "b.csv", new_rows)

    # a new pod: same configuration, a pipelines folder that has never seen this pipeline
    pod2 = make_plugin(pod="pod-2")
    pipeline2 = pod2.create_pipeline(config)
    assert Path(pipeline2.pipelines_dir) != Path(pipeline1.pipelines_dir)
    assert incremental_cursors(pipeline2.state) == []
    assert pipeline2.default_schema_name is None

    result = run_ok(pod2, pipeline2)
    assert result.rows_loaded == 2, "only the new file: the cursor came back from the destination"
    table = read_back(seaweedfs, f"{ns}.items")
    assert len(table.metadata.snapshots) == 2
    assert user_rows(table.scan().to_arrow()) == first_rows + new_rows
    # dlt's state and schema were restored from the destination, then moved on
    assert pipeline2.default_schema.version_hash == schema_hash
    assert "items" in pipeline2.default_schema.tables
    cursor_after_second = incremental_cursors(pipeline2.state)
    assert cursor_after_second
    assert cursor_after_first == ["a.csv"] and cursor_after_second == ["a.csv", "b.csv"]

    # and a third pod restores without running anything: the state is at the destination
    pod3 = make_plugin(pod="pod-3")
    pipeline3 = pod3.create_pipeline(config)
    pipeline3.sync_destination()
    assert incremental_cursors(pipeline3.state) == cursor_after_second
    assert pipeline3.default_schema.version_hash == schema_hash
