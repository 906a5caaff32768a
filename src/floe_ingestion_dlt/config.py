"""Configuration models of the dlt ingestion plugin.

All models are frozen pydantic v2 models that reject unknown keys, so a typo in a YAML file
fails validation with the field's name instead of being silently ignored.

Example:
    >>> from floe_ingestion_dlt.config import DltIngestionConfig
    >>> cfg = DltIngestionConfig.model_validate({
    ...     "sources": [{
    ...         "name": "orders",
    ...         "source_type": "filesystem",
    ...         "source_config": {"bucket_url": "/data", "file_glob": "*.csv", "format": "csv"},
    ...         "destination_table": "bronze.orders",
    ...     }],
    ... })
    >>> cfg.sources[0].write_mode.value
    'append'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from floe_ingestion_dlt.vocabulary import MergeStrategy, WriteMode, missing_merge_keys

__all__ = [
    "CatalogConfig",
    "DltIngestionConfig",
    "IngestionSourceConfig",
    "MergeStrategy",
    "RetryConfig",
    "SchemaContract",
    "SourceType",
    "WriteMode",
    "parse_destination_table",
]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DLT_PREFIX = "_dlt_"
MAX_NAME_LENGTH = 140
"""Most characters of ``destination_table``'s namespace and table together."""


class SourceType(StrEnum):
    """The source types the plugin can build."""

    REST_API = "rest_api"
    SQL_DATABASE = "sql_database"
    FILESYSTEM = "filesystem"


class SchemaContract(StrEnum):
    """What happens when the source schema differs from the table's."""

    EVOLVE = "evolve"
    FREEZE = "freeze"
    DISCARD_VALUE = "discard_value"


def parse_destination_table(value: str) -> tuple[str, str]:
    """Split ``namespace.table`` into its two identifiers.

    Raises:
        ValueError: when the value is not two identifiers joined by one dot.

    Example:
        >>> parse_destination_table("bronze.raw_orders")
        ('bronze', 'raw_orders')
    """
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2 or not all(_IDENTIFIER.fullmatch(p) for p in parts):
        written = (
            f"; dlt would write it as {'.'.join(_normalized_identifier(p) for p in parts)!r}"
            if len(parts) == 2 and all(parts)
            else ""
        )
        raise ValueError(
            f"destination_table must be 'namespace.table' (two identifiers of ASCII letters, "
            f"digits and underscores joined by one dot), got {value!r}{written}"
        )
    if len(parts[0]) + len(parts[1]) > MAX_NAME_LENGTH:
        # dlt names the pipeline's state files (in the pipelines folder and the warehouse) after
        # both parts plus ~100 characters of load id and hash: past this, a file name exceeds the
        # 255 bytes file systems allow and the run fails with a raw OSError after committing
        raise ValueError(
            f"destination_table's namespace and table are {len(parts[0]) + len(parts[1])} "
            f"characters together, at most {MAX_NAME_LENGTH} are allowed; write a shorter "
            f"name, e.g. destination_table: {_shortened(parts[0], parts[1])}"
        )
    if parts[1].startswith(_DLT_PREFIX):
        # dlt keeps its bookkeeping (_dlt_loads, _dlt_version, _dlt_pipeline_state) in tables of
        # this prefix in the same dataset: a user table of that name collides with them
        suggestion = f"{parts[0]}.{parts[1].lstrip('_')}"
        raise ValueError(
            f"destination_table {value!r} starts with {_DLT_PREFIX!r}, the prefix of dlt's own "
            f"bookkeeping tables; write another name, e.g. destination_table: {suggestion}"
        )
    normalized = [_normalized_identifier(p) for p in parts]
    if normalized != parts:
        # dlt would write (and the catalog would hold) the normalized name: refuse the other
        suggestion = ".".join(normalized)
        raise ValueError(
            f"destination_table {value!r} is not a normalized name: dlt would write the table "
            f"as {suggestion!r}; write destination_table: {suggestion}"
        )
    return parts[0], parts[1]


