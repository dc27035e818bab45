"""structlog configuration, done once in every process that logs.

Every Ray actor process (the supervisor, each agent host, the heartbeat actor) and every
driver calls :func:`configure_logging` with the ``logging`` section of the settings, then
gets loggers from :func:`get_logger` and binds ids (``workflow_id``, ``task_id``...) to them
or to :mod:`structlog.contextvars`.

Why ``cache_logger_on_first_use=False``: modules create their loggers at import time,
usually before :func:`configure_logging` runs; with caching, the first log call would
freeze whatever configuration was active then (often structlog's defaults), and a later
``configure_logging`` (tests do it repeatedly; a reused Ray worker process may do it again)
would be silently ignored by those loggers. Without caching, each log call on a logger from
:func:`get_logger` binds against the current configuration, which costs a few microseconds
per call: negligible next to the work an orchestrator logs about.
"""

from __future__ import annotations

import inspect
import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from orchestrator.settings import LoggingSettings

__all__ = ["configure_logging", "get_logger"]

#: Key under which each line carries the name given to :func:`get_logger`.
LOGGER_NAME_KEY = "logger"

# structlog.get_logger() takes its initial values as keyword arguments next to its own
# parameters (``logger``, ``processors``...), so those names cannot be bound through it.
_RESERVED_KEYS = frozenset(inspect.signature(structlog.wrap_logger).parameters) - {"initial_values"}


class _NamedPrintLogger(structlog.PrintLogger):
    """A ``PrintLogger`` that remembers the name it was made for."""

    def __init__(self, name: str | None, file: TextIO) -> None:
        super().__init__(file)
        self.name = name


class _StreamLoggerFactory:
    """Make structlog ``PrintLogger`` objects writing to a stream.

    With no fixed stream, ``sys.stderr`` is looked up each time a logger is made rather
    than once at configuration time, so output follows later replacements of
    ``sys.stderr`` (pytest's capture, Ray's log redirection in worker processes).
    """

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _NamedPrintLogger:
        name = str(args[0]) if args else None
        return _NamedPrintLogger(name, self._stream if self._stream is not None else sys.stderr)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Add the wrapped logger's name under ``logger``, unless the line already has one."""
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault(LOGGER_NAME_KEY, name)
    return event_dict


def _processors(settings: LoggingSettings) -> list[Processor]:
    """Return the processor chain for ``settings``, renderer last."""
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_logger_name,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if settings.format == "json":
        # JSON needs the traceback as a string field. The console renderer formats
        # ``exc_info`` itself (and warns if format_exc_info already did it).
        processors.append(structlog.processors.format_exc_info)
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    return processors


def configure_logging(settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
    """Configure structlog for this process; calling it again replaces the configuration.

    Args:
        settings: Level and format (``console`` key=value lines or ``json`` objects).
        stream: Where lines go; ``None`` means the current ``sys.stderr`` at each log call.
    """
    structlog.configure(
        processors=_processors(settings),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[settings.level]
        ),
        context_class=dict,
        logger_factory=_StreamLoggerFactory(stream),
        # False on purpose: see the module docstring.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **bound: object) -> FilteringBoundLogger:
    """Return a logger named ``name`` with ``bound`` key/values on every line.

    The logger follows the configuration current at each call, so it may be created at
    import time, before :func:`configure_logging`.

    Args:
        name: Written under the ``logger`` key (usually ``__name__``).
        **bound: Context for every line, e.g. ``workflow_id=...``. structlog reserves a
            few keys here (``logger``, ``processors``, ``wrapper_class``,
            ``context_class``, ``cache_logger_on_first_use``, ``logger_factory_args``);
            bind those later with ``.bind()`` if really needed.

    Returns:
        A structlog bound logger (``info``, ``warning``, ``bind``...).

    Raises:
        ValueError: ``bound`` uses a reserved key.
    """
    reserved = sorted(_RESERVED_KEYS.intersection(bound))
    if reserved:
        raise ValueError(f"get_logger: keys {reserved} are reserved by structlog; use .bind()")
    logger: FilteringBoundLogger = structlog.get_logger(name, **bound)
    return logger
