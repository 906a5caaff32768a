"""Whether an embedded (SQLite) catalog and its local warehouse can be opened or created.

``health_check`` used to say HEALTHY for a catalog "created by the first run" even where the
first run could never create it (a parent that is a regular file, a read-only folder, a file
that is not a SQLite database). :func:`local_catalog_problem` proves it can, touching nothing:
an existing catalog file must be a SQLite database that this user may read and write; a missing
one needs its nearest existing ancestor to be a folder this user may write into. The same holds
for a ``file://`` warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["local_catalog_problem", "local_folder_problem"]

_SQLITE_HEADER = b"SQLite format 3\x00"


def _nearest_existing(path: Path) -> Path:
    current = path
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _creatable(path: Path, what: str) -> str | None:
    """Why ``path`` (missing) cannot be created, or ``None``."""
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir():
        return f"{what} {path} cannot be created: {ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{what} {path} cannot be created: folder {ancestor} is not writable"
    return None


def local_folder_problem(path: Path, what: str) -> str | None:
    """Why the folder ``path`` cannot be used or created, or ``None``."""
    if not path.exists():
        return _creatable(path, what)
    if not path.is_dir():
        return f"{what} {path} is a file, not a folder"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{what} {path} is not writable"
    return None


def _sqlite_file_problem(path: Path) -> str | None:
    if not path.exists():
        return _creatable(path, "catalog database")
    if not path.is_file():
        return f"catalog database {path} is not a file"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"catalog database {path} is not readable and writable"
    if not os.access(path.parent, os.W_OK | os.X_OK):  # SQLite writes its journal beside it
        return f"catalog folder {path.parent} is not writable (SQLite needs its journal there)"
    with path.open("rb") as handle:
        header = handle.read(len(_SQLITE_HEADER))
    if header and header != _SQLITE_HEADER:
        return f"catalog database {path} is not a SQLite database"
    return None


def local_catalog_problem(uri: str, warehouse: str | None) -> str | None:
    """Why a ``sqlite:///`` catalog (and its ``file://`` warehouse) cannot be opened or created.

    ``None`` when it can, or when the catalog is not a local SQLite file. Creates nothing.
    """
    if not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    problem = _sqlite_file_problem(Path(database))
    if problem is None and warehouse and urlparse(warehouse).scheme == "file":
        problem = local_folder_problem(Path(unquote(urlparse(warehouse).path)), "warehouse")
    return problem
