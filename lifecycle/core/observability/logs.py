"""One log format for every process (web, worker, beat): a JSON object per line, or readable lines.

structlog renders and the standard library routes: our loggers, Django's, Celery's and gunicorn's all end
in one handler whose formatter is structlog's ProcessorFormatter, so a line from a library is the same JSON
object as one of ours, with the request id (lifecycle.core.observability.middleware) or the task's id and
name (lifecycle.celery) that contextvars hold at that moment. Nothing here reads Django's settings:
lifecycle/settings.py calls it with LOG_FORMAT and LOG_LEVEL.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "console")

# What every line carries, whether structlog or the standard library made it.
_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
]


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The dictConfig for Django's LOGGING setting, and configure structlog to hand its events to it."""
    # Python's warnings (a library's deprecation, Celery's "running as root") are log lines like the others,
    # not free text on stderr.
    logging.captureWarnings(True)
    # What no line shows, not worked out for each record (the logging HOWTO's "Optimization"): the caller's
    # file and line (a walk up the stack), the thread and the process. The access log writes a line for every
    # render, the hot path.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Plain tracebacks on the console too: the default one (with rich installed) prints each frame's local
    # variables, and a local variable may hold a token or a password.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    # A traceback is one string field in JSON (one line per event); the console renderer prints it as is.
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": final,
                # The standard library's records (Django, Celery, gunicorn): their message and exception only.
                # No ExtraAdder: Django's request logs carry the request in `extra`, headers and all.
                "foreign_pre_chain": _SHARED,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # 4xx answers are the API working as designed; the access log has every request anyway.
            "django.request": {"level": "ERROR"},
            # gunicorn's own messages (workers started, killed, timed out) through the same handler.
            "gunicorn.error": {"handlers": [], "propagate": True},
        },
    }
