"""Which files a table's snapshots reference, and listing what is stored under a table.

Paths are compared without their scheme (``file:///a/b`` and ``/a/b``; ``s3://bucket/k`` and
``bucket/k`` are the same file), because file systems list paths as they store them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

__all__ = ["StoredFile", "list_files", "normalize", "snapshot_files"]


def normalize(location: str) -> str:
    """``location`` without scheme: ``netloc/path`` (or the absolute local path)."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(location)
    if parts.scheme in ("", "file"):
        return unquote(parts.path)
    return f"{parts.netloc}{unquote(parts.path)}"


@dataclass(frozen=True)
class SnapshotFiles:
    """The files one snapshot reads: its manifest list, manifests and live data/delete files."""

    manifest_list: str
    manifests: frozenset[str]
    live_files: frozenset[str]
    all_entries: frozenset[str]
    """Every file named in its manifests, deleted entries included."""


class _ManifestCache:
    """Manifests are immutable: each is read once per maintenance run."""

    def __init__(self, io: FileIO) -> None:
        self.io = io
        self.live: dict[str, frozenset[str]] = {}
        self.entries: dict[str, frozenset[str]] = {}

    def read(self, manifest: object) -> tuple[frozenset[str], frozenset[str]]:
        from pyiceberg.manifest import ManifestEntryStatus, ManifestFile

        assert isinstance(manifest, ManifestFile)
        path = manifest.manifest_path
        if path not in self.live:
            live: set[str] = set()
            every: set[str] = set()
            for entry in manifest.fetch_manifest_entry(self.io, discard_deleted=False):
                name = normalize(entry.data_file.file_path)
                every.add(name)
                if entry.status != ManifestEntryStatus.DELETED:
                    live.add(name)
            self.live[path] = frozenset(live)
            self.entries[path] = frozenset(every)
        return self.live[path], self.entries[path]


def snapshot_files(table: Table, snapshots: Iterable[Snapshot]) -> dict[int, SnapshotFiles]:
    """Files referenced by each of ``snapshots``."""
    cache = _ManifestCache(table.io)
    result: dict[int, SnapshotFiles] = {}
    for snapshot in snapshots:
        manifests = snapshot.manifests(table.io)
        live: set[str] = set()
        every: set[str] = set()
        for manifest in manifests:
            manifest_live, manifest_all = cache.read(manifest)
            live |= manifest_live
            every |= manifest_all
        result[snapshot.snapshot_id] = SnapshotFiles(
            manifest_list=normalize(snapshot.manifest_list),
            manifests=frozenset(normalize(m.manifest_path) for m in manifests),
            live_files=frozenset(live),
            all_entries=frozenset(every),
        )
    return result


@dataclass(frozen=True)
class StoredFile:
    """A file found under the table's location."""

    location: str
    """As the file system names it, with the table location's scheme put back."""
    modified: float
    """Modification time, seconds since the epoch."""


def list_files(table: Table, prefix: str) -> list[StoredFile]:
    """Every file under ``prefix`` (a location inside the table's), with its mtime.

    Uses the table's own file system (PyArrow's or fsspec's, configured like the catalog's
    FileIO: same endpoint and credentials).
    """
    from urllib.parse import urlsplit

    io = table.io
    scheme = urlsplit(prefix).scheme or "file"
    netloc = urlsplit(prefix).netloc
    base = normalize(prefix).rstrip("/") + "/"
    found: list[StoredFile] = []
    restore = "" if scheme == "file" else f"{scheme}://"
    if hasattr(io, "fs_by_scheme"):  # PyArrowFileIO
        from pyarrow.fs import FileSelector, FileType

        fs = io.fs_by_scheme(scheme, netloc)
        selector = FileSelector(base, recursive=True, allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type == FileType.File:
                mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                found.append(StoredFile(f"{restore}{info.path}", mtime))
        return found
    fs = io.get_fs(scheme)  # type: ignore[attr-defined]  # FsspecFileIO
    try:
        details = fs.find(base, detail=True)
    except FileNotFoundError:
        return found
    for path, info in details.items():
        modified = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
        if hasattr(modified, "timestamp"):
            modified = modified.timestamp()
        found.append(StoredFile(f"{restore}{path}", float(modified)))
    return found
