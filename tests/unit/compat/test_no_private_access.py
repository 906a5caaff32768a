"""No private dlt or PyIceberg name is touched outside ``floe_ingestion_dlt/compat/``.

An AST scan of ``src/`` (compat excluded). What counts as a private access to an upstream object:

1. ``from dlt... import _x`` / ``from pyiceberg... import _x`` (or a private module on the way);
2. ``obj._x`` (not a dunder) where ``obj`` is not ``self``/``cls``, and ``getattr``/``setattr``/
   ``hasattr``/``delattr(obj, "_x")``, when dlt or PyIceberg *define* ``_x`` (a ``def``, a
   ``class``, an assignment or annotation of that name anywhere in their source): a private name
   neither defines cannot be theirs (``namedtuple._replace``, ``requests.Response._content``, our
   own attributes on other objects). A defined name that is nonetheless not a private access is
   listed in :data:`ALLOWED` with its reason;
3. in a class with a dlt/PyIceberg class in its MRO: ``def _x`` where an upstream class of the MRO
   defines ``_x`` (an override of a private hook), ``super()._x`` and ``self._x``/``cls._x``
   where an upstream class defines ``_x`` (a private method, property or class attribute) or
   its methods assign ``self._x`` (a private instance attribute, e.g. ``_catalog_namespaces``).
   The attributes dlt's ``RunnableLoadJob`` sets for its subclasses (``_load_table``,
   ``_job_client``, ``_load_id`` ... :data:`PROTECTED_JOB_ATTRIBUTES`) stay usable through
   ``self``: they are the protected interface of a custom load job.

Each finding names its upstream (the package defining the name or class), so dlt and PyIceberg
findings are two tests.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import floe_ingestion_dlt

SRC = Path(floe_ingestion_dlt.__file__).parent
PACKAGE = "floe_ingestion_dlt"
COMPAT = SRC / "compat"
UPSTREAMS = ("dlt", "pyiceberg")

ALLOWED: dict[tuple[str, str], str] = {
    ("*", "_dlt_load_id"): (
        "a public field: dlt's StateInfo (a NamedTuple) and our state records name it after the "
        "_dlt_load_id column"
    ),
    ("floe_ingestion_dlt/logging.py", "_file"): (
        "structlog's PrintLoggerFactory keeps its stream in _file (no public reader); dlt and "
        "PyIceberg define a _file of their own, unrelated"
    ),
}
"""(file or "*", name) -> why: private-looking names upstream defines, used here on objects
that are not dlt's or PyIceberg's (or as a public field)."""

PROTECTED_JOB_ATTRIBUTES = frozenset(
    {"_load_table", "_job_client", "_load_id", "_schema", "_file_path", "_file_name"}
)
"""What dlt's ``RunnableLoadJob`` sets for its subclasses (``__init__``, ``set_run_vars``,
``run_managed``) with no public accessor: the protected interface of a custom load job,
usable through ``self`` in a subclass of ours."""


_SELF_ASSIGNMENT = re.compile(r"\bself\.(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=(?!=)")


@cache
def _instance_attributes(klass: type) -> frozenset[str]:
    """Private instance attributes the methods of upstream ``klass`` assign."""
    try:
        source = inspect.getsource(klass)
    except (OSError, TypeError):
        return frozenset()
    return frozenset(_SELF_ASSIGNMENT.findall(source))


_DEFINITION = re.compile(
    r"^\s*(?:async\s+)?def\s+(_[A-Za-z]\w*)"
    r"|^\s*class\s+(_[A-Za-z]\w*)"
    r"|\b(?:self|cls)\.(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=(?!=)"
    r"|^\s*(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=(?!=)"
    r"|^\s*(_[A-Za-z]\w*)\s*:",
    re.MULTILINE,
)


@dataclass(frozen=True, order=True)
class Finding:
    """One private access: where, to which upstream, what."""

    where: str
    upstream: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} ({self.upstream})"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def upstream_private_names(upstream: str) -> frozenset[str]:
    """Every private name ``upstream``'s source defines (see the module doc, rule 2)."""
    spec = importlib.util.find_spec(upstream)
    assert spec is not None and spec.submodule_search_locations, upstream
    names: set[str] = set()
    for root in spec.submodule_search_locations:
        for path in Path(root).rglob("*.py"):
            for match in _DEFINITION.finditer(path.read_text(encoding="utf-8", errors="replace")):
                names.update(group for group in match.groups() if group)
    return frozenset(names)


def _upstream_of_module(module: str) -> str | None:
    root = module.split(".", maxsplit=1)[0]
    return root if root in UPSTREAMS else None


