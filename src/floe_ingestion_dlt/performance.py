"""dlt settings the plugin uses by default for speed on small machines (2 cores).

Measured with ``python -m benchmarks`` (REST, 100 pages x 1,000 records: 13.7 s -> 5.6-7.6 s):

- Sources that yield Python rows (``rest_api``, ``sql_database`` with the ``sqlalchemy``
  backend) spend most of their time in dlt's row-by-row normalizer. Extract rotates its files
  every ``EXTRACT_FILE_MAX_ITEMS`` rows and normalize runs one worker process per core
  (forked), so the files are normalized in parallel.
- Normalize buffers ``NORMALIZE_BUFFER_MAX_ITEMS`` rows before writing: fewer, larger Parquet
  row groups (these files become the Iceberg data files on the append fast path).

Arrow sources (files, SQL with Arrow backends) keep one file per table: their normalize step
only moves files, so workers would add nothing.

Every setting is scoped to the pipeline (``<PIPELINE_NAME>__NORMALIZE__WORKERS`` ...) and only
applied when the user has set neither that key nor the global one (environment, dlt's
``config.toml``/``secrets.toml``): explicit user settings always win.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = [
    "EXTRACT_FILE_MAX_ITEMS",
    "NORMALIZE_BUFFER_MAX_ITEMS",
    "apply_dlt_defaults",
    "dlt_defaults",
    "yields_python_rows",
]

EXTRACT_FILE_MAX_ITEMS = 50_000
NORMALIZE_BUFFER_MAX_ITEMS = 100_000


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def yields_python_rows(source_type: str, source_config: Any) -> bool:
    """True for sources whose items go through dlt's row-by-row normalizer."""
    if source_type == "rest_api":
        return True
    if source_type == "sql_database":
        return getattr(source_config, "backend", None) == "sqlalchemy"
    return False


def dlt_defaults(python_rows: bool) -> dict[str, int]:
    """The dlt config keys (dotted) and values the plugin defaults to."""
    settings = {"normalize.data_writer.buffer_max_items": NORMALIZE_BUFFER_MAX_ITEMS}
    cores = _cores()
    if python_rows and cores > 1:
        settings["normalize.workers"] = min(cores, 4)
        settings["extract.data_writer.file_max_items"] = EXTRACT_FILE_MAX_ITEMS
    return settings


def _env_name(*parts: str) -> str:
    return "__".join(p.replace(".", "__") for p in parts).upper()


def _user_set(pipeline_name: str, key: str) -> bool:
    names = (_env_name(key), _env_name(pipeline_name, key))
    if any(name in os.environ for name in names):
        return True
    import dlt

    for path in (key, f"{pipeline_name}.{key}"):
        # an unreadable provider is not a user setting
        with contextlib.suppress(Exception):
            if dlt.config.get(path) is not None:
                return True
    return False


def apply_dlt_defaults(pipeline_name: str, python_rows: bool) -> dict[str, int]:
    """Set the defaults for ``pipeline_name`` where the user set nothing; returns what was set."""
    applied: dict[str, int] = {}
    for key, value in dlt_defaults(python_rows).items():
        env = _env_name(pipeline_name, key)
        if os.environ.get(env) == str(value) or not _user_set(pipeline_name, key):
            os.environ[env] = str(value)
            applied[key] = value
    return applied
