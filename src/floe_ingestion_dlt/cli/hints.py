"""Fixes to suggest when a source cannot be reached because of where its address came from.

A source whose address is the default of an unset ``${NAME:-default}`` and that does not answer
was most likely meant to get the variable. For the quickstart's variables the cause is known:
the example API and database only exist while ``scripts/quickstart.sh`` runs, so the failure is
a CONFIGURATION mistake (exit 2) with the commands that bring them back; for any other variable
the note is added and the category stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from floe_ingestion_dlt.cli.interpolation import DefaultedVariable
from floe_ingestion_dlt.cli.loaded_config import LoadedConfig

__all__ = ["UnreachableHint", "unreachable_hint"]

QUICKSTART_FIXES: dict[str, str] = {
    "QUICKSTART_API_URL": (
        "the quickstart's products API only runs while `bash scripts/quickstart.sh` runs "
        "(QUICKSTART_API_URL is not set, so base_url is its default {default}, where nothing "
        "answers). Rerun `bash scripts/quickstart.sh`, or start the API by hand in another "
        "terminal with `.venv/bin/python examples/quickstart_api.py --port 8765` and run this "
        "command again"
    ),
    "QUICKSTART_DB_URL": (
        "the quickstart's SQLite database is built by `bash scripts/quickstart.sh` in the folder "
        "it runs from (QUICKSTART_DB_URL is not set, so the default {default} is relative to the "
        "working folder). Run this command from that folder, or build the database here with "
        "`.venv/bin/python examples/quickstart_db.py .floe/quickstart/shop.db`"
    ),
}
"""Variables of ``examples/quickstart.yaml`` -> what to do when their default does not answer."""

_SOURCE_PATH = re.compile(r"^sources\[(\d+)\]\.")


@dataclass(frozen=True)
class UnreachableHint:
    """What to tell the user about a source that could not be reached."""

    message: str
    category: str
    """The category to report: CONFIGURATION for a known cause, else the original one."""


def unreachable_hint(
    loaded: LoadedConfig, source_name: str, category: str | None
) -> UnreachableHint | None:
    """A hint for source ``source_name`` that failed with ``category``, or None.

    Only failures of a source that used the default of an unset variable get one: TRANSIENT
    (unreachable, timed out) for any variable, also PERMANENT (e.g. no such table in an empty
    database file) or CONFIGURATION (e.g. the database file does not exist) for the
    quickstart's.
    """
    if category not in ("TRANSIENT", "PERMANENT", "CONFIGURATION"):
        return None
    names = [source.name for source in loaded.config.sources]
    mine = [
        d
        for d in loaded.defaulted
        if (index := _source_index(d)) is not None
        and index < len(names)
        and names[index] == source_name
    ]
    for defaulted in mine:
        fix = QUICKSTART_FIXES.get(defaulted.name)
        if fix is not None:
            return UnreachableHint(fix.format(default=defaulted.default), "CONFIGURATION")
    if not mine or category != "TRANSIENT":
        return None
    variables = ", ".join(f"${{{d.name}}}" for d in mine)
    return UnreachableHint(
        f"{variables} {'is' if len(mine) == 1 else 'are'} not set, so the default address "
        f"was used ({', '.join(d.default for d in mine)}): set the variable if the source "
        "lives elsewhere",
        category,
    )


def _source_index(defaulted: DefaultedVariable) -> int | None:
    match = _SOURCE_PATH.match(defaulted.path)
    return int(match.group(1)) if match else None
