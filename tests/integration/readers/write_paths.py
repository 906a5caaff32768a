"""Tables written by every write path of the plugin, with the rows each snapshot must hold.

Each path loads twice or more (one snapshot per load). The expected rows of every snapshot are
computed from the source rows alone (plain Python values), never read from the table, so a
reader that agrees with them reads what was loaded.

Paths: append fast path (spec-exact files registered as they are; Parquet input with
second, millisecond and nanosecond timestamps, decimals, binary, time, nested list and struct),
append from CSV (timestamps inferred in seconds), append that falls back to PyIceberg's writer
(a narrower type than the table's), replace, merge with nested child tables at two levels
(lists split by dlt), schema evolution (a new column), variant columns (a changed type), a
merge into a table of ONE data file of several row groups (the untouched row groups copied
verbatim, :mod:`floe_ingestion_dlt.destination.row_group_merge`), and a partitioned + sorted
table on every write mode (append, replace, merge upsert, merge delete-insert).

dlt loads naive timestamps as UTC (``timestamptz``): expected rows say so (:func:`as_loaded`).
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from pyiceberg.table import Table

from floe_ingestion_dlt import CatalogConfig, DltIngestionPlugin, iceberg
from tests.helpers import embedded_plugin, files_config, fresh_catalog

Row = dict[str, Any]
UTC = dt.UTC
NAMESPACE = "matrix"


@dataclass
class WrittenTable:
    """A table of one write path and the rows of each of its snapshots, oldest first."""

    path: str
    identifier: str
    key: tuple[str, ...]
    expected: list[list[Row]] = field(default_factory=list)
    """Expected user rows (no ``_dlt`` columns) after each load."""
    columns: tuple[str, ...] = ()
    """Columns compared (all user columns of the current schema when empty)."""


def _typed_rows(ids: range) -> list[Row]:
    rows = []
    for i in ids:
        at = dt.datetime(2023, 5, 1, tzinfo=UTC) + dt.timedelta(hours=i, microseconds=i)
        rows.append(
            {
                "id": i,
                "qty": i % 7,
                "price": i * 1.25,
                "name": f"n{i}" if i % 5 else None,
                "flag": i % 2 == 0,
                "day": dt.date(2023, 1, 1) + dt.timedelta(days=i),
                "at": at,
                "at_ms": (at + dt.timedelta(minutes=i)).replace(microsecond=i * 1000 % 1_000_000),
                "at_s": dt.datetime(2022, 12, 31, 23, 59, 59) + dt.timedelta(seconds=i),
                "at_ns": at + dt.timedelta(days=1),
                "amount": decimal.Decimal(i) / 4,
                "big": decimal.Decimal(f"{i}12345678901234567890.123456"),
                "payload": f"p{i}".encode(),
                "clock": dt.time(i % 24, i % 60, 1, i),
                "tags": [f"t{j}" for j in range(i % 3)],
                "attrs": {"k": f"k{i}", "v": i * 10},
            }
        )
    return rows


TYPED_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("qty", pa.int32()),
        ("price", pa.float64()),
        ("name", pa.string()),
        ("flag", pa.bool_()),
        ("day", pa.date32()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("at_ms", pa.timestamp("ms", tz="UTC")),
        ("at_s", pa.timestamp("s")),
        ("at_ns", pa.timestamp("ns", tz="UTC")),
        ("amount", pa.decimal128(9, 2)),
        ("big", pa.decimal128(38, 6)),
        ("payload", pa.binary()),
        ("clock", pa.time64("us")),
        ("tags", pa.list_(pa.string())),
        ("attrs", pa.struct([("k", pa.string()), ("v", pa.int64())])),
    ]
)


def as_loaded(rows: list[Row]) -> list[Row]:
    """``rows`` as dlt loads them: naive datetimes are UTC."""
    return [
        {
            k: v.replace(tzinfo=UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v
            for k, v in r.items()
        }
        for r in rows
    ]


class Writer:
    """Source folders and one plugin on one embedded catalog."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.plugin: DltIngestionPlugin = embedded_plugin(root)
        self.folders = 0

    def folder(self) -> Path:
        self.folders += 1
        path = self.root / f"source-{self.folders}"
        path.mkdir(parents=True)
        return path

    def parquet(self, data: pa.Table) -> Path:
        folder = self.folder()
        pq.write_table(data, folder / "part.parquet")
        return folder

    def load(self, folder: Path, glob: str, table: str, mode: str = "append", **kw: Any) -> None:
        config = files_config(folder, glob, f"{NAMESPACE}.{table}", mode, **kw)
        outcome = self.plugin.run_with_outcome(self.plugin.create_pipeline(config))
        assert outcome.success, outcome.errors

    def table(self, name: str) -> Table:
        return fresh_catalog(self.plugin).load_table(f"{NAMESPACE}.{name}")


