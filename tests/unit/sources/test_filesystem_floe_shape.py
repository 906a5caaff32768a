"""floe's filesystem source shape: {format, path, include_glob/file_glob, reader_options}."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.sources import get_builder


def parse(config: dict) -> object:
    return get_builder("filesystem").parse(config)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data" / "orders").mkdir(parents=True)
    (tmp_path / "data" / "orders" / "a.csv").write_text("id\n1\n")
    monkeypatch.setenv("FLOE_PROJECT_DIR", str(tmp_path))
    return tmp_path


def test_relative_folder_path_resolves_against_the_project_dir(project: Path) -> None:
    parsed = parse({"format": "csv", "path": "data/orders"})
    assert parsed.bucket_url == (project / "data" / "orders").as_uri()
    assert parsed.file_glob == "*"


def test_relative_path_defaults_to_the_working_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLOE_PROJECT_DIR")
    monkeypatch.chdir(project / "data")
    assert (
        parse({"format": "csv", "path": "orders"}).bucket_url
        == (project / "data" / "orders").as_uri()
    )


def test_file_path_lists_its_folder_with_its_name(project: Path) -> None:
    parsed = parse({"format": "csv", "path": "data/orders/a.csv"})
    assert parsed.bucket_url == (project / "data" / "orders").as_uri()
    assert parsed.file_glob == "a.csv"


def test_include_glob_and_s3_path(project: Path) -> None:
    parsed = parse({"format": "jsonl", "path": "s3://landing/orders/", "include_glob": "*.jsonl"})
    assert parsed.bucket_url == "s3://landing/orders/"
    assert parsed.file_glob == "*.jsonl"


def test_reader_options_map_to_the_csv_reader(project: Path) -> None:
    parsed = parse(
        {
            "format": "csv",
            "path": "data/orders",
            "reader_options": {
                "sep": ";",
                "quotechar": "'",
                "header": 0,
                "names": ["a", "b"],
                "na_values": "-",
                "chunksize": 500,
            },
        }
    )
    assert parsed.csv.delimiter == ";"
    assert parsed.csv.quote_char == "'"
    assert parsed.csv.header is True
    assert parsed.csv.column_names == ["a", "b"]
    assert parsed.csv.null_values == ["-"]
    assert parsed.chunk_size == 500


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (
            {"format": "csv", "path": "data/orders", "reader_options": {"password": "x"}},
            "reader_options",
        ),
        (
            {"format": "parquet", "path": "data/orders", "reader_options": {"sep": ","}},
            "reader_options",
        ),
        ({"format": "csv", "path": "data/orders", "bucket_url": "/x"}, "path"),
        (
            {"format": "csv", "path": "data/orders", "file_glob": "*.csv", "include_glob": "*.tsv"},
            "include_glob",
        ),
        ({"format": "csv", "path": "data/orders/a.csv", "include_glob": "*.csv"}, "file_glob"),
        ({"format": "csv", "path": "data/orders", "endpoint": "http://x"}, "endpoint"),
    ],
)
def test_bad_floe_shapes_name_the_field(project: Path, config: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(config)
    assert err.value.field == f"source_config.{field}"
