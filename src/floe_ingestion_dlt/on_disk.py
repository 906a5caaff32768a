"""What dlt writes to the pipelines folder holds no secret.

dlt pickles the trace of every run (``trace.pickle``): step exceptions with the failing URL
(``http://user:password@host/...``, ``?api_key=...``), resolved configuration values. And a
failed load package keeps its job's exception text. These files outlive the run, so they are
held to the same rule as the logs:

* :func:`guard_dlt_trace` replaces dlt's ``save_trace`` with one that checks the pickled bytes
  for a known secret (every value :mod:`~floe_ingestion_dlt.scrub` registered from the
  configuration, in clear or URL-encoded) or a password inside a URL; such a trace is not
  written (the previous one is removed as dlt does), a warning says so.
* :func:`scrub_pipeline_files` rewrites the failed jobs' exception texts of a pipeline's load
  packages with those secrets masked, after every run (schemas and state are left alone: dlt
  refuses a stored schema that was modified; the tests check they hold no secret).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.scrub import MASK, known_secrets

__all__ = ["contains_secret", "guard_dlt_trace", "scrub_pipeline_files"]

_log = get_logger(__name__)

_URL_PASSWORD = re.compile(rb"[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s\"']*:[^@/\s\"']+@")
_MAX_TEXT_FILE = 4 * 1024 * 1024
_BINARY_SUFFIXES = frozenset({".parquet", ".pickle", ".gz", ".zst", ".avro", ".arrow"})


def contains_secret(data: bytes) -> bool:
    """Whether ``data`` holds a registered secret or a password inside a URL."""
    if _URL_PASSWORD.search(data):
        return True
    return any(secret.encode() in data for secret in known_secrets())


def _guarded_save_trace(original: Any) -> Any:
    def save_trace(trace_dir: str, trace: Any) -> None:
        import pickle

        try:
            dumped = pickle.dumps(trace)
        except Exception:  # dlt warns and carries on when a trace does not pickle
            dumped = b""
        if not contains_secret(dumped):
            original(trace_dir, trace)
            return
        path = os.path.join(trace_dir, "trace.pickle")
        if os.path.isfile(path):
            os.unlink(path)
        _log.warning("dlt trace not saved: it held a secret", trace_dir=trace_dir)

    return save_trace


def guard_dlt_trace() -> None:
    """Make dlt's pipelines save no trace that holds a secret (idempotent)."""
    from floe_ingestion_dlt.compat.dlt import guard_save_trace

    guard_save_trace(_guarded_save_trace)


def scrub_pipeline_files(working_dir: str | Path) -> int:
    """Mask secrets in the load packages' ``*.exception`` files; returns the files changed."""
    secrets = sorted(known_secrets(), key=len, reverse=True)
    root = Path(working_dir)
    if not root.is_dir():
        return 0
    changed = 0
    # only the failed jobs' exception texts: dlt checks the hashes of its schema and state
    # files and refuses a pipeline whose stored schema was modified
    for path in root.glob("load/**/*.exception"):
        if path.suffix in _BINARY_SUFFIXES or not path.is_file():
            continue
        try:
            if path.stat().st_size > _MAX_TEXT_FILE:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        cleaned = _URL_PASSWORD.sub(_mask_url_password, data)
        for secret in secrets:
            cleaned = cleaned.replace(secret.encode(), MASK.encode())
        if cleaned != data:
            path.write_bytes(cleaned)
            changed += 1
    return changed


def _mask_url_password(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    scheme_end = text.index(b"://") + 3
    user_end = text.index(b":", scheme_end)
    return text[: user_end + 1] + MASK.encode() + b"@"
