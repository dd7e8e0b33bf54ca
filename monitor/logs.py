"""Logging for the service: one line per event, as plain text or as JSON lines (journald, docker).

An event is a short message and named fields: ``log.info("poll done", extra=fields(sources=3, new_claims=5))``.
Text: ``2026-11-24T08:00:00Z INFO poll done sources=3 new_claims=5``. JSON:
``{"time": "2026-11-24T08:00:00Z", "level": "info", "event": "poll done", "sources": 3, "new_claims": 5}``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")


def fields(**values: Any) -> dict[str, Any]:
    """The ``extra=`` of a log call carrying named fields."""
    return {"fields": values}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = getattr(record, "fields", {})
        text = " ".join([_time(record), record.levelname, record.getMessage()])
        text += "".join(f" {key}={_show(value)}" for key, value in extra.items())
        if record.exc_info:
            text += " error=" + _show(self.formatException(record.exc_info).splitlines()[-1])
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"time": _time(record), "level": record.levelname.lower()}
        payload["event"] = record.getMessage()
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["traceback"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def printable(text: str) -> str:
    """Text for one line of output: control characters (a newline in a file name) and lone surrogates escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def _show(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if not text or any(c.isspace() or c in "\"=" for c in text) else text


def setup(fmt: str, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Send every log record of the process to ``stream`` (stderr), one line each, in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "httpx", "aiohttp", "watchfiles"):  # their routine chatter is not our events
        logging.getLogger(noisy).setLevel(logging.WARNING)
