"""Maintenance against the REST catalog on SeaweedFS (S3 table bucket), read back through PyIceberg."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import files_config, user_rows
from tests.integration.rest_catalog.conftest import PluginFactory, unique
from tests.integration.rest_catalog.test_rest_write_modes import ROWS, read_back, run_ok, write_csv
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def test_compaction_and_expiry_on_s3_keep_the_rows(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    ns = unique("bronze")
    plugin = make_plugin()
    folder = tmp_path / "in"
    for run in range(4):  # incremental: each run's state moves on, so old snapshots may go
        write_csv(folder, f"part-{run}.csv", ROWS)
        time.sleep(0.05)
        config = files_config(folder, "*.csv", f"{ns}.items", incremental_files=True)
        assert run_ok(plugin, plugin.create_pipeline(config)).rows_loaded == 3
    before = read_back(seaweedfs, f"{ns}.items")
    assert len(list(before.scan().plan_files())) == 4
    report = plugin.maintain(f"{ns}.items", compact=True, expire_older_than="0s", retain_last=1)
    table = read_back(seaweedfs, f"{ns}.items")
    assert report.compaction is not None and report.compaction.files_rewritten == 4
    assert len(list(table.scan().plan_files())) == 1
    assert table.current_snapshot().summary.operation.value == "replace"  # type: ignore[union-attr]
    assert user_rows(table.scan().to_arrow()) == sorted(ROWS * 4, key=lambda r: r["id"])
    assert report.expiry is not None and report.expiry.expired
    # orphan removal lists the table's files; a dry run changes nothing
    dry = plugin.maintain(f"{ns}.items", remove_orphans_older_than="1h", dry_run=True)
    assert dry.orphans is not None and dry.orphans.files_listed > 0
    assert user_rows(read_back(seaweedfs, f"{ns}.items").scan().to_arrow()) == sorted(
        ROWS * 4, key=lambda r: r["id"]
    )
