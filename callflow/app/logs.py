"""Logging for the ``callflow`` program (never for the library): text or one JSON per line.

Either way one record is one line: a caller ID, a SIP header or a key a caller sent can
hold CR, LF or terminal escapes, and must not forge a log line or drive a terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators, written as escapes.
_CONTROLS = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}
_CONTROLS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\r``, ``\\x1b``)."""
    return text.translate(_CONTROLS)


class TextFormatter(logging.Formatter):
    """The text format: control characters in a record's line written as escapes.

    A traceback still follows on lines of its own, each indented by two spaces and escaped:
    whatever an exception's message holds, no line but a record's first starts in column 0.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        first, *rest = super().format(record).split("\n")
        return "\n".join([first, *("  " + escape_controls(line) for line in rest)])


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
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # websockets logs every failed handshake with a traceback at INFO; our own line suffices.
    logging.getLogger("websockets").setLevel(logging.WARNING)
