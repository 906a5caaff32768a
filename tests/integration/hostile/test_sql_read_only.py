"""A source database is only ever read: the ``where`` injection and writes attempted through
any source option change nothing, checked on a real PostgreSQL before and after.

``victim`` holds rows; ``evil()`` deletes them (VOLATILE: runs per row at extract time),
``evil_folded()`` calls it but is declared IMMUTABLE, so the planner runs it while planning the
reachability check's query. Each case must fail with a typed error and leave ``victim`` as
it was, on every backend (pyarrow through ADBC, sqlalchemy, pandas, connectorx).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError
from tests.helpers import embedded_plugin
from tests.integration.cli.conftest import Cli, write_yaml
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

INJECTION = "1=1); COMMIT; DROP TABLE victim; COMMIT; SELECT 1 WHERE (1=1"
BACKENDS = ["pyarrow", "sqlalchemy", "connectorx"]
"""pyarrow reads through ADBC here (adbc-driver-postgresql is a dev dependency); pandas is not
installed in the test environment and shares the sqlalchemy engine path."""


@pytest.fixture
def victim_db(postgres_server: PostgresServer) -> Iterator[str]:
    """A database with ``victim`` (5 rows) and two functions that delete them."""
    name = f"victim_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    for statement in (
        "CREATE TABLE victim (id bigint PRIMARY KEY, label text)",
        "INSERT INTO victim SELECT g, 'row ' || g FROM generate_series(1, 5) AS g",
        "CREATE FUNCTION evil() RETURNS boolean LANGUAGE plpgsql VOLATILE AS "
        "$$ BEGIN DELETE FROM victim; RETURN true; END $$",
        "CREATE FUNCTION evil_folded() RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS "
        "$$ BEGIN PERFORM evil(); RETURN true; END $$",
    ):
        postgres_server.execute(statement, database=name)
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


def victim_rows(server: PostgresServer, url: str) -> int | None:
    """Rows of ``victim``; ``None`` if the table is gone."""
    database = url.rsplit("/", 1)[1]
    found = server.execute("SELECT to_regclass('public.victim') IS NOT NULL", database=database)
    assert found is not None
    if not found[0][0]:
        return None
    rows = server.execute("SELECT count(*) FROM victim", database=database)
    assert rows is not None
    return int(rows[0][0])


def sql_source(url: str, **extra: Any) -> IngestionConfig:
    return IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": url, "table": "victim", **extra},
        destination_table="bronze.victim",
    )


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def test_where_injection_is_refused_before_anything_runs(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, victim_db: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(sql_source(victim_db, where=INJECTION))

    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "source_config.where"
    assert "not a SQL expression" in caught.value.message
    assert victim_rows(postgres_server, victim_db) == 5


@pytest.mark.parametrize(
    "where",
    [
        "1=1; DROP TABLE victim",
        "id > 0 -- ORDER BY id",
        "id IN (SELECT 1) OR set_config('default_transaction_read_only', 'off', false) = 'x'",
        "DELETE FROM victim",
    ],
)
def test_statements_comments_and_session_switches_are_refused(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, victim_db: str, where: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(sql_source(victim_db, where=where))
    assert caught.value.field == "source_config.where"
    assert victim_rows(postgres_server, victim_db) == 5


def test_reachability_check_runs_in_a_read_only_session(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, victim_db: str
) -> None:
    """The planner runs ``evil_folded()`` during create_pipeline's check: the DELETE is refused."""
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(sql_source(victim_db, where="evil_folded()"))
    assert "read-only transaction" in caught.value.message
    assert victim_rows(postgres_server, victim_db) == 5


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "switch_off",
    [
        {},
        {"engine_kwargs": {"connect_args": {"options": "-c default_transaction_read_only=off"}}},
        {"url_options": "-c default_transaction_read_only=off"},
    ],
    ids=["plain", "connect_args_options", "url_options"],
)
def test_extract_sessions_are_read_only_on_every_backend(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    victim_db: str,
    backend: str,
    switch_off: dict[str, Any],
) -> None:
    """A filter calling a function that deletes rows fails at extract; nothing is deleted."""
    options = dict(switch_off)
    url = victim_db
    url_options = options.pop("url_options", None)
    if url_options:
        url += "?options=" + url_options.replace(" ", "%20").replace("=", "%3D")
    pipeline = plugin.create_pipeline(sql_source(url, where="evil()", backend=backend, **options))

    result = plugin.run(pipeline)

    assert not result.success
    assert victim_rows(postgres_server, victim_db) == 5
    joined = " ".join(result.errors)
    assert "read-only" in joined, joined
    assert postgres_server.password not in joined


def test_check_command_refuses_the_injection_and_changes_nothing(
    cli: Cli, workdir: Path, postgres_server: PostgresServer, victim_db: str
) -> None:
    config = write_yaml(
        workdir,
        f"""\
sources:
  - name: victim
    source_type: sql_database
    source_config:
      credentials: "{victim_db}"
      table: victim
      where: "{INJECTION}"
    destination_table: bronze.victim
""",
    )
    result = cli("check", str(config), "--json")

    assert result.exit_code != 0, result.output
    assert "source_config.where" in result.output or "where" in result.output
    assert victim_rows(postgres_server, victim_db) == 5
    assert postgres_server.password not in result.output


def test_check_command_probe_is_read_only(
    cli: Cli, workdir: Path, postgres_server: PostgresServer, victim_db: str
) -> None:
    config = write_yaml(
        workdir,
        f"""\
sources:
  - name: victim
    source_type: sql_database
    source_config:
      credentials: "{victim_db}"
      table: victim
      where: "evil_folded()"
    destination_table: bronze.victim
""",
    )
    result = cli("check", str(config), "--json")

    assert result.exit_code != 0, result.output
    assert "read-only transaction" in result.output
    assert victim_rows(postgres_server, victim_db) == 5


@pytest.mark.parametrize(
    "options",
    [
        {"table": 'victim"; DROP TABLE victim; --'},
        {"schema": 'public"; DROP TABLE victim; --'},
        {"columns": ['id"; DROP TABLE victim; --']},
        {"cursor_field": 'id"; DROP TABLE victim; --'},
    ],
    ids=["table", "schema", "columns", "cursor_field"],
)
def test_identifiers_cannot_carry_statements(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    victim_db: str,
    options: dict[str, Any],
) -> None:
    source = {"table": "victim", **options}
    config = IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": victim_db, **source},
        destination_table="bronze.victim",
    )
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(config)
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert victim_rows(postgres_server, victim_db) == 5
