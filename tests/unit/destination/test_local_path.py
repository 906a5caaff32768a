"""Which table locations are local files (a hard link can replace the copy of a data file)."""

from __future__ import annotations

import pytest

from floe_ingestion_dlt.destination.file_registration import local_path


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("file:///lake/wh/bronze.db/t/data/a.parquet", "/lake/wh/bronze.db/t/data/a.parquet"),
        ("file://localhost/lake/a%20b.parquet", "/lake/a b.parquet"),
        ("/lake/wh/a.parquet", "/lake/wh/a.parquet"),
        ("s3://bucket/wh/a.parquet", None),
        ("s3a://bucket/wh/a.parquet", None),
        ("gs://bucket/a.parquet", None),
        ("file://otherhost/lake/a.parquet", None),
        ("relative/a.parquet", None),
    ],
)
def test_local_path(location: str, path: str | None) -> None:
    assert local_path(location) == path
