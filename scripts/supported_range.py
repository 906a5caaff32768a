"""Helpers of scripts/test_supported_range.sh (standard library only, any Python >= 3.11).

  python scripts/supported_range.py requirement dlt      # dlt[parquet,...]>=1.31,<1.32 (pyproject)
  python scripts/supported_range.py groups                # quickstart dev floe
  python scripts/supported_range.py moved LOCKED.txt RESOLVED.txt
  python scripts/supported_range.py installed VENV_PYTHON dlt==1.31.0 pyiceberg==0.12.0
  python scripts/supported_range.py junit REPORT.xml tests/unit/compat tests/integration/...

The bounds are read from ``[project].dependencies`` of pyproject.toml, never repeated here, so
widening or moving a pin moves the job with it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
# PEP 508 name, optional [extras], then the version specifier up to an environment marker
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(package: str, pyproject: Path = PYPROJECT) -> str:
    """The runtime requirement on ``package`` in pyproject.toml, e.g. ``dlt[parquet]>=1.31,<1.32``.

    Exits with a message when the package is not a direct dependency or has no upper bound: a
    "highest allowed version" of an open range is whatever PyPI has today, which the job can't pin.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    for line in project["dependencies"]:
        match = _REQUIREMENT.match(line)
        if match and _normalized(match.group(1)) == _normalized(package):
            name, extras, specifier = match.group(1), match.group(2) or "", match.group(3).strip()
            if "<" not in specifier and "==" not in specifier:
                sys.exit(f"supported_range: {package} has no upper bound in {pyproject}: {line!r}")
            return f"{name}{extras}{specifier}"
    sys.exit(f"supported_range: {package} is not in [project].dependencies of {pyproject}")


def groups(pyproject: Path = PYPROJECT) -> list[str]:
    """The dependency groups of pyproject.toml (.venv has them all: so do the range venvs)."""
    return list(tomllib.loads(pyproject.read_text(encoding="utf-8")).get("dependency-groups", {}))


def _pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.split(";")[0].strip().partition("==")
        if sep and not name.startswith(("#", "-")):
            pins[_normalized(name.split("[")[0])] = version.strip()
    return pins


def moved(locked: Path, resolved: Path) -> None:
    """Prints each package whose resolved version is not uv.lock's (the price of the range)."""
    before, after = _pins(locked), _pins(resolved)
    for name in sorted(before.keys() | after.keys()):
        if before.get(name) != after.get(name):
            was, now = before.get(name, "-"), after.get(name, "-")
            print(f"supported_range: not as locked: {name} {was} -> {now}")


def installed(python: str, expected: list[str]) -> None:
    """Prints the versions installed in the venv of ``python``; exits 1 if one differs."""
    names = [pin.split("==")[0] for pin in expected]
    script = (
        "import importlib.metadata as m, sys\n"
        "for name in sys.argv[1:]: print(name, m.version(name))\n"
    )
    out = subprocess.run(
        [python, "-c", script, *names], check=True, capture_output=True, text=True
    ).stdout
    found = dict(line.split() for line in out.splitlines())
    wrong = []
    for pin in expected:
        name, version = pin.split("==")
        print(f"supported_range: installed {name} {found[name]} (expected {version})")
        if found[name] != version:
            wrong.append(f"{name} {found[name]} != {version}")
    if wrong:
        sys.exit(f"supported_range: wrong versions installed: {', '.join(wrong)}")


def _first_line(outcome: ET.Element) -> str:
    message = (outcome.get("message") or outcome.text or "").strip()
    return message.splitlines()[0][:300] if message else ""


def junit(report: Path, paths: list[str]) -> None:
    """Exits 1 unless every test in ``report`` passed and each of ``paths`` ran at least one.

    A skipped test proves nothing about the version it was meant to check, so it fails the job
    (pytest's JUnit XML reports xfail as skipped: it fails it too). A selected file or folder
    that ran nothing (a marker lost, a module renamed) fails it as well.
    """
    cases = list(ET.parse(report).getroot().iter("testcase"))  # noqa: S314 (our pytest's report)
    problems = [
        f"{case.get('classname')}::{case.get('name')}: {kind.tag}: {_first_line(kind)}"
        for case in cases
        for kind in case
        if kind.tag in ("skipped", "failure", "error")
    ]
    modules = [str(case.get("classname", "")) + "." for case in cases]
    for path in paths:
        dotted = path.removesuffix(".py").replace("/", ".") + "."
        ran = sum(module.startswith(dotted) for module in modules)
        print(f"supported_range: {ran:4d} tests from {path}")
        if not ran:
            problems.append(f"{path}: no test ran")
    print(f"supported_range: {len(cases)} tests, {len(problems)} not green ({report.name})")
    if problems:
        sys.exit("supported_range: not green:\n  " + "\n  ".join(problems))


def main(argv: list[str]) -> None:
    """Command-line entry point (see the module docstring)."""
    command, args = argv[0], argv[1:]
    if command == "requirement":
        print(requirement(args[0]))
    elif command == "groups":
        print(" ".join(groups()))
    elif command == "moved":
        moved(Path(args[0]), Path(args[1]))
    elif command == "installed":
        installed(args[0], args[1:])
    elif command == "junit":
        junit(Path(args[0]), args[1:])
    else:
        sys.exit(f"supported_range: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
