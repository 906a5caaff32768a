"""Data files written through the REST catalog (SeaweedFS + S3) are spec-exact too.

The REST catalog assigns the table's field ids itself; the files registered on the append fast
path must carry exactly those, and timestamps in microseconds (here from a CSV column parsed as
seconds), read from S3 through a separate PyIceberg client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import files_config
from tests.integration.readers.test_data_file_footers import data_files, footer_problems
from tests.integration.rest_catalog.conftest import PluginFactory, unique
from tests.integration.rest_catalog.test_rest_write_modes import read_back, run_ok
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def test_registered_files_carry_the_catalogs_field_ids_and_microseconds(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    ns = unique("bronze")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "id,name,created\n1,a,2023-05-01 10:00:00\n2,b,2023-05-02 11:30:00\n"
    )
    plugin = make_plugin()
    pipeline = plugin.create_pipeline(files_config(folder, "*.csv", f"{ns}.events"))
    run_ok(plugin, pipeline)
    (folder / "b.csv").write_text("id,name,created\n3,c,2023-05-03 12:00:00\n")
    run_ok(plugin, plugin.create_pipeline(files_config(folder, "b.csv", f"{ns}.events")))

    table = read_back(seaweedfs, f"{ns}.events")
    files = data_files(table)
    assert len(files) == 2
    assert not any(Path(f).name.startswith("00000-") for f in files), "fast path not taken"
    assert {f: footer_problems(table, f) for f in files} == {f: [] for f in files}
    created = [r["created"].isoformat() for r in table.scan().to_arrow().to_pylist()]
    assert sorted(created) == [
        "2023-05-01T10:00:00+00:00",
        "2023-05-02T11:30:00+00:00",
        "2023-05-03T12:00:00+00:00",
    ]
