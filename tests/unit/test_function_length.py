"""No function or method in src/ is longer than 60 lines.

A function's length runs from its ``def`` line (decorators excluded) to its last line, signature
and docstring included. A nested function counts on its own and also inside its parent, so
moving code into an inner function does not shorten the outer one. There is no allowlist.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class LongFunction:
    """A function over the limit: where it starts, its name and its length in lines."""

    path: str
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} ({self.lines} lines)"


def long_functions(source: str, path: str, limit: int = MAX_FUNCTION_LINES) -> list[LongFunction]:
    """Every function or method in ``source`` longer than ``limit`` lines, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # ``lineno`` is the ``def`` line itself: decorators sit above it and are not counted.
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append(LongFunction(path, node.lineno, node.name, length))
    return sorted(found, key=lambda f: (f.path, f.line))


def _function_of(body_lines: int, *, decorators: int = 0, docstring: bool = False) -> str:
    """Source of one top-level function exactly ``1 + body_lines`` lines long (def line included)."""
    decorator_lines = ["@staticmethod"] * decorators
    body = ['    """Doc."""'] if docstring else []
    body += [f"    x{i} = {i}" for i in range(body_lines - len(body))]
    return "\n".join([*decorator_lines, "def planted(a: int) -> None:", *body]) + "\n"


def test_no_function_in_src_is_longer_than_60_lines() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert files, f"no Python files under {SRC}"
    offenders = [
        offender
        for file in files
        for offender in long_functions(file.read_text(encoding="utf-8"), str(file.relative_to(SRC)))
    ]
    if offenders:
        pytest.fail(
            f"{len(offenders)} function(s) longer than {MAX_FUNCTION_LINES} lines "
            "(def line to last line, decorators excluded); split them along their seams:\n"
            + "\n".join(str(offender) for offender in offenders),
            pytrace=False,
        )


def test_checker_flags_61_lines_and_passes_60() -> None:
    assert long_functions(_function_of(59), "ok.py") == []
    assert long_functions(_function_of(60), "long.py") == [
        LongFunction("long.py", 1, "planted", 61)
    ]


def test_checker_counts_signature_and_docstring_but_not_decorators() -> None:
    sixty_with_docstring = _function_of(59, decorators=3, docstring=True)
    assert long_functions(sixty_with_docstring, "deco.py") == []

    multi_line_signature = textwrap.dedent(
        """\
        def planted(
            a: int,
            b: int,
        ) -> None:
        """
    ) + "".join(f"    x{i} = {i}\n" for i in range(57))
    assert long_functions(multi_line_signature, "sig.py") == [
        LongFunction("sig.py", 1, "planted", 61)
    ]


def test_checker_counts_nested_functions_alone_and_inside_their_parent() -> None:
    inner = textwrap.indent(_function_of(60), "        ")  # 61 lines, inside a method
    source = "class Holder:\n    async def outer(self) -> None:\n" + inner
    offenders = long_functions(source, "nested.py")
    assert [(o.name, o.line, o.lines) for o in offenders] == [
        ("outer", 2, 62),
        ("planted", 3, 61),
    ]
