"""Builds the quickstart's SQLite database from the committed ``data/shop.sql``.

The database is a build product, not a committed file: it is rebuilt from the SQL script on
every quickstart run, so the data set stays reviewable as text.

    python examples/quickstart_db.py .floe/quickstart/shop.db
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

SQL_FILE = Path(__file__).resolve().parent / "data" / "shop.sql"


def build_database(database: Path, sql_file: Path = SQL_FILE) -> int:
    """(Re)create ``database`` from ``sql_file``; returns the number of customers in it."""
    database.parent.mkdir(parents=True, exist_ok=True)
    building = database.with_name(database.name + ".building")
    building.unlink(missing_ok=True)
    connection = sqlite3.connect(building)
    try:
        connection.executescript(sql_file.read_text("utf-8"))
        (count,) = connection.execute("SELECT count(*) FROM customers").fetchone()
        connection.commit()
    finally:
        connection.close()
    building.replace(database)  # readers never see a half-built file
    return int(count)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".floe/quickstart/shop.db")
    print(f"{target}: {build_database(target)} customers")
