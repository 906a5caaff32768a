"""Reading floe-ingest YAML files: interpolation, paths, defaults, overrides, problem locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_ingestion_dlt.cli.interpolation import interpolate
from floe_ingestion_dlt.cli.problems import ConfigFileError, join_path
from floe_ingestion_dlt.cli.yaml_config import catalog_from_uri, load_config_file
from floe_ingestion_dlt.scrub import scrub_text

FILES_SOURCE = """\
sources:
  - name: orders
    source_type: filesystem
    source_config:
      bucket_url: {bucket}
      file_glob: "*.csv"
    destination_table: bronze.orders
"""


def write(tmp_path: Path, text: str, name: str = "ingest.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(path: Path, **kwargs: object) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigFileError) as caught:
        load_config_file(path, **kwargs)  # type: ignore[arg-type]
    return [(p.path, p.line, p.message) for p in caught.value.problems]


# -- interpolation ---------------------------------------------------------------------------


def test_interpolation_reads_variables_and_defaults() -> None:
    value, problems = interpolate(
        {"a": "${HOST}:${PORT:-8080}", "b": ["x${EMPTY:-fallback}", 3], "c": "${SET_EMPTY}"},
        {"HOST": "db", "EMPTY": "", "SET_EMPTY": ""},
    )
    assert problems == []
    assert value == {"a": "db:8080", "b": ["xfallback", 3], "c": ""}


def test_escaped_reference_stays_literal() -> None:
    value, problems = interpolate({"query": "price > $${LIMIT} and pa$$word"}, {})
    assert problems == []
    assert value == {"query": "price > ${LIMIT} and pa$$word"}


def test_every_unset_variable_is_named_with_its_path() -> None:
    _, problems = interpolate(
        {"sources": [{"source_config": {"token": "${API_TOKEN}", "url": "${API_URL}"}}]}, {}
    )
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [
        ("sources[0].source_config.token", "environment variable 'API_TOKEN' is not set"),
        ("sources[0].source_config.url", "environment variable 'API_URL' is not set"),
    ]
    assert "${API_TOKEN:-default}" in problems[0].message


def test_malformed_reference_is_a_problem() -> None:
    _, problems = interpolate({"x": "${not valid}"}, {})
    assert problems[0].path == "x"
    assert "malformed reference ${not valid}" in problems[0].message


def test_values_read_into_secret_keys_are_scrubbed_everywhere() -> None:
    secret = "s3cr3t-from-env-9f2c"
    interpolate({"auth": {"token": "${TOKEN}"}}, {"TOKEN": secret})
    assert secret not in scrub_text(f"request failed with {secret}")


def test_missing_variable_in_file_points_at_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "catalog:\n  type: rest\n  uri: ${CATALOG_URI}\nsources: []\n",
    )
    assert problems_of(path, environ={}) == [
        (
            "catalog.uri",
            3,
            "environment variable 'CATALOG_URI' is not set: export it, or write "
            "${CATALOG_URI:-default} to give a default",
        )
    ]


# -- paths and defaults ----------------------------------------------------------------------


def test_relative_bucket_url_resolves_against_the_yaml_folder(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    path = write(folder, FILES_SOURCE.format(bucket="data/orders"))
    workdir = tmp_path / "elsewhere"
    loaded = load_config_file(path, workdir=workdir)
    bucket = loaded.config.sources[0].source_config["bucket_url"]
    assert bucket == str(folder / "data" / "orders")


def test_floes_relative_path_resolves_against_the_yaml_folder(tmp_path: Path) -> None:
    """floe's shape {format, path, include_glob} in the CLI's YAML, like bucket_url."""
    folder = tmp_path / "project"
    (folder / "data" / "orders").mkdir(parents=True)
    text = FILES_SOURCE.replace(
        'bucket_url: {bucket}\n      file_glob: "*.csv"',
        'format: csv\n      path: data/orders/\n      include_glob: "*.csv"',
    )
    path = write(folder, text)
    loaded = load_config_file(path, workdir=tmp_path / "elsewhere")
    source = loaded.config.sources[0]
    assert source.source_config["path"] == f"{folder / 'data' / 'orders'}/"
    from floe_ingestion_dlt.sources import get_builder

    parsed = get_builder("filesystem").parse(source.effective_source_config())
    assert parsed.bucket_url == (folder / "data" / "orders").as_uri()  # type: ignore[attr-defined]
    assert parsed.file_glob == "*.csv"  # type: ignore[attr-defined]


def test_absolute_and_remote_bucket_urls_are_kept(tmp_path: Path) -> None:
    for bucket in ("/srv/data", "s3://bucket/prefix"):
        loaded = load_config_file(write(tmp_path, FILES_SOURCE.format(bucket=bucket)))
        assert loaded.config.sources[0].source_config["bucket_url"] == bucket


def test_embedded_catalog_and_pipelines_dir_default_to_dot_floe(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    loaded = load_config_file(write(tmp_path, FILES_SOURCE.format(bucket="data")), workdir=workdir)
    catalog = loaded.config.resolved_catalog()
    assert catalog.type == "sql"
    assert catalog.uri == f"sqlite:///{(workdir / '.floe').resolve()}/catalog.db"
    assert loaded.config.pipelines_dir == (workdir / ".floe" / "pipelines").resolve()


def test_catalog_and_retry_aliases(tmp_path: Path) -> None:
    text = (
        "sources: []\n"
        "catalog: {type: rest, uri: 'http://cat:8181/api', warehouse: lake}\n"
        "retry: {max_retries: 7}\n"
        "pipelines_dir: state/pipes\n"
        "dlt_state_url: s3://ops/dlt\n"
    )
    loaded = load_config_file(write(tmp_path, text), workdir=tmp_path)
    config = loaded.config
    assert config.resolved_catalog().uri == "http://cat:8181/api"
    assert config.retry_config.max_retries == 7
    assert config.pipelines_dir == (tmp_path / "state" / "pipes").resolve()
    assert config.dlt_state_url == "s3://ops/dlt"


def test_alias_and_field_name_together_is_a_problem(tmp_path: Path) -> None:
    text = "catalog: {uri: 'http://a'}\ncatalog_config: {uri: 'http://b'}\n"
    [(path, line, message)] = problems_of(write(tmp_path, text))
    assert (path, line) == ("catalog_config", 2)
    assert "same setting" in message


# -- --catalog override ----------------------------------------------------------------------


def test_catalog_uri_sqlite_gets_a_sibling_warehouse(tmp_path: Path) -> None:
    catalog = catalog_from_uri(f"sqlite:///{tmp_path}/lake/catalog.db")
    assert catalog.type == "sql"
    assert catalog.warehouse == (tmp_path / "lake" / "warehouse").as_uri()


def test_catalog_uri_rest_keeps_the_file_catalogs_credentials(tmp_path: Path) -> None:
    text = (
        "sources: []\n"
        "catalog:\n  type: rest\n  uri: http://old:8181\n  warehouse: lake\n"
        "  credential: id:secret\n"
    )
    loaded = load_config_file(write(tmp_path, text), catalog_uri="https://new:8443/api")
    catalog = loaded.config.resolved_catalog()
    assert catalog.uri == "https://new:8443/api"
    assert catalog.warehouse == "lake"
    assert catalog.credential is not None
    assert catalog.credential.get_secret_value() == "id:secret"


def test_unsupported_catalog_uri_says_what_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "sources: []\n")
    [(where, _, message)] = problems_of(path, catalog_uri="thrift://hive:9083")
    assert where == "--catalog"
    assert "sqlite:///path/to/catalog.db" in message
    assert "http(s)://" in message


# -- problem locations -----------------------------------------------------------------------


def test_join_path_quotes_keys_with_dots() -> None:
    assert join_path(join_path("catalog", "s3.endpoint"), 0) == 'catalog["s3.endpoint"][0]'


def test_problems_come_in_file_order_with_lines(tmp_path: Path) -> None:
    text = (
        "retry:\n"
        "  max_retries: -1\n"
        "sources:\n"
        "  - name: a\n"
        "    source_type: filesystem\n"
        "    source_config: {bucket_url: /x, file_glob: '*.csv'}\n"
        "    destination_table: nodot\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p, line) for p, line, _ in problems] == [
        ("retry.max_retries", 2),
        ("sources[0].destination_table", 7),
    ]
    assert problems[0][2] == "must be greater than or equal to 0, got -1"


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    [(path, line, message)] = problems_of(write(tmp_path, "sources:\n  - name: [a\n"))
    assert path == ""
    assert line == 3
    assert message.startswith("not valid YAML")


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "absent.yaml") == [("", None, "file not found")]
