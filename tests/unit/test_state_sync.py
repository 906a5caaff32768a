"""Local dlt state versus the destination's, on real dlt pipelines over an embedded catalog;
plus guards on the dlt 1.31 internals this relies on (they fail if dlt changes)."""

from __future__ import annotations

import inspect
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest
from dlt.normalize.normalize import Normalize
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.destination import iceberg
from floe_ingestion_dlt.state_sync import (
    finish_interrupted_normalize,
    start_from_destination_state,
)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    catalog = CatalogConfig.embedded(tmp_path / "lake")
    made = dlt.pipeline(
        "p_state",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=iceberg(catalog_type="sql", credentials=catalog, state_tables=["items"]),
        dataset_name="bronze",
    )
    yield made
    made.deactivate()


def items(first: int, last: int) -> Any:
    """Rows ``first..last`` with an incremental cursor on ``id`` (dlt filters what it saw)."""
    rows = dlt.resource(
        [{"id": i} for i in range(first, last + 1)], name="items", table_format="iceberg"
    )
    rows.apply_hints(incremental=dlt.sources.incremental("id"))
    return rows


def _cursor(pipeline: Pipeline) -> Any:
    resources = pipeline.state["sources"]["p_state"]["resources"]
    return resources["items"]["incremental"]["id"]["last_value"]


def test_pending_packages_are_never_discarded(pipeline: Pipeline) -> None:
    pipeline.extract(items(1, 3))
    assert pipeline.has_pending_data
    assert start_from_destination_state(pipeline) is False
    assert pipeline.list_extracted_load_packages()


def test_the_local_cursor_is_replaced_by_the_one_committed_with_the_table(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    pipeline.run(items(1, 3), loader_file_format="parquet")
    assert _cursor(pipeline) == 3
    # the local cursor runs ahead: a package extracted and then lost (never loaded)
    pipeline.extract(items(1, 9), loader_file_format="parquet")
    shutil.rmtree(Path(pipeline.working_dir) / "normalize")
    assert _cursor(pipeline) == 9 and not pipeline.has_pending_data

    assert start_from_destination_state(pipeline) is True
    assert "sources" not in pipeline.state  # nothing local is left to trust
    info = pipeline.run(items(1, 9), loader_file_format="parquet")
    assert info is not None and not info.has_failed_jobs
    table = load_catalog(CatalogConfig.embedded(tmp_path / "lake")).load_table("bronze.items")
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(1, 10))
    assert _cursor(pipeline) == 9


def test_a_new_pipeline_has_nothing_to_drop_and_still_starts_from_the_destination_state(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.run(items(1, 3), loader_file_format="parquet")
    # a new pod: same pipeline, empty working folder; dropping it would change nothing
    pod = dlt.pipeline(
        "p_state",
        pipelines_dir=str(tmp_path / "pod"),
        destination=pipeline.destination,
        dataset_name="bronze",
    )

    def no_drop(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("a new pipeline was dropped")

    monkeypatch.setattr(pod, "drop", no_drop)
    assert start_from_destination_state(pod) is True
    info = pod.run(items(1, 9), loader_file_format="parquet")

    assert info is not None and not info.has_failed_jobs
    table = load_catalog(CatalogConfig.embedded(tmp_path / "lake")).load_table("bronze.items")
    # the cursor came from the destination: rows 1..3 were not appended a second time
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(1, 10))
    assert _cursor(pod) == 9
    pipeline.activate()


def test_a_pipeline_that_synced_or_ran_is_dropped(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[bool] = []
    drop = pipeline.drop

    def counting_drop(*args: Any, **kwargs: Any) -> Any:
        dropped.append(True)
        return drop(*args, **kwargs)

    @dlt.resource(name="items", table_format="iceberg")
    def failing() -> Iterator[dict[str, int]]:
        raise RuntimeError("source went away")
        yield {"id": 1}

    monkeypatch.setattr(pipeline, "drop", counting_drop)
    with pytest.raises(PipelineStepFailed):
        pipeline.run(failing(), loader_file_format="parquet")
    # nothing was extracted, but this instance synced: dlt would not sync it again
    assert start_from_destination_state(pipeline) is True
    assert dropped == [True]
    pipeline.run(items(1, 3), loader_file_format="parquet")
    assert start_from_destination_state(pipeline) is True
    assert dropped == [True, True]


def test_an_interrupted_normalize_commit_is_finished(pipeline: Pipeline, tmp_path: Path) -> None:
    # dlt wipes a pipeline whose destination was never initialised: load something first
    pipeline.run(items(1, 2), loader_file_format="parquet")
    pipeline.extract(items(1, 5), loader_file_format="parquet")
    [load_id] = pipeline.list_extracted_load_packages()
    extracted = Path(pipeline.working_dir) / "normalize" / "extracted" / load_id
    kept = tmp_path / "kept"
    shutil.copytree(extracted, kept)
    pipeline.normalize()
    shutil.copytree(kept, extracted)  # killed after the move, before the extracted copy went
    assert pipeline.list_extracted_load_packages() == pipeline.list_normalized_load_packages()

    assert finish_interrupted_normalize(pipeline) == [load_id]
    assert pipeline.list_extracted_load_packages() == []
    assert pipeline.list_normalized_load_packages() == [load_id]
    assert finish_interrupted_normalize(pipeline) == []
    info = pipeline.run()
    assert info is not None and info.loads_ids == [load_id]
    table = load_catalog(CatalogConfig.embedded(tmp_path / "lake")).load_table("bronze.items")
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3, 4, 5]


# -- guards on dlt internals -------------------------------------------------------------------


def test_normalize_moves_the_package_before_deleting_the_extracted_copy() -> None:
    source = inspect.getsource(Normalize.spool_files)
    moved = source.index("self.load_storage.commit_new_load_package(load_id)")
    deleted = source.index("self.normalize_storage.extracted_packages.delete_package(load_id)")
    assert moved < deleted
    assert callable(Pipeline._get_normalize_storage)


def test_drop_reinitialises_the_pipeline_in_place_and_run_syncs_once_per_instance() -> None:
    drop = inspect.getsource(Pipeline.drop)
    assert "self._create_pipeline()" in drop and "self.__init__(" in drop
    run = inspect.getsource(Pipeline.run)
    assert "not self._state_restored" in run and "self._sync_destination(" in run
    assert "self._state_restored: bool = False" in inspect.getsource(Pipeline.__init__)


def test_a_new_pipeline_is_recognised_by_first_run_and_the_sync_flag() -> None:
    assert "self.first_run = True" in inspect.getsource(Pipeline._create_pipeline)
    assert "self.first_run = False" in inspect.getsource(Pipeline._update_last_run_context)
    assert "self._update_last_run_context()" in inspect.getsource(Pipeline._load)
    assert "not self.first_run" in inspect.getsource(Pipeline.has_data.fget)  # type: ignore[attr-defined]
    assert "self._state_restored = True" in inspect.getsource(Pipeline.run)


def test_the_load_package_carries_the_pipeline_state_the_load_job_records() -> None:
    source = inspect.getsource(Pipeline._bump_version_and_extract_state)
    assert 'load_package_state_update["pipeline_state"] = doc' in source