def _shortened(namespace: str, table: str) -> str:
    """``namespace.table`` cut to :data:`MAX_NAME_LENGTH`, the longer part cut first."""
    half = MAX_NAME_LENGTH // 2
    if len(namespace) <= half:
        return f"{namespace}.{table[: MAX_NAME_LENGTH - len(namespace)]}"
    if len(table) <= half:
        return f"{namespace[: MAX_NAME_LENGTH - len(table)]}.{table}"
    return f"{namespace[:half]}.{table[:half]}"


def _normalized_identifier(identifier: str) -> str:
    """``identifier`` as dlt's default naming convention (snake_case) writes it."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return str(NamingConvention().normalize_identifier(identifier))


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", use_enum_values=False, hide_input_in_errors=True
    )


class RetryConfig(_Frozen):
    """Retry policy for TRANSIENT failures (exponential backoff with jitter).

    One budget for the whole run: ``max_retries`` counts the retries of a failure whichever
    layer makes them (the REST source's HTTP session, the run), ``max_retry_seconds`` bounds
    their time (see ``floe_ingestion_dlt.retry_budget``).
    """

    max_retries: int = Field(default=3, ge=0, le=20)
    initial_delay_seconds: float = Field(default=1.0, ge=0.0, le=300.0)
    max_delay_seconds: float = Field(default=60.0, ge=0.0, le=3600.0)
    backoff_multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    jitter: bool = True
    max_retry_seconds: float = Field(default=600.0, gt=0.0, le=86400.0)
    """Longest a failure is retried, by every layer together (HTTP requests, the run): from
    its first failed attempt no retry starts a wait that would end later. See docs/retries.md."""


# PyIceberg catalog property name -> field name, for the properties we model explicitly.
_CATALOG_ALIASES: dict[str, str] = {
    "s3.endpoint": "s3_endpoint",
    "s3.region": "s3_region",
    "s3.access-key-id": "s3_access_key_id",
    "s3.secret-access-key": "s3_secret_access_key",
    "s3.session-token": "s3_session_token",
    "s3.path-style-access": "s3_path_style_access",
    "header.X-Iceberg-Access-Delegation": "access_delegation",
    "oauth2-server-uri": "oauth2_server_uri",
}
# Keys that only mean something to a REST catalog (its OAuth2 / bearer authentication).
_REST_ONLY_KEYS: dict[str, str] = {
    "credential": "credential",
    "token": "token",
    "scope": "scope",
    "oauth2-server-uri": "oauth2_server_uri",
    "header.X-Iceberg-Access-Delegation": "access_delegation",
}
_ACCESS_DELEGATION_MODES = ("vended-credentials", "remote-signing")


_SPELLING_ALIASES = {"catalog_name": "name", "catalog-name": "name"}
"""Other spellings of a catalog setting, as floe and Polaris users write them."""


def _spelled_as_pyiceberg(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the accepted other spellings under PyIceberg's names.

    ``catalog_name`` is ``name``; ``client_id`` and ``client_secret`` (Polaris' OAuth2 client)
    together are ``credential: "client_id:client_secret"``. A spelling given next to the name
    it stands for, or one half of the client pair, is refused naming the key to use.
    """
    out = dict(data)
    for alias, name in _SPELLING_ALIASES.items():
        if alias in out:
            if name in out:
                raise _key_error(
                    "catalog_conflicting_keys",
                    "conflicting catalog keys {keys}: both name the catalog, give 'name'",
                    [alias, name],
                )
            out[name] = out.pop(alias)
    pair: list[str] = [key for key in ("client_id", "client_secret") if key in out]
    if pair:
        if len(pair) == 1:
            raise _key_error(
                "catalog_missing_key",
                "catalog key {keys} given alone: give client_id and client_secret together, "
                "or credential: 'client_id:client_secret'",
                pair,
            )
        if "credential" in out:
            raise _key_error(
                "catalog_conflicting_keys",
                "conflicting catalog keys {keys}: client_id/client_secret and credential name "
                "the same OAuth2 client, give one",
                ["client_id", "client_secret", "credential"],
            )
        client_id, client_secret = out.pop("client_id"), out.pop("client_secret")
        secret = (
            client_secret.get_secret_value()
            if isinstance(client_secret, SecretStr)
            else client_secret
        )
        out["credential"] = SecretStr(f"{client_id}:{secret}")
    return out


def _key_error(kind: str, message: str, keys: list[str]) -> PydanticCustomError:
    """A validation error whose context names the offending catalog keys."""
    return PydanticCustomError(kind, message, {"keys": keys})


class CatalogConfig(_Frozen):
    """An Iceberg catalog, described with PyIceberg's catalog property names.

    ``type`` is ``sql`` (the embedded default: SQLite file + local warehouse folder) or ``rest``
    (Polaris, SeaweedFS, S3 Tables, Nessie ...). Secrets are ``SecretStr`` and are only unwrapped
    when the catalog client is built. Keys are PyIceberg's property names (``s3.endpoint``,
    ``credential`` ...); further PyIceberg properties go under ``properties``. Unknown keys, a
    key given twice (``s3.endpoint`` and ``s3_endpoint``) and keys that contradict each other
    are refused with an error naming them.

    Example:
        >>> CatalogConfig.model_validate({
        ...     "type": "rest", "uri": "http://polaris:8181/api/catalog", "warehouse": "lake",
        ...     "credential": "client:secret", "scope": "PRINCIPAL_ROLE:ALL",
        ...     "s3.endpoint": "http://minio:9000", "s3.path-style-access": True,
        ... }).type
        'rest'
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, hide_input_in_errors=True
    )

    type: Literal["sql", "rest"] = "sql"
    uri: str = Field(min_length=1)
    warehouse: str | None = None
    name: str = "floe"
    credential: SecretStr | None = None
    """OAuth2 client credentials ``client_id:client_secret`` exchanged for a token (REST)."""
    token: SecretStr | None = None
    """A bearer token sent as it is (REST); exclusive with ``credential``."""
    scope: str | None = None
    """OAuth2 scope of the ``credential`` exchange (Polaris: ``PRINCIPAL_ROLE:ALL``)."""
    oauth2_server_uri: str | None = Field(default=None, alias="oauth2-server-uri")
    s3_endpoint: str | None = Field(default=None, alias="s3.endpoint")
    s3_region: str | None = Field(default=None, alias="s3.region")
    s3_access_key_id: SecretStr | None = Field(default=None, alias="s3.access-key-id")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="s3.secret-access-key")
    s3_session_token: SecretStr | None = Field(default=None, alias="s3.session-token")
    s3_path_style_access: bool | None = Field(default=None, alias="s3.path-style-access")
    access_delegation: str | None = Field(default=None, alias="header.X-Iceberg-Access-Delegation")
    """Ask the REST catalog for ``vended-credentials`` (or ``remote-signing``) per table."""
    properties: dict[str, str] = Field(default_factory=dict)
    """Further PyIceberg catalog properties passed through as they are."""

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any) -> Any:
        """Refuse unknown keys (with a suggestion) and a setting given under two names."""
        if not isinstance(data, Mapping):
            return data
        if "type" not in data and str(data.get("uri", "")).startswith(("http://", "https://")):
            data = {**data, "type": "rest"}  # an http(s) catalog is a REST catalog (Polaris)
        data = _spelled_as_pyiceberg(data)
        by_name = {name: (info.alias or name) for name, info in cls.model_fields.items()}
        known = set(by_name.values())
        unknown = [str(k) for k in data if k not in known and k not in by_name]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, sorted(known | set(by_name)), n=1)
                if close:
                    hints.append(f"{key!r} -> did you mean {by_name.get(close[0], close[0])!r}?")
            raise _key_error(
                "catalog_unknown_keys",
                "unknown catalog key(s) {keys}"
                + (f" ({'; '.join(hints)})" if hints else "")
                + "; other PyIceberg catalog properties go under 'properties'",
                unknown,
            )
        twice = [
            [alias, name]
            for name, alias in by_name.items()
            if alias != name and {alias, name} <= set(data)
        ]
        if twice:
            raise _key_error(
                "catalog_conflicting_keys",
                "conflicting catalog keys {keys}: each pair names the same setting, give one",
                [key for pair in twice for key in pair],
            )
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> CatalogConfig:
        """Refuse keys that contradict each other or the catalog's type."""
        self._check_type()
        self._check_authentication()
        self._check_storage()
        clashes = sorted(
            set(self.properties) & (set(_CATALOG_ALIASES) | set(type(self).model_fields))
        )
        if clashes:
            raise _key_error(
                "catalog_conflicting_keys",
                "catalog keys {keys} must be given at the top level, not under 'properties'",
                clashes,
            )
        return self

    def _check_type(self) -> None:
        """``uri`` and ``warehouse`` fit the type; REST-only keys only on a 'rest' catalog."""
        if self.type == "sql" and not self.uri.startswith(("sqlite:", "postgresql", "mysql")):
            raise ValueError(
                f"uri: a 'sql' catalog needs a SQLAlchemy URL such as sqlite:///path/catalog.db, "
                f"got {self.uri.split('://')[0]}://..."
            )
        if self.type == "sql" and not self.warehouse:
            raise ValueError("warehouse: a 'sql' catalog needs a warehouse location")
        if self.type == "rest" and not self.uri.startswith(("http://", "https://")):
            raise ValueError("uri: a 'rest' catalog needs an http(s):// URL")
        if self.type == "sql":
            rest_only = [k for k, f in _REST_ONLY_KEYS.items() if getattr(self, f) is not None]
            if rest_only:
                raise _key_error(
                    "catalog_conflicting_keys",
                    "conflicting catalog keys {keys}: they only apply to a 'rest' catalog, "
                    "this one is type 'sql'",
                    ["type", *rest_only],
                )

    def _check_authentication(self) -> None:
        """One of ``credential`` / ``token``; the OAuth2 settings only with a credential."""
        if self.credential is not None and self.token is not None:
            raise _key_error(
                "catalog_conflicting_keys",
                "conflicting catalog keys {keys}: credential (OAuth2 client id:secret) and "
                "token (a ready-made access token) exclude each other: give one of them",
                ["credential", "token"],
            )
        if self.credential is None:
            oauth_only = [
                k for k in ("scope", "oauth2-server-uri") if getattr(self, _REST_ONLY_KEYS[k])
            ]
            if oauth_only:
                raise _key_error(
                    "catalog_conflicting_keys",
                    "catalog key(s) {keys} configure the OAuth2 exchange of a 'credential' "
                    "(client_id:client_secret), but no credential is given",
                    oauth_only,
                )

    def _check_storage(self) -> None:
        """S3 keys that go together are given together; a known access delegation mode."""
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            given = (
                "s3.access-key-id" if self.s3_secret_access_key is None else "s3.secret-access-key"
            )
            raise _key_error(
                "catalog_missing_key",
                "catalog key {keys} given alone: "
                "s3.access-key-id and s3.secret-access-key go together",
                [given],
            )
        if self.s3_session_token is not None and self.s3_access_key_id is None:
            raise _key_error(
                "catalog_missing_key",
                "catalog key {keys} needs s3.access-key-id and s3.secret-access-key as well",
                ["s3.session-token"],
            )
        if self.access_delegation is not None:
            modes = [m.strip() for m in self.access_delegation.split(",")]
            wrong = [m for m in modes if m not in _ACCESS_DELEGATION_MODES]
            if wrong:
                raise _key_error(
                    "catalog_invalid_value",
                    "catalog key {keys} holds "
                    + f"{wrong}, expected one of {list(_ACCESS_DELEGATION_MODES)}",
                    ["header.X-Iceberg-Access-Delegation"],
                )

    @classmethod
    def parse(cls, data: Any, prefix: str = "catalog_config") -> CatalogConfig:
        """Validate ``data`` into a catalog, raising the plugin's typed error.

        Raises:
            floe_ingestion_dlt.errors.ValidationError: CONFIGURATION; ``field`` names the first
                offending key as ``<prefix>.<key>`` and the message names all of them.

        Example:
            >>> try:
            ...     CatalogConfig.parse({"type": "rest", "uri": "http://c", "s3.endpont": "x"})
            ... except ValueError as exc:
            ...     print(exc.field)
            catalog_config.s3.endpont
        """
        from floe_ingestion_dlt.errors import ValidationError
        from floe_ingestion_dlt.pydantic_errors import validation_error

        if isinstance(data, CatalogConfig):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{prefix}: must be a mapping of catalog properties, got {type(data).__name__}",
                field=prefix,
            )
        try:
            return cls.model_validate(dict(data))
        except PydanticValidationError as exc:
            raise validation_error(exc, prefix=prefix) from None

    @classmethod
    def embedded(cls, directory: str | Path) -> CatalogConfig:
        """The zero-service default: a SQLite catalog and a local warehouse under ``directory``.

        Example:
            >>> CatalogConfig.embedded("/tmp/x").uri
            'sqlite:////tmp/x/catalog.db'
        """
        base = Path(directory).expanduser().resolve()
        return cls(
            type="sql", uri=f"sqlite:///{base}/catalog.db", warehouse=f"file://{base}/warehouse"
        )

    def pyiceberg_properties(self) -> dict[str, str]:
        """Catalog properties for ``pyiceberg.catalog.load_catalog`` with secrets unwrapped.

        Never log the result: it holds the secrets in clear.
        """
        props: dict[str, str] = {"type": self.type, "uri": self.uri}
        if self.warehouse:
            props["warehouse"] = self.warehouse
        for field_name, value in (("credential", self.credential), ("token", self.token)):
            if value is not None:
                props[field_name] = value.get_secret_value()
        if self.scope:
            props["scope"] = self.scope
        for prop_name, field_name in _CATALOG_ALIASES.items():
            value = getattr(self, field_name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                props[prop_name] = value.get_secret_value()
            elif isinstance(value, bool):
                props[prop_name] = "true" if value else "false"
            else:
                props[prop_name] = str(value)
        props.update(self.properties)
        return props

    @property
    def is_local(self) -> bool:
        """True when the warehouse is a local folder (the embedded catalog)."""
        return bool(self.warehouse) and str(self.warehouse).startswith(("file://", "/"))

    @property
    def display_uri(self) -> str:
        """The catalog URI with any password masked, for messages and logs."""
        from floe_ingestion_dlt.scrub import scrub_text

        return scrub_text(self.uri)


_SOURCE_LEVEL_KEYS = (
    "partition_by",
    "sort_order",
    "target_file_size_mb",
    "table_properties",
    "maintenance",
)
"""Keys a YAML source may give at its own level; they are folded into ``source_config``."""


class IngestionSourceConfig(_Frozen):
    """One source declared in the plugin configuration: where rows come from, where they go."""

    name: str = Field(min_length=1, max_length=128)
    source_type: SourceType
    source_config: dict[str, Any] = Field(default_factory=dict)
    destination_table: str
    write_mode: WriteMode = WriteMode.APPEND
    schema_contract: SchemaContract = SchemaContract.EVOLVE
    cursor_field: str | None = None
    primary_key: str | list[str] | None = None
    # table layout and maintenance; the same keys are accepted in source_config
    partition_by: str | list[str] | None = None
    sort_order: str | list[str] | None = None
    target_file_size_mb: float | None = None
    table_properties: dict[str, Any] | None = None
    maintenance: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", value):
            raise ValueError("name may hold letters, digits, '_', '-' and '.' only")
        return value

    @field_validator("destination_table")
    @classmethod
    def _valid_destination(cls, value: str) -> str:
        parse_destination_table(value)
        return value

    @model_validator(mode="after")
    def _merge_needs_key(self) -> IngestionSourceConfig:
        """The merge-key rule of :func:`~floe_ingestion_dlt.vocabulary.missing_merge_keys`."""
        if self.write_mode is not WriteMode.MERGE:
            return self
        try:
            missing = missing_merge_keys(
                self.source_config.get("merge_strategy"),
                primary_key=self.primary_key or self.source_config.get("primary_key"),
                merge_key=self.source_config.get("merge_key"),
            )
        except ValueError:
            return self  # not a merge strategy: parsing source_config names it
        if missing:
            raise ValueError(f"primary_key: {missing}")
        return self

    def key_options(self) -> dict[str, Any]:
        """The typed ``cursor_field`` / ``primary_key`` as ``source_config`` options."""
        options: dict[str, Any] = {}
        if self.cursor_field:
            options["cursor_field"] = self.cursor_field
        if self.primary_key:
            options["primary_key"] = self.primary_key
        return options

    def effective_source_config(self) -> dict[str, Any]:
        """``source_config`` with the typed fields (cursor, key) folded in."""
        merged = dict(self.source_config)
        if self.cursor_field and "cursor_field" not in merged:
            merged["cursor_field"] = self.cursor_field
        if self.primary_key and "primary_key" not in merged:
            merged["primary_key"] = self.primary_key
        for key in _SOURCE_LEVEL_KEYS:
            value = getattr(self, key)
            if value is not None and key not in merged:
                merged[key] = value
        return merged


class DltIngestionConfig(_Frozen):
    """Configuration of :class:`~floe_ingestion_dlt.DltIngestionPlugin`.

    ``catalog_config`` defaults to the embedded catalog under ``.floe/`` in the working folder.
    ``dlt_state_url`` is where dlt keeps its bookkeeping (state, schemas, load records) for
    catalogs whose warehouse accepts no foreign objects (table buckets).
    """

    sources: list[IngestionSourceConfig] = Field(default_factory=list)
    catalog_config: CatalogConfig | None = None
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    pipelines_dir: Path | None = None
    dlt_state_url: str | None = None
    connect_timeout_seconds: float = Field(default=10.0, gt=0.0, le=120.0)
    """Bound on the reachability checks ``create_pipeline`` makes (source and catalog)."""

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[IngestionSourceConfig]) -> list[IngestionSourceConfig]:
        seen: set[str] = set()
        for source in sources:
            if source.name in seen:
                raise ValueError(f"source names must be unique: {source.name!r} appears twice")
            seen.add(source.name)
        return sources

    def resolved_catalog(self, base_dir: str | Path | None = None) -> CatalogConfig:
        """The configured catalog, or the embedded one under ``base_dir`` (default ``.floe``)."""
        if self.catalog_config is not None:
            return self.catalog_config
        return CatalogConfig.embedded(Path(base_dir) if base_dir else Path.cwd() / ".floe")

    def declared_source_for(
        self, source_type: Any, destination_table: Any
    ) -> IngestionSourceConfig | None:
        """The declared source of that type loading that table, if exactly one does."""
        found = [
            s
            for s in self.sources
            if s.source_type.value == source_type and s.destination_table == destination_table
        ]
        return found[0] if len(found) == 1 else None

    def source(self, name: str) -> IngestionSourceConfig:
        """The declared source called ``name``.

        Raises:
            KeyError: naming the known sources when there is none of that name.
        """
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r}; declared: {[s.name for s in self.sources]}")
