"""Case 2 of issue 15: a ``replace`` whose source read nothing never empties the table. A local
folder that is gone at run time fails the run (SourceConnectionError naming it); a readable
source with 0 rows is refused (EmptyReplaceRefused) unless ``allow_empty_replace`` asks for it.
Either way the table keeps its rows and its snapshot history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import RetryConfig
from tests.helpers import embedded_plugin, files_config, read_table
from tests.integration.faults.support import table_ids, write_ids_csv
from tests.services.http_api import FakeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

TABLE = "bronze.catalogue"


def _history(plugin, table: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        (s.summary.operation.value, s.summary["total-records"])
        for s in read_table(plugin, table).snapshots()
    ]


def _loaded(tmp_path: Path) -> Path:
    data = tmp_path / "in"
    write_ids_csv(data, [1, 2], "a.csv")
    plugin = embedded_plugin(tmp_path)
    first = plugin.run(plugin.create_pipeline(files_config(data, "*.csv", TABLE, "replace")))
    assert first.success and first.rows_loaded == 2
    return data


def test_replace_from_a_folder_gone_at_run_time_fails_and_commits_nothing(tmp_path: Path) -> None:
    data = _loaded(tmp_path)
    plugin = embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))
    pipeline = plugin.create_pipeline(files_config(data, "*.csv", TABLE, "replace"))
    shutil.rmtree(data)  # unmounted between planning and the run (or a typo'd path)
    result = plugin.run(pipeline)
    assert not result.success and result.rows_loaded == 0
    assert result.errors[0].startswith("[CONFIGURATION] SourceConnectionError: ")
    assert f"{data} does not exist" in result.errors[0]
    assert sorted(table_ids(plugin, TABLE)) == [1, 2]
    assert _history(plugin, TABLE) == [("append", "2")]


def test_replace_with_zero_rows_is_refused_unless_asked_for(tmp_path: Path) -> None:
    data = _loaded(tmp_path)
    (data / "a.csv").unlink()  # the folder is there and readable, the glob matches nothing
    plugin = embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))
    result = plugin.run(plugin.create_pipeline(files_config(data, "*.csv", TABLE, "replace")))
    assert not result.success and result.rows_loaded == 0
    assert result.errors[0].startswith("[PERMANENT] EmptyReplaceRefused: ")
    assert "allow_empty_replace: true" in result.errors[0]
    assert sorted(table_ids(plugin, TABLE)) == [1, 2]
    assert _history(plugin, TABLE) == [("append", "2")]

    # the refused package was aborted: the next run with rows replaces normally
    write_ids_csv(data, [3], "b.csv")
    again = plugin.run(plugin.create_pipeline(files_config(data, "*.csv", TABLE, "replace")))
    assert again.success and again.rows_loaded == 1
    assert sorted(table_ids(plugin, TABLE)) == [3]
    (data / "b.csv").unlink()

    # an intentionally empty replace is explicit
    emptied = plugin.run(
        plugin.create_pipeline(
            files_config(data, "*.csv", TABLE, "replace", allow_empty_replace=True)
        )
    )
    assert emptied.success and emptied.rows_loaded == 0, emptied.errors
    assert table_ids(plugin, TABLE) == []
    assert _history(plugin, TABLE) == [("append", "2"), ("overwrite", "1"), ("overwrite", "0")]


def test_replace_whose_nested_child_table_gets_no_rows_is_not_refused(
    api_server: FakeApiServer, tmp_path: Path
) -> None:
    """The guard is about the pipeline's own table: a replace whose rows have no nested values
    any more empties the child table, as the user asked."""
    config = IngestionConfig(
        source_type="rest_api",
        source_config={"base_url": api_server.base_url, "path": "offset/orders",
                       "paginator": {"type": "offset", "limit": 50, "total_path": "total"},
                       "data_selector": "items", "max_table_nesting": 1},
        destination_table="bronze.tagged",
        write_mode="replace",
    )  # fmt: skip
    plugin = embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))
    api_server.set_records("orders", [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": ["c"]}])
    first = plugin.run(plugin.create_pipeline(config))
    assert first.success and first.rows_loaded == 2, first.errors
    api_server.set_records("orders", [{"id": 3, "tags": []}])
    second = plugin.run(plugin.create_pipeline(config))
    assert second.success and second.rows_loaded == 1, second.errors
    assert table_ids(plugin, "bronze.tagged") == [3]
    assert read_table(plugin, "bronze.tagged__tags").scan().to_arrow().num_rows == 0
