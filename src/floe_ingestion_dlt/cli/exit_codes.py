"""Exit codes of ``floe-ingest``: one per error category, so a scheduler can decide to retry."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode", "exit_code_for", "worst"]


class ExitCode(IntEnum):
    """What the process exit status means."""

    OK = 0
    """Everything succeeded."""
    PERMANENT = 1
    """A PERMANENT failure: fix the source or the data, retrying will not help."""
    CONFIGURATION = 2
    """The configuration file, the command line or the installation is wrong."""
    TRANSIENT = 3
    """A TRANSIENT failure (timeout, unreachable service): running again may succeed."""
    PARTIAL = 4
    """Some load jobs failed while others committed."""


_BY_CATEGORY = {
    "PERMANENT": ExitCode.PERMANENT,
    "CONFIGURATION": ExitCode.CONFIGURATION,
    "TRANSIENT": ExitCode.TRANSIENT,
    "PARTIAL": ExitCode.PARTIAL,
}
# When sources fail differently, the code says the most actionable thing first.
_SEVERITY = (
    ExitCode.OK,
    ExitCode.TRANSIENT,
    ExitCode.PARTIAL,
    ExitCode.PERMANENT,
    ExitCode.CONFIGURATION,
)


def exit_code_for(category: str | None) -> ExitCode:
    """The exit code of an error category (``ErrorCategory`` value or name).

    Example:
        >>> int(exit_code_for("TRANSIENT"))
        3
    """
    if category is None:
        return ExitCode.PERMANENT
    return _BY_CATEGORY.get(str(category).upper(), ExitCode.PERMANENT)


def worst(codes: list[ExitCode]) -> ExitCode:
    """The code reported when several sources ended differently.

    Example:
        >>> worst([ExitCode.OK, ExitCode.TRANSIENT, ExitCode.CONFIGURATION]).name
        'CONFIGURATION'
    """
    return max(codes, key=_SEVERITY.index, default=ExitCode.OK)
