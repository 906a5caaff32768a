"""Files (CSV, JSONL, Parquet) from a local folder or a bucket, read straight into Arrow.

Built on dlt's ``filesystem`` resource for listing (globs, bucket credentials) with Arrow
readers as transformers (``incremental_files`` remembers which files were loaded): no Python row
objects, types inferred by Arrow (ints stay ints, timestamps stay timestamps).

Example ``source_config``::

    {"bucket_url": "/data/orders", "file_glob": "*.csv", "format": "csv",
     "csv": {"delimiter": ";"}}
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from floe_ingestion_dlt.sources.base import SourceBuilder, SourceContext, SourceOptions

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.extract.resource import DltResource

__all__ = ["FilesystemSourceBuilder", "FilesystemSourceConfig"]

FileFormat = Literal["csv", "jsonl", "parquet"]
_EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class CsvOptions(BaseModel):
    """CSV reader options (pyarrow.csv)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote_char: str = Field(default='"', min_length=1, max_length=1)
    escape_char: str | None = Field(default=None, min_length=1, max_length=1)
    header: bool = True
    column_names: list[str] | None = None
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "NaN", "N/A"])
    encoding: str = "utf8"
    skip_rows: int = Field(default=0, ge=0)
    column_types: dict[str, str] | None = None
    """Arrow type names by column (``int64``, ``string``, ``timestamp[us]`` ...: the names
    ``pyarrow.type_for_alias`` knows; others are refused by validate as by the run)."""

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _one_byte(cls, value: str) -> str:
        # the reader takes one byte: validate refuses what the run could not read
        if len(value.encode("utf-8")) != 1:
            raise ValueError(f"{value!r} is not one byte (an ASCII character such as ';' or '|')")
        return value

    @field_validator("column_types")
    @classmethod
    def _known_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        import pyarrow as pa

        for column, name in (value or {}).items():
            try:
                pa.type_for_alias(name)
            except (ValueError, KeyError):
                raise ValueError(
                    f"column {column!r}: {name!r} is not an Arrow type name "
                    "(int64, float64, string, bool, date32, timestamp[us] ...)"
                ) from None
        return value


class BucketCredentials(BaseModel):
    """Credentials of an S3-compatible bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    endpoint_url: str | None = None
    region_name: str | None = None


PROJECT_DIR_ENV = "FLOE_PROJECT_DIR"
"""Base of a relative ``path``: this variable when set, else the working folder."""

# floe's reader_options (pandas-style names, as floe's orchestrator passes them to dlt's
# readers) -> this source's options; None: accepted and without effect (Arrow reads anyway)
_CSV_READER_OPTIONS = {
    "sep": "delimiter",
    "delimiter": "delimiter",
    "quotechar": "quote_char",
    "escapechar": "escape_char",
    "header": "header",
    "names": "column_names",
    "encoding": "encoding",
    "na_values": "null_values",
    "keep_default_na": None,
    "dtype": "column_types",
}
_READER_OPTIONS: dict[str, set[str]] = {
    "csv": {"chunksize", *_CSV_READER_OPTIONS},
    "jsonl": {"chunksize"},
    "parquet": {"chunksize", "use_pyarrow"},
}


def _project_dir() -> Path:
    import os

    base = os.environ.get(PROJECT_DIR_ENV)
    return Path(base).expanduser() if base else Path.cwd()


def _from_floe_path(data: dict[str, Any]) -> dict[str, Any]:
    """``path`` (+ ``include_glob``) as floe's compiler writes it -> ``bucket_url``/``file_glob``.

    A path ending in ``/``, an existing folder or a name without extension is a folder; else it
    names one file (its folder is listed with the file name as the glob). Relative paths are
    resolved against ``$FLOE_PROJECT_DIR`` (default: the working folder), as floe resolves them
    against the project folder.
    """
    if "bucket_url" in data:
        raise ValueError("path: give either path (floe's name) or bucket_url, not both")
    path = data.pop("path")
    if not isinstance(path, str) or not path:
        raise ValueError("path: must be a non-empty string")
    glob = data.get("file_glob")
    if "://" in path:
        data["bucket_url"] = path
        return data
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = _project_dir() / resolved
    is_folder = path.endswith("/") or resolved.is_dir() or not Path(path).suffix
    if is_folder:
        data["bucket_url"] = str(resolved)
    elif glob is not None:
        raise ValueError(f"file_glob: path {path!r} names a file; a glob needs a folder path")
    else:
        data["bucket_url"], data["file_glob"] = str(resolved.parent), resolved.name
    return data


def _from_reader_options(data: dict[str, Any]) -> dict[str, Any]:
    """floe's ``reader_options`` -> ``csv`` options and ``chunk_size``; unknown keys refused."""
    options = data.pop("reader_options")
    if not isinstance(options, dict):
        raise ValueError("reader_options: must be a mapping")
    file_format = data.get("format")
    if file_format is None:
        raise ValueError("reader_options: needs format (csv, jsonl or parquet)")
    allowed = _READER_OPTIONS.get(str(file_format), set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"reader_options: {unknown} not accepted for format {file_format!r} "
            f"(allowed: {sorted(allowed)})"
        )
    if "chunksize" in options:
        data.setdefault("chunk_size", options["chunksize"])
    if file_format != "csv":
        return data
    csv = dict(data.get("csv") or {})
    for key, given in options.items():
        target = _CSV_READER_OPTIONS.get(key)
        if target is None:
            continue
        value = given
        if target == "header":
            # pandas: 0 / "infer" = a header row; None = no header row
            value = given is not None and given is not False
        elif target == "null_values" and isinstance(given, str):
            value = [given]
        csv.setdefault(target, value)
    data["csv"] = csv
    return data


