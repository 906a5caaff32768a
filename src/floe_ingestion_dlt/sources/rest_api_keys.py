"""REST records whose keys collide after normalization are refused, as CSV headers are.

dlt normalizes keys to snake_case: ``"Order ID"`` and ``"order_id"`` both become ``order_id``,
``名前`` and ``価格`` both become ``x``. dlt's row normalizer then keeps one value and drops the
other without a word, while an Arrow table (a CSV file) with such columns raises dlt's
``NameNormalizationCollision``. :class:`KeyCollisionCheck` raises the same error for a record
that holds two keys with one normalized name, before anything is extracted from its page.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dlt.extract.items_transform import ItemTransform

__all__ = ["KeyCollisionCheck", "colliding_keys"]


def colliding_keys(keys: set[str], normalize: Any) -> dict[str, list[str]]:
    """Normalized name -> the distinct keys of ``keys`` that share it (only shared names)."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(normalize(key), []).append(key)
    return {name: sorted(group) for name, group in groups.items() if len(group) > 1}


def _checked_by_call(item: Any, meta: Any = None) -> Any:
    """The transform function dlt's ``ItemTransform`` asks for; unused: ``__call__`` is the step."""
    return item


class KeyCollisionCheck(ItemTransform[Any, Any]):
    """A resource step checking each page (list of records) before any other step.

    The keys of a page are gathered in one pass; only when two of them share a normalized name
    are the records looked at one by one (keys of *different* records may differ in spelling:
    they fill the same column and lose nothing).
    """

    placement_affinity: ClassVar[float] = 2.0  # before ArrowPages (2.5)

    def __init__(self, table_name: str) -> None:
        super().__init__(_checked_by_call)
        self.table_name = table_name
        self._checked: set[str] = set()
        self._normalize: Any = None

    def _normalizer(self) -> Any:
        if self._normalize is None:
            from dlt.common.normalizers.naming.snake_case import NamingConvention

            self._normalize = NamingConvention().normalize_identifier
        return self._normalize

    def __call__(self, item: Any, meta: Any = None) -> Any:
        records = item if isinstance(item, list) else [item]
        keys: set[str] = set()
        for record in records:
            if isinstance(record, dict):
                keys.update(record)
        if keys <= self._checked:
            return item
        collisions = colliding_keys(keys, self._normalizer())
        if collisions:
            self._refuse_if_in_one_record(records, collisions)
        self._checked |= keys
        return item

    def _refuse_if_in_one_record(
        self, records: list[Any], collisions: dict[str, list[str]]
    ) -> None:
        from dlt.common.libs.pyarrow import NameNormalizationCollision

        for record in records:
            if not isinstance(record, dict):
                continue
            for name, group in collisions.items():
                present = [key for key in group if key in record]
                if len(present) > 1:
                    raise NameNormalizationCollision(
                        f"Table {self.table_name}: keys {present} of one record all normalize "
                        f"to column {name!r}; one value would be dropped. Rename them in the "
                        "API response (data_selector/processing steps) or select one"
                    )
