"""A filesystem source whose folder or bucket does not exist fails at create_pipeline and in
``floe-ingest check`` with a SourceConnectionError naming the path; a glob cannot leave the
folder; an existing folder without a matching file stays a successful 0-row load."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError, ValidationError
from tests.helpers import embedded_plugin, files_config
from tests.integration.cli.conftest import Cli, write_yaml
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def test_missing_local_folder_fails_at_create_pipeline_naming_the_path(
    plugin: DltIngestionPlugin, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(SourceConnectionError) as caught:
        plugin.create_pipeline(files_config(missing, "*.csv"))

    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "source_config.bucket_url"
    assert str(missing) in caught.value.message
    assert str(tmp_path / "no") in caught.value.message  # the first missing part
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").rglob("*.parquet"))


def test_a_file_given_as_the_folder_is_refused(plugin: DltIngestionPlugin, tmp_path: Path) -> None:
    file = tmp_path / "orders.csv"
    file.write_text("id\n1\n")
    with pytest.raises(SourceConnectionError, match="is a file, not a folder") as caught:
        plugin.create_pipeline(files_config(file, "*.csv"))
    assert caught.value.category is ErrorCategory.CONFIGURATION


def test_existing_folder_without_match_is_a_zero_row_success(
    plugin: DltIngestionPlugin, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    result = plugin.run(plugin.create_pipeline(files_config(folder, "*.csv")))
    assert result.success, result.errors
    assert result.rows_loaded == 0


@pytest.mark.parametrize("glob", ["../outside/*.csv", "a/../../outside/*.csv", "/etc/*.csv"])
def test_glob_escaping_the_folder_is_refused(
    plugin: DltIngestionPlugin, tmp_path: Path, glob: str
) -> None:
    folder = tmp_path / "inside"
    folder.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("id\n1\n")
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(files_config(folder, glob))
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "source_config.file_glob"


def test_check_command_reports_the_missing_folder(cli: Cli, workdir: Path) -> None:
    config = write_yaml(
        workdir,
        """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {bucket_url: data/missing, file_glob: "*.csv"}
    destination_table: bronze.orders
""",
    )
    result = cli("check", str(config), "--json")

    assert result.exit_code == 2, result.output
    report = result.json()
    source = report["checks"][1]
    assert source["ok"] is False
    assert source["category"] == "CONFIGURATION"
    assert "SourceConnectionError" in source["detail"]
    assert str(workdir / "data" / "missing") in source["detail"]


def test_missing_s3_bucket_fails_at_create_pipeline(
    plugin: DltIngestionPlugin, seaweedfs: SeaweedFS
) -> None:
    credentials = {
        "aws_access_key_id": seaweedfs.access_key,
        "aws_secret_access_key": seaweedfs.secret_key,
        "endpoint_url": seaweedfs.s3_endpoint,
        "region_name": seaweedfs.region,
    }
    config = files_config(Path("."), "*.csv", credentials=credentials)
    config.source_config["bucket_url"] = "s3://no-such-bucket-floe/orders"

    with pytest.raises(SourceConnectionError) as caught:
        plugin.create_pipeline(config)

    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert "no-such-bucket-floe" in caught.value.message
    assert seaweedfs.secret_key not in caught.value.message
