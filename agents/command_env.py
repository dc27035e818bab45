"""The environment a command starts with: a fixed minimum plus the task's checked ``env``.

Nothing is inherited from the agent's own environment (its credentials, ``PATH``,
``LD_*``...). A child sees only `base_env`: ``PATH`` (the agent's search path), ``LANG``
and ``LC_ALL`` (``C.UTF-8``), ``HOME`` and ``TMPDIR`` (a private directory made for that
command), then the variables of the task's ``env`` that `check_env` accepts.

`check_env` refuses, naming the variable: names not matching ``[A-Za-z_][A-Za-z0-9_]*``,
non-string names or values, NUL bytes, and names that change which code a program loads
or runs (`DENIED_ENV_NAMES`, `DENIED_ENV_PREFIXES`, compared case-insensitively). That list
is a denylist of well-known hooks, not a proof of safety for every program: an agent
whose program reads other such variables should allow names explicitly (an agent's
``env_allowed_names``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from orchestrator.agent import NonRetryableError

#: What a valid variable name looks like (POSIX portable names).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Variables a task may not set: they make loaders, interpreters, shells or common tools
#: load or run other code, or read configuration from elsewhere (``HOME``).
DENIED_ENV_NAMES: frozenset[str] = frozenset(
    {
        # Where programs are found: the agent sets it to its search path.
        "PATH",
        # Shells: startup files, word splitting, tracing hooks.
        "BASH_ENV",
        "ENV",
        "IFS",
        "CDPATH",
        "GLOBIGNORE",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        # Interpreters other than Python (PYTHON* is a prefix below).
        "PERL5LIB",
        "PERL5OPT",
        "PERLLIB",
        "PERL5DB",
        "RUBYLIB",
        "RUBYOPT",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        # The C library: character-set modules, locale files, tunables, host aliases.
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "LOCPATH",
        "NLSPATH",
        "HOSTALIASES",
        "RESOLV_HOST_CONF",
        # Configuration read from the home directory (e.g. a .gitconfig that runs hooks).
        "HOME",
        "XDG_CONFIG_HOME",
        # Programs that tools start on their own.
        "EDITOR",
        "VISUAL",
        "PAGER",
        "GIT_PAGER",
        "GIT_EDITOR",
        "GIT_EXEC_PATH",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_EXTERNAL_DIFF",
        "GIT_PROXY_COMMAND",
    }
)

#: Prefixes of variables a task may not set (dynamic loaders, Python, git configuration,
#: bash exported functions).
DENIED_ENV_PREFIXES: tuple[str, ...] = ("LD_", "DYLD_", "PYTHON", "GIT_CONFIG", "BASH_FUNC_")

#: The locale every command gets unless its task sets another.
DEFAULT_LOCALE = "C.UTF-8"


def base_env(search_path: Sequence[str], private_dir: str) -> dict[str, str]:
    """Return the fixed variables every command starts with.

    Args:
        search_path: The agent's search path, which becomes ``PATH``.
        private_dir: A directory made for this command: ``HOME`` and ``TMPDIR``.
    """
    return {
        "PATH": os.pathsep.join(search_path),
        "LANG": DEFAULT_LOCALE,
        "LC_ALL": DEFAULT_LOCALE,
        "HOME": private_dir,
        "TMPDIR": private_dir,
    }


def check_env(
    env: object,
    *,
    denied_names: frozenset[str],
    denied_prefixes: Sequence[str],
    allowed_names: frozenset[str] | None,
) -> dict[str, str]:
    """Return the task's ``env`` as a plain dict once every entry is accepted.

    Args:
        env: The task's ``env`` (None means no variables).
        denied_names: Names refused (compared case-insensitively).
        denied_prefixes: Name prefixes refused (compared case-insensitively).
        allowed_names: When not None, the only names accepted (still subject to the
            denials above).

    Raises:
        NonRetryableError: ``env`` is not a mapping, or an entry is refused; the message
            names the variable and why.
    """
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise NonRetryableError(f"env must be a mapping of strings, got {type(env).__name__}")
    denied = {name.upper() for name in denied_names}
    prefixes = tuple(prefix.upper() for prefix in denied_prefixes)
    checked: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise NonRetryableError(
                f"env entries must be strings, got {key!r}: {value!r} "
                f"({type(key).__name__}: {type(value).__name__})"
            )
        if ENV_NAME.fullmatch(key) is None:
            raise NonRetryableError(
                f"env variable {key!r} has an invalid name (expected [A-Za-z_][A-Za-z0-9_]*)"
            )
        if "\0" in value:
            raise NonRetryableError(f"env variable {key!r} has a NUL byte in its value")
        try:
            os.fsencode(value)
        except UnicodeEncodeError:
            raise NonRetryableError(
                f"env variable {key!r} has a value that cannot be encoded"
            ) from None
        upper = key.upper()
        if upper in denied or upper.startswith(prefixes):
            raise NonRetryableError(
                f"env variable {key!r} is refused: it can change which code the program "
                "loads or runs, or where it finds programs"
            )
        if allowed_names is not None and key not in allowed_names:
            listed = ", ".join(sorted(allowed_names)) or "none"
            raise NonRetryableError(
                f"env variable {key!r} is not allowed (allowed env names: {listed})"
            )
        checked[key] = value
    return checked
