"""``discard_value``: a value that casts losslessly to the table's column type is kept, cast.

Only values that cannot be represented in the column's type are dropped (NULL): an int 4 into
a double column lands as 4.0, 30 into a string column as "30", "30" into a long column as 30,
while "abc" into a long column or 2**53 + 1 into a double column become NULL.

dlt's own ``discard_value`` contract removes a whole Arrow column at extract as soon as its type
differs from the table's; :class:`DiscardValueCaster` therefore casts Arrow items to the
table's types before dlt sees them, and the load job's contract uses :func:`cast_losslessly`
for what is left. Python rows are coerced value by value by dlt's normalizer already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.extract.resource import DltResource

    from floe_ingestion_dlt.config import CatalogConfig

__all__ = ["DiscardValueCaster", "add_discard_value_caster", "cast_losslessly"]


def add_discard_value_caster(
    resource: DltResource, catalog: CatalogConfig, namespace: str, table: str
) -> None:
    """Cast ``resource``'s Arrow items to the table's types before dlt's contract sees them.

    For a ``discard_value`` plan: plugin-built resources and a caller's ``source=`` alike
    (dlt's contract drops a whole Arrow column whose type differs).
    """
    resource.add_map(DiscardValueCaster(catalog, namespace, table))


def _scalar_cast(value: Any, source: pa.DataType, target: pa.DataType) -> Any:
    import pyarrow as pa

    if value is None:
        return None
    try:
        cast = pa.array([value], type=source).cast(target, safe=True)
        back = cast.cast(source, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    # lossless: the cast value reads back as the original ("30" -> 30 -> "30", 4 -> 4.0 -> 4)
    return cast[0].as_py() if back[0].as_py() == value else None


def cast_losslessly(column: pa.Array | pa.ChunkedArray, target: pa.DataType) -> tuple[Any, int]:
    """``column`` cast to ``target``, values without a lossless cast as NULL; and their count.

    A whole-column safe cast is tried first (the common case costs one Arrow cast); only when
    it fails are the values cast one by one.
    """
    import pyarrow as pa

    source = column.type
    try:
        return column.cast(target, safe=True), 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    values = column.to_pylist()
    cast = [_scalar_cast(v, source, target) for v in values]
    dropped = sum(1 for v, c in zip(values, cast, strict=True) if v is not None and c is None)
    return pa.array(cast, type=target), dropped


class DiscardValueCaster:
    """Map step of a ``discard_value`` resource: Arrow items cast to the Iceberg table's types.

    The table's schema is read from the catalog for each item (a table another writer evolved
    since the last run counts); items of a table that does not exist yet pass unchanged.
    """

    def __init__(self, catalog: CatalogConfig, namespace: str, table: str) -> None:
        self.catalog, self.namespace, self.table = catalog, namespace, table

    def _table_types(self) -> dict[str, pa.DataType] | None:
        from pyiceberg.exceptions import NoSuchTableError
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        from floe_ingestion_dlt.catalog import load_catalog

        try:
            table = load_catalog(self.catalog).load_table((self.namespace, self.table))
        except NoSuchTableError:
            return None
        schema = schema_to_pyarrow(table.schema(), include_field_ids=False)
        return {f.name: f.type for f in schema}

    def __call__(self, item: Any) -> Any:
        import pyarrow as pa
        from dlt.common.normalizers.naming.snake_case import NamingConvention

        if isinstance(item, pa.RecordBatch):
            item = pa.Table.from_batches([item])
        if not isinstance(item, pa.Table):
            return item
        types = self._table_types()
        if not types:
            return item
        naming = NamingConvention()
        for index, fld in enumerate(item.schema):
            target = types.get(naming.normalize_identifier(fld.name))
            if target is None or target == fld.type or pa.types.is_nested(target):
                continue
            if pa.types.is_nested(fld.type):
                continue
            column, _ = cast_losslessly(item.column(index), target)
            item = item.set_column(index, pa.field(fld.name, target, nullable=True), column)
        return item
