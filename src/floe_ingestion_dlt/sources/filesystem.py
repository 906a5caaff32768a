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
    header: bool = True
    column_names: list[str] | None = None
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "NaN", "N/A"])
    encoding: str = "utf8"
    skip_rows: int = Field(default=0, ge=0)
    column_types: dict[str, str] | None = None
    """Arrow type names by column (``int64``, ``string``, ``timestamp[us, tz=UTC]``...)."""


class BucketCredentials(BaseModel):
    """Credentials of an S3-compatible bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = None
    endpoint_url: str | None = None
    region_name: str | None = None


class FilesystemSourceConfig(SourceOptions):
    """``source_config`` of the ``filesystem`` source type."""

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

    @field_validator("bucket_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if "://" not in value:
            return Path(value).expanduser().resolve().as_uri()
        return value

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
    parse = pcsv.ParseOptions(delimiter=options.delimiter, quote_char=options.quote_char)
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

    def check_before_run(self, config: BaseModel) -> None:
        """A local ``bucket_url`` that is not a folder now (typo, unmounted volume) fails the
        run: listing it would yield 0 rows and a replace would empty the table."""
        from urllib.parse import urlsplit
        from urllib.request import url2pathname

        from floe_ingestion_dlt.errors import SourceConnectionError

        assert isinstance(config, FilesystemSourceConfig)
        url = urlsplit(config.bucket_url)
        if url.scheme != "file":
            return
        folder = Path(url2pathname(url.path))
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            raise SourceConnectionError(
                f"source_config.bucket_url: {folder} {what} (a typo or an unmounted volume?); "
                "nothing was read or committed",
                source_type=self.source_type,
            )

    def build(self, config: BaseModel, context: SourceContext) -> DltResource:
        import dlt
        from dlt.sources.filesystem import filesystem

        assert isinstance(config, FilesystemSourceConfig)
        listing: dict[str, Any] = {"bucket_url": config.bucket_url, "file_glob": config.file_glob}
        if config.credentials is not None:
            # an explicit None would stop dlt from resolving the local defaults
            listing["credentials"] = {
                k: (v.get_secret_value() if isinstance(v, SecretStr) else v)
                for k, v in config.credentials.model_dump(exclude_none=True).items()
            }
        files = filesystem(**listing)
        file_format = config.format
        csv_options = config.csv
        chunk_size = config.chunk_size
        incremental_files = config.incremental_files

        @dlt.transformer(name=context.table_name, standalone=False)
        def read_files(items: list[Any]) -> Iterator[pa.Table]:
            loaded = _loaded_files_state() if incremental_files else None
            for item in items:
                signature = _file_signature(item)
                if loaded is not None and loaded.get(item["relative_path"]) == signature:
                    continue
                with item.open() as stream:
                    if file_format == "csv":
                        yield from _read_csv(stream, csv_options, chunk_size)
                    elif file_format == "jsonl":
                        yield from _read_jsonl(stream, chunk_size)
                    else:
                        yield from _read_parquet(stream, chunk_size)
                if loaded is not None:
                    loaded[item["relative_path"]] = signature

        return files | read_files
