"""The ``where`` filter is one boolean expression, parsed by sqlglot; the database receives
the parser's rendering."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError, ValidationError
from floe_ingestion_dlt.sources.sql_connectorx import decimal_caster
from floe_ingestion_dlt.sources.sql_where import safe_where
from tests.helpers import embedded_plugin


@pytest.mark.parametrize(
    ("where", "rendered"),
    [
        ("status <> 'draft'", "status <> 'draft'"),
        ("id = 1 or name like 'a%'", "id = 1 OR name LIKE 'a%'"),
        ("id in (select id from t)", "id IN (SELECT id FROM t)"),
        ("$$a$$ = x", "'a' = x"),  # dollar quoting is rendered as the parser read it
    ],
)
def test_conditions_are_rendered_by_the_parser(where: str, rendered: str) -> None:
    assert safe_where(where, "postgresql") == rendered


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("1=1); COMMIT; DROP TABLE victim; COMMIT; SELECT 1 WHERE (1=1", "not a SQL expression"),
        ("1=1; DROP TABLE victim", "2 statements"),
        ("id > 0 -- ORDER BY id", "comments"),
        ("id > 0 /* x */", "comments"),
        ("SELECT 1", "not a condition"),
        ("DELETE FROM victim", "not a condition"),
        ("set_config('default_transaction_read_only', 'off', false) = 'x'", "set_config"),
        ("pg_sleep(100) IS NULL", "pg_sleep"),
    ],
)
def test_everything_else_is_refused_naming_the_field(where: str, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        safe_where(where, "postgresql")
    assert caught.value.field == "source_config.where"
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert says in caught.value.message


def test_sqlite_source_file_that_does_not_exist_names_the_path_and_is_not_created(
    tmp_path: Path,
) -> None:
    plugin = embedded_plugin(tmp_path)
    missing = tmp_path / "nope" / "source.db"
    config = IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": f"sqlite:///{missing}", "table": "t"},
        destination_table="bronze.t",
    )
    with pytest.raises(SourceConnectionError) as caught:
        plugin.create_pipeline(config)
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert str(missing) in caught.value.message  # a path is not a secret
    assert not missing.exists()


def test_password_in_a_url_is_still_masked(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    config = IngestionConfig(
        source_type="sql_database",
        source_config={
            "credentials": "postgresql://reader:Pw-sh0uld-hide@127.0.0.1:1/db",
            "table": "t",
            "connect_timeout": 1,
        },
        destination_table="bronze.t",
    )
    with pytest.raises(SourceConnectionError) as caught:
        plugin.create_pipeline(config)
    assert "Pw-sh0uld-hide" not in str(caught.value)
    assert "127.0.0.1:1/db" in str(caught.value)


def test_decimal_that_does_not_fit_names_table_and_column() -> None:
    cast = decimal_caster(
        {"amount": {"data_type": "decimal", "precision": 5, "scale": 2}}, "orders"
    )
    with pytest.raises(
        pa.ArrowInvalid, match=r"table .orders., column .amount.: .*decimal\(5, 2\)"
    ):
        cast(pa.table({"amount": ["123456.78"]}))
