"""Logging for the ``callflow`` program (never for the library): text or one JSON per line."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def fatal_json(message: str, exit_code: int | None) -> str:
    """A message of ``callflow run`` that is not a log record (a refused start), as a JSON
    line shaped like the log's, so that a log collector reads it too."""
    out: dict[str, object] = {
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "level": "error",
        "logger": "callflow",
        "message": message,
    }
    if exit_code is not None:
        out["exit_code"] = exit_code
    return json.dumps(out)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send callflow's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # websockets logs every failed handshake with a traceback at INFO; our own line suffices.
    logging.getLogger("websockets").setLevel(logging.WARNING)
