"""Tables of every write path, written once per session for the reader matrix and footer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.readers.write_paths import (
    BUILDERS,
    NESTED,
    NestedTables,
    Writer,
    WrittenTable,
    nested_tables,
)


@pytest.fixture(scope="session")
def matrix_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reader-matrix")


@pytest.fixture(scope="session")
def written(matrix_root: Path) -> Iterator[tuple[Writer, dict[str, WrittenTable]]]:
    writer = Writer(matrix_root / "files")
    yield writer, {name: build(writer) for name, build in BUILDERS.items()}


@pytest.fixture(scope="session")
def nested(matrix_root: Path) -> tuple[Path, dict[str, NestedTables]]:
    """Nested tables from Python rows, merged (``merge``) and appended (``append``)."""
    root = matrix_root / "nested"
    return root, {disposition: nested_tables(root, disposition) for disposition in NESTED}
