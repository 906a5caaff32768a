"""One SQL catalog per run: ``load_catalog`` shares SQL catalogs inside ``shared_sql_catalogs``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyiceberg.catalog
import pytest

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import forget_shared_catalogs, load_catalog, shared_sql_catalogs


def test_outside_a_run_every_call_opens_a_new_catalog(tmp_path: Path) -> None:
    config = CatalogConfig.embedded(tmp_path / "lake")
    assert load_catalog(config) is not load_catalog(config)


def test_inside_a_run_a_sql_catalog_is_opened_once(tmp_path: Path) -> None:
    config = CatalogConfig.embedded(tmp_path / "lake")
    other = CatalogConfig.embedded(tmp_path / "other")
    with shared_sql_catalogs():
        first = load_catalog(config)
        assert load_catalog(config) is first
        assert load_catalog(CatalogConfig.embedded(tmp_path / "lake")) is first  # equal config
        assert load_catalog(other) is not first
        first.create_namespace("bronze")  # it works as any catalog does
        assert ("bronze",) in load_catalog(config).list_namespaces()
    assert load_catalog(config) is not first


def test_threads_of_a_run_share_it_and_nested_blocks_keep_it(tmp_path: Path) -> None:
    config = CatalogConfig.embedded(tmp_path / "lake")
    seen: list[Any] = []
    with shared_sql_catalogs():
        first = load_catalog(config)
        with shared_sql_catalogs():
            worker = threading.Thread(target=lambda: seen.append(load_catalog(config)))
            worker.start()
            worker.join()
        assert seen == [first]
        assert load_catalog(config) is first  # the inner block ending drops nothing


def test_after_a_failed_attempt_the_catalog_is_opened_anew(tmp_path: Path) -> None:
    config = CatalogConfig.embedded(tmp_path / "lake")
    with shared_sql_catalogs():
        first = load_catalog(config)
        forget_shared_catalogs()
        second = load_catalog(config)
        assert second is not first
        assert load_catalog(config) is second


def test_rest_catalogs_are_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []

    def fake_load_catalog(name: str, **props: Any) -> object:
        opened.append(object())
        return opened[-1]

    monkeypatch.setattr(pyiceberg.catalog, "load_catalog", fake_load_catalog)
    config = CatalogConfig.parse({"type": "rest", "uri": "http://catalog", "warehouse": "lake"})
    with shared_sql_catalogs():
        assert load_catalog(config) is not load_catalog(config)
    assert len(opened) == 2
