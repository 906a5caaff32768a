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


def test_failed_job_texts_are_scrubbed_schemas_and_state_left(tmp_path: Path) -> None:
    register_secrets(["Disk-S3cret-772"])
    failed = tmp_path / "load" / "loaded" / "123" / "failed_jobs"
    failed.mkdir(parents=True)
    (failed / "items.abc.0.parquet.exception").write_text(
        "GET http://u:pw-x@h/p?k=Disk-S3cret-772 failed"
    )
    schema = tmp_path / "schemas" / "p.schema.json"
    schema.parent.mkdir()
    schema.write_text('{"a": "Disk-S3cret-772"}')

    assert scrub_pipeline_files(tmp_path) == 1

    text = (failed / "items.abc.0.parquet.exception").read_text()
    assert text == "GET http://u:***@h/p?k=*** failed"
    assert schema.read_text() == '{"a": "Disk-S3cret-772"}'  # dlt tracks its hash
