"""Invalid ingestion configs raise a typed error naming the field; nothing is created."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import PipelineConfigurationError, ValidationError
from tests.helpers import embedded_plugin, fresh_catalog

pytestmark = pytest.mark.integration


def _cfg(folder: Path, **overrides: Any) -> IngestionConfig:
    base: dict[str, Any] = {
        "source_type": "filesystem",
        "source_config": {"bucket_url": str(folder), "file_glob": "*.csv"},
        "destination_table": "bronze.items",
        "write_mode": "append",
        "schema_contract": "evolve",
    }
    base.update(overrides)
    return IngestionConfig(**base)


INVALID = [
    ("unknown source type", {"source_type": "ftp"}, "source_type"),
    ("empty source type", {"source_type": ""}, "source_type"),
    ("empty destination", {"destination_table": ""}, "destination_table"),
    ("no namespace", {"destination_table": "items"}, "destination_table"),
    ("three parts", {"destination_table": "a.b.c"}, "destination_table"),
    ("bad identifier", {"destination_table": "bronze.my-table"}, "destination_table"),
    ("unknown write mode", {"write_mode": "upsert"}, "write_mode"),
    ("unknown contract", {"schema_contract": "strict"}, "schema_contract"),
    ("merge without key", {"write_mode": "merge"}, "source_config.primary_key"),
    (
        "unknown source key",
        {"source_config": {"bucket_url": "/x", "file_glob": "*.csv", "bogus": 1}},
        "source_config.bogus",
    ),
    ("missing bucket", {"source_config": {"file_glob": "*.csv"}}, "source_config.bucket_url"),
    (
        "unknown format",
        {"source_config": {"bucket_url": "/x", "file_glob": "*.csv", "format": "xml"}},
        "source_config.format",
    ),
    (
        "format not inferable",
        {"source_config": {"bucket_url": "/x", "file_glob": "*.dat"}},
        "format",
    ),
    (
        "bad delimiter",
        {"source_config": {"bucket_url": "/x", "file_glob": "*.csv", "csv": {"delimiter": ";;"}}},
        "source_config.csv.delimiter",
    ),
    ("source config not a mapping", {"source_config": ["a"]}, "source_config"),
]


@pytest.mark.parametrize(("case", "overrides", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_names_field_and_creates_nothing(
    tmp_path: Path, case: str, overrides: dict[str, Any], field: str
) -> None:
    plugin = embedded_plugin(tmp_path)
    with pytest.raises(ValidationError) as info:
        plugin.create_pipeline(_cfg(tmp_path / "in", **overrides))
    assert field in str(info.value), case
    assert info.value.field is not None and field in info.value.field
    assert info.value.category.value == "CONFIGURATION"
    assert fresh_catalog(plugin).list_namespaces() == []
    assert not (tmp_path / "pipelines").exists() or not any((tmp_path / "pipelines").iterdir())


def test_missing_source_package_is_a_configuration_error_with_pip_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def no_s3fs(name: str, *args: Any) -> Any:
        return None if name == "s3fs" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_s3fs)
    plugin = embedded_plugin(tmp_path)
    cfg = _cfg(tmp_path, source_config={"bucket_url": "s3://bucket/data", "file_glob": "*.csv"})
    with pytest.raises(PipelineConfigurationError, match=r"pip install 'floe-ingestion-dlt\[s3\]'"):
        plugin.create_pipeline(cfg)