def append_fast_path(w: Writer) -> WrittenTable:
    out = WrittenTable("append_fast_path", f"{NAMESPACE}.typed", ("id",))
    rows: list[Row] = []
    for ids in (range(1, 21), range(21, 31)):
        batch = _typed_rows(ids)
        w.load(w.parquet(pa.Table.from_pylist(batch, schema=TYPED_SCHEMA)), "*.parquet", "typed")
        rows = rows + as_loaded(batch)
        out.expected.append(rows)
    return out


def _csv_rows(ids: range) -> list[Row]:
    return [
        {
            "id": i,
            "city": f"c{i % 4}",
            "created": dt.datetime(2023, 5, 1, 8) + dt.timedelta(days=i, seconds=i),
            "amount": i / 8,
        }
        for i in ids
    ]


def append_csv(w: Writer) -> WrittenTable:
    out = WrittenTable("append_csv", f"{NAMESPACE}.from_csv", ("id",))
    rows: list[Row] = []
    for ids in (range(1, 11), range(11, 16)):
        batch = _csv_rows(ids)
        folder = w.folder()
        data = pa.Table.from_pylist(batch)
        data = data.set_column(
            2, "created", pa.array([r["created"] for r in batch]).cast(pa.string())
        )
        pcsv.write_csv(data, folder / "part.csv")
        w.load(folder, "*.csv", "from_csv")
        rows = rows + as_loaded(batch)
        out.expected.append(rows)
    return out


def append_rewrite(w: Writer) -> WrittenTable:
    """The second load's ``qty`` is int8: cast to the table's int, written by PyIceberg."""
    out = WrittenTable("append_rewrite", f"{NAMESPACE}.rewritten", ("id",))
    first = [{"id": i, "qty": i, "at": dt.datetime(2024, 1, 1, tzinfo=UTC)} for i in range(1, 6)]
    schema = pa.schema([("id", pa.int64()), ("qty", pa.int32()), ("at", pa.timestamp("ms", "UTC"))])
    w.load(w.parquet(pa.Table.from_pylist(first, schema=schema)), "*.parquet", "rewritten")
    out.expected.append(first)
    second = [{"id": i, "qty": i, "at": dt.datetime(2024, 2, 1, tzinfo=UTC)} for i in range(6, 9)]
    narrow = pa.schema([("id", pa.int64()), ("qty", pa.int8()), ("at", pa.timestamp("ms", "UTC"))])
    w.load(w.parquet(pa.Table.from_pylist(second, schema=narrow)), "*.parquet", "rewritten")
    out.expected.append(first + second)
    return out


def replace(w: Writer) -> WrittenTable:
    out = WrittenTable("replace", f"{NAMESPACE}.replaced", ("id",))
    for ids in (range(1, 11), range(100, 104)):
        batch = _typed_rows(ids)
        data = pa.Table.from_pylist(batch, schema=TYPED_SCHEMA)
        w.load(w.parquet(data), "*.parquet", "replaced", "replace")
        out.expected.append(as_loaded(batch))
    return out


def schema_evolution(w: Writer) -> WrittenTable:
    out = WrittenTable("schema_evolution", f"{NAMESPACE}.evolved", ("id",))
    first = [{"id": i, "name": f"a{i}"} for i in range(1, 4)]
    w.load(w.parquet(pa.Table.from_pylist(first)), "*.parquet", "evolved")
    out.expected.append(first)
    second = [
        {"id": i, "name": f"b{i}", "seen": dt.datetime(2024, 3, i, tzinfo=UTC), "score": i * 0.5}
        for i in range(4, 7)
    ]
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("seen", pa.timestamp("ms", "UTC")),
            ("score", pa.float64()),
        ]
    )
    w.load(w.parquet(pa.Table.from_pylist(second, schema=schema)), "*.parquet", "evolved")
    widened = [{**r, "seen": None, "score": None} for r in first]
    out.expected.append(widened + second)
    return out


def variant_columns(w: Writer) -> WrittenTable:
    out = WrittenTable("variant_columns", f"{NAMESPACE}.variants", ("id",))
    first = [{"id": i, "amount": i * 100} for i in range(1, 4)]
    w.load(w.parquet(pa.Table.from_pylist(first)), "*.parquet", "variants")
    out.expected.append(first)
    second = [{"id": i, "amount": f"{i} EUR"} for i in range(4, 6)]
    w.load(w.parquet(pa.Table.from_pylist(second)), "*.parquet", "variants")
    out.expected.append(
        [{**r, "amount__v_text": None} for r in first]
        + [{"id": r["id"], "amount": None, "amount__v_text": r["amount"]} for r in second]
    )
    return out


