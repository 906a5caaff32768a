"""Hostile names: 300-character identifiers, ``_dlt_*`` tables, unicode, reserved words, path
traversal and column names colliding after normalization. Each one is either refused with a
typed error naming the field and the name to write (nothing committed, and ``floe-ingest
validate`` refusing it too, exit 2) or loaded exactly under the configured name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from floe_ingestion_dlt import DltIngestionPlugin, RetryConfig
from floe_ingestion_dlt.config import MAX_NAME_LENGTH
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError
from tests.helpers import embedded_plugin, files_config, fresh_catalog, user_rows
from tests.integration.cli.conftest import Cli, write_yaml

pytestmark = pytest.mark.integration

BOUND_SECONDS = 30.0
LONG = "x" * 300


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.csv").write_text("id,name\n1,a\n2,b\n")
    return files


def yaml_for(destination_table: str, bucket_url: Path) -> str:
    return f"""\
sources:
  - name: items
    source_type: filesystem
    source_config: {{bucket_url: "{bucket_url}", file_glob: "*.csv"}}
    destination_table: "{destination_table}"
"""


REFUSED = {
    # name: (destination_table, part of the message: what to write instead)
    "300_char_table": (f"bronze.{LONG}", f"destination_table: bronze.{LONG[:134]}"),
    "300_char_namespace": (f"{LONG}.items", f"destination_table: {LONG[:135]}.items"),
    "one_past_the_limit": ("n" * 70 + "." + "t" * 71, "at most 140 are allowed"),
    "_dlt_loads": ("bronze._dlt_loads", "destination_table: bronze.dlt_loads"),
    "_dlt_version": ("bronze._dlt_version", "destination_table: bronze.dlt_version"),
    "_dlt_pipeline_state": ("bronze._dlt_pipeline_state", "bronze.dlt_pipeline_state"),
    "_dlt_anything": ("bronze._dlt_mine", "destination_table: bronze.dlt_mine"),
    "unicode_table": ("bronze.注文", "dlt would write it as 'bronze.x'"),
    "dot_dot_slash": ("../x", "two identifiers of ASCII letters"),
    "slash_in_table": ("bronze.a/b", "dlt would write it as 'bronze.a_b'"),
    "not_normalized": ("bronze.Orders", "write destination_table: bronze.orders"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_table_name_is_refused_by_run_and_validate(
    plugin: DltIngestionPlugin, folder: Path, cli: Cli, workdir: Path, case: str
) -> None:
    table, says = REFUSED[case]

    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(files_config(folder, "*.csv", table=table))
    elapsed = time.perf_counter() - started

    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "destination_table"
    assert says in str(caught.value), str(caught.value)
    assert elapsed < BOUND_SECONDS
    catalog = fresh_catalog(plugin)
    assert catalog.list_namespaces() == []  # nothing created, not even the namespace

    result = cli("validate", str(write_yaml(workdir, yaml_for(table, folder))))
    assert result.exit_code == 2, result.output
    assert "destination_table" in result.output
    assert not (workdir / ".floe").exists()


@pytest.mark.parametrize("table", ["bronze.select", "bronze.order", "default.orders"])
def test_reserved_words_load_exactly_under_the_configured_name(
    plugin: DltIngestionPlugin, folder: Path, cli: Cli, workdir: Path, table: str
) -> None:
    result = plugin.run(plugin.create_pipeline(files_config(folder, "*.csv", table=table)))

    assert result.success, result.errors
    namespace, name = table.split(".")
    catalog = fresh_catalog(plugin)
    assert catalog.list_tables(namespace) == [(namespace, name)]
    rows = user_rows(catalog.load_table(table).scan().to_arrow())
    assert rows == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]

    validated = cli("validate", str(write_yaml(workdir, yaml_for(table, folder))))
    assert validated.exit_code == 0, validated.output


def test_longest_allowed_names_load_exactly(plugin: DltIngestionPlugin, folder: Path) -> None:
    namespace, name = "n" * 40, "t" * (MAX_NAME_LENGTH - 40)
    table = f"{namespace}.{name}"

    result = plugin.run(plugin.create_pipeline(files_config(folder, "*.csv", table=table)))

    assert result.success, result.errors
    catalog = fresh_catalog(plugin)
    assert catalog.list_tables(namespace) == [(namespace, name)]
    rows = user_rows(catalog.load_table(table).scan().to_arrow())
    assert rows == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def test_300_character_column_loads_exactly(plugin: DltIngestionPlugin, tmp_path: Path) -> None:
    files = tmp_path / "long"
    files.mkdir()
    (files / "a.csv").write_text(f"id,{LONG}\n1,a\n")

    result = plugin.run(plugin.create_pipeline(files_config(files, "*.csv")))

    assert result.success, result.errors
    table = fresh_catalog(plugin).load_table("bronze.items")
    assert user_rows(table.scan().to_arrow()) == [{"id": 1, LONG: "a"}]


@pytest.mark.parametrize(
    ("file_name", "body"),
    [
        ("a.csv", "id,Name,name\n2,a,b\n"),
        ("a.jsonl", '{"id": 2, "Name": "a", "name": "b"}\n'),
    ],
)
def test_columns_colliding_after_normalization_commit_nothing(
    plugin: DltIngestionPlugin, tmp_path: Path, file_name: str, body: str
) -> None:
    files = tmp_path / "collide"
    files.mkdir()
    suffix = file_name.split(".")[1]
    (files / f"first.{suffix}").write_text(
        "id,name\n1,a\n" if suffix == "csv" else '{"id": 1, "name": "a"}\n'
    )
    first = plugin.run(plugin.create_pipeline(files_config(files, f"first.{suffix}")))
    assert first.success, first.errors
    before = fresh_catalog(plugin).load_table("bronze.items").metadata.current_snapshot_id
    (files / file_name).write_text(body)

    started = time.perf_counter()
    result = plugin.run(plugin.create_pipeline(files_config(files, file_name)))
    elapsed = time.perf_counter() - started

    assert not result.success
    error = result.errors[0]
    assert error.startswith("[PERMANENT] SourceConnectionError:"), error
    assert "NameNormalizationCollision" in error, error
    assert f"{file_name}: columns ['Name', 'name'] all normalize to 'name'" in error, error
    assert elapsed < BOUND_SECONDS
    after = fresh_catalog(plugin).load_table("bronze.items")
    assert after.metadata.current_snapshot_id == before
    assert user_rows(after.scan().to_arrow()) == [{"id": 1, "name": "a"}]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_dlt_columns_in_the_source_data_are_kept_as_data(
    plugin: DltIngestionPlugin, tmp_path: Path, suffix: str
) -> None:
    files = tmp_path / "dlt_columns"
    files.mkdir()
    body = (
        "id,_dlt_id,_dlt_load_id\n1,mine,also_mine\n"
        if suffix == "csv"
        else '{"id": 1, "_dlt_id": "mine", "_dlt_load_id": "also_mine"}\n'
    )
    (files / f"a.{suffix}").write_text(body)

    result = plugin.run(plugin.create_pipeline(files_config(files, f"*.{suffix}")))

    assert result.success, result.errors
    assert result.rows_loaded == 1
    table = fresh_catalog(plugin).load_table("bronze.items").scan().to_arrow()
    assert table.to_pylist() == [{"id": 1, "_dlt_id": "mine", "_dlt_load_id": "also_mine"}]
