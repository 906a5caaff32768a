"""The ``iceberg`` destination resolves the partial configuration behind ``capabilities()`` once
per config context instead of on every call; the capabilities stay exactly dlt's."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from dlt.common.destination.reference import Destination
from dlt.destinations.impl.filesystem.factory import filesystem

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.destination import iceberg


@pytest.fixture
def destination(tmp_path: Path) -> iceberg:
    return iceberg(
        catalog_type="sql",
        credentials=CatalogConfig.embedded(tmp_path / "lake"),
        state_tables=["t"],
    )


def _resolutions(destination: iceberg, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    resolve = destination.configuration

    def counting(initial_config: Any, accept_partial: bool = False) -> Any:
        calls.append(accept_partial)
        return resolve(initial_config, accept_partial)

    monkeypatch.setattr(destination, "configuration", counting)
    return calls


def test_capabilities_are_dlts_own(destination: iceberg) -> None:
    ours = destination.capabilities()
    # dlt's implementation, resolving its partial configuration itself
    theirs = filesystem.capabilities(destination)
    assert ours is not theirs
    assert dict(ours) == dict(theirs)
    assert ours.parquet_format.compression == "zstd"


def test_the_partial_configuration_is_resolved_once_per_context(
    destination: iceberg, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _resolutions(destination, monkeypatch)
    first = destination.capabilities()
    for _ in range(5):
        again = destination.capabilities()
        assert again is not first  # dlt mutates what it gets: every call builds new ones
    assert calls == [True]

    monkeypatch.setenv("DESTINATION__ICEBERG__LAYOUT", "{table_name}/{load_id}.{ext}")
    destination.capabilities()
    assert calls == [True, True]  # the environment changed: resolved again


def test_a_given_configuration_is_used_as_it_is(
    destination: iceberg, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _resolutions(destination, monkeypatch)
    config = destination.spec()
    destination.capabilities(config)
    assert calls == []


def test_dlt_still_resolves_this_partial_configuration_in_capabilities() -> None:
    """Guard on dlt 1.31: ``compat.dlt.partial_destination_configuration`` repeats these
    steps of dlt's own."""
    source = inspect.getsource(Destination.capabilities)
    for step in (
        "init_config.update(self.config_params)",
        "credentials = self.spec.credentials_type(init_config)()",
        "credentials.__is_resolved__ = True",
        "config = self.spec(credentials=credentials)",
        "config = self.configuration(config, accept_partial=True)",
        "caps = self.adjust_capabilities(caps, config, naming)",
    ):
        assert step in source, step
    # and the filesystem destination reads nothing but the protocol from it
    adjust = inspect.getsource(filesystem.adjust_capabilities)
    assert adjust.count("config.") == 1 and "config.protocol" in adjust


def test_dlt_ignores_the_injected_sections_when_a_resolution_names_its_own() -> None:
    """Guard on dlt 1.31: why the memo is keyed by pipeline name but not by step sections."""
    from dlt.common.configuration import resolve

    assert "sections=(known_sections.DESTINATION, self.destination_name)" in inspect.getsource(
        Destination.configuration
    )
    assert "explicit_sections or sections_context.sections" in inspect.getsource(
        resolve._resolve_single_value
    )


def test_one_resolution_serves_every_step_of_a_pipeline(
    destination: iceberg, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlt.common.configuration import inject_section
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

    calls = _resolutions(destination, monkeypatch)
    for step in ("extract", "normalize", "load"):
        with inject_section(ConfigSectionContext(pipeline_name="p", sections=(step,))):
            destination.capabilities()
    assert calls == [True]
    with inject_section(ConfigSectionContext(pipeline_name="other", sections=("load",))):
        destination.capabilities()
    assert calls == [True, True]  # another pipeline may have its own destination settings
