"""The plugin's vocabulary of writes: write modes, merge strategies and the merge-key rule.

One definition, used from the configuration to the commit: the YAML file and floe's
``IngestionConfig`` give strings, :mod:`~floe_ingestion_dlt.pipeline` turns them into these
enums once, and the enums travel as they are down to the destination. Both are ``StrEnum``s,
so they compare equal to (and serialize as) the strings users write.

This module imports nothing of the package: every layer may use it.

Example:
    >>> WriteMode("merge") is WriteMode.MERGE
    True
    >>> [s.value for s in MergeStrategy]
    ['upsert', 'insert-only', 'delete-insert']
    >>> missing_merge_keys(MergeStrategy.DELETE_INSERT, primary_key=None, merge_key="day")
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

__all__ = [
    "DEFAULT_MERGE_STRATEGY",
    "MergeStrategy",
    "WriteMode",
    "missing_merge_keys",
]


class WriteMode(StrEnum):
    """How a run's rows are committed to the Iceberg table (dlt's write disposition)."""

    APPEND = "append"
    REPLACE = "replace"
    MERGE = "merge"


class MergeStrategy(StrEnum):
    """How ``write_mode: merge`` merges a batch into the table (dlt's merge strategy names).

    dlt's ``scd2`` and ``cdc`` strategies are not supported for Iceberg tables.
    """

    UPSERT = "upsert"
    INSERT_ONLY = "insert-only"
    DELETE_INSERT = "delete-insert"


DEFAULT_MERGE_STRATEGY = MergeStrategy.UPSERT
"""The strategy of a merge that names none (dlt's default too)."""

KeyColumns = str | Sequence[str] | None
"""A key as configured (one column or a list) or as read from hints (a tuple of columns)."""


def missing_merge_keys(
    strategy: MergeStrategy | str | None, *, primary_key: KeyColumns, merge_key: KeyColumns
) -> str | None:
    """What a merge of ``strategy`` lacks in keys: ``None`` when the keys are enough.

    The one rule every layer applies (the YAML configuration, floe's ``IngestionConfig`` and
    the table hints the destination receives). It is dlt's rule
    (``dlt.destinations.utils.verify_schema_merge_disposition``), with one difference:

    - ``upsert`` and ``insert-only`` identify a row by its ``primary_key``: it is required; a
      ``merge_key`` plays no part (dlt ignores it with a warning);
    - ``delete-insert`` deletes every row whose ``primary_key`` or ``merge_key`` value is in
      the batch, then inserts the batch: either key is enough. dlt only warns when both are
      missing and then appends; here that is refused, since a merge that deletes nothing is
      an append in disguise.

    Returns:
        The message to show (without a field name in front), or ``None``.

    Example:
        >>> missing_merge_keys("upsert", primary_key=None, merge_key="day")
        "write_mode 'merge' needs a primary_key (merge_strategy 'upsert' identifies rows by it)"
        >>> missing_merge_keys(None, primary_key="id", merge_key=None) is None
        True
    """
    strategy = MergeStrategy(strategy or DEFAULT_MERGE_STRATEGY)
    if primary_key:
        return None
    if strategy is MergeStrategy.DELETE_INSERT:
        if merge_key:
            return None
        return (
            "write_mode 'merge' needs a primary_key or a merge_key (merge_strategy "
            "'delete-insert' deletes the rows whose key is in the batch)"
        )
    return (
        f"write_mode 'merge' needs a primary_key (merge_strategy {strategy.value!r} "
        "identifies rows by it)"
    )
