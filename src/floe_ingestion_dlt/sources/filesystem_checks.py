"""The filesystem source's folder or bucket exists, and its glob stays inside it.

* :func:`check_glob` refuses a ``file_glob`` that leaves ``bucket_url`` (an absolute path, a
  ``..`` segment, a home ``~``): ``../outside/*.csv`` used to load the file next to the folder.
* :func:`check_location` is the reachability check of ``create_pipeline`` and
  ``floe-ingest check``: a local folder that does not exist (or is a file) or an S3 bucket
  that does not exist is a :class:`SourceConnectionError` naming the path, category
  CONFIGURATION (fix the path); an unreachable endpoint is TRANSIENT, refused credentials
  PERMANENT. An existing folder without a matching file stays a successful 0-row load.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlparse

from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError
from floe_ingestion_dlt.sources.reachability import call_with_deadline

__all__ = ["SourceFileError", "check_glob", "check_location", "local_path", "read_file_or_explain"]

SOURCE_TYPE = "filesystem"
FIELD = "source_config.bucket_url"


def check_glob(glob: str) -> str:
    """``glob`` if it stays inside the bucket; ``ValueError`` saying why not.

    Example:
        >>> check_glob("2024/**/*.csv")
        '2024/**/*.csv'
    """
    parts = glob.replace("\\", "/").split("/")
    if glob.startswith(("/", "\\", "~")) or (len(glob) > 1 and glob[1] == ":"):
        raise ValueError(f"{glob!r} is absolute: a glob is relative to bucket_url")
    if ".." in parts:
        raise ValueError(f"{glob!r} leaves bucket_url ('..'): put the folder in bucket_url")
    return glob


def local_path(bucket_url: str) -> str | None:
    """The local path of a ``file://`` URL (``None`` for other schemes)."""
    parsed = urlparse(bucket_url)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def check_location(bucket_url: str, credentials: dict[str, Any] | None, timeout: float) -> None:
    """Raise :class:`SourceConnectionError` when the folder or bucket does not exist."""
    path = local_path(bucket_url)
    if path is not None:
        _check_folder(path)
        return
    scheme = urlparse(bucket_url).scheme
    if scheme in ("s3", "s3a"):
        call_with_deadline(
            lambda: _check_bucket(bucket_url, credentials or {}),
            timeout,
            what=f"bucket {_bucket_of(bucket_url)}",
            source_type=SOURCE_TYPE,
        )


def _check_folder(path: str) -> None:
    if not os.path.exists(path):
        missing = path
        parent = os.path.dirname(path)
        while parent and not os.path.exists(parent) and parent != os.path.dirname(parent):
            missing, parent = parent, os.path.dirname(parent)
        raise SourceConnectionError(
            f"{FIELD}: folder {path} does not exist ({missing} is missing)",
            category=ErrorCategory.CONFIGURATION,
            field=FIELD,
            source_type=SOURCE_TYPE,
        )
    if not os.path.isdir(path):
        raise SourceConnectionError(
            f"{FIELD}: {path} is a file, not a folder: give its folder and a file_glob",
            category=ErrorCategory.CONFIGURATION,
            field=FIELD,
            source_type=SOURCE_TYPE,
        )
    if not os.access(path, os.R_OK | os.X_OK):
        raise SourceConnectionError(
            f"{FIELD}: folder {path} is not readable by this user",
            category=ErrorCategory.PERMANENT,
            field=FIELD,
            source_type=SOURCE_TYPE,
        )


def _bucket_of(bucket_url: str) -> str:
    return urlparse(bucket_url).netloc