class FilesystemSourceConfig(SourceOptions):
    """``source_config`` of the ``filesystem`` source type.

    Also accepts floe's shape: ``{"format", "path", "include_glob" | "file_glob",
    "reader_options"}`` (``path`` relative to ``$FLOE_PROJECT_DIR`` or the working folder).
    """

    bucket_url: str = Field(min_length=1)
    file_glob: str = "*"
    format: FileFormat | None = None
    csv: CsvOptions = Field(default_factory=CsvOptions)
    chunk_size: int = Field(default=100_000, ge=1)
    credentials: BucketCredentials | None = None
    incremental_files: bool = False
    """Only read files not loaded before: new paths, or files whose modification time or size
    changed (whatever their modification time: ``cp -p``/``rsync -a`` keep old ones)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _floe_shape(cls, data: Any) -> Any:
        """floe's keys (``path``, ``include_glob``, ``reader_options``) mapped to ours."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "include_glob" in data:
            include = data.pop("include_glob")
            if data.get("file_glob", include) != include:
                raise ValueError("include_glob: conflicts with file_glob (same setting), give one")
            data["file_glob"] = include
        if "path" in data:
            data = _from_floe_path(data)
        if "reader_options" in data:
            data = _from_reader_options(data)
        return data

    @field_validator("bucket_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if "://" not in value:
            return Path(value).expanduser().resolve().as_uri()
        return value

    @field_validator("file_glob")
    @classmethod
    def _glob_inside_bucket(cls, value: str) -> str:
        from floe_ingestion_dlt.sources.filesystem_checks import check_glob

        return check_glob(value)

    @model_validator(mode="after")
    def _infer_format(self) -> FilesystemSourceConfig:
        if self.format is None:
            ext = posixpath.splitext(self.file_glob)[1].lower()
            inferred = _EXTENSIONS.get(ext)
            if inferred is None:
                raise ValueError(
                    "format: cannot infer the format from file_glob "
                    f"{self.file_glob!r}; give format: csv, jsonl or parquet"
                )
            object.__setattr__(self, "format", inferred)
        return self


def _read_csv(stream: Any, options: CsvOptions, chunk_size: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(
        encoding=options.encoding,
        skip_rows=options.skip_rows,
        column_names=options.column_names,
        autogenerate_column_names=not options.header and not options.column_names,
        block_size=1 << 24,
    )
    parse = pcsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char,
        escape_char=options.escape_char or False,
    )
    convert = pcsv.ConvertOptions(
        null_values=options.null_values,
        strings_can_be_null=True,
        column_types={k: pa.type_for_alias(v) for k, v in (options.column_types or {}).items()},
    )
    yield from _chunks(pcsv.read_csv(stream, read, parse, convert), chunk_size)


def _read_jsonl(stream: Any, chunk_size: int) -> Iterator[pa.Table]:
    import pyarrow.json as pjson

    yield from _chunks(pjson.read_json(stream), chunk_size)


def _read_parquet(stream: Any, chunk_size: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)
    for batch in parquet.iter_batches(batch_size=chunk_size):
        yield pa.Table.from_batches([batch])


def _chunks(table: pa.Table, chunk_size: int) -> Iterator[pa.Table]:
    if table.num_rows <= chunk_size:
        if table.num_rows:
            yield table
        return
    for offset in range(0, table.num_rows, chunk_size):
        yield table.slice(offset, chunk_size)


def _revealed(credentials: BucketCredentials | None) -> dict[str, Any] | None:
    """The bucket credentials as plain values, for the S3 client only."""
    if credentials is None:
        return None
    return {
        k: (v.get_secret_value() if isinstance(v, SecretStr) else v)
        for k, v in credentials.model_dump(exclude_none=True).items()
    }


LOADED_FILES = "floe_loaded_files"
"""Resource state key of ``incremental_files``: ``{relative path: "<mtime>|<size>"}``."""


def _loaded_files_state() -> dict[str, str]:
    """The files this pipeline has loaded, in the resource's state (committed with the rows).

    A file is new when its path is not there or its modification time or size changed. A
    high-water mark on the modification time would skip files that arrive with an older one
    (``cp -p``, ``rsync -a``, ``tar`` keep the source's time).
    """
    import dlt

    state = dlt.current.resource_state()
    loaded: dict[str, str] = state.setdefault(LOADED_FILES, {})
    return loaded


def _file_signature(item: Any) -> str:
    modified = item.get("modification_date")
    stamp = modified.isoformat() if hasattr(modified, "isoformat") else str(modified)
    return f"{stamp}|{item.get('size_in_bytes')}"


class FilesystemSourceBuilder(SourceBuilder):
    """Builds the ``filesystem`` source: listing by dlt, reading by Arrow."""

    source_type: ClassVar[str] = "filesystem"
    config_model: ClassVar[type[BaseModel]] = FilesystemSourceConfig

    def modules_for(self, config: BaseModel | None) -> tuple[tuple[str, str], ...]:
        modules: tuple[tuple[str, str], ...] = (
            ("dlt", "floe-ingestion-dlt"),
            ("pyarrow", "floe-ingestion-dlt"),
        )
        if isinstance(config, FilesystemSourceConfig) and config.bucket_url.startswith("s3"):
            modules += (("s3fs", "floe-ingestion-dlt[s3]"),)
        return modules

    def check_reachable(self, config: BaseModel, timeout: float) -> None:
        """The folder or bucket exists (a missing one is a ``SourceConnectionError``)."""
        from floe_ingestion_dlt.sources.filesystem_checks import check_location

        assert isinstance(config, FilesystemSourceConfig)
        check_location(config.bucket_url, _revealed(config.credentials), timeout)

    def check_before_run(self, config: BaseModel) -> None:
        """A local folder gone since create_pipeline (unmounted volume, typo) fails the run:
        listing it would yield 0 rows and a replace would empty the table."""
        from floe_ingestion_dlt.sources.filesystem_checks import check_location, local_path

        assert isinstance(config, FilesystemSourceConfig)
        if local_path(config.bucket_url) is not None:  # a local check needs no deadline
            check_location(config.bucket_url, None, timeout=0)

    def build(self, config: BaseModel, context: SourceContext) -> DltResource:
        import dlt
        from dlt.sources.filesystem import filesystem

        assert isinstance(config, FilesystemSourceConfig)
        listing: dict[str, Any] = {"bucket_url": config.bucket_url, "file_glob": config.file_glob}
        credentials = _revealed(config.credentials)
        if credentials is not None:
            # an explicit None would stop dlt from resolving the local defaults
            listing["credentials"] = credentials
        files = filesystem(**listing)
        file_format = config.format
        csv_options = config.csv
        chunk_size = config.chunk_size
        incremental_files = config.incremental_files

        def read_one(item: Any) -> Iterator[pa.Table]:
            with item.open() as stream:
                if file_format == "csv":
                    yield from _read_csv(stream, csv_options, chunk_size)
                elif file_format == "jsonl":
                    yield from _read_jsonl(stream, chunk_size)
                else:
                    yield from _read_parquet(stream, chunk_size)

        @dlt.transformer(name=context.table_name, standalone=False)
        def read_files(items: list[Any]) -> Iterator[pa.Table]:
            from floe_ingestion_dlt.sources.filesystem_checks import read_file_or_explain

            loaded = _loaded_files_state() if incremental_files else None
            for item in items:
                signature = _file_signature(item)
                if loaded is not None and loaded.get(item["relative_path"]) == signature:
                    continue
                yield from read_file_or_explain(item, str(file_format), csv_options, read_one)
                if loaded is not None:
                    loaded[item["relative_path"]] = signature

        return files | read_files
