"""dlt settings the plugin uses by default for speed on small machines (2 cores).

Measured with ``python -m benchmarks`` (REST, 100 pages x 1,000 records: 13.7 s -> 5.6-7.6 s):

- Sources that yield Python rows (``rest_api``, ``sql_database`` with the ``sqlalchemy``
  backend) spend most of their time in dlt's row-by-row normalizer. Normalize runs one worker
  process per core (forked). (An ``extract.data_writer.file_max_items`` default set here
  earlier was never read by dlt 1.31 -- extract's writer resolves under
  ``sources.<section>.<name>.data_writer``, see ``SOURCES_SECTION`` -- and is gone; rotating
  extract files would change how REST loads are split into files: not done.)
- Normalize buffers ``NORMALIZE_BUFFER_MAX_ITEMS`` rows before writing: fewer, larger Parquet
  row groups (these files become the Iceberg data files on the append fast path).

Arrow sources (files, SQL with Arrow backends) keep one file per table: their normalize step
only moves files, so workers would add nothing. Their extract step buffers
``ARROW_EXTRACT_BUFFER_ROWS`` rows before writing, because dlt writes one Parquet row group per
flush and these files become the Iceberg data files as they are. With dlt's default (5,000
items, so one row group per 100,000-row Arrow chunk) every row group builds a dictionary of up
to 1 MB per column before Arrow falls back to plain encoding: for high-cardinality columns
(ids, timestamps) a 100,000-row group never falls back. Measured on the files benchmark (1M
rows x 10 columns): writing took 0.65 s CPU and 32 MB; with 1,000,000-row groups (PyIceberg's
own row-group limit) 0.37 s and 22 MB, the same file PyIceberg writes. The cost is memory: up
to that many rows of the source are held before a write (about 90 MB for the benchmark's ten
columns); set ``DATA_WRITER__BUFFER_MAX_ITEMS`` (or ``SOURCES__DATA_WRITER__BUFFER_MAX_ITEMS``)
lower for very wide tables.

Every setting is scoped to the pipeline (``<PIPELINE_NAME>__NORMALIZE__WORKERS`` ..., written
through :mod:`floe_ingestion_dlt.compat.dlt`); each source
builder declares its :class:`DltSettings`, applied at plan time and before every run. Defaults
are only applied when the user has set neither that key nor the global one (environment,
dlt's ``config.toml``/``secrets.toml``): explicit user settings always win. Required settings
(``ROW_ID_SETTINGS`` for REST Arrow pages) are what the plugin's output depends on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from floe_ingestion_dlt.compat.dlt import dlt_env_is_set, dlt_env_name, set_dlt_env, unset_dlt_env
from floe_ingestion_dlt.retry_budget import DLT_RETRY_SETTINGS

__all__ = [
    "ARROW_EXTRACT_BUFFER_ROWS",
    "EXTRACT_POLL_SECONDS",
    "NORMALIZE_BUFFER_MAX_ITEMS",
    "PAGED_EXTRACT_BUFFER_ROWS",
    "ROW_ID_SETTINGS",
    "DltSettings",
    "apply_pipeline_settings",
    "arrow_pages_settings",
    "dlt_defaults",
    "forget_pipeline_settings",
    "settings_for",
    "use_normalize_workers",
    "yields_python_rows",
]

NORMALIZE_BUFFER_MAX_ITEMS = 100_000
EXTRACT_POLL_SECONDS = 0.002
"""How long dlt's extract sleeps when no source has an item ready (dlt: 0.01 s). It sleeps
so at least once per run, when the last source is exhausted: measured 15-17 ms of a 300 ms
merge run at 0.01 s. Waits on running futures (parallel or async resources) still return as
soon as one completes; only idle polls come more often."""
ARROW_EXTRACT_BUFFER_ROWS = 1_000_000
"""Rows an Arrow source's extract buffers per write (written as row groups of
``destination.rewrite_files.ROW_GROUP_ROWS`` rows with small dictionary pages)."""
PAGED_EXTRACT_BUFFER_ROWS = 100_000
"""Rows a REST load with Arrow pages buffers per row group: pages of ~1,000 records would
otherwise be written every 5,000 rows (dlt's default), and if the run falls back to rows the
buffer holds Python records, so it stays well below ``ARROW_EXTRACT_BUFFER_ROWS``."""
ROW_ID_SETTINGS = {
    "normalize.parquet_normalizer.add_dlt_load_id": True,
    "normalize.parquet_normalizer.add_dlt_id": True,
}
"""dlt settings giving Arrow tables the ``_dlt_load_id`` / ``_dlt_id`` columns rows get."""
SOURCES_SECTION = "sources"
"""dlt 1.31 configures extract's data writer in the source's sections (``sources.<section>.
<name>.data_writer``, then ``data_writer``), not under ``extract``: see
``tests/unit/test_performance_defaults.py``."""


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _row_workers() -> int:
    """Normalize worker processes for rows: one per core, at most 4."""
    return min(_cores(), 4)


def yields_python_rows(source_type: str, source_config: Any) -> bool:
    """True for sources whose items go through dlt's row-by-row normalizer."""
    if source_type == "rest_api":
        return True
    if source_type == "sql_database":
        return getattr(source_config, "backend", None) == "sqlalchemy"
    return False


def dlt_defaults(python_rows: bool) -> dict[str, Any]:
    """The dlt config keys (dotted) and values the plugin defaults to."""
    settings: dict[str, Any] = {
        "normalize.data_writer.buffer_max_items": NORMALIZE_BUFFER_MAX_ITEMS,
        "extract.futures_poll_interval": EXTRACT_POLL_SECONDS,
    }
    cores = _cores()
    if not python_rows:
        settings[f"{SOURCES_SECTION}.data_writer.buffer_max_items"] = ARROW_EXTRACT_BUFFER_ROWS
    elif cores > 1:
        settings["normalize.workers"] = _row_workers()
    return settings


def _user_keys(key: str) -> tuple[str, ...]:
    """``key`` and the more general key dlt falls back to (``sources.data_writer.x`` ->
    ``data_writer.x``): a user setting of either decides the value."""
    if key.startswith(f"{SOURCES_SECTION}."):
        return key, key.removeprefix(f"{SOURCES_SECTION}.")
    return (key,)


def _user_set(pipeline_name: str, key: str) -> bool:
    keys = _user_keys(key)
    names = [dlt_env_name(k) for k in keys] + [dlt_env_name(pipeline_name, k) for k in keys]
    if dlt_env_is_set(*names):
        return True
    import dlt

    for path in [*keys, *(f"{pipeline_name}.{k}" for k in keys)]:
        # an unreadable provider is not a user setting
        with contextlib.suppress(Exception):
            if dlt.config.get(path) is not None:
                return True
    return False


_PLUGIN_SET: dict[str, dict[str, str]] = {}
"""Per pipeline: the environment variables this process set for it, and the value it set."""


@dataclass(frozen=True)
class DltSettings:
    """dlt config keys (dotted) a load runs with, scoped to its pipeline.

    ``defaults`` apply where the user set nothing; ``required`` always (the plugin relies on
    them, e.g. Arrow pages need dlt's row ids). Applied when the pipeline is planned and again
    before every run attempt, after forgetting what an earlier plan of the same pipeline set:
    the environment is process-wide, and a table loaded by one source type and then another in
    one process must not keep the first one's settings.
    """

    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: Mapping[str, Any] = field(default_factory=dict)


def _set(pipeline_name: str, key: str, value: Any) -> None:
    env = dlt_env_name(pipeline_name, key)
    _PLUGIN_SET.setdefault(pipeline_name, {})[env] = set_dlt_env(env, value)


def _apply_default(pipeline_name: str, key: str, value: Any) -> bool:
    """Set one default for ``pipeline_name`` unless the user set ``key``; True when set."""
    env = dlt_env_name(pipeline_name, key)
    ours = _PLUGIN_SET.get(pipeline_name, {}).get(env)
    if (ours is not None and os.environ.get(env) == ours) or not _user_set(pipeline_name, key):
        _set(pipeline_name, key, value)
        return True
    return False


def forget_pipeline_settings(pipeline_name: str) -> None:
    """Remove what this process set for ``pipeline_name`` (values changed since are kept)."""
    for env, value in _PLUGIN_SET.pop(pipeline_name, {}).items():
        unset_dlt_env(env, value)


def apply_pipeline_settings(pipeline_name: str, settings: DltSettings) -> dict[str, Any]:
    """Apply ``settings`` to ``pipeline_name`` from a clean slate; returns what was set."""
    forget_pipeline_settings(pipeline_name)
    defaults = {**DLT_RETRY_SETTINGS, **settings.defaults}  # dlt defers to the run's retries
    applied = {k: v for k, v in defaults.items() if _apply_default(pipeline_name, k, v)}
    for key, value in settings.required.items():
        _set(pipeline_name, key, value)
        applied[key] = value
    return applied


def settings_for(python_rows: bool) -> DltSettings:
    """The settings of a load whose source yields Python rows or Arrow tables."""
    return DltSettings(defaults=dlt_defaults(python_rows))


def arrow_pages_settings() -> DltSettings:
    """Settings of a REST load whose pages become Arrow tables (``sources/rest_api_arrow``).

    Normalize only adds ``_dlt_id`` to Arrow files: in-process (forking workers costs more than
    it saves; a run falling back to rows asks for workers, :func:`use_normalize_workers`), and
    extract buffers ``PAGED_EXTRACT_BUFFER_ROWS`` rows per row group.
    """
    defaults = {
        **dlt_defaults(python_rows=True),
        "normalize.workers": 1,
        f"{SOURCES_SECTION}.data_writer.buffer_max_items": PAGED_EXTRACT_BUFFER_ROWS,
    }
    return DltSettings(defaults=defaults, required=ROW_ID_SETTINGS)


def use_normalize_workers(pipeline_name: str, rows: bool) -> bool:
    """Normalize in worker processes (rows) or in-process (Arrow only), unless the user chose."""
    workers = _row_workers() if rows else 1
    return _apply_default(pipeline_name, "normalize.workers", workers)
