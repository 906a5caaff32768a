"""A REST API that fails 30% of its requests (503, 429 with Retry-After, connection resets)
still loads exactly the rows it serves; a 401 fails at once, PERMANENT, without retries."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig
from pyiceberg.exceptions import NoSuchTableError

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory
from tests.helpers import embedded_plugin
from tests.integration.faults.support import commits_per_load_id, duplicates, table_ids
from tests.services.http_api import FakeApiServer, make_records

pytestmark = pytest.mark.integration

DATASET = "items"


def rest_config(api: FakeApiServer, **extra: Any) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": api.base_url,
            "path": f"offset/{DATASET}",
            "paginator": {"type": "offset", "limit": 20, "total_path": "total"},
            "data_selector": "items",
            "request_backoff_factor": 0.05,
            "request_max_retry_delay": 2,
            **extra,
        },
        destination_table="bronze.items",
    )


def faulted(api: FakeApiServer) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for request in api.requests:
        if request.fault:
            kinds[request.fault] = kinds.get(request.fault, 0) + 1
    return kinds


def test_thirty_percent_faults_are_healed_by_retries(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records(DATASET, make_records(300))
    plugin = embedded_plugin(
        tmp_path, retry_config=RetryConfig(max_retries=5, initial_delay_seconds=0.1)
    )
    pipeline = plugin.create_pipeline(rest_config(api_server))
    api_server.set_faults(rate=0.3, kinds=("503", "429", "reset"), retry_after=1, seed=7)

    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    ids = table_ids(plugin, "bronze.items")
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 301))
    assert outcome.rows_loaded == 300
    faults = faulted(api_server)
    assert sum(faults.values()) >= 3 and len(faults) >= 2, faults  # the faults did happen
    assert set(commits_per_load_id(plugin, "bronze.items").values()) == {1}


def test_faults_beyond_the_http_client_budget_are_retried_by_the_run(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    """With one HTTP attempt per request every fault fails the extract step; the runner's
    backoff retries the run, and the failed extracts left nothing behind."""
    api_server.set_records(DATASET, make_records(80))
    plugin = embedded_plugin(
        tmp_path,
        retry_config=RetryConfig(max_retries=20, initial_delay_seconds=0.02, max_delay_seconds=0.1),
    )
    pipeline = plugin.create_pipeline(rest_config(api_server, request_max_attempts=1))
    api_server.set_faults(rate=0.3, kinds=("503", "429", "reset"), retry_after=0, seed=8)

    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    assert outcome.attempts > 1  # the run itself was retried
    assert set(faulted(api_server)) == {"503", "429", "reset"}
    ids = table_ids(plugin, "bronze.items")
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 81))
    assert (
        len(commits_per_load_id(plugin, "bronze.items")) == 1
    )  # failed attempts committed nothing


def test_token_refused_fails_on_the_first_attempt_without_retries(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records(DATASET, make_records(50))
    token = "tok-" + uuid.uuid4().hex
    api_server.require_bearer(token)
    plugin = embedded_plugin(
        tmp_path, retry_config=RetryConfig(max_retries=5, initial_delay_seconds=0.01)
    )
    pipeline = plugin.create_pipeline(
        rest_config(api_server, auth={"type": "bearer", "token": token})
    )
    api_server.require_bearer("rotated-" + uuid.uuid4().hex)  # the token is revoked
    api_server.clear_log()

    outcome = plugin.run_with_outcome(pipeline)

    assert not outcome.success
    assert outcome.category is ErrorCategory.PERMANENT
    assert outcome.attempts == 1
    assert api_server.request_count(f"/offset/{DATASET}") == 1  # no HTTP retry, no run retry
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith(
        "[PERMANENT] SourceConnectionError: extract step: HTTPError: 401 Client Error"
    )
    assert outcome.errors[0].endswith(
        "(source_type=rest_api, destination_table=bronze.items, pipeline=floe__bronze__items)"
    )
    assert token not in outcome.errors[0]
    with pytest.raises(NoSuchTableError):
        table_ids(plugin, "bronze.items")
