"""Exit codes: one per error category; the worst one wins when sources end differently."""

from __future__ import annotations

import pytest

from floe_ingestion_dlt.cli.exit_codes import ExitCode, exit_code_for, worst
from floe_ingestion_dlt.errors import ErrorCategory


@pytest.mark.parametrize(
    ("category", "code"),
    [
        (ErrorCategory.PERMANENT, 1),
        (ErrorCategory.CONFIGURATION, 2),
        (ErrorCategory.TRANSIENT, 3),
        (ErrorCategory.PARTIAL, 4),
        (None, 1),
        ("unheard-of", 1),
    ],
)
def test_category_codes(category: ErrorCategory | str | None, code: int) -> None:
    assert int(exit_code_for(category)) == code


def test_every_category_has_its_own_code() -> None:
    codes = {exit_code_for(category) for category in ErrorCategory}
    assert len(codes) == len(ErrorCategory)
    assert ExitCode.OK not in codes


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], ExitCode.OK),
        ([ExitCode.OK, ExitCode.OK], ExitCode.OK),
        ([ExitCode.OK, ExitCode.TRANSIENT], ExitCode.TRANSIENT),
        ([ExitCode.TRANSIENT, ExitCode.PARTIAL], ExitCode.PARTIAL),
        ([ExitCode.PARTIAL, ExitCode.PERMANENT], ExitCode.PERMANENT),
        ([ExitCode.PERMANENT, ExitCode.CONFIGURATION, ExitCode.TRANSIENT], ExitCode.CONFIGURATION),
    ],
)
def test_worst_code_is_the_least_retryable(codes: list[ExitCode], expected: ExitCode) -> None:
    assert worst(codes) is expected
