"""Which modules a handler reference (``module:attribute``) may come from.

A workflow file names its functions and agent classes by import path, and any importable
callable would otherwise be a handler: ``os:system`` with ``args: ["echo pwned"]`` runs a
shell. A `HandlerPolicy` allows references only from listed modules (a listed package
covers its submodules; ``*`` covers every module) and refuses the modules that run code,
processes or files (`DANGEROUS_MODULES`) unless they are listed by name themselves: a
wildcard or a parent package never grants them.

Pure: the caller imports the reference (or not) and hands over the module the object
really comes from, so that ``agents.corpus:os.system`` (an allowed module that imported
``os``) is refused as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

#: Modules never allowed unless listed by name: they run programs or code, read and write
#: files, load native code or unpickle data, or reach any object (``operator`` chains
#: ``attrgetter``/``call`` into anything). A package here covers its submodules.
DANGEROUS_MODULES: frozenset[str] = frozenset(
    {
        "__main__",
        "_posixsubprocess",
        "_thread",
        "agents.command_env",
        "agents.command_process",
        "agents.command_resolve",
        "asyncio",
        "builtins",
        "cloudpickle",
        "code",
        "codecs",
        "codeop",
        "ctypes",
        "dill",
        "fileinput",
        "functools",
        "gc",
        "glob",
        "importlib",
        "inspect",
        "io",
        "marshal",
        "multiprocessing",
        "nt",
        "operator",
        "orchestrator.import_paths",
        "os",
        "pathlib",
        "pickle",
        "pkgutil",
        "posix",
        "pty",
        "ray",
        "runpy",
        "shelve",
        "shutil",
        "signal",
        "site",
        "socket",
        "subprocess",
        "sys",
        "sysconfig",
        "tempfile",
        "threading",
        "types",
        "webbrowser",
        "yaml",
        "zipimport",
    }
)

#: Modules that workflow files may name by default: the project's demo agents, the
#: simulated tasks of WfFormat instances, Taskmaster's default handler, pure arithmetic.
SAFE_FILE_MODULES: tuple[str, ...] = (
    "agents.corpus",
    "agents.simulated",
    "orchestrator.taskmaster",
    "orchestrator.wfformat",
    "math",
    "statistics",
)


def _covers(entry: str, module: str) -> bool:
    return module == entry or module.startswith(entry + ".")


class HandlerPolicy(BaseModel):
    """Allowed modules for handler references.

    Attributes:
        allowed_modules: Modules (and their submodules) handlers may come from; ``*``
            allows any module not in ``dangerous_modules``.
        dangerous_modules: Refused unless one of them is listed by name (or a
            submodule of one by its own name) in ``allowed_modules``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_modules: tuple[str, ...] = SAFE_FILE_MODULES
    dangerous_modules: frozenset[str] = DANGEROUS_MODULES

    def module_problem(self, module: str) -> str | None:
        """Return why handlers from ``module`` are refused, or None when allowed."""
        dangerous = next((d for d in sorted(self.dangerous_modules) if _covers(d, module)), None)
        if dangerous is not None:
            granted = any(
                entry != "*" and _covers(entry, module) and _covers(dangerous, entry)
                for entry in self.allowed_modules
            )
            if not granted:
                return (
                    f"module {module!r} is never allowed for handlers unless granted by"
                    f" name ({dangerous!r} runs code, programs or files)"
                )
            return None
        if any(entry == "*" or _covers(entry, module) for entry in self.allowed_modules):
            return None
        allowed = ", ".join(self.allowed_modules) or "none"
        return f"module {module!r} is not an allowed handler module (allowed: {allowed})"

    def reference_problem(self, path: str, resolved_module: str | None = None) -> str | None:
        """Return why the reference ``path`` is refused, or None when it is allowed.

        Args:
            path: ``package.module:attribute``.
            resolved_module: The ``__module__`` of the object the path leads to, when the
                caller imported it: it must be allowed too.
        """
        module, sep, attribute = path.partition(":")
        if not sep or not module or not attribute:
            return f"{path!r} is not an import path of the form 'module:attribute'"
        if any(part.startswith("_") for part in attribute.split(".")):
            return f"{path!r} names a private or special attribute (starting with '_')"
        problem = self.module_problem(module)
        if problem is None and resolved_module and resolved_module != module:
            problem = self.module_problem(resolved_module)
            if problem is not None:
                problem = f"{path!r} leads to an object of another module: {problem}"
        return problem


def reference_problems(
    policy: HandlerPolicy, references: Iterable[tuple[str, str, str | None]]
) -> list[tuple[str, str]]:
    """Check several references; return ``(where, message)`` for each refused one.

    Args:
        policy: The policy.
        references: ``(where, path, resolved_module)`` triples.
    """
    found = []
    for where, path, resolved in references:
        problem = policy.reference_problem(path, resolved)
        if problem is not None:
            found.append((where, problem))
    return found
