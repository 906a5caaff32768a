"""What dlt writes to the pipelines folder is checked and scrubbed for secrets."""

from __future__ import annotations

from pathlib import Path

from floe_ingestion_dlt.on_disk import contains_secret, scrub_pipeline_files
from floe_ingestion_dlt.scrub import register_secrets


def test_registered_secrets_and_url_passwords_are_found() -> None:
    register_secrets(["Disk-S3cret-771"])
    assert contains_secret(b"... Disk-S3cret-771 ...")
    assert contains_secret(b"http://user:pw@host/x")
    assert not contains_secret(b"file:///tmp/lake/catalog.db and nothing else")


def test_text_files_are_scrubbed_binary_files_left(tmp_path: Path) -> None:
    register_secrets(["Disk-S3cret-772"])
    (tmp_path / "state.json").write_text('{"url": "http://u:pw-x@h/p", "k": "Disk-S3cret-772"}')
    (tmp_path / "clean.json").write_text('{"a": 1}')
    (tmp_path / "data.parquet").write_bytes(b"Disk-S3cret-772")

    assert scrub_pipeline_files(tmp_path) == 1

    assert (tmp_path / "state.json").read_text() == '{"url": "http://u:***@h/p", "k": "***"}'
    assert (tmp_path / "clean.json").read_text() == '{"a": 1}'
