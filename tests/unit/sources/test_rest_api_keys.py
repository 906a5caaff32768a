"""REST key collisions after normalization: refused within one record, allowed across records."""

from __future__ import annotations

import pytest
from dlt.common.libs.pyarrow import NameNormalizationCollision

from floe_ingestion_dlt.sources.rest_api_keys import KeyCollisionCheck, colliding_keys


def test_colliding_keys_groups_only_shared_names() -> None:
    normalize = str.lower
    assert colliding_keys({"A", "a", "b"}, normalize) == {"a": ["A", "a"]}
    assert colliding_keys({"a", "b"}, normalize) == {}


def test_a_record_with_two_keys_of_one_column_is_refused() -> None:
    check = KeyCollisionCheck("orders")
    page = [{"id": 1, "Order ID": 1, "order_id": 2}]
    with pytest.raises(NameNormalizationCollision, match="'Order ID', 'order_id'"):
        check(page)


def test_spellings_in_different_records_pass_and_pages_are_not_copied() -> None:
    check = KeyCollisionCheck("orders")
    page = [{"id": 1, "Order ID": 1}, {"id": 2, "order_id": 2}]
    assert check(page) is page
    assert check(page) is page  # keys seen before: no second look
