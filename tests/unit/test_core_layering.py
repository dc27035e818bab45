"""The layers hold: a pure core, Ray only in the runtime, no import cycles.

- Importing the core (or the package) never loads Ray (checked in a fresh interpreter).
- Every module under ``orchestrator/core`` imports only the standard library (less the
  modules that do I/O, read the clock or the environment, or start threads and
  processes), pydantic, networkx and ``orchestrator.core``, and calls no I/O builtin.
- Only ``orchestrator/runtime`` imports Ray, across ``orchestrator/`` and ``agents/``.
- The modules of ``orchestrator/`` and ``agents/`` import each other without a cycle
  (type-only and function-level imports included, as an import graph draws them).

The checkers read source text (``ast``), so each test also feeds them a synthetic module
that breaks the rule and asserts that it is reported: the checks can fail.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "orchestrator" / "core"
RUNTIME = ROOT / "orchestrator" / "runtime"
PACKAGES = (ROOT / "orchestrator", ROOT / "agents")

#: Third-party packages the core may import.
#: croniter only computes cron firing times from the instants it is given.
CORE_THIRD_PARTY = frozenset({"pydantic", "networkx", "croniter"})
#: Standard-library modules the core must not import: they do I/O, read the clock, the
#: environment or the process, make ids, or run work elsewhere (time and ids come in as
#: arguments). ``random`` is allowed: a seeded generator is pure.
CORE_FORBIDDEN_STDLIB = frozenset(
    {
        "asyncio",
        "concurrent",
        "ctypes",
        "dbm",
        "fileinput",
        "ftplib",
        "getpass",
        "glob",
        "http",
        "importlib",
        "io",
        "logging",
        "mmap",
        "multiprocessing",
        "os",
        "pathlib",
        "pickle",
        "platform",
        "resource",
        "secrets",
        "select",
        "selectors",
        "shelve",
        "shutil",
        "signal",
        "smtplib",
        "socket",
        "socketserver",
        "sqlite3",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
        "uuid",
        "webbrowser",
    }
)
#: Builtins the core must not call: I/O, or running code it was not written with.
CORE_FORBIDDEN_BUILTINS = frozenset(
    {"open", "print", "input", "breakpoint", "exec", "eval", "compile", "__import__"}
)
#: Calls (their last two names) that read the clock through an allowed module: the
#: ``datetime`` types themselves are fine.
CORE_FORBIDDEN_METHOD_CALLS = frozenset(
    {"datetime.now", "datetime.utcnow", "datetime.today", "date.today"}
)


def _dotted(node: ast.expr) -> str | None:
    """Return ``a.b.c`` for a name or attribute chain, else None (e.g. ``f()()``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """Return the absolute module of ``from ... import``, relative to ``package``."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Return (line, absolute module) of every import in ``tree``, wherever it stands.

    ``package`` resolves relative imports (the package of the module parsed).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, package)
            found.append((node.lineno, module))
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one.
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def core_violations(
    source: str, path: str = "<core module>", package: str = "orchestrator.core"
) -> list[str]:
    """Return what breaks the core's rules in the source of one core module.

    Args:
        source: The module's text.
        path: Its name in the messages.
        package: Its package, to resolve relative imports.
    """
    tree = ast.parse(source, path)
    problems: list[str] = []
    for node in ast.walk(tree):
        candidates: list[str] = []
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            candidates = [_from_module(node, package)]
        for module in candidates:
            top = module.split(".")[0]
            if module == "orchestrator.core" or module.startswith("orchestrator.core."):
                continue
            if top in CORE_THIRD_PARTY:
                continue
            if top in sys.stdlib_module_names and top not in CORE_FORBIDDEN_STDLIB:
                continue
            why = (
                "does I/O or reads the clock, environment or process"
                if top in CORE_FORBIDDEN_STDLIB
                else "is not the stdlib, pydantic, networkx or orchestrator.core"
            )
            problems.append(f"{path}:{line}: imports {module} ({why})")
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is None:
                continue
            last_two = ".".join(name.split(".")[-2:])
            if name in CORE_FORBIDDEN_BUILTINS or last_two in CORE_FORBIDDEN_METHOD_CALLS:
                problems.append(f"{path}:{node.lineno}: calls {name}()")
    return problems


def ray_imports(source: str, path: str = "<module>") -> list[str]:
    """Return every import of Ray in a module's source (function-level ones included)."""
    tree = ast.parse(source, path)
    return [
        f"{path}:{line}: imports {module}"
        for line, module in _imported_modules(tree, "orchestrator")
        if module == "ray" or module.startswith("ray.")
    ]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(sources: dict[str, tuple[str, bool]]) -> nx.DiGraph[str]:
    """Return the graph of imports between ``sources`` (name -> (source, is a package))."""
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(sources)
    for name, (source, is_package) in sources.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(source, name)):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _from_module(node, package)
                # ``from pkg import sub`` depends on the submodule; a name that is not a
                # submodule comes from the package itself.
                subs = [f"{base}.{alias.name}" for alias in node.names]
                targets = [sub if sub in sources else base for sub in subs]
            graph.add_edges_from(
                (name, target) for target in targets if target in sources and target != name
            )
    return graph


def _python_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.py"))


# -- Ray stays out of the core at run time ----------------------------------------------

