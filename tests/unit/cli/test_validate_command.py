"""``floe-ingest validate`` on broken files: each problem names its YAML path, line and what is
allowed; nothing is created."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from floe_ingestion_dlt.cli.app import app

FILES = (
    "    source_type: filesystem\n    source_config: {bucket_url: /srv/data, file_glob: '*.csv'}\n"
)


def source(name: str, body: str = FILES, table: str | None = None, extra: str = "") -> str:
    return f"  - name: {name}\n{body}    destination_table: {table or 'bronze.' + name}\n{extra}"


# (id, yaml text, expected path, expected line, fragments the message must contain)
BROKEN: list[tuple[str, str, str, int, tuple[str, ...]]] = [
    (
        "unknown-top-level-key",
        "sourcs:\n" + source("a"),
        "sourcs",
        1,
        (
            "unknown key 'sourcs'",
            "did you mean 'sources'?",
            "allowed keys: sources, catalog, retry",
        ),
    ),
    (
        "unknown-source-type",
        "sources:\n" + source("a", "    source_type: ftp\n    source_config: {}\n"),
        "sources[0].source_type",
        3,
        ("'ftp' is not allowed", "'rest_api', 'sql_database' or 'filesystem'"),
    ),
    (
        "unknown-write-mode",
        "sources:\n" + source("a", extra="    write_mode: upsert\n"),
        "sources[0].write_mode",
        6,
        ("'upsert' is not allowed", "'append', 'replace' or 'merge'"),
    ),
    (
        "unknown-schema-contract",
        "sources:\n" + source("a", extra="    schema_contract: strict\n"),
        "sources[0].schema_contract",
        6,
        ("'strict' is not allowed", "'evolve', 'freeze' or 'discard_value'"),
    ),
    (
        "sql-table-missing",
        "sources:\n"
        + source("a")
        + source("b")
        + source(
            "c",
            "    source_type: sql_database\n"
            "    source_config: {credentials: 'sqlite:///shop.db'}\n",
        ),
        "sources[2].source_config.table",
        12,
        ("required key is missing",),
    ),
    (
        "source-config-typo",
        "sources:\n"
        + source(
            "a",
            "    source_type: filesystem\n"
            "    source_config:\n"
            "      bucket_url: /srv/data\n"
            "      file_glb: '*.csv'\n",
        ),
        "sources[0].source_config.file_glb",
        6,
        ("unknown key 'file_glb'", "did you mean 'file_glob'?", "allowed keys: bucket_url"),
    ),
    (
        "file-format",
        "sources:\n"
        + source(
            "a",
            "    source_type: filesystem\n"
            "    source_config: {bucket_url: /srv/data, file_glob: '*', format: xml}\n",
        ),
        "sources[0].source_config.format",
        4,
        ("'xml' is not allowed", "'csv', 'jsonl' or 'parquet'"),
    ),
    (
        "destination-without-namespace",
        "sources:\n" + source("a", table="orders"),
        "sources[0].destination_table",
        5,
        ("'namespace.table'", "got 'orders'"),
    ),
    (
        "merge-without-key",
        "sources:\n" + source("a", extra="    write_mode: merge\n"),
        "sources[0].primary_key",
        2,
        ("write_mode 'merge' needs a primary_key",),
    ),
    (
        "duplicate-source-names",
        "sources:\n" + source("a") + source("a", table="bronze.other"),
        "sources",
        1,
        ("source names must be unique", "'a' appears twice"),
    ),
    (
        "catalog-type",
        "sources:\n" + source("a") + "catalog: {type: hive, uri: 'thrift://metastore:9083'}\n",
        "catalog.type",
        6,
        ("'hive' is not allowed", "'sql' or 'rest'"),
    ),
    (
        "catalog-key-typo",
        "sources:\n" + source("a") + "catalog:\n  type: rest\n  uri: http://cat\n"
        "  s3.endpont: http://minio:9000\n",
        'catalog["s3.endpont"]',
        9,
        ("unknown catalog key", "did you mean 's3.endpoint'?"),
    ),
    (
        "rest-catalog-uri",
        "sources:\n" + source("a") + "catalog:\n  type: rest\n  uri: ftp://cat\n",
        "catalog.uri",
        8,
        ("a 'rest' catalog needs an http(s):// URL",),
    ),
    (
        "retry-out-of-range",
        "sources:\n" + source("a") + "retry:\n  max_retries: 50\n",
        "retry.max_retries",
        7,
        ("must be less than or equal to 20", "got 50"),
    ),
    (
        "rest-api-base-url",
        "sources:\n"
        + source(
            "a",
            "    source_type: rest_api\n    source_config: {base_url: 'ftp://api', path: items}\n",
        ),
        "sources[0].source_config.base_url",
        4,
        ("must be an http(s) URL", "'ftp://api'"),
    ),
    (
        "sql-backend",
        "sources:\n"
        + source(
            "a",
            "    source_type: sql_database\n"
            "    source_config: {credentials: 'sqlite:///x.db', table: t, backend: polars}\n",
        ),
        "sources[0].source_config.backend",
        4,
        ("'polars' is not allowed", "'pyarrow', 'sqlalchemy', 'connectorx' or 'pandas'"),
    ),
    (
        "primary-key-type",
        "sources:\n" + source("a", extra="    primary_key: 5\n"),
        "sources[0].primary_key",
        6,
        ("a number is not allowed here", "expected str or list[str]"),
    ),
    (
        "sources-not-a-list",
        "sources:\n  name: a\n",
        "sources",
        1,
        ("must be a list, got a mapping",),
    ),
    (
        "no-sources",
        "sources: []\n",
        "sources",
        1,
        ("no sources declared",),
    ),
    (
        "unset-variable",
        "sources:\n"
        + source(
            "a",
            "    source_type: sql_database\n"
            "    source_config: {credentials: '${SHOP_DB_URL}', table: t}\n",
        ),
        "sources[0].source_config.credentials",
        4,
        ("environment variable 'SHOP_DB_URL' is not set", "${SHOP_DB_URL:-default}"),
    ),
    (
        "duplicate-yaml-key",
        "sources:\n" + source("a", extra="    write_mode: append\n    write_mode: replace\n"),
        "sources[0].write_mode",
        7,
        ("duplicate key 'write_mode'",),
    ),
]


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOP_DB_URL", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    ("text", "path", "line", "fragments"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_file_reports_path_line_and_allowed_values(
    runner: CliRunner,
    tmp_path: Path,
    text: str,
    path: str,
    line: int,
    fragments: tuple[str, ...],
) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(text)

    result = runner.invoke(app, ["validate", str(config), "--json"])

    assert result.exit_code == 2, result.output
    document = json.loads(result.stdout)
    assert document["valid"] is False
    problems = {p["path"]: p for p in document["problems"]}
    assert path in problems, document["problems"]
    assert problems[path]["line"] == line
    for fragment in fragments:
        assert fragment in problems[path]["message"]
    assert not (tmp_path / ".floe").exists(), "validate must not create anything"


def test_text_output_lists_every_problem_with_its_location(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "two.yaml"
    config.write_text(
        "sources:\n"
        + source("a", extra="    write_mode: upsert\n")
        + source(
            "b",
            "    source_type: filesystem\n    source_config: {bucket_url: /x, file_glb: '*'}\n",
        )
    )

    result = runner.invoke(app, ["validate", str(config)])

    assert result.exit_code == 2
    assert "2 problems" in result.stderr
    assert "sources[0].write_mode (line 6): 'upsert' is not allowed" in result.stderr
    assert "sources[1].source_config.file_glb (line 9): unknown key 'file_glb'" in result.stderr
    assert result.stdout == ""


def test_valid_file_lists_its_sources(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "ok.yaml"
    config.write_text("sources:\n" + source("orders", extra="    write_mode: replace\n"))

    result = runner.invoke(app, ["validate", str(config)])

    assert result.exit_code == 0, result.output
    assert "is valid: 1 source -> sql catalog" in result.stdout
    assert "orders: filesystem -> bronze.orders (replace, schema evolve)" in result.stdout
    assert not (tmp_path / ".floe").exists()


def test_secret_in_a_broken_file_is_not_echoed(runner: CliRunner, tmp_path: Path) -> None:
    secret = "pg-pass-7d1e9a"
    config = tmp_path / "secret.yaml"
    config.write_text(
        "sources:\n"
        + source(
            "a",
            "    source_type: sql_database\n"
            f"    source_config: {{credentials: 'postgresql://app:{secret}@db/shop', "
            "table: t, where: ''}\n",
        )
    )

    result = runner.invoke(app, ["validate", str(config)])

    assert result.exit_code == 2
    assert "sources[0].source_config.where" in result.stderr
    assert secret not in result.output
