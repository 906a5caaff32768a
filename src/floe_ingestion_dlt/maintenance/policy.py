"""What a maintenance run does: the options of ``floe-ingest maintain`` and of a source's
``maintenance:`` policy.

Example:
    >>> MaintenancePolicy.model_validate(
    ...     {"compact": True, "expire_older_than": "7d", "retain_last": 10}
    ... ).expire_older_than_seconds
    604800.0
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MaintenancePolicy", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

DEFAULT_ORPHAN_GRACE = "3d"
"""Files younger than this are never orphan candidates: a load may be writing them."""

MIN_ORPHAN_GRACE_SECONDS = 3600.0
"""A shorter grace period could delete the files of a load in flight (override in tests)."""


def parse_duration(text: str) -> float:
    """Seconds of ``"30s"``, ``"15m"``, ``"12h"``, ``"7d"`` or ``"2w"``.

    Raises:
        ValueError: naming the value and the accepted forms.

    Example:
        >>> parse_duration("3d")
        259200.0
    """
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: use a number and a unit s, m, h, d or w (e.g. 7d)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


class MaintenancePolicy(BaseModel):
    """Maintenance of one table; every step is off unless asked for.

    ``compact``: rewrite small data files into target-size files (one ``replace`` snapshot);
    ``expire_older_than`` + ``retain_last``: expire older snapshots, always keeping the newest
    ``retain_last`` and the one holding the plugin's incremental state;
    ``remove_orphans_older_than``: delete files no snapshot references, older than this grace
    (at least one hour: refused here, before any catalog is opened).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    compact: bool = False
    compact_min_files: int = Field(default=2, ge=2, le=100_000)
    """A partition is compacted when it has at least this many small files."""
    expire_older_than: str | None = None
    retain_last: int = Field(default=1, ge=1, le=1_000_000)
    remove_orphans_older_than: str | None = None

    @field_validator("expire_older_than", "remove_orphans_older_than")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("remove_orphans_older_than")
    @classmethod
    def _orphan_grace(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < MIN_ORPHAN_GRACE_SECONDS:
            raise ValueError(
                f"{value!r} is too short a grace period: orphan removal keeps files younger "
                f"than {MIN_ORPHAN_GRACE_SECONDS / 3600:.0f}h so that loads in flight keep theirs"
            )
        return value

    @property
    def expire_older_than_seconds(self) -> float | None:
        """``expire_older_than`` in seconds."""
        return None if self.expire_older_than is None else parse_duration(self.expire_older_than)

    @property
    def orphan_grace_seconds(self) -> float | None:
        """``remove_orphans_older_than`` in seconds."""
        if self.remove_orphans_older_than is None:
            return None
        return parse_duration(self.remove_orphans_older_than)

    @property
    def does_anything(self) -> bool:
        """True when at least one step is asked for."""
        return (
            self.compact
            or self.expire_older_than is not None
            or self.remove_orphans_older_than is not None
        )