_PROBE = """
import json, sys
import {module}
print(json.dumps(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))))
"""


@pytest.mark.parametrize("module", ["orchestrator.core", "orchestrator"])
def test_import_does_not_load_ray(module: str) -> None:
    # Given a fresh interpreter (this one may have Ray loaded by other tests)
    # When it imports the module
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then the import works and no ray module is loaded
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_probe_detects_a_loaded_ray_module() -> None:
    # The probe itself must be able to fail: a module named ray.* in sys.modules is seen.
    # (A stand-in module, because importing the real Ray costs a second.)
    fake_import = "sys; sys.modules['ray.fake'] = sys"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=fake_import)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["ray.fake"]


# -- the core's allow-list ----------------------------------------------------------------


def test_every_core_module_imports_only_what_the_core_may_and_calls_no_io() -> None:
    # Every file, whatever its name: modules split out later are covered too.
    files = _python_files(CORE)
    assert CORE / "scheduler.py" in files  # the walk found the core
    problems = [
        problem
        for path in files
        for problem in core_violations(
            path.read_text(encoding="utf-8"),
            str(path.relative_to(ROOT)),
            package=_module_name(path.parent),
        )
    ]
    assert problems == []


@pytest.mark.parametrize(
    ("source", "culprit"),
    [
        ("import ray", "imports ray"),
        ("import time\nnow = time.time()", "imports time"),
        ("from time import monotonic", "imports time"),
        ("import os.path", "imports os.path"),
        ("from socket import socket", "imports socket"),
        ("def f():\n    import subprocess", "imports subprocess"),
        ("import uuid", "imports uuid"),
        ("import requests", "imports requests"),
        ("import structlog", "imports structlog"),
        ("from orchestrator.runtime.clock import WallClock", "imports orchestrator.runtime"),
        ("from orchestrator import settings", "imports orchestrator ("),
        ("from .. import api", "imports orchestrator ("),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import ray", "imports ray"),
        ("open('state.json')", "calls open()"),
        ("print('debug')", "calls print()"),
        ("from datetime import datetime\nstamp = datetime.now()", "calls datetime.now()"),
        ("import datetime\nday = datetime.date.today()", "calls datetime.date.today()"),
    ],
)
def test_the_core_checker_reports_a_forbidden_import_or_call(source: str, culprit: str) -> None:
    problems = core_violations(source)
    assert any(culprit in problem for problem in problems), problems


def test_the_core_checker_accepts_what_the_core_may_use() -> None:
    source = (
        "from __future__ import annotations\n"
        "import heapq, math, random\n"
        "from collections.abc import Mapping\n"
        "from datetime import datetime\n"
        "from pydantic import BaseModel\n"
        "import networkx as nx\n"
        "from orchestrator.core.states import TaskState\n"
        "from . import graph\n"
        "from .queue import PriorityTaskQueue\n"
        "rng = random.Random(42)\n"
        "deadline: datetime | None = None\n"
        "mandate.today()\n"  # a method that merely ends like date.today
        "pattern = re.compile('x')\n"
    )
    assert core_violations(source) == []


# -- Ray only in the runtime ----------------------------------------------------------------


def test_only_the_runtime_imports_ray() -> None:
    files = _python_files(*PACKAGES)
    assert RUNTIME / "supervisor.py" in files
    problems = [
        problem
        for path in files
        if RUNTIME not in path.parents
        for problem in ray_imports(path.read_text(encoding="utf-8"), str(path))
    ]
    assert problems == []
    # ...and the runtime does (else the check above would prove nothing about the walk)
    assert ray_imports((RUNTIME / "supervisor.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "import ray",
        "import ray.exceptions as errors",
        "from ray import remote",
        "from ray.util import metrics",
        "def lazy():\n    import ray",
    ],
)
def test_the_ray_checker_reports_any_import_of_ray(source: str) -> None:
    assert ray_imports(source)


def test_the_ray_checker_ignores_names_that_only_start_like_ray() -> None:
    assert ray_imports("import rayon\nfrom raytracer import x") == []


# -- no import cycles -----------------------------------------------------------------------


def test_no_import_cycles_between_the_modules() -> None:
    sources = {
        _module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in _python_files(*PACKAGES)
    }
    graph = import_graph(sources)
    assert graph.has_edge("orchestrator.api", "orchestrator.progress")  # the graph is real
    assert list(nx.simple_cycles(graph)) == []


def test_importing_a_submodule_from_its_package_is_no_cycle() -> None:
    # ``from pkg import sub`` inside a module that ``pkg/__init__`` imports
    sources = {
        "pkg": ("from pkg.main import run", True),
        "pkg.main": ("from pkg import helpers", False),
        "pkg.helpers": ("", False),
    }
    graph = import_graph(sources)
    assert sorted(graph.edges) == [("pkg", "pkg.main"), ("pkg.main", "pkg.helpers")]
    assert list(nx.simple_cycles(graph)) == []


def test_the_cycle_check_sees_a_type_only_cycle() -> None:
    # Given two modules that import each other, one of them only for type checking
    sources = {
        "pkg": ("", True),
        "pkg.run": ("from pkg.progress import follow", False),
        "pkg.progress": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.run import Run",
            False,
        ),
    }
    # Then the graph has the cycle
    assert list(nx.simple_cycles(import_graph(sources))) != []