def _orders(id: int, *items: tuple[str, list[int]], **extra: Any) -> Row:
    return {
        "id": id,
        "placed": dt.datetime(2024, 5, id, 12, tzinfo=UTC),
        "items": [{"sku": s, "parts": [{"n": n} for n in ns]} for s, ns in items],
        **extra,
    }


MERGE_BATCHES: list[list[Row]] = [
    [_orders(1, ("a", [1, 2]), ("b", [3])), _orders(2, ("c", [4])), _orders(3, ("d", [5]))],
    [_orders(1, ("a", [2])), _orders(2), {"id": 3, "placed": None}, _orders(4, ("e", [6, 7]))],
]


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))


def _nested_expected(records: dict[int, Row]) -> tuple[list[Row], list[Row], list[Row]]:
    current = records.items()
    roots = [{"id": i, "placed": r.get("placed")} for i, r in current]
    items = [{"id": i, "sku": it["sku"]} for i, r in current for it in r.get("items") or []]
    parts = [
        {"id": i, "sku": it["sku"], "n": p["n"]}
        for i, r in current
        for it in r.get("items") or []
        for p in it.get("parts") or []
    ]
    return _sorted(roots), _sorted(items), _sorted(parts)


APPEND_BATCHES: list[list[Row]] = [
    [_orders(1, ("a", [1, 2]), ("b", [3])), _orders(2)],
    [_orders(3, ("c", [4])), {"id": 4, "placed": None}],
]


@dataclass
class NestedTables:
    """A root table and its two levels of nested tables; per load, the expected rows."""

    identifiers: tuple[str, ...]
    expected: list[tuple[list[Row], list[Row], list[Row]]] = field(default_factory=list)


def nested_tables(root: Path, disposition: str) -> NestedTables:
    """Records with two levels of lists loaded from Python rows (dlt's row normalizer).

    ``merge``: upserts (``MERGE_BATCHES``): lists that shrink, become empty or go missing.
    ``append``: new records per load (``APPEND_BATCHES``). Nested rows are compared by their
    root's ``id`` and their parent's ``sku``, joined through ``_dlt_parent_id`` on the rows each
    engine itself reads (:func:`resolve_nested_rows`).
    """
    import dlt

    lake = CatalogConfig.embedded(root / "lake")
    pipeline = dlt.pipeline(
        f"matrix_{disposition}",
        destination=iceberg(credentials=lake),
        dataset_name=NAMESPACE,
        pipelines_dir=str(root / f"{disposition}-pipelines"),
    )
    name = f"{disposition}_orders"

    @dlt.resource(
        name=name, primary_key="id", write_disposition=disposition, table_format="iceberg"
    )
    def orders(rows: list[Row]) -> Iterator[list[Row]]:
        yield rows

    out = NestedTables(
        tuple(f"{NAMESPACE}.{name}{suffix}" for suffix in ("", "__items", "__items__parts"))
    )
    records: dict[int, Row] = {}
    for batch in MERGE_BATCHES if disposition == "merge" else APPEND_BATCHES:
        pipeline.run(orders(copy.deepcopy(batch)))
        for row in batch:
            records[row["id"]] = row
        out.expected.append(_nested_expected(records))
    return out


def resolve_nested_rows(
    roots: list[Row], items: list[Row], parts: list[Row]
) -> tuple[list[Row], list[Row], list[Row]]:
    """Rows of the three tables as one engine read them, keyed by root id and sku."""
    root_id = {r["_dlt_id"]: r["id"] for r in roots}
    item_of = {r["_dlt_id"]: (root_id.get(r["_dlt_parent_id"]), r["sku"]) for r in items}
    return (
        _sorted([{"id": r["id"], "placed": r["placed"]} for r in roots]),
        _sorted([{"id": root_id.get(r["_dlt_parent_id"]), "sku": r["sku"]} for r in items]),
        _sorted(
            [
                {
                    "id": item_of.get(p["_dlt_parent_id"], (None, None))[0],
                    "sku": item_of.get(p["_dlt_parent_id"], (None, None))[1],
                    "n": p["n"],
                }
                for p in parts
            ]
        ),
    )


ONE_FILE_ROWS = 210_000
"""A first load this large is one data file of three row groups (``ROW_GROUP_ROWS``)."""


def _one_file_rows(ids: range, label: str) -> list[Row]:
    return [
        {
            "id": i,
            "name": f"{label}{i}",
            "at": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i, microseconds=i),
            "amount": decimal.Decimal(i % 10_000) / 4,
        }
        for i in ids
    ]


