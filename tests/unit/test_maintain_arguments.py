"""``DltIngestionPlugin.maintain`` refuses bad arguments with a typed error naming the argument,
before it opens the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"expire_older_than": "soon"}, "expire_older_than"),
        ({"retain_last": 0}, "retain_last"),
        ({"remove_orphans_older_than": "three days"}, "remove_orphans_older_than"),
        ({"remove_orphans_older_than": "59m"}, "remove_orphans_older_than"),
    ],
)
def test_bad_argument_names_itself(
    tmp_path: Path, arguments: dict[str, object], field: str
) -> None:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(catalog_config=CatalogConfig.embedded(tmp_path / ".floe"))
    )
    with pytest.raises(ValidationError) as raised:
        plugin.maintain("bronze.orders", **arguments)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert raised.value.category is ErrorCategory.CONFIGURATION
    assert f"{field}: " in str(raised.value)
    assert not (tmp_path / ".floe").exists()  # nothing opened or created