class _Scanner(ast.NodeVisitor):
    """Findings of one module's source (``module``: its import name, for its own classes)."""

    def __init__(self, source: str, where: str, module: str | None) -> None:
        self.tree = ast.parse(source)
        self.where = where
        self.module = module
        self.findings: list[Finding] = []
        self.imports = self._imports()
        self.imported_upstreams = {
            u for target in self.imports.values() if (u := _upstream_of_module(target))
        }
        self.classes: list[tuple[ast.ClassDef, list[type]]] = []

    def _imports(self) -> dict[str, str]:
        """Local name -> dotted target, over every import of the file (local ones too)."""
        names: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0]
                    )
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        return names

    def scan(self) -> list[Finding]:
        self.visit(self.tree)
        return sorted(set(self.findings))

    def _add(self, node: ast.AST, upstream: str, what: str) -> None:
        self.findings.append(Finding(f"{self.where}:{getattr(node, 'lineno', 0)}", upstream, what))

    # -- rule 1 ---------------------------------------------------------------------------------

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        upstream = _upstream_of_module(node.module or "") if node.level == 0 else None
        if upstream:
            if any(_private(part) for part in (node.module or "").split(".")):
                self._add(node, upstream, f"import from private module {node.module}")
            for alias in node.names:
                if _private(alias.name):
                    self._add(node, upstream, f"from {node.module} import {alias.name}")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            upstream = _upstream_of_module(alias.name)
            if upstream and any(_private(part) for part in alias.name.split(".")):
                self._add(node, upstream, f"import of private module {alias.name}")
        self.generic_visit(node)

    # -- rule 2 ---------------------------------------------------------------------------------

    def _name_upstreams(self, name: str) -> list[str]:
        """The upstreams defining private ``name``; where both do, those this file imports."""
        if ("*", name) in ALLOWED or (self.where.partition(":")[0], name) in ALLOWED:
            return []
        defining = [u for u in UPSTREAMS if name in upstream_private_names(u)]
        if len(defining) > 1:
            defining = [u for u in defining if u in self.imported_upstreams] or defining
        return defining

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                self._self_access(node, node.attr)
            elif _is_super_call(owner):
                self._super_access(node, node.attr)
            else:
                for upstream in self._name_upstreams(node.attr):
                    self._add(node, upstream, f"{ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Name)
            and func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            name = node.args[1].value
            owner = node.args[0]
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                self._self_access(node, name)
            else:
                for upstream in self._name_upstreams(name):
                    self._add(node, upstream, f"{func.id}({ast.unparse(owner)}, {name!r})")
        self.generic_visit(node)

    # -- rule 3 ---------------------------------------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        bases = [b for b in (self._resolve(base) for base in node.bases) if isinstance(b, type)]
        self.classes.append((node, bases))
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and _private(item.name):
                for upstream in self._defined_upstream(item.name):
                    self._add(item, upstream, f"{node.name}.{item.name} overrides a private hook")
        self.generic_visit(node)
        self.classes.pop()

    def _defined_upstream(self, name: str, instance_too: bool = False) -> list[str]:
        """Upstreams whose classes in the current class's MRO define ``name`` (at class level;
        with ``instance_too`` also as an instance attribute their methods assign)."""
        if not self.classes:
            return []
        found: list[str] = []
        for base in self.classes[-1][1]:
            for klass in base.__mro__:
                upstream = _upstream_of_module(klass.__module__)
                if not upstream or upstream in found:
                    continue
                if name in vars(klass) or (instance_too and name in _instance_attributes(klass)):
                    if name in PROTECTED_JOB_ATTRIBUTES and _is_load_job(base):
                        continue
                    found.append(upstream)
        return found

    def _self_access(self, node: ast.AST, name: str) -> None:
        for upstream in self._defined_upstream(name, instance_too=True):
            self._add(node, upstream, f"self.{name} is a private member of an upstream class")

    def _super_access(self, node: ast.AST, name: str) -> None:
        upstreams = self._defined_upstream(name) if self.classes else self._name_upstreams(name)
        if self.classes and not self.classes[-1][1]:  # bases not resolvable: judge by the name
            upstreams = self._name_upstreams(name)
        for upstream in upstreams:
            self._add(node, upstream, f"super().{name}")

    def _resolve(self, expr: ast.expr) -> Any:
        """The class a base expression names (through the file's imports), or None."""
        dotted = ast.unparse(expr)
        head, _, rest = dotted.partition(".")
        target = self.imports.get(head)
        if target is None:
            if self.module is None:
                return None
            target = f"{self.module}.{head}"
        path = f"{target}.{rest}" if rest else target
        parts = path.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attr in parts[split:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                return None
            return obj
        return None


def _is_load_job(klass: type) -> bool:
    return any(k.__name__ == "RunnableLoadJob" for k in klass.__mro__)


def _is_super_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def scan_source(source: str, where: str = "<source>", module: str | None = None) -> list[Finding]:
    """Private upstream accesses in ``source`` (a module named ``module``, if importable)."""
    return _Scanner(source, where, module).scan()


@cache
def findings_in_src() -> tuple[Finding, ...]:
    found: list[Finding] = []
    for path in sorted(SRC.rglob("*.py")):
        if COMPAT in path.parents:
            continue
        relative = path.relative_to(SRC.parent)
        module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        found.extend(scan_source(path.read_text(encoding="utf-8"), str(relative), module))
    return tuple(found)


def _report(upstream: str) -> list[str]:
    return [str(f) for f in findings_in_src() if f.upstream == upstream]


def test_no_private_dlt_access_outside_compat() -> None:
    found = _report("dlt")
    assert not found, (
        "private dlt names used outside floe_ingestion_dlt/compat/ (move them into "
        "compat/dlt.py with a canary in tests/unit/compat/test_dlt_compat.py):\n  "
        + "\n  ".join(found)
    )


def test_no_private_pyiceberg_access_outside_compat() -> None:
    found = _report("pyiceberg")
    assert not found, (
        "private PyIceberg names used outside floe_ingestion_dlt/compat/ (move them into "
        "compat/pyiceberg.py with a canary):\n  " + "\n  ".join(found)
    )


# -- the rule itself -------------------------------------------------------------------------------

_PLANTED = """
from dlt.common.schema.utils import _private_helper
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from dlt.common.data_writers.writers import ParquetDataWriter
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient


class Client(FilesystemClient):
    def _get_stored_schema_by_hash_or_newest(self, version_hash=None, schema_name=None):
        return super()._get_stored_schema_by_hash_or_newest(version_hash, schema_name)

    def _our_own_helper(self):
        self._catalog_namespaces.add("x")
        return self._our_own_state


class Writer(ParquetDataWriter):
    def write(self, schema):
        return self._create_writer(schema), self._caps


def run(pipeline, schema, txn):
    pipeline._get_normalize_storage()
    restored = getattr(pipeline, "_state_restored", True)
    return schema._type_detections, txn._table.io, restored
"""


def test_the_scan_catches_each_kind_of_planted_violation() -> None:
    found = {(f.upstream, f.what) for f in scan_source(_PLANTED)}
    assert found == {
        ("dlt", "from dlt.common.schema.utils import _private_helper"),
        ("pyiceberg", "from pyiceberg.io.pyarrow import _dataframe_to_data_files"),
        ("dlt", "Client._get_stored_schema_by_hash_or_newest overrides a private hook"),
        ("dlt", "super()._get_stored_schema_by_hash_or_newest"),
        ("dlt", "self._create_writer is a private member of an upstream class"),
        ("dlt", "self._caps is a private member of an upstream class"),
        ("dlt", "self._catalog_namespaces is a private member of an upstream class"),
        ("dlt", "pipeline._get_normalize_storage"),
        ("dlt", "getattr(pipeline, '_state_restored')"),
        ("dlt", "schema._type_detections"),
        ("pyiceberg", "txn._table"),
    }


_CLEAN = """
import collections
from dlt.common.destination.client import RunnableLoadJob
from floe_ingestion_dlt.destination.factory import _same_bucket

Point = collections.namedtuple("Point", "x y")


class Job(RunnableLoadJob):
    def run(self):
        # dlt's protected interface of a custom job: instance attributes through self
        return self._load_table, self._job_client, self._ours()

    def _ours(self):
        return self._state_of_ours


def helper(response, state_info, engine):
    engine._floe_read_only = True  # our own attribute on a SQLAlchemy engine
    response._content = b""  # requests, not dlt
    return Point(1, 2)._replace(x=3), state_info._dlt_load_id, _same_bucket
"""


def test_the_scan_leaves_our_own_and_third_party_private_names_alone() -> None:
    assert scan_source(_CLEAN) == []


def test_each_allowed_name_is_still_defined_upstream() -> None:
    """An allowlist entry upstream no longer defines is dead: remove it."""
    dead = [
        entry
        for entry in ALLOWED
        if not any(entry[1] in upstream_private_names(u) for u in UPSTREAMS)
    ]
    assert not dead, dead


def test_each_file_allowlist_entry_is_still_needed() -> None:
    saved = dict(ALLOWED)
    try:
        for entry in [e for e in saved if e[0] != "*"]:
            del ALLOWED[entry]
            findings_in_src.cache_clear()
            assert any(
                f.where.startswith(f"{entry[0]}:") and entry[1] in f.what for f in findings_in_src()
            ), f"allowlist entry {entry} no longer needed: remove it"
            ALLOWED[entry] = saved[entry]
    finally:
        ALLOWED.clear()
        ALLOWED.update(saved)
        findings_in_src.cache_clear()


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_the_index_of_upstream_private_names_is_not_empty(upstream: str) -> None:
    names = upstream_private_names(upstream)
    assert len(names) > 100, f"{upstream}: only {len(names)} private names found"