ONE_FILE_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("amount", pa.decimal128(9, 2)),
    ]
)


def merge_one_file(w: Writer) -> WrittenTable:
    """Upserts into a one-file table: recent ids updated (the last row group), new ids added;
    then ids of the first and last row groups updated. Each merge must copy row groups."""
    out = WrittenTable("merge_one_file", f"{NAMESPACE}.one_file", ("id",))
    records = {r["id"]: r for r in _one_file_rows(range(1, ONE_FILE_ROWS + 1), "first")}
    batches = [
        _one_file_rows(range(1, ONE_FILE_ROWS + 1), "first"),
        _one_file_rows(range(ONE_FILE_ROWS - 500, ONE_FILE_ROWS + 500), "second"),
        _one_file_rows([*range(10, 20), *range(ONE_FILE_ROWS - 5, ONE_FILE_ROWS + 5)], "third"),
    ]
    for number, batch in enumerate(batches):
        data = pa.Table.from_pylist(batch, schema=ONE_FILE_SCHEMA)
        mode = "append" if number == 0 else "merge"
        keys = {} if number == 0 else {"primary_key": "id", "merge_strategy": "upsert"}
        w.load(w.parquet(data), "*.parquet", "one_file", mode, **keys)
        records.update({r["id"]: r for r in batch})
        out.expected.append(list(records.values()))
        summary = w.table("one_file").current_snapshot().summary  # type: ignore[union-attr]
        if number:
            assert summary["floe.merge.files-row-groups-copied"] == "1", summary
    return out


LAYOUT = {"partition_by": ["region", "day(at)"], "sort_order": ["score desc", "id"]}


def _layout_rows(ids: range, label: str) -> list[Row]:
    return [
        {
            "id": i,
            "region": f"r{i % 3}",
            "at": dt.datetime(2024, 6, 1 + i % 4, i % 24, tzinfo=UTC),
            "score": (i * 37) % 11,
            "label": f"{label}{i}",
        }
        for i in ids
    ]


def _layout_table(w: Writer, name: str, mode: str, keys: dict[str, str]) -> WrittenTable:
    """Two loads into a table partitioned by ``region`` and day, sorted by score and id; the
    second load's ids overlap the first's and all fall in region ``r0``."""
    out = WrittenTable(f"layout_{name}", f"{NAMESPACE}.layout_{name}", ("id",))
    records: dict[int, Row] = {}
    for number, batch in enumerate(
        [_layout_rows(range(1, 41), "a"), _layout_rows(range(30, 46, 3), "b")]
    ):
        w.load(
            w.parquet(pa.Table.from_pylist(batch)),
            "*.parquet",
            f"layout_{name}",
            mode,
            **LAYOUT,
            **keys,
        )
        if mode == "replace":
            records = {}
        elif keys.get("merge_key") == "region" and number:
            regions = {r["region"] for r in batch}
            records = {i: r for i, r in records.items() if r["region"] not in regions}
        if mode == "append":
            out.key = ("id", "label")
            records.update({(r["id"], r["label"]): r for r in batch})  # type: ignore[misc]
        else:
            records.update({r["id"]: r for r in batch})
        out.expected.append(list(records.values()))
    table = w.table(f"layout_{name}")
    assert not table.spec().is_unpartitioned() and not table.sort_order().is_unsorted
    return out


def layout_append(w: Writer) -> WrittenTable:
    return _layout_table(w, "append", "append", {})


def layout_replace(w: Writer) -> WrittenTable:
    return _layout_table(w, "replace", "replace", {})


def layout_upsert(w: Writer) -> WrittenTable:
    return _layout_table(w, "upsert", "merge", {"primary_key": "id", "merge_strategy": "upsert"})


def layout_delete_insert(w: Writer) -> WrittenTable:
    keys = {"primary_key": "id", "merge_key": "region", "merge_strategy": "delete-insert"}
    return _layout_table(w, "delete_insert", "merge", keys)


NESTED = ("merge", "append")
"""Write dispositions of :func:`nested_tables`."""

BUILDERS: dict[str, Callable[[Writer], WrittenTable]] = {
    "append_fast_path": append_fast_path,
    "append_csv": append_csv,
    "append_rewrite": append_rewrite,
    "replace": replace,
    "schema_evolution": schema_evolution,
    "variant_columns": variant_columns,
    "merge_one_file": merge_one_file,
    "layout_append": layout_append,
    "layout_replace": layout_replace,
    "layout_upsert": layout_upsert,
    "layout_delete_insert": layout_delete_insert,
}