def _check_bucket(bucket_url: str, credentials: dict[str, Any]) -> None:
    import s3fs

    options: dict[str, Any] = {}
    if credentials.get("aws_access_key_id"):
        options["key"] = credentials["aws_access_key_id"]
        options["secret"] = credentials.get("aws_secret_access_key")
    if credentials.get("aws_session_token"):
        options["token"] = credentials["aws_session_token"]
    client_kwargs = {
        k: credentials[v]
        for k, v in (("endpoint_url", "endpoint_url"), ("region_name", "region_name"))
        if credentials.get(v)
    }
    bucket = _bucket_of(bucket_url)
    fs = s3fs.S3FileSystem(
        **options,
        client_kwargs=client_kwargs,
        config_kwargs={"connect_timeout": 5, "read_timeout": 5, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
    )
    try:
        fs.ls(bucket, refresh=True)
    except FileNotFoundError:
        raise SourceConnectionError(
            f"{FIELD}: bucket {bucket!r} does not exist at "
            f"{client_kwargs.get('endpoint_url', 'the default S3 endpoint')}",
            category=ErrorCategory.CONFIGURATION,
            field=FIELD,
            source_type=SOURCE_TYPE,
        ) from None
    except PermissionError as exc:
        raise SourceConnectionError(
            f"bucket {bucket!r} refused access: {exc}",
            category=ErrorCategory.PERMANENT,
            field="source_config.credentials",
            source_type=SOURCE_TYPE,
        ) from None
    except Exception as exc:  # botocore/aiohttp errors are not all OSErrors
        from floe_ingestion_dlt.errors import categorize_error

        category = categorize_error(exc)
        detail = " ".join(str(exc).split())[:300]
        raise SourceConnectionError(
            f"bucket {bucket!r} is not reachable: {type(exc).__name__}: {detail}",
            category=category if category is not ErrorCategory.PERMANENT else None,
            source_type=SOURCE_TYPE,
        ) from None


class SourceFileError(ValueError):
    """A source file that cannot be read as its format: the message names the file."""


def _file_name(item: Any) -> str:
    return str(item.get("file_url") or item.get("file_name") or "?")


def _refuse_colliding_columns(file_name: str, columns: list[str]) -> None:
    """dlt's ``NameNormalizationCollision`` naming the file and the colliding columns.

    dlt raises it too, but its message lists the columns on lines the one-line error drops.
    """
    from dlt.common.libs.pyarrow import NameNormalizationCollision
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    from floe_ingestion_dlt.sources.rest_api_keys import colliding_keys

    collisions = colliding_keys(set(columns), NamingConvention().normalize_identifier)
    if collisions:
        described = "; ".join(
            f"{group} all normalize to {name!r}" for name, group in sorted(collisions.items())
        )
        raise NameNormalizationCollision(
            f"{file_name}: columns {described}: one value would be lost. Rename the columns in "
            "the file so that each normalizes to its own name"
        )


def read_file_or_explain(
    item: Any, file_format: str, csv_options: Any, read: Callable[[Any], Iterator[Any]]
) -> Iterator[Any]:
    """The Arrow tables of one file; an empty file gives none; a failure names the file.

    * an empty (0-byte) CSV or JSONL file holds no rows: it is skipped, the run goes on;
    * text that is not in the configured encoding (a latin-1 CSV read as UTF-8 arrives as
      binary columns) is refused naming the file, the column and ``csv.encoding``;
    * any other reader failure (a truncated Parquet file, a bad JSON line, a ragged CSV row)
      becomes a :class:`SourceFileError` naming the file, with the reader's message.
    """
    import pyarrow as pa
    from dlt.common.libs.pyarrow import NameNormalizationCollision

    name = _file_name(item)
    if file_format in ("csv", "jsonl") and not item.get("size_in_bytes"):
        return
    encoding = getattr(csv_options, "encoding", "utf8")
    asked = dict(getattr(csv_options, "column_types", None) or {})
    checked_columns = False
    try:
        for table in read(item):
            if not checked_columns:
                _refuse_colliding_columns(name, table.column_names)
                checked_columns = True
            if file_format == "csv":
                binary = [
                    f.name
                    for f in table.schema
                    if pa.types.is_binary(f.type) and f.name not in asked
                ]
                if binary:
                    raise SourceFileError(
                        f"{name}: column(s) {binary} are not {encoding} text; set "
                        "source_config.csv.encoding to the file's encoding (e.g. latin-1)"
                    )
            yield table
    except (SourceFileError, NameNormalizationCollision):
        raise
    except (pa.ArrowException, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        detail = " ".join(str(exc).split())[:300]
        hint = ""
        if "utf8" in detail.lower() or "utf-8" in detail.lower() or "decode" in detail.lower():
            hint = "; set source_config.csv.encoding to the file's encoding (e.g. latin-1)"
        raise SourceFileError(
            f"{name}: cannot be read as {file_format}: {type(exc).__name__}: {detail}{hint}"
        ) from None
