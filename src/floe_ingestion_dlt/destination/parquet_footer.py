"""A Parquet file's footer as data, and files assembled from other files' row groups.

The footer of a Parquet file (``FileMetaData``) is a Thrift struct in the *compact* protocol.
pyarrow reads it but cannot write a footer of our own making, and cannot copy a row group's
column chunks without decoding them. A merge that rewrites a large file keeps most row groups
unchanged: copying their bytes verbatim and writing a footer that points at them costs a
fraction of decoding and encoding them again.

The codec below is generic (every field of every struct is kept by id, known or not), so a
footer decoded and encoded again is byte-identical (tested on pyarrow's footers). Only the
few fields a move needs are interpreted, by their ids in ``parquet.thrift``:

- ``FileMetaData``: 2 ``schema``, 3 ``num_rows``, 4 ``row_groups``;
- ``RowGroup``: 1 ``columns``, 3 ``num_rows``, 5 ``file_offset``, 6 ``total_compressed_size``,
  7 ``ordinal``;
- ``ColumnChunk``: 1 ``file_path``, 2 ``file_offset``, 3 ``meta_data``, 4-7 page index
  location, 8-9 encryption;
- ``ColumnMetaData``: 7 ``total_compressed_size``, 9 ``data_page_offset``, 10
  ``index_page_offset``, 11 ``dictionary_page_offset``, 14-15 bloom filter location.

A moved row group keeps its statistics and encodings; its offsets are shifted. Page indexes
and bloom filters live outside the row group's bytes and are not carried over (optional:
readers work without them).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AssembledFile",
    "ParquetFileBuilder",
    "ThriftList",
    "ThriftStruct",
    "decode_struct",
    "encode_struct",
    "read_footer",
]

MAGIC = b"PAR1"
_BOOL_TRUE, _BOOL_FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY = 1, 2, 3, 4, 5, 6, 7, 8
_LIST, _SET, _MAP, _STRUCT = 9, 10, 11, 12

# field ids (parquet.thrift)
FMD_SCHEMA, FMD_NUM_ROWS, FMD_ROW_GROUPS = 2, 3, 4
RG_COLUMNS, RG_NUM_ROWS, RG_FILE_OFFSET, RG_COMPRESSED, RG_ORDINAL = 1, 3, 5, 6, 7
CC_FILE_PATH, CC_FILE_OFFSET, CC_META = 1, 2, 3
CC_OUTSIDE_FIELDS = (4, 5, 6, 7)
CC_ENCRYPTION_FIELDS = (8, 9)
CMD_COMPRESSED, CMD_DATA_PAGE, CMD_INDEX_PAGE, CMD_DICT_PAGE = 7, 9, 10, 11
CMD_OUTSIDE_FIELDS = (14, 15)


@dataclass
class ThriftList:
    """A Thrift list (or set): its compact element type and its values."""

    element_type: int
    items: list[Any]


@dataclass
class ThriftStruct:
    """A Thrift struct: field id -> (compact type, value), every field kept."""

    fields: dict[int, tuple[int, Any]] = field(default_factory=dict)

    def get(self, field_id: int, default: Any = None) -> Any:
        """The value of ``field_id``, or ``default`` when the field is absent."""
        entry = self.fields.get(field_id)
        return default if entry is None else entry[1]

    def set(self, field_id: int, compact_type: int, value: Any) -> None:
        """Set ``field_id`` (type as in the compact protocol)."""
        self.fields[field_id] = (compact_type, value)

    def drop(self, *field_ids: int) -> None:
        """Remove ``field_ids`` where present."""
        for field_id in field_ids:
            self.fields.pop(field_id, None)


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return int(value)

    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def element(self, compact_type: int) -> Any:
        if compact_type in (_BOOL_TRUE, _BOOL_FALSE):  # one byte per element in collections
            return self.byte() == _BOOL_TRUE
        return self.value(compact_type)

    def value(self, compact_type: int) -> Any:
        if compact_type == _BYTE:
            return struct.unpack("<b", bytes([self.byte()]))[0]
        if compact_type in (_I16, _I32, _I64):
            return self.zigzag()
        if compact_type == _DOUBLE:
            self.pos += 8
            return struct.unpack("<d", self.data[self.pos - 8 : self.pos])[0]
        if compact_type == _BINARY:
            size = self.varint()
            self.pos += size
            return bytes(self.data[self.pos - size : self.pos])
        if compact_type in (_LIST, _SET):
            header = self.byte()
            size = header >> 4 if header >> 4 != 15 else self.varint()
            element_type = header & 0x0F
            return ThriftList(element_type, [self.element(element_type) for _ in range(size)])
        if compact_type == _MAP:
            size = self.varint()
            types = self.byte() if size else 0
            return (
                types,
                [(self.element(types >> 4), self.element(types & 15)) for _ in range(size)],
            )
        if compact_type == _STRUCT:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {compact_type}")

    def struct(self) -> ThriftStruct:
        result = ThriftStruct()
        last = 0
        while (header := self.byte()) != 0:
            compact_type, delta = header & 0x0F, header >> 4
            field_id = last + delta if delta else self.zigzag()
            if compact_type in (_BOOL_TRUE, _BOOL_FALSE):
                result.set(field_id, _BOOL_TRUE, compact_type == _BOOL_TRUE)
            else:
                result.set(field_id, compact_type, self.value(compact_type))
            last = field_id
        return result


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def varint(self, value: int) -> None:
        while value > 0x7F:
            self.out.append((value & 0x7F) | 0x80)
            value >>= 7
        self.out.append(value)

    def zigzag(self, value: int) -> None:
        self.varint((value << 1) ^ (value >> 63))

    def element(self, compact_type: int, value: Any) -> None:
        if compact_type in (_BOOL_TRUE, _BOOL_FALSE):
            self.out.append(_BOOL_TRUE if value else _BOOL_FALSE)
        else:
            self.value(compact_type, value)

    def value(self, compact_type: int, value: Any) -> None:
        if compact_type == _BYTE:
            self.out += struct.pack("<b", value)
        elif compact_type in (_I16, _I32, _I64):
            self.zigzag(value)
        elif compact_type == _DOUBLE:
            self.out += struct.pack("<d", value)
        elif compact_type == _BINARY:
            self.varint(len(value))
            self.out += value
        elif compact_type in (_LIST, _SET):
            size = len(value.items)
            self.out.append((min(size, 15) << 4) | value.element_type)
            if size >= 15:
                self.varint(size)
            for item in value.items:
                self.element(value.element_type, item)
        elif compact_type == _MAP:
            types, entries = value
            self.varint(len(entries))
            if entries:
                self.out.append(types)
            for key, item in entries:
                self.element(types >> 4, key)
                self.element(types & 15, item)
        elif compact_type == _STRUCT:
            self.struct(value)
        else:
            raise ValueError(f"unknown Thrift compact type {compact_type}")

    def struct(self, value: ThriftStruct) -> None:
        last = 0
        for field_id in sorted(value.fields):
            compact_type, item = value.fields[field_id]
            if compact_type in (_BOOL_TRUE, _BOOL_FALSE):
                compact_type, item = (_BOOL_TRUE if item else _BOOL_FALSE), None
            if 0 < field_id - last <= 15:
                self.out.append(((field_id - last) << 4) | compact_type)
            else:
                self.out.append(compact_type)
                self.zigzag(field_id)
            if item is not None or compact_type not in (_BOOL_TRUE, _BOOL_FALSE):
                self.value(compact_type, item)
            last = field_id
        self.out.append(0)


def decode_struct(data: bytes | memoryview) -> ThriftStruct:
    """The Thrift struct (compact protocol) at the start of ``data``."""
    return _Reader(data).struct()


def encode_struct(value: ThriftStruct) -> bytes:
    """``value`` in the Thrift compact protocol."""
    writer = _Writer()
    writer.struct(value)
    return bytes(writer.out)


def read_footer(data: bytes | memoryview) -> ThriftStruct:
    """The ``FileMetaData`` of the Parquet file whose bytes are ``data``.

    Raises:
        ValueError: not a (plaintext-footer) Parquet file.
    """
    view = memoryview(data)
    if len(view) < 12 or bytes(view[:4]) != MAGIC or bytes(view[-4:]) != MAGIC:
        raise ValueError("not a Parquet file (or an encrypted footer)")
    length = int.from_bytes(view[-8:-4], "little")
    return decode_struct(view[-8 - length : -8])


def row_group_span(row_group: ThriftStruct) -> tuple[int, int] | None:
    """``(start, end)`` of a row group's column chunks in its file, or ``None`` when they are
    not one contiguous run of bytes in that file (chunks in other files, encrypted chunks)."""
    spans = []
    for chunk in row_group.get(RG_COLUMNS).items:
        meta = chunk.get(CC_META)
        if meta is None or chunk.get(CC_FILE_PATH) is not None:
            return None
        if any(f in chunk.fields for f in CC_ENCRYPTION_FIELDS):
            return None
        start = meta.get(CMD_DICT_PAGE) or meta.get(CMD_DATA_PAGE)
        spans.append((start, start + meta.get(CMD_COMPRESSED)))
    spans.sort()
    if not spans or any(prev[1] != nxt[0] for prev, nxt in itertools.pairwise(spans)):
        return None
    return spans[0][0], spans[-1][1]


def _shift(value: ThriftStruct, field_id: int, shift: int) -> None:
    entry = value.fields.get(field_id)
    if entry is not None and entry[1]:
        value.set(field_id, entry[0], entry[1] + shift)


def _moved_row_group(row_group: ThriftStruct, shift: int, ordinal: int) -> ThriftStruct:
    """``row_group`` (modified in place) with its offsets moved by ``shift`` bytes."""
    for chunk in row_group.get(RG_COLUMNS).items:
        _shift(chunk, CC_FILE_OFFSET, shift)
        chunk.drop(*CC_OUTSIDE_FIELDS)
        meta = chunk.get(CC_META)
        for field_id in (CMD_DATA_PAGE, CMD_INDEX_PAGE, CMD_DICT_PAGE):
            _shift(meta, field_id, shift)
        meta.drop(*CMD_OUTSIDE_FIELDS)
    _shift(row_group, RG_FILE_OFFSET, shift)
    if RG_ORDINAL in row_group.fields:
        row_group.set(RG_ORDINAL, _I16, ordinal)
    return row_group


class ParquetFileBuilder:
    """A Parquet file assembled from row groups of other files, copied byte for byte.

    With a ``sink`` (a binary stream) every piece is written as soon as it is added, so the
    file's first row groups are written while later ones are still being prepared; without,
    the pieces are kept (:meth:`assemble` returns them).
    """

    def __init__(self, sink: Any | None = None, chunk_bytes: int = 1 << 20) -> None:
        self._sink = sink
        self._chunk_bytes = chunk_bytes
        self._pieces: list[bytes | memoryview] = []
        self._size = 0
        self._row_groups: list[ThriftStruct] = []
        self._emit(MAGIC)

    def _emit(self, piece: bytes | memoryview) -> None:
        if self._sink is None:
            self._pieces.append(piece)
        else:
            _write_chunked(self._sink, piece, self._chunk_bytes)
        self._size += len(piece)

    def copy_row_group(self, data: bytes | memoryview, row_group: ThriftStruct) -> None:
        """Append ``row_group`` of the file ``data`` (its footer's struct, consumed).

        Raises:
            ValueError: the row group's chunks are not one contiguous run of bytes.
        """
        span = row_group_span(row_group)
        if span is None:
            raise ValueError("row group is not a contiguous run of column chunks")
        start, end = span
        moved = _moved_row_group(row_group, self._size - start, len(self._row_groups))
        self._row_groups.append(moved)
        self._emit(memoryview(data)[start:end])

    def assemble(self, template: ThriftStruct) -> AssembledFile:
        """End the file with ``template``'s footer pointing at the row groups added. The
        pieces are not joined: copying every row group into one ``bytes`` costs a copy of
        the whole file (5-27 ms for 20 MB here)."""
        footer = ThriftStruct(dict(template.fields))
        footer.set(FMD_ROW_GROUPS, _LIST, ThriftList(_STRUCT, self._row_groups))
        footer.set(FMD_NUM_ROWS, _I64, sum(rg.get(RG_NUM_ROWS) for rg in self._row_groups))
        encoded = encode_struct(footer)
        tail = encoded + len(encoded).to_bytes(4, "little") + MAGIC
        self._emit(tail)
        return AssembledFile(pieces=tuple(self._pieces), size=self._size, tail=tail)

    def finish(self, template: ThriftStruct) -> bytes:
        """The file's bytes (see :meth:`assemble`), joined (a builder without a sink)."""
        return self.assemble(template).to_bytes()


def _write_chunked(out: Any, piece: bytes | memoryview, chunk_bytes: int) -> None:
    """Write ``piece`` in writes of at most ``chunk_bytes`` (bounded buffers for any stream)."""
    view = memoryview(piece)
    for start in range(0, len(view), chunk_bytes):
        out.write(view[start : start + chunk_bytes])


@dataclass(frozen=True)
class AssembledFile:
    """A Parquet file: its size and footer, and the pieces of bytes it is made of (the
    footer last) when it was not written as it was built."""

    pieces: tuple[bytes | memoryview, ...]
    size: int
    tail: bytes
    """The footer, its length and the closing magic: the file's last bytes."""

    def footer_file(self) -> bytes:
        """A stand-in file holding only the footer: enough for ``pyarrow.parquet.read_metadata``
        (which reads the footer from the end and never follows the offsets in it)."""
        return MAGIC + self.tail

    def to_bytes(self) -> bytes:
        if not self.pieces:
            raise ValueError("the file was written as it was built: its pieces are not kept")
        return b"".join(self.pieces)
