"""dlt settings the plugin uses by default for speed on small machines (2 cores).

Measured with ``python -m benchmarks`` (REST, 100 pages x 1,000 records: 13.7 s -> 5.6-7.6 s):

- Sources that yield Python rows (``rest_api``, ``sql_database`` with the ``sqlalchemy``
  backend) spend most of their time in dlt's row-by-row normalizer. Normalize runs one worker
  process per core (forked). The ``extract.data_writer.file_max_items`` default meant to rotate
  extract files every ``EXTRACT_FILE_MAX_ITEMS`` rows is not read by dlt 1.31 (extract's writer
  resolves under ``sources.<section>.<name>.data_writer``, see ``SOURCES_SECTION``): it has
  had no effect; moving it to ``sources.data_writer`` changes how REST loads are split into
  files and is left to the REST source's owner.
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

Every setting is scoped to the pipeline (``<PIPELINE_NAME>__NORMALIZE__WORKERS`` ...) and only
applied when the user has set neither that key nor the global one (environment, dlt's
``config.toml``/``secrets.toml``): explicit user settings always win.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

__all__ = [
    "ARROW_EXTRACT_BUFFER_ROWS",
    "EXTRACT_FILE_MAX_ITEMS",
    "NORMALIZE_BUFFER_MAX_ITEMS",
    "PAGED_EXTRACT_BUFFER_ROWS",
    "apply_dlt_defaults",
    "dlt_defaults",
    "set_pipeline_settings",
    "use_normalize_workers",
    "use_paged_extract_buffer",
    "yields_python_rows",
]

EXTRACT_FILE_MAX_ITEMS = 50_000
NORMALIZE_BUFFER_MAX_ITEMS = 100_000
ARROW_EXTRACT_BUFFER_ROWS = 1_000_000
"""Rows an Arrow source's extract buffers per Parquet row group (PyIceberg's row-group limit)."""
PAGED_EXTRACT_BUFFER_ROWS = 100_000
"""Rows a REST load with Arrow pages buffers per row group: pages of ~1,000 records would
otherwise be written every 5,000 rows (dlt's default), and if the run falls back to rows the
buffer holds Python records, so it stays well below ``ARROW_EXTRACT_BUFFER_ROWS``."""
SOURCES_SECTION = "sources"
"""dlt 1.31 configures extract's data writer in the source's sections (``sources.<section>.
<name>.data_writer``, then ``data_writer``), not under ``extract``: see
``tests/unit/test_performance_defaults.py``."""


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
    if not python_rows:
        settings[f"{SOURCES_SECTION}.data_writer.buffer_max_items"] = ARROW_EXTRACT_BUFFER_ROWS
    elif cores > 1:
        settings["normalize.workers"] = min(cores, 4)
        settings["extract.data_writer.file_max_items"] = EXTRACT_FILE_MAX_ITEMS
    return settings


def _env_name(*parts: str) -> str:
    return "__".join(p.replace(".", "__") for p in parts).upper()


def _user_keys(key: str) -> tuple[str, ...]:
    """``key`` and the more general key dlt falls back to (``sources.data_writer.x`` ->
    ``data_writer.x``): a user setting of either decides the value."""
    if key.startswith(f"{SOURCES_SECTION}."):
        return key, key.removeprefix(f"{SOURCES_SECTION}.")
    return (key,)


def _user_set(pipeline_name: str, key: str) -> bool:
    keys = _user_keys(key)
    names = [_env_name(k) for k in keys] + [_env_name(pipeline_name, k) for k in keys]
    if any(name in os.environ for name in names):
        return True
    import dlt

    for path in [*keys, *(f"{pipeline_name}.{k}" for k in keys)]:
        # an unreadable provider is not a user setting
        with contextlib.suppress(Exception):
            if dlt.config.get(path) is not None:
                return True
    return False


_PLUGIN_SET: dict[str, str] = {}
"""Environment variables this process set as defaults, and the value it set."""


def _apply_default(pipeline_name: str, key: str, value: int) -> bool:
    """Set one default for ``pipeline_name`` unless the user set ``key``; True when set."""
    env = _env_name(pipeline_name, key)
    ours = env in os.environ and _PLUGIN_SET.get(env) == os.environ[env]
    if ours or os.environ.get(env) == str(value) or not _user_set(pipeline_name, key):
        os.environ[env] = _PLUGIN_SET[env] = str(value)
        return True
    return False


def apply_dlt_defaults(pipeline_name: str, python_rows: bool) -> dict[str, int]:
    """Set the defaults for ``pipeline_name`` where the user set nothing; returns what was set."""
    return {
        key: value
        for key, value in dlt_defaults(python_rows).items()
        if _apply_default(pipeline_name, key, value)
    }


def use_normalize_workers(pipeline_name: str, rows: bool) -> bool:
    """Normalize in worker processes (rows) or in-process (Arrow only), unless the user chose.

    Arrow files only get a column added at normalize: forking workers costs more than it saves.
    """
    workers = min(_cores(), 4) if rows else 1
    return _apply_default(pipeline_name, "normalize.workers", workers)


def use_paged_extract_buffer(pipeline_name: str) -> bool:
    """Buffer ``PAGED_EXTRACT_BUFFER_ROWS`` rows of Arrow pages per row group (unless the user
    set the buffer)."""
    key = f"{SOURCES_SECTION}.data_writer.buffer_max_items"
    return _apply_default(pipeline_name, key, PAGED_EXTRACT_BUFFER_ROWS)


def set_pipeline_settings(pipeline_name: str, settings: dict[str, Any]) -> None:
    """Set dlt config keys (dotted) for ``pipeline_name`` only: settings the plugin relies on."""
    for key, value in settings.items():
        os.environ[_env_name(pipeline_name, key)] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
