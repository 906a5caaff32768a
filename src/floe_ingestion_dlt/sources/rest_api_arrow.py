"""REST pages as Arrow tables: the columnar path past dlt's row-by-row JSON normalizer.

dlt's JSON normalizer spends ~20 us per record (type inference, ISO timestamps parsed one by
one through pendulum, per-value coercion): two thirds of a 200,000-record REST load. A page of
flat records (every value a string, number, boolean or null) becomes one Arrow table whose
columns carry exactly what dlt's normalizer would have written:

- column names normalized as dlt normalizes keys;
- a column the table already has (in the pipeline's schema) keeps its type: Arrow parses
  strings into timestamps and dates, widens integers to doubles and narrows whole doubles
  to integers, as dlt's coercion does;
- a new column takes the type dlt infers from its first non-null value (the schema's type
  detections such as ISO timestamps, then its preferred types);
- keys that are null on the whole page add no column; ``_dlt_load_id`` and ``_dlt_id`` are
  added by dlt (``performance.ROW_ID_SETTINGS``), as for rows.

Any page that cannot be represented that way - a nested value, a value that would become a
variant column, keys colliding after normalization, row filters in the schema - goes to
dlt's normalizer as rows, and so does every later page of the run: dlt types columns of rows
only at normalize, after extract, so an Arrow page after a row page could otherwise decide a
column's type first.

Used for ``append`` and ``replace`` under the ``evolve`` contract only: merge derives row ids
from keys, and dlt applies column contracts to Arrow tables differently than to rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dlt.extract.items_transform import ItemTransform

from floe_ingestion_dlt.compat.dlt import schema_type_detections
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.performance import use_normalize_workers

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.common.schema import Schema

__all__ = ["ArrowPages", "NotColumnar", "page_to_arrow"]

_log = get_logger(__name__)


class NotColumnar(Exception):
    """The page cannot become an Arrow table with the types dlt would give its rows."""


class ArrowPages(ItemTransform[Any, dict[str, Any]]):
    """A resource step turning each page (a list of records) into one Arrow table.

    Placed last in the pipe, after dlt's incremental (which filters records) and limit.
    Once a page falls back to rows, the rest of the run stays rows (see the module doc).
    """

    placement_affinity: ClassVar[float] = 2.5

    def __init__(self, table_name: str, pipeline_name: str) -> None:
        super().__init__(_transformed_by_call)
        self.table_name = table_name
        self.pipeline_name = pipeline_name
        self.arrow_pages = 0
        self.row_pages = 0
        self.fallback_reason: str | None = None

    def bind(self, pipe: Any) -> ArrowPages:
        """Called by dlt before each extraction: every run starts with Arrow pages again."""
        self.arrow_pages = self.row_pages = 0
        self.fallback_reason = None
        return self

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, list) or not item:
            return item
        if self.fallback_reason is None:
            try:
                table = page_to_arrow(item, _current_schema(), self.table_name)
            except NotColumnar as exc:
                self.fallback_reason = str(exc)
                use_normalize_workers(self.pipeline_name, rows=True)
                _log.info(
                    "rest_api.rows_normalizer",
                    table=self.table_name,
                    reason=self.fallback_reason,
                    arrow_pages=self.arrow_pages,
                )
            else:
                self.arrow_pages += 1
                return table
        self.row_pages += 1
        return item


def _transformed_by_call(item: Any, meta: Any = None) -> Any:
    """The transform function dlt's ``ItemTransform`` asks for; unused: ``__call__`` is the
    step (dlt calls the step, and only ``__call__`` of dlt's own subclasses calls it)."""
    return item


def _filters_columns(schema: Schema) -> bool:
    """True when a table of ``schema`` has column filters (``excludes``/``includes``)."""
    for table in schema.tables.values():
        filters: Any = table.get("filters") or {}
        if "excludes" in filters or "includes" in filters:
            return True
    return False


def _current_schema() -> Schema:
    import dlt
    from dlt.common.exceptions import DltException

    try:
        return dlt.current.source_schema()
    except DltException:
        raise NotColumnar("no source schema in this context") from None


def page_to_arrow(rows: list[Any], schema: Schema, table_name: str) -> pa.Table:
    """``rows`` as one Arrow table typed as dlt's normalizer would type them in ``schema``.

    Raises:
        NotColumnar: naming what keeps the page from being columnar.

    Example:
        >>> page_to_arrow([{"Id": 1, "at": "2024-01-01T00:00:00Z"}], schema, "orders").schema
        id: int64
        at: timestamp[us, tz=UTC]
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from dlt.common.normalizers.json.helpers import normalize_identifier

    if any(type(row) is not dict for row in rows):
        raise NotColumnar("a record is not a JSON object")
    if _filters_columns(schema):
        raise NotColumnar("the schema filters columns of rows")
    try:
        records = pa.array(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        # the reason never quotes a value: it is logged, and records may hold personal data
        raise NotColumnar("values of one key have different types") from None
    if not pa.types.is_struct(records.type):
        raise NotColumnar("records are not JSON objects")
    table_key = schema.naming.normalize_tables_path(table_name)
    known = schema.tables[table_key]["columns"] if table_key in schema.tables else {}
    names: dict[str, str] = {}
    columns: dict[str, pa.Array] = {}
    for index, field in enumerate(records.type):
        key = field.name
        if not key or key.isspace():
            raise NotColumnar("a record has an empty key")
        name = normalize_identifier(schema, schema.naming, key)
        if name in names:
            raise NotColumnar(f"keys {names[name]!r} and {key!r} are both column {name!r}")
        names[name] = key
        if pa.types.is_null(field.type):
            continue
        if pa.types.is_nested(field.type):
            raise NotColumnar(f"key {key!r} holds nested values")
        values = records.field(index)
        column = known.get(name)
        if column is None:
            first = rows[pc.index(values.is_valid(), True).as_py()][key]
            data_type = _inferred_type(schema, name, first)
        else:
            data_type = _known_type(column, name)
        columns[name] = _coerce(values, data_type, name)
    return pa.table(_in_key_order(columns, names, rows, records.type))


def _in_key_order(
    columns: dict[str, pa.Array], names: dict[str, str], rows: list[Any], struct: Any
) -> dict[str, pa.Array]:
    """Columns in the order their keys first appear in the page, as dlt's normalizer has them.

    pyarrow < 23 (which floe-iceberg 0.1.0a1 pins) sorts the fields of an inferred struct by
    name; later versions keep the keys' order. The table's column order must not depend on it.
    """
    import itertools

    first_seen = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
    if [field.name for field in struct] == first_seen:
        return columns
    position = {key: index for index, key in enumerate(first_seen)}
    return dict(sorted(columns.items(), key=lambda item: position[names[item[0]]]))


def _inferred_type(schema: Schema, name: str, value: Any) -> str:
    """The type dlt's normalizer gives a new column from its first value."""
    from dlt.common.data_types.type_helpers import py_type_to_sc_type
    from dlt.common.schema.utils import autodetect_sc_type

    detected = autodetect_sc_type(schema_type_detections(schema), type(value), value)
    data_type: str = schema.get_preferred_type(name) or detected or py_type_to_sc_type(type(value))
    return data_type


def _known_type(column: Any, name: str) -> str:
    """An existing column's type, if Arrow can write it exactly as dlt would."""
    data_type = str(column.get("data_type"))
    precision = column.get("precision")
    plain = precision is None and column.get("scale") is None
    if data_type == "timestamp" and precision in (None, 6) and column.get("timezone", True):
        return data_type
    if data_type in ("text", "bigint", "double", "bool", "date") and plain:
        return data_type
    raise NotColumnar(f"column {name!r} is {data_type} with hints the Arrow path does not write")


def _coerce(values: pa.Array, data_type: str, name: str) -> pa.Array:
    """``values`` as ``data_type``, converting only where dlt's coercion gives the same value."""
    import pyarrow as pa

    kind = values.type
    try:
        if data_type == "text" and pa.types.is_string(kind):
            return values
        if data_type == "bool" and pa.types.is_boolean(kind):
            return values
        if data_type == "bigint" and (pa.types.is_int64(kind) or pa.types.is_float64(kind)):
            return values.cast(pa.int64(), safe=True)  # a fraction would be a variant column
        if data_type == "double" and (pa.types.is_int64(kind) or pa.types.is_float64(kind)):
            return values.cast(pa.float64())
        if data_type == "date" and pa.types.is_string(kind):
            return values.cast(pa.date32())
        if data_type == "timestamp" and pa.types.is_string(kind):
            return _parse_timestamps(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise NotColumnar(f"column {name!r}: a value is not a {data_type}") from None
    raise NotColumnar(f"column {name!r} is {data_type}, the page has {kind}")


def _parse_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601 strings -> UTC microseconds; strings without an offset are UTC, as in dlt."""
    import pyarrow as pa

    utc = pa.timestamp("us", tz="UTC")
    try:
        return values.cast(utc)
    except pa.ArrowInvalid:
        return values.cast(pa.timestamp("us")).cast(utc)
