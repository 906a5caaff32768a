"""Fixtures of the error tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def dlt_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real dlt pipeline object, for dlt's own step/job wrappers."""
    import dlt

    folder: Path = tmp_path_factory.mktemp("dlt_pipelines")
    return dlt.pipeline(pipeline_name="errors_unit", pipelines_dir=str(folder))
