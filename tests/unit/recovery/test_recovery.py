"""recovery: which failed packages are aborted, which settings are refused."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from dlt.load.exceptions import LoadClientJobTerminalRetry
from dlt.pipeline.exceptions import PipelineStepFailed

from floe_ingestion_dlt.errors import ErrorCategory, PipelineConfigurationError
from floe_ingestion_dlt.recovery import (
    check_load_settings,
    failed_load_ids,
    release_failed_packages,
)


class FakePipeline:
    """Stands in for dlt.Pipeline: pending packages, their jobs, and abort_packages()."""

    pipeline_name = "floe__bronze__t"

    def __init__(self, committed_tables: tuple[str, ...] = (), pending: bool = True) -> None:
        self.pending = pending
        self.committed_tables = committed_tables
        self.aborted = 0

    @property
    def has_pending_data(self) -> bool:
        return self.pending

    def list_normalized_load_packages(self) -> list[str]:
        return ["1.1"] if self.pending else []

    def get_load_package_info(self, load_id: str) -> Any:
        jobs = [
            SimpleNamespace(job_file_info=SimpleNamespace(table_name=t, file_format="reference"))
            for t in self.committed_tables
        ]
        return SimpleNamespace(jobs={"completed_jobs": jobs})

    def abort_packages(self) -> dict[str, Any]:
        self.aborted += 1
        self.pending = False
        return {
            "package_to_abort": {"load_id": "1.1"},
            "packages_to_delete": ["1.2"],
            "extracted_packages_to_delete": [],
        }


@pytest.mark.parametrize("category", [ErrorCategory.PERMANENT, ErrorCategory.CONFIGURATION])
def test_failed_for_good_packages_are_aborted(category: ErrorCategory) -> None:
    pipeline = FakePipeline()
    assert release_failed_packages(pipeline, category) == ["1.1", "1.2"]
    assert pipeline.aborted == 1


@pytest.mark.parametrize("category", [ErrorCategory.TRANSIENT, ErrorCategory.PARTIAL])
def test_transient_and_partial_packages_stay_pending(category: ErrorCategory) -> None:
    pipeline = FakePipeline()
    assert release_failed_packages(pipeline, category) == []
    assert pipeline.aborted == 0


def test_a_package_with_a_committed_table_is_never_aborted() -> None:
    """Whatever the category says: aborting it would append that table's rows again."""
    pipeline = FakePipeline(committed_tables=("orders",))
    assert release_failed_packages(pipeline, ErrorCategory.PERMANENT) == []
    assert pipeline.aborted == 0


def test_bookkeeping_tables_do_not_count_as_committed() -> None:
    pipeline = FakePipeline(committed_tables=("_dlt_pipeline_state",))
    assert release_failed_packages(pipeline, ErrorCategory.PERMANENT) == ["1.1", "1.2"]


def test_nothing_pending_nothing_aborted() -> None:
    pipeline = FakePipeline(pending=False)
    assert release_failed_packages(pipeline, ErrorCategory.PERMANENT) == []
    assert pipeline.aborted == 0


def test_an_abort_that_fails_is_swallowed() -> None:
    class Broken(FakePipeline):
        def abort_packages(self) -> dict[str, Any]:
            raise OSError("disk gone")

    assert release_failed_packages(Broken(), ErrorCategory.PERMANENT) == []


def test_failed_load_ids_from_dlt_step_failures(tmp_path: Any) -> None:
    import dlt

    pipeline = dlt.pipeline(pipeline_name="recovery_unit", pipelines_dir=str(tmp_path))
    job = LoadClientJobTerminalRetry("1.7", "t.x.reference", "boom", RuntimeError("boom"))
    step = PipelineStepFailed(pipeline, "load", "1.7", job)
    try:
        raise RuntimeError("outer") from step
    except RuntimeError as exc:
        assert failed_load_ids(exc) == ["1.7"]
    assert failed_load_ids(PipelineStepFailed(pipeline, "extract", None, job)) == []


@pytest.mark.parametrize(
    "variable", ["LOAD__RAISE_ON_FAILED_JOBS", "FLOE__BRONZE__T__LOAD__RAISE_ON_FAILED_JOBS"]
)
def test_raise_on_failed_jobs_false_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "false")
    with pytest.raises(PipelineConfigurationError) as caught:
        check_load_settings("floe__bronze__t")
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == "load.raise_on_failed_jobs"


def test_pipeline_scoped_true_wins_over_global_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    monkeypatch.setenv("FLOE__BRONZE__T__LOAD__RAISE_ON_FAILED_JOBS", "true")
    check_load_settings("floe__bronze__t")


def test_default_and_true_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOAD__RAISE_ON_FAILED_JOBS", raising=False)
    check_load_settings("floe__bronze__t")
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "true")
    check_load_settings("floe__bronze__t")
