"""The YAML of docs/cli.md "Switching to a REST catalog and S3", run against SeaweedFS.

Secrets come from the environment through ``${...}``; tables are read back through a separate
PyIceberg REST client; no secret appears in any output.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, write_yaml
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration

REST_YAML = """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {{bucket_url: data/orders, file_glob: "*.csv"}}
    destination_table: {namespace}.orders
catalog:
  type: rest
  uri: ${{LAKE_CATALOG_URI}}
  warehouse: ${{LAKE_WAREHOUSE}}
  credential: ${{LAKE_CLIENT_ID}}:${{LAKE_CLIENT_SECRET}}
  s3.endpoint: ${{LAKE_S3_ENDPOINT}}
  s3.access-key-id: ${{AWS_ACCESS_KEY_ID}}
  s3.secret-access-key: ${{AWS_SECRET_ACCESS_KEY}}
  s3.region: ${{AWS_REGION:-us-east-1}}
  s3.path-style-access: true
dlt_state_url: s3://${{STATE_BUCKET}}/{namespace}
"""


@pytest.fixture
def lake_env(seaweedfs: SeaweedFS) -> dict[str, str]:
    bucket = f"cli-state-{uuid.uuid4().hex[:8]}"
    seaweedfs.create_bucket(bucket)
    return {
        "LAKE_CATALOG_URI": seaweedfs.catalog_uri,
        "LAKE_WAREHOUSE": seaweedfs.warehouse,
        "LAKE_CLIENT_ID": seaweedfs.access_key,
        "LAKE_CLIENT_SECRET": seaweedfs.secret_key,
        "LAKE_S3_ENDPOINT": seaweedfs.s3_endpoint,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "AWS_REGION": seaweedfs.region,
        "STATE_BUCKET": bucket,
    }


def test_run_check_show_against_a_rest_catalog(
    cli: Cli,
    workdir: Path,
    orders_folder: Path,
    seaweedfs: SeaweedFS,
    lake_env: dict[str, str],
) -> None:
    namespace = f"cli_{uuid.uuid4().hex[:8]}"
    config = write_yaml(orders_folder.parent.parent, REST_YAML.format(namespace=namespace))

    checked = cli("check", str(config), "--json", env=lake_env)
    ran = cli("run", str(config), "--json", env=lake_env)
    shown = cli("show", f"{namespace}.orders", "--config", str(config), "--json", env=lake_env)
    text = cli("run", str(config), env=lake_env)

    assert checked.exit_code == 0, checked.output
    assert ran.exit_code == 0, ran.output
    summary = ran.json()
    assert summary["catalog"] == {
        "type": "rest",
        "uri": seaweedfs.catalog_uri,
        "warehouse": seaweedfs.warehouse,
    }
    table = seaweedfs.pyiceberg_catalog(name="reader").load_table(f"{namespace}.orders")
    first_snapshot = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)[0]
    assert summary["sources"][0]["rows_loaded"] == 30
    assert summary["sources"][0]["snapshot_id"] == first_snapshot.snapshot_id
    assert shown.exit_code == 0, shown.output
    assert shown.json()["snapshots"][0]["snapshot_id"] == first_snapshot.snapshot_id
    assert text.exit_code == 0, text.output
    assert table.refresh().scan().to_arrow().num_rows == 60
    assert not (workdir / ".floe" / "catalog.db").exists(), "no embedded catalog was used"
    for result in (checked, ran, shown, text):
        assert seaweedfs.secret_key not in result.output


def test_catalog_option_overrides_the_uri_and_keeps_the_credentials(
    cli: Cli, orders_folder: Path, lake_env: dict[str, str], closed_port: int
) -> None:
    config = write_yaml(orders_folder.parent.parent, REST_YAML.format(namespace="cli_dead"))
    dead = f"http://127.0.0.1:{closed_port}/iceberg"

    result = cli("check", str(config), "--catalog", dead, "--timeout", "2", "--json", env=lake_env)

    assert result.exit_code == 3, result.output
    catalog = result.json()["checks"][0]
    assert (catalog["target"], catalog["ok"], catalog["category"]) == (dead, False, "TRANSIENT")
    assert lake_env["LAKE_CLIENT_SECRET"] not in result.output
